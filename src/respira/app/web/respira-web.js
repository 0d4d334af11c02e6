// respira's detector in the browser: decode, resample as soxr does (respira-resample.js), low-pass as scipy's sosfiltfilt,
// cut respira's windows, run model.onnx with onnxruntime-web, show the verdict and the events
// (respira-events.js) and the picture (respira-plot.js). Nothing leaves the page.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let settings = null;
  let session = null;

  function bytesOf(base64) {
    const text = atob(base64);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes;
  }
  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = () => reject(new Error(`cannot load ${src}`));
      document.head.appendChild(script);
    });
  }

  async function load() {
    // threads need cross-origin isolation (COOP and COEP headers), which file:// and most static hosts lack
    ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
    let model;
    if (location.protocol === "file:") { // a file:// page may not read files: the same bytes as a script
      await loadScript("respira-assets.js");
      const assets = window.RESPIRA_ASSETS;
      settings = assets.settings;
      model = bytesOf(assets.model);
      ort.env.wasm.wasmBinary = bytesOf(assets.wasm);
      const glue = URL.createObjectURL(new Blob([assets.glue], { type: "text/javascript" }));
      ort.env.wasm.wasmPaths = { mjs: glue };
    } else {
      const base = new URL(".", location.href).href;
      ort.env.wasm.wasmPaths = base;
      settings = await (await fetch("respira-web.json")).json();
      model = new Uint8Array(await (await fetch("model.onnx")).arrayBuffer());
    }
    session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
    // one run of silence while the page loads: onnxruntime-web's first run prepares the graph (about 0.4 s),
    // which would otherwise fall on the user's first recording
    for (const [rows, length] of [[8, settings.window], [1, 2 * settings.window]]) { // the windows' and the events' shapes
      await session.run({ input_values: new ort.Tensor("float32", new Float32Array(rows * length), [rows, length]) });
    }
    $("model").textContent = settings.name;
    $("serves").textContent = settings.model_line; // `respira predict`'s line (empty: a folder that records no site)
    const [tc, tw] = settings.thresholds;
    $("rule").textContent = `Recording rule: ${settings.recording_rule}; crackle is called at ${fmt(tc, 3)} or more, ` +
      `wheeze at ${fmt(tw, 3)} or more.`;
  }

  // ---------------------------------------------------------------- decoding (mono, own rate)
  function wavSamples(buffer) {
    const view = new DataView(buffer);
    const tag = (at) => String.fromCharCode(...new Uint8Array(buffer, at, 4));
    if (buffer.byteLength < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") return null;
    let format = null, at = 12;
    while (at + 8 <= buffer.byteLength) {
      const id = tag(at), size = view.getUint32(at + 4, true), body = at + 8;
      if (id === "fmt ") {
        let code = view.getUint16(body, true);
        if (code === 0xfffe) code = view.getUint16(body + 24, true);
        format = { code, channels: view.getUint16(body + 2, true), rate: view.getUint32(body + 4, true),
          bits: view.getUint16(body + 14, true) };
      } else if (id === "data" && format) {
        const { code, channels, rate, bits } = format;
        const width = bits / 8, frames = Math.floor(Math.min(size, buffer.byteLength - body) / (width * channels));
        if (frames / rate > settings.max_seconds) return { samples: { length: frames }, rate };
        if (!((code === 1 && [8, 16, 24, 32].includes(bits)) || (code === 3 && [32, 64].includes(bits)))) return null;
        const mono = new Float64Array(frames);
        for (let i = 0; i < frames; i++) {
          let sum = 0;
          for (let c = 0; c < channels; c++) {
            const p = body + (i * channels + c) * width;
            let v;
            if (code === 3) v = bits === 32 ? view.getFloat32(p, true) : view.getFloat64(p, true);
            else if (bits === 8) v = (view.getUint8(p) - 128) / 128;
            else if (bits === 16) v = view.getInt16(p, true) / 32768;
            else if (bits === 24) v = ((view.getInt8(p + 2) << 16) | (view.getUint8(p + 1) << 8) | view.getUint8(p)) / 8388608;
            else v = view.getInt32(p, true) / 2147483648;
            sum += Math.fround(v);
          }
          mono[i] = Math.fround(sum / channels);
        }
        return { samples: mono, rate };
      }
      at = body + size + (size & 1);
    }
    return null;
  }

  function mp3Rate(bytes) { // the first MPEG audio frame header's rate, past an ID3v2 tag
    let at = 0;
    if (bytes[0] === 0x49 && bytes[1] === 0x44 && bytes[2] === 0x33) {
      at = 10 + ((bytes[6] & 127) << 21 | (bytes[7] & 127) << 14 | (bytes[8] & 127) << 7 | (bytes[9] & 127));
    }
    for (; at + 4 < bytes.length && at < 1 << 20; at++) {
      if (bytes[at] !== 0xff || (bytes[at + 1] & 0xe0) !== 0xe0) continue;
      const version = (bytes[at + 1] >> 3) & 3, index = (bytes[at + 2] >> 2) & 3;
      if (version === 1 || index === 3 || ((bytes[at + 1] >> 1) & 3) === 0) continue;
      return [11025, 12000, 8000][index] * (version === 3 ? 4 : version === 2 ? 2 : 1);
    }
    return null;
  }

  async function decode(buffer) {
    const wav = wavSamples(buffer);
    if (wav) return wav;
    const rate = mp3Rate(new Uint8Array(buffer)) || settings.rate; // else the browser resamples to the model's rate
    const context = new OfflineAudioContext(1, 1, rate);
    const audio = await context.decodeAudioData(buffer.slice(0));
    const mono = new Float64Array(audio.length);
    for (let c = 0; c < audio.numberOfChannels; c++) {
      const channel = audio.getChannelData(c);
      for (let i = 0; i < mono.length; i++) mono[i] += channel[i];
    }
    for (let i = 0; i < mono.length; i++) mono[i] = Math.fround(mono[i] / audio.numberOfChannels);
    return { samples: mono, rate: audio.sampleRate };
  }

  // ---------------------------------------------------------------- resampling (soxr's: respira-resample.js)
  const resample = (x, rate, target) => respiraResample.resample(x, rate, target, settings.resampler[String(rate)]);

  // ---------------------------------------------------------------- low-pass (scipy's sosfiltfilt)
  function sosfilt(sos, zi, y) { // in place, every section from zi times the first input, as scipy does
    const x0 = y[0];
    for (let s = 0; s < sos.length; s++) {
      const [b0, b1, b2, , a1, a2] = sos[s];
      let z0 = zi[s][0] * x0, z1 = zi[s][1] * x0;
      for (let i = 0; i < y.length; i++) {
        const input = y[i], output = b0 * input + z0;
        z0 = b1 * input - a1 * output + z1;
        z1 = b2 * input - a2 * output;
        y[i] = output;
      }
    }
  }
  function lowpass(x) { // scipy's sosfiltfilt: odd extension, forward, backward
    const filter = settings.lowpass;
    if (!filter || x.length < filter.shortest) return x;
    const pad = filter.padlen, n = x.length, ext = new Float64Array(n + 2 * pad);
    for (let i = 0; i < pad; i++) ext[i] = 2 * x[0] - x[pad - i];
    ext.set(x, pad);
    for (let i = 0; i < pad; i++) ext[pad + n + i] = 2 * x[n - 1] - x[n - 2 - i];
    sosfilt(filter.sos, filter.zi, ext);
    ext.reverse();
    sosfilt(filter.sos, filter.zi, ext);
    ext.reverse();
    const y = new Float32Array(n);
    y.set(ext.subarray(pad, pad + n));
    return y;
  }

  // ---------------------------------------------------------------- respira's checks (same words)
  const fmt = (value, digits) => Number(value.toPrecision(digits)).toString();
  function checks(name, samples, rate, recorded) {
    const c = settings.checks, lines = [];
    let sum = 0, peak = 0, clipped = 0;
    for (const v of samples) { sum += v * v; peak = Math.max(peak, Math.abs(v)); if (Math.abs(v) >= c.clipped_level) clipped++; }
    const rms = Math.sqrt(sum / samples.length);
    if (peak > c.full_scale_limit) lines.push(`${name} peaks at ${fmt(peak, 3)}, ${Math.round(20 * Math.log10(peak))} dB above full scale: float audio is expected in [-1, 1] (integer PCM stored as float? divide it by its full scale, 32768 for 16-bit)`);
    else if (rms < c.silent_rms) lines.push(`${name} is silent (RMS ${fmt(rms, 2)} of full scale, below ${c.silent_rms}: ${Math.round(20 * Math.log10(c.silent_rms))} dBFS); ${c.untrusted}`);
    else if (clipped / samples.length > c.clipped_fraction) lines.push(`${name} is clipped (${(100 * clipped / samples.length).toFixed(1)} % of its samples at full scale, more than ${100 * c.clipped_fraction} %); ${c.untrusted}`);
    if (samples.length < settings.window) lines.push(`${name} is ${fmt(samples.length / rate, 2)} s long, shorter than one ${settings.window_seconds}-s window: it is scored from one window the model pads with repeats of it; ${c.untrusted}`);
    if (recorded < c.min_rate) lines.push(`${name}: recorded at ${recorded} Hz, which holds sound up to ${recorded / 2} Hz only; crackles and wheezes reach ${c.band_top} Hz (a rate of ${c.min_rate} Hz or more), so its scores say little`);
    return lines.join("; ");
  }

  // ---------------------------------------------------------------- windows, model, verdict
  function spans(n) {
    const w = settings.window, h = settings.hop;
    const count = n <= w ? 1 : 1 + Math.ceil((n - w) / h);
    return Array.from({ length: count }, (_, i) => [i * h, Math.min(i * h + w, n)]);
  }
  const labelIndex = (name) => Number(Object.keys(settings.id2label).find((k) => settings.id2label[k] === name));

  async function analyse(buffer, name) {
    const clock = [performance.now()];
    let decoded;
    try { decoded = await decode(buffer); } catch (error) { throw new Error(`${name}: cannot be decoded as audio (${error.message || error})`); }
    if (decoded.samples.length / decoded.rate > settings.max_seconds) {
      throw new Error(`${name}: lasts ${fmt(decoded.samples.length / decoded.rate / 60, 3)} min, longer than this page's limit of ${settings.max_seconds / 60} min (the tab's memory): cut it, or run respira predict`);
    }
    if (decoded.samples.length === 0) throw new Error(`${name}: holds no audio samples (empty recording)`);
    const rate = settings.rate;
    clock.push(performance.now());
    const resampled = resample(decoded.samples, decoded.rate, rate);
    clock.push(performance.now());
    const samples = lowpass(resampled);
    clock.push(performance.now());
    if (samples.length < settings.frame_samples) {
      const ms = (n) => fmt(n / rate * 1000, 3);
      throw new Error(`${name}: the recording lasts ${ms(samples.length)} ms (${samples.length} samples at ${rate} Hz), shorter than one analysis frame of the model's featurizer (${ms(settings.frame_samples)} ms): nothing to score`);
    }
    const cuts = spans(samples.length);
    const width = Object.keys(settings.id2label).length, probabilities = new Array(cuts.length);
    const groups = new Map();
    cuts.forEach(([a, b], i) => { const key = b - a; groups.set(key, [...(groups.get(key) || []), i]); });
    const frames = [];
    for (const [length, rows] of groups) {
      for (let at = 0; at < rows.length; at += 8) {
        const batch = rows.slice(at, at + 8), input = new Float32Array(batch.length * length);
        batch.forEach((row, j) => input.set(samples.subarray(cuts[row][0], cuts[row][1]), j * length));
        const out = await session.run({ input_values: new ort.Tensor("float32", input, [batch.length, length]) });
        const p = out.probabilities.data;
        batch.forEach((row, j) => { probabilities[row] = Array.from(p.subarray(j * width, (j + 1) * width)); });
      }
    }
    const crackle = labelIndex("crackle"), wheeze = labelIndex("wheeze"), [tc, tw] = settings.thresholds;
    const rows = cuts.map(([a, b], i) => {
      const pc = probabilities[i][crackle], pw = probabilities[i][wheeze];
      return { start: a / rate, end: b / rate, crackle: pc, wheeze: pw, label: classOf(pc >= tc, pw >= tw) };
    });
    const flags = aggregate(rows.map((r) => r.crackle)), wflag = aggregate(rows.map((r) => r.wheeze));
    const verdict = { crackle: flags, wheeze: wflag, label: classOf(flags >= tc, wflag >= tw) };
    verdict.uncalled = uncalled(rows, verdict);
    clock.push(performance.now());
    const events = session.outputNames.includes("frame_probabilities") ? await respiraEvents.detect(session, samples, rows, verdict, settings) : null;
    clock.push(performance.now());
    const seconds = clock.slice(1).map((t, i) => (t - clock[i]) / 1000);
    const timing = { decode: seconds[0], resample: seconds[1], lowpass: seconds[2], model: seconds[3], events: seconds[4] };
    const shown = decoded.rate < rate ? decoded : { samples: resampled, rate }; // predict --plot's: no low-pass
    return { name, rows, verdict, events, warning: checks(name, samples, rate, decoded.rate), shown, timing };
  }
  function uncalled(rows, verdict) { // why a label with windows at or over its threshold is not called
    return ["crackle", "wheeze"].map((label, at) => {
      const threshold = settings.thresholds[at], over = rows.filter((r) => r[label] >= threshold).length;
      if (!over || verdict[label] >= threshold) return null;
      return `${label} not called: ${over} of ${rows.length} windows at or over its threshold ${threshold.toFixed(4)}, ` +
        `but the recording's ${label} probability is ${verdict[label].toFixed(4)}, below it (${settings.recording_rule})`;
    }).filter(Boolean).join("; ");
  }
  function classOf(c, w) { return c && w ? "both" : c ? "crackle" : w ? "wheeze" : "normal"; }
  function aggregate(values) {
    const rule = settings.aggregation || "max";
    if (rule === "mean") return values.reduce((a, b) => a + b, 0) / values.length;
    if (rule === "topk_mean") { const k = Math.min(settings.top_k || 3, values.length); return [...values].sort((a, b) => b - a).slice(0, k).reduce((a, b) => a + b, 0) / k; }
    return Math.max(...values);
  }

  // ---------------------------------------------------------------- the page
  function plot(result) {
    const canvas = $("plot");
    canvas.hidden = false;
    respiraPlot.draw(canvas, result, settings.thresholds);
  }

  function show(result) {
    const v = result.verdict;
    const message = $("message");
    message.className = "";
    message.textContent = `${result.name}: ${v.label} (crackle ${v.crackle.toFixed(3)}, wheeze ${v.wheeze.toFixed(3)})` +
      (result.warning ? ` — ${result.warning}` : "");
    $("why").textContent = v.uncalled;
    const head = "<tr><th>start s</th><th>end s</th><th>crackle</th><th>wheeze</th><th>label</th></tr>";
    const body = result.rows.map((r) => `<tr><td>${r.start.toFixed(2)}</td><td>${r.end.toFixed(2)}</td><td>${r.crackle.toFixed(4)}</td><td>${r.wheeze.toFixed(4)}</td><td>${r.label}</td></tr>`).join("");
    $("result").innerHTML = `<table id="windows">${head}${body}</table>` + eventTable(result.events);
    plot(result);
  }

  function eventTable(found) {
    if (!found) return "<p>This model.onnx has no frame outputs (exported before event detection): no events.</p>";
    const count = (list, type) => list.filter((e) => e.type === type).length;
    const why = (type, c) => (found.recording[c] ? `outside every window decided ${type}-present` : `the recording is decided ${type}-absent`);
    const left = ["crackle", "wheeze"].map((type, c) => [type, c, count(found.left_out, type)]).filter(([, , n]) => n)
      .map(([type, c, n]) => `${n} ${type} frame event${n === 1 ? "" : "s"} (${why(type, c)})`);
    const line = `events: ${count(found.events, "crackle")} crackle, ${count(found.events, "wheeze")} wheeze, shown where the recording's verdict holds them` +
      (left.length ? `; left out ${left.join(" and ")}` : "");
    const head = "<tr><th>onset s</th><th>offset s</th><th>type</th><th>confidence</th></tr>";
    const body = found.events.map((e) => `<tr><td>${e.onset.toFixed(2)}</td><td>${e.offset.toFixed(2)}</td><td>${e.type}</td><td>${e.confidence.toFixed(4)}</td></tr>`).join("");
    return `<p id="events-line">${line}</p>` + (found.events.length ? `<table id="events">${head}${body}</table>` : "");
  }

  function fail(error) {
    const message = $("message");
    message.className = "error";
    message.textContent = String(error.message || error);
    $("result").innerHTML = "";
    $("why").textContent = "";
    $("plot").hidden = true;
  }

  async function run(buffer, name) {
    $("message").className = "";
    $("message").textContent = `Analysing ${name}…`;
    try {
      const start = performance.now(), result = await analyse(buffer, name);
      show(result);
      result.timing.total = (performance.now() - start) / 1000; // from the file's bytes to the page drawn
      return result;
    } catch (error) { fail(error); return null; }
  }

  async function record() {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const recorder = new MediaRecorder(stream), chunks = [];
    recorder.ondataavailable = (event) => chunks.push(event.data);
    recorder.onstop = async () => { stream.getTracks().forEach((t) => t.stop()); run(await new Blob(chunks).arrayBuffer(), "the recording"); };
    recorder.start();
    $("record").textContent = "stop";
    $("record").onclick = () => { recorder.stop(); $("record").textContent = "record"; $("record").onclick = record; };
  }

  const ready = load().then(() => { $("message").textContent = "Ready: drop a recording."; }, fail);
  window.respira = { ready, analyse, run, resample, lowpass, decode };
  $("file").onchange = async (event) => { const file = event.target.files[0]; if (file) run(await file.arrayBuffer(), file.name); };
  const drop = $("drop");
  drop.ondragover = (event) => { event.preventDefault(); drop.className = "over"; };
  drop.ondragleave = () => { drop.className = ""; };
  drop.ondrop = async (event) => { event.preventDefault(); drop.className = ""; const file = event.dataTransfer.files[0]; if (file) run(await file.arrayBuffer(), file.name); };
  $("record").onclick = record;
})();
