// The labelling page of `respira label`: shows the state the server gives (/api/state), sends each answer
// and each change of the events at once (/api/answer, /api/events), the server saving them before it
// answers. window.respiraShown says which recording is shown (its index, once its spectrogram is drawn);
// window.respiraTimings holds, per answer, the milliseconds from the key (or button) to the next
// recording shown.
"use strict";

const KEYS = { c: "crackle", w: "wheeze", b: "both", n: "normal", p: "poor", s: "skip" };
const $ = (id) => document.getElementById(id);
const view = $("view"), image = $("spectrogram"), player = $("player");
let state = null, busy = false, pressed = null, drag = null;
window.respiraShown = null;
window.respiraTimings = [];

function say(text) { $("message").textContent = text || ""; }

function eventType() { return document.querySelector("input[name=event-type]:checked").value; }

async function request(path, body) {
  const response = body === undefined ? await fetch(path)
    : await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!response.ok) { throw new Error(await response.text()); }
  return response.json();
}

function showProgress(progress) {
  $("progress").textContent = progress.line;  // one line: the units fit-site counts, the recordings answered
  $("next-step").hidden = !progress.minimum_reached;
  $("fit-site").textContent = progress.fit_site;
  $("fit-site-note").textContent = progress.fit_site_note || "";
}

function seconds(x) { return x.toFixed(2); }

function tick(axis, text, at, vertical) {  // a label at `at` (0 to 1) along an axis
  const label = document.createElement("span");
  label.textContent = text;
  if (vertical) { label.style.bottom = `${100 * at}%`; } else { label.style.left = `${100 * at}%`; }
  if (at === 0) { label.className = "first"; } else if (at >= 1) { label.className = "last"; }
  axis.append(label);
}

function drawAxes() {  // frequency (the server's ticks, on the spectrogram's mel bands) and time in seconds
  const recording = state.recording, frequency = $("frequency-axis"), time = $("time-axis");
  frequency.replaceChildren(); time.replaceChildren();
  recording.frequencies.forEach((t) => tick(frequency, t.label, t.at, true));
  const step = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300].find((s) => recording.duration / s <= 10) || 600;
  for (let t = 0; t <= recording.duration + 1e-9; t += step) { tick(time, `${t} s`, t / recording.duration, false); }
}

function drawEvents() {
  const recording = state.recording, marks = $("marks"), list = $("events");
  marks.replaceChildren(); list.replaceChildren();
  recording.events.forEach((event, at) => {
    const mark = document.createElement("div");
    mark.className = event.type;
    mark.style.left = `${100 * event.onset / recording.duration}%`;
    mark.style.width = `${100 * (event.offset - event.onset) / recording.duration}%`;
    marks.append(mark);
    const item = document.createElement("li");
    item.className = `event ${event.type}`;
    item.textContent = `${event.type} ${seconds(event.onset)}–${seconds(event.offset)} s `;
    const remove = document.createElement("button");
    remove.textContent = "remove";
    remove.onclick = () => saveEvents(recording.events.filter((_, other) => other !== at));
    item.append(remove);
    list.append(item);
  });
}

function drawProbabilities() {
  const canvas = $("probabilities"), recording = state.recording;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = canvas.clientWidth * ratio; canvas.height = canvas.clientHeight * ratio;
  const context = canvas.getContext("2d"), width = canvas.width, height = canvas.height;
  context.clearRect(0, 0, width, height);
  const x = (time) => width * time / recording.duration, y = (p) => height * (1 - p);
  const axis = canvas.previousElementSibling;  // the 0–1 scale, and a grid line at each of its ticks
  axis.replaceChildren();
  context.strokeStyle = "#ccc"; context.lineWidth = ratio; context.setLineDash([]);
  [0, 0.5, 1].forEach((p) => {
    tick(axis, String(p), p, true);
    const at = Math.min(Math.max(y(p), ratio / 2), height - ratio / 2);
    context.beginPath(); context.moveTo(0, at); context.lineTo(width, at); context.stroke();
  });
  context.font = `${11 * ratio}px system-ui, sans-serif`;
  [["crackle", "#e8710a", 0], ["wheeze", "#1a73e8", 1]].forEach(([label, colour, at]) => {
    context.strokeStyle = colour; context.lineWidth = 2 * ratio; context.setLineDash([]);
    context.beginPath();
    recording.windows.forEach((window, index) => {
      const middle = (window.start + window.end) / 2;
      if (index === 0) { context.moveTo(x(window.start), y(window[label])); }
      context.lineTo(x(middle), y(window[label]));
      if (index === recording.windows.length - 1) { context.lineTo(x(window.end), y(window[label])); }
    });
    context.stroke();
    context.setLineDash([6 * ratio, 4 * ratio]); context.lineWidth = ratio;
    context.beginPath(); context.moveTo(0, y(state.thresholds[at])); context.lineTo(width, y(state.thresholds[at]));
    context.stroke();
    context.fillStyle = colour;  // the threshold's value beside its line, inside the plot
    const threshold = state.thresholds[at], below = threshold > 0.8;
    context.textBaseline = below ? "top" : "bottom";
    context.textAlign = at === 0 ? "left" : "right";  // crackle's at the left, wheeze's at the right
    context.fillText(`${label} ${threshold.toFixed(2)}`, at === 0 ? 4 * ratio : width - 4 * ratio, y(threshold) + (below ? 3 : -3) * ratio);
  });
}

function show(next) {
  state = next;
  showProgress(state.progress);
  const recording = state.recording;
  $("labelling").hidden = recording === null;
  $("done").hidden = recording !== null;
  if (recording === null) {  // every recording answered, or the suggested batch: what to run next
    $("done-text").textContent = state.done.text;
    $("done-next").textContent = state.done.next;
    window.respiraShown = "done"; finishTiming(); return;
  }
  if (recording.error) {  // a recording that could not be read: answer it (P) or skip it (S)
    $("recording").textContent = `${recording.file} · line ${recording.line} of the labels file`;
    $("marks").replaceChildren(); $("events").replaceChildren();
    image.removeAttribute("src"); player.removeAttribute("src");
    say(`Cannot show ${recording.file}: ${recording.error}`);
    window.respiraShown = recording.index; finishTiming();
    return;
  }
  $("recording").textContent = `${recording.file} · ${seconds(recording.duration)} s · line ${recording.line} of the labels file`
    + (recording.patient ? ` · patient ${recording.patient}` : "");
  $("reason").textContent = recording.reason ? `Chosen because: ${recording.reason}` : "";
  drawEvents();
  drawAxes();
  const source = `/spectrogram/${recording.index}.png`;
  if (image.getAttribute("src") !== source) {
    image.onload = () => { drawProbabilities(); window.respiraShown = recording.index; finishTiming(); };
    image.src = source;
    player.src = `/audio/${recording.index}.wav`;
  } else {
    drawProbabilities(); window.respiraShown = recording.index; finishTiming();
  }
}

function finishTiming() {
  if (pressed !== null) { window.respiraTimings.push(performance.now() - pressed); pressed = null; }
}

async function answer(choice) {
  if (busy || !state || state.recording === null) { return; }
  busy = true; pressed = performance.now();
  try {
    player.pause();
    say("");
    const seen = state.recording.answer ?? null;  // the row's answer as shown: another tab's is told
    const next = await request("/api/answer", { index: state.recording.index, answer: choice, seen });
    show(next);
    if (next.notice) { say(next.notice); }
  } catch (error) { pressed = null; say(`Not saved: ${error.message}`); }
  finally { busy = false; }
}

async function saveEvents(events) {
  try {
    show(await request("/api/events", { index: state.recording.index, events }));
    say("");
  } catch (error) { say(`Events not saved: ${error.message}`); }
}

function timeAt(clientX) {
  const box = view.getBoundingClientRect();
  return Math.min(Math.max((clientX - box.left) / box.width, 0), 1) * state.recording.duration;
}

view.addEventListener("pointerdown", (event) => {
  if (!state || state.recording === null || state.recording.error) { return; }
  drag = { start: event.clientX, type: eventType() };
  view.setPointerCapture(event.pointerId);
});
view.addEventListener("pointermove", (event) => {
  if (drag === null) { return; }
  const box = view.getBoundingClientRect(), selection = $("selection");
  const left = Math.max(Math.min(drag.start, event.clientX), box.left), right = Math.min(Math.max(drag.start, event.clientX), box.right);
  selection.hidden = false; selection.className = drag.type;
  selection.style.left = `${left - box.left}px`; selection.style.width = `${right - left}px`;
});
view.addEventListener("pointerup", (event) => {
  if (drag === null) { return; }
  const start = drag.start, type = drag.type;
  drag = null; $("selection").hidden = true;
  if (Math.abs(event.clientX - start) < 4) {
    player.currentTime = timeAt(event.clientX); player.play().catch(() => {});
    return;
  }
  const onset = timeAt(Math.min(start, event.clientX)), offset = timeAt(Math.max(start, event.clientX));
  saveEvents([...state.recording.events, { onset, offset, type }]);
});

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.target.tagName === "INPUT" && event.target.type === "text") { return; }
  const key = event.key.toLowerCase();
  if (KEYS[key]) { event.preventDefault(); answer(KEYS[key]); }
  else if (key === "1" || key === "2") {
    document.querySelector(`input[name=event-type][value=${key === "1" ? "crackle" : "wheeze"}]`).checked = true;
  } else if (key === " ") {
    event.preventDefault(); if (player.paused) { player.play().catch(() => {}); } else { player.pause(); }
  } else if ((key === "delete" || key === "backspace") && state && state.recording && state.recording.events.length) {
    event.preventDefault(); saveEvents(state.recording.events.slice(0, -1));
  }
});
document.querySelectorAll("#answers button").forEach((button) => {
  button.addEventListener("click", () => answer(button.dataset.answer));
});

function movePlayhead() {
  if (state && state.recording && !state.recording.error) {
    $("playhead").style.left = `${100 * Math.min(player.currentTime / state.recording.duration, 1)}%`;
  }
  requestAnimationFrame(movePlayhead);
}
requestAnimationFrame(movePlayhead);
window.addEventListener("resize", () => { if (state && state.recording && !state.recording.error) { drawProbabilities(); } });

request("/api/state").then(show).catch((error) => say(`Could not load: ${error.message}`));
