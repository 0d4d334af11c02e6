// The labelling page of `respira label`: shows the state the server gives (/api/state), sends each answer
// and each change of the events at once (/api/answer, /api/events), the server saving them before it
// answers. An answer is taken once the recording has been shown, its audio loaded, for the server's
// minimum_shown_s; a held key (auto-repeat) answers once; a clicked button keeps no focus for Enter.
// ← / → step through this session's answers (/api/state?index=N) to change one; Esc returns.
// The next recordings' spectrograms and audio are fetched ahead (state.upcoming) while one plays.
// window.respiraShown says which recording is shown (its index, once its spectrogram is drawn);
// window.respiraReady whether it takes an answer; window.respiraTimings holds, per answer, the
// milliseconds from the key (or button) to the next recording shown.
"use strict";

const KEYS = { c: "crackle", w: "wheeze", b: "both", n: "normal", p: "poor", s: "skip" };
const $ = (id) => document.getElementById(id);
const view = $("view"), image = $("spectrogram"), player = $("player");
const buttons = [...document.querySelectorAll("#answers button")];
let state = null, busy = false, pressed = null, drag = null, reviewing = null;
let shownIndex = null, drawn = false, audible = false, readyTimer = null, fetching = 0, tooSoon = false;
const fetched = new Map();  // index -> {png, wav}: object URLs of recordings fetched ahead
window.respiraShown = null;
window.respiraReady = false;
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

function setReady(ready) {
  window.respiraReady = ready;
  if (ready && tooSoon) { say(""); tooSoon = false; }
  buttons.forEach((button) => { button.disabled = !ready; });
}

function readyLater() {  // the minimum counted from the spectrogram drawn and the audio loaded
  if (drawn && audible && readyTimer === null) {
    readyTimer = setTimeout(() => setReady(true), 1000 * state.minimum_shown_s);
  }
}

function newRecording(index) {  // another recording on screen: no answer is taken for its minimum time
  shownIndex = index; drawn = false; audible = false;
  clearTimeout(readyTimer); readyTimer = null; setReady(false);
}

function mediaOf(index) {
  const ahead = fetched.get(index);
  return ahead || { png: `/spectrogram/${index}.png`, wav: `/audio/${index}.wav` };
}

async function fetchAhead(indices) {  // one request at a time, the pages' own connections kept free
  const turn = ++fetching, keep = new Set([...indices, shownIndex]);
  for (const [index, urls] of fetched) {
    if (!keep.has(index)) { URL.revokeObjectURL(urls.png); URL.revokeObjectURL(urls.wav); fetched.delete(index); }
  }
  for (const index of indices) {
    if (turn !== fetching) { return; }
    if (fetched.has(index)) { continue; }
    try {
      const urls = {};
      for (const [kind, path] of [["png", `/spectrogram/${index}.png`], ["wav", `/audio/${index}.wav`]]) {
        const response = await fetch(path);
        if (!response.ok) { throw new Error(response.statusText); }
        urls[kind] = URL.createObjectURL(await response.blob());
      }
      if (turn === fetching) { fetched.set(index, urls); }
      else { URL.revokeObjectURL(urls.png); URL.revokeObjectURL(urls.wav); }
    } catch (error) { return; }  // shown from the server when its turn comes
  }
}

function showAnswered() {  // this session's answers, newest first, each changeable
  const list = $("answered");
  list.replaceChildren();
  $("history").hidden = state.answered.length === 0;
  state.answered.forEach((row) => {
    const item = document.createElement("li"), change = document.createElement("button");
    item.textContent = `${row.file}: ${row.answer ?? "blank"} `;
    if (row.index === reviewing) { item.className = "reviewing"; }
    change.textContent = "change";
    change.addEventListener("mousedown", (event) => event.preventDefault());
    change.onclick = () => review(row.index);
    item.append(change);
    list.append(item);
  });
}

function show(next, review = null) {
  state = next; reviewing = review;
  showProgress(state.progress);
  showAnswered();
  $("rule").textContent = `An answer is taken once a recording has been on screen, its audio loaded, for `
    + `${state.minimum_shown_s} s; a held key answers once. ← and → step through your answers to change one.`;
  const recording = state.recording;
  $("labelling").hidden = recording === null;
  $("done").hidden = recording !== null;
  $("review").hidden = reviewing === null;
  if (recording === null) {  // every recording answered, or the suggested batch: what to run next
    $("done-text").textContent = state.done.text;
    $("done-next").textContent = state.done.next;
    newRecording(null);
    window.respiraShown = "done"; finishTiming(); return;
  }
  if (reviewing !== null) {
    $("review").textContent = `Changing the answer of ${recording.file} (now ${recording.answer ?? "blank"}); `
      + "Esc returns.";
  }
  if (recording.index !== shownIndex) { newRecording(recording.index); }
  if (recording.error) {  // a recording that could not be read: answer it (P) or skip it (S)
    $("recording").textContent = `${recording.file} · line ${recording.line} of the labels file`;
    $("marks").replaceChildren(); $("events").replaceChildren();
    image.removeAttribute("src"); player.removeAttribute("src");
    say(`Cannot show ${recording.file}: ${recording.error}`);
    drawn = true; audible = true; readyLater();
    window.respiraShown = recording.index; finishTiming();
    return;
  }
  $("recording").textContent = `${recording.file} · ${seconds(recording.duration)} s · line ${recording.line} of the labels file`
    + (recording.patient ? ` · patient ${recording.patient}` : "");
  $("reason").textContent = recording.reason ? `Chosen because: ${recording.reason}` : "";
  drawEvents();
  drawAxes();
  const media = mediaOf(recording.index);
  const loaded = () => {
    drawProbabilities(); drawn = true; readyLater();
    window.respiraShown = recording.index; finishTiming();
    if (reviewing === null) { fetchAhead(state.upcoming); }
  };
  if (drawn) {
    drawProbabilities(); window.respiraShown = recording.index; finishTiming();
  } else if (image.getAttribute("src") === media.png && image.complete) {  // shown before, still loaded
    if (player.getAttribute("src") !== media.wav) { player.src = media.wav; }
    audible = player.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA;
    loaded();
  } else {
    image.onload = loaded;
    image.src = media.png;
    player.src = media.wav;
  }
}

player.addEventListener("loadeddata", () => { audible = true; readyLater(); });
player.addEventListener("error", () => {
  if (player.getAttribute("src")) { say("The audio could not be loaded: answer from the spectrogram."); audible = true; readyLater(); }
});

function finishTiming() {
  if (pressed !== null) { window.respiraTimings.push(performance.now() - pressed); pressed = null; }
}

async function answer(choice) {
  if (busy || !state || state.recording === null) { return; }
  if (!window.respiraReady) {
    say(`Not taken: a recording is answered once it has been on screen, its audio loaded, for ${state.minimum_shown_s} s.`);
    tooSoon = true; return;
  }
  if (reviewing !== null && choice === "skip") { back(); return; }  // nothing changed
  busy = true; pressed = performance.now();
  try {
    player.pause();
    say("");
    const recording = state.recording, seen = recording.answer ?? null;  // as shown: another tab's is told
    const next = await request("/api/answer", { index: recording.index, answer: choice, seen });
    show(next);
    if (next.notice) { say(next.notice); }
    else if (seen !== null && seen !== choice) { say(`${recording.file}: ${seen} changed to ${choice}.`); }
  } catch (error) { pressed = null; say(`Not saved: ${error.message}`); }
  finally { busy = false; }
}

async function review(index) {  // an answered recording shown again, to change its answer
  try { show(await request(`/api/state?index=${index}`), index); say(""); }
  catch (error) { say(`Could not load: ${error.message}`); }
}

async function back() {  // the recording to label again
  try { show(await request("/api/state")); say(""); }
  catch (error) { say(`Could not load: ${error.message}`); }
}

function step(by) {  // by -1: an older answer (←), +1: a newer one (→), then the recording to label
  if (!state || busy) { return; }
  const answered = state.answered.map((row) => row.index);
  const at = reviewing === null ? -1 : answered.indexOf(reviewing);
  const to = at - by;
  if (to >= 0 && to < answered.length) { review(answered[to]); }
  else if (to < 0 && reviewing !== null) { back(); }
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
  if (event.repeat) {  // a key held down answers once
    if (KEYS[key] || key === " " || key === "enter") { event.preventDefault(); }
    return;
  }
  if (KEYS[key]) { event.preventDefault(); answer(KEYS[key]); }
  else if (key === "arrowleft" || key === "arrowright") { event.preventDefault(); step(key === "arrowleft" ? -1 : 1); }
  else if (key === "escape" && reviewing !== null) { back(); }
  else if (key === "1" || key === "2") {
    document.querySelector(`input[name=event-type][value=${key === "1" ? "crackle" : "wheeze"}]`).checked = true;
  } else if (key === " ") {
    event.preventDefault(); if (player.paused) { player.play().catch(() => {}); } else { player.pause(); }
  } else if ((key === "delete" || key === "backspace") && state && state.recording && state.recording.events.length) {
    event.preventDefault(); saveEvents(state.recording.events.slice(0, -1));
  }
});
buttons.forEach((button) => {
  button.addEventListener("mousedown", (event) => event.preventDefault());  // a click takes no focus
  button.addEventListener("click", () => { button.blur(); answer(button.dataset.answer); });
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
