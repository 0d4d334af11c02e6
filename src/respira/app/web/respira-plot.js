// The page's picture of a recording, drawn as respira predict --plot draws it (respira/reports/recording_plot.py):
// a Slaney-mel spectrogram to the shown rate's Nyquist frequency in dB re. its maximum (80-dB floor, magma),
// each window's crackle and wheeze probabilities as steps with the dashed thresholds, the predicted labels
// and the events. MAGMA: matplotlib's magma, its 256 entries as RGB hex (pasted from matplotlib).
"use strict";
const respiraPlot = (function () {
  const MAGMA = "00000401000501010601010802010902020b02020d03030f03031204041405041606051806051a07061c08071e0907200a08220b09240c09260d0a290e0b2b100b2d110c2f120d31130d34140e36150e38160f3b180f3d19103f1a10421c10441d11471e114920114b21114e22115024125325125527125829115a2a115c2c115f2d11612f116331116533106734106936106b38106c390f6e3b0f703d0f713f0f72400f74420f75440f764510774710784910784a10794c117a4e117b4f127b51127c52137c54137d56147d57157e59157e5a167e5c167f5d177f5f187f601880621980641a80651a80671b80681c816a1c816b1d816d1d816e1e81701f81721f817320817521817621817822817922827b23827c23827e24828025828125818326818426818627818827818928818b29818c29818e2a81902a81912b81932b80942c80962c80982d80992d809b2e7f9c2e7f9e2f7fa02f7fa1307ea3307ea5317ea6317da8327daa337dab337cad347cae347bb0357bb2357bb3367ab5367ab73779b83779ba3878bc3978bd3977bf3a77c03a76c23b75c43c75c53c74c73d73c83e73ca3e72cc3f71cd4071cf4070d0416fd2426fd3436ed5446dd6456cd8456cd9466bdb476adc4869de4968df4a68e04c67e24d66e34e65e44f64e55064e75263e85362e95462ea5661eb5760ec5860ed5a5fee5b5eef5d5ef05f5ef1605df2625df2645cf3655cf4675cf4695cf56b5cf66c5cf66e5cf7705cf7725cf8745cf8765cf9785df9795df97b5dfa7d5efa7f5efa815ffb835ffb8560fb8761fc8961fc8a62fc8c63fc8e64fc9065fd9266fd9467fd9668fd9869fd9a6afd9b6bfe9d6cfe9f6dfea16efea36ffea571fea772fea973feaa74feac76feae77feb078feb27afeb47bfeb67cfeb77efeb97ffebb81febd82febf84fec185fec287fec488fec68afec88cfeca8dfecc8ffecd90fecf92fed194fed395fed597fed799fed89afdda9cfddc9efddea0fde0a1fde2a3fde3a5fde5a7fde7a9fde9aafdebacfcecaefceeb0fcf0b2fcf2b4fcf4b6fcf6b8fcf7b9fcf9bbfcfbbdfcfdbf";
  const LUT = Uint8Array.from(MAGMA.match(/../g), (h) => parseInt(h, 16));
  const TOP_DB = 80, FRAME_SECONDS = 0.064;
  const PROBABILITY = { crackle: "#e6550d", wheeze: "#3182bd" };
  const LABEL = { normal: "#d9d9d9", crackle: "#fd8d3c", wheeze: "#6baed6", both: "#9e7ac7" };
  const LOG_STEP = Math.log(6.4) / 27;
  const mel = (hz) => (hz < 1000 ? (hz * 3) / 200 : 15 + Math.log(hz / 1000) / LOG_STEP);
  const hzOf = (m) => (m < 15 ? (m * 200) / 3 : 1000 * Math.exp(LOG_STEP * (m - 15)));

  function spectrogram(samples, rate, maxColumns) { // respira/reports/spectrogram.py's mel_spectrogram_db
    const nFft = 2 ** Math.max(6, Math.round(Math.log2(FRAME_SECONDS * rate))), hop = nFft / 4, half = nFft / 2;
    const nyquist = rate / 2, narrowest = mel((1.5 * rate) / nFft);
    const bands = Math.max(8, Math.min(128, Math.floor(mel(nyquist) / narrowest)));
    const points = Array.from({ length: bands + 2 }, (_, i) => hzOf((i * mel(nyquist)) / (bands + 1)));
    const filters = points.slice(0, bands).map((low, b) => { // Slaney-normalised triangles: [first bin, weights]
      const centre = points[b + 1], high = points[b + 2], first = Math.ceil((low * nFft) / rate), weights = [];
      for (let k = first; k <= half && (k * rate) / nFft < high; k++) {
        const f = (k * rate) / nFft;
        weights.push(Math.max(0, Math.min((f - low) / (centre - low), (high - f) / (high - centre))) * (2 / (high - low)));
      }
      return [first, weights];
    });
    const n = samples.length, frames = 1 + Math.floor(n / hop), columns = Math.min(frames, maxColumns);
    const at = (i) => samples[i < 0 ? -i : i >= n ? 2 * n - 2 - i : i] || 0; // reflect padding
    const hann = Float64Array.from({ length: nFft }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / nFft));
    const transform = respiraResample.plan(nFft), re = new Float64Array(nFft), im = new Float64Array(nFft);
    const power = new Float64Array(columns * (half + 1)), counts = new Float64Array(columns);
    for (let t = 0; t < frames; t++) {
      const c = Math.floor((t * columns) / frames);
      im.fill(0);
      for (let i = 0; i < nFft; i++) re[i] = at(t * hop - half + i) * hann[i];
      respiraResample.fft(transform, re, im);
      for (let k = 0; k <= half; k++) power[c * (half + 1) + k] += re[k] ** 2 + im[k] ** 2;
      counts[c]++;
    }
    const db = new Float64Array(columns * bands);
    let loudest = -Infinity;
    for (let c = 0; c < columns; c++) {
      for (let b = 0; b < bands; b++) {
        let sum = 0;
        const [first, weights] = filters[b];
        weights.forEach((w, j) => { sum += power[c * (half + 1) + first + j] * w; });
        db[c * bands + b] = 10 * Math.log10(Math.max(sum / counts[c], 1e-10));
        loudest = Math.max(loudest, db[c * bands + b]);
      }
    }
    for (let i = 0; i < db.length; i++) db[i] = Math.max(db[i] - loudest, -TOP_DB);
    const step = mel(nyquist) / (bands + 1), edges = [0]; // cells around the bands' centres, in mel
    for (let b = 1; b < bands; b++) edges.push((b + 0.5) * step);
    edges.push(mel(nyquist));
    return { db, columns, bands, edges, nyquist };
  }

  const magma = (db) => { const i = 3 * Math.max(0, Math.min(255, Math.round(((db + TOP_DB) / TOP_DB) * 255))); return [LUT[i], LUT[i + 1], LUT[i + 2]]; };
  function timeStep(seconds) {
    return [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800].find((s) => seconds / s <= 10) || 3600;
  }
  const clock = (t, long) => (long ? `${Math.floor(t / 60)}:${String(Math.floor(t % 60)).padStart(2, "0")}` : `${+t.toFixed(1)}`);

  const layout = (W) => ({ L: 118, R: W - 236, spec: [34, 254] }); // the spectrogram's box, in canvas pixels
  function draw(canvas, result, thresholds) {
    const g = canvas.getContext("2d"), W = canvas.width, H = canvas.height, rows = result.rows;
    const { samples, rate } = result.shown, seconds = samples.length / rate;
    const { L, R, spec } = layout(W), prob = [266, 406], labels = result.events ? 3 : 1, strip = [418, 418 + 26 * labels];
    const x = (t) => L + (t / seconds) * (R - L);
    g.fillStyle = "#fff"; g.fillRect(0, 0, W, H);
    g.font = "14px system-ui, sans-serif"; g.fillStyle = "#222"; g.textBaseline = "middle";
    g.fillText("mel spectrogram; crackle and wheeze probabilities of each window; a label is present when its probability reaches its threshold (dashed)", L, 16);

    const s = spectrogram(samples, rate, R - L), height = spec[1] - spec[0], top = s.edges[s.bands];
    const width = R - L, image = g.createImageData(width, height); // put, not drawn: exact magma colours
    for (let py = 0; py < height; py++) {
      const m = ((height - 0.5 - py) / height) * top;
      let b = 0;
      while (b < s.bands - 1 && s.edges[b + 1] <= m) b++;
      for (let px = 0; px < width; px++) {
        const [r, gr, bl] = magma(s.db[Math.floor((px * s.columns) / width) * s.bands + b]), o = 4 * (py * width + px);
        image.data[o] = r; image.data[o + 1] = gr; image.data[o + 2] = bl; image.data[o + 3] = 255;
      }
    }
    g.putImageData(image, L, spec[0]);
    const yHz = (hz) => spec[1] - (mel(hz) / top) * height;
    g.textAlign = "right";
    [0, 250, 500, 1000, 2000, 4000, 8000, 16000].filter((f) => f <= s.nyquist).forEach((f) => {
      g.fillRect(L - 5, yHz(f) - 0.5, 5, 1); g.fillText(f >= 1000 ? `${f / 1000}k` : String(f), L - 8, yHz(f));
    });
    vertical(g, "frequency (Hz, mel scale)", 16, (spec[0] + spec[1]) / 2);
    const bar = R + 16; // the colour bar
    for (let py = 0; py < height; py++) { const [r, gr, bl] = magma(-TOP_DB * (py / (height - 1))); g.fillStyle = `rgb(${r},${gr},${bl})`; g.fillRect(bar, spec[0] + py, 16, 1); }
    g.fillStyle = "#222"; g.textAlign = "left";
    for (let d = 0; d <= TOP_DB; d += 20) { const y = spec[0] + (d / TOP_DB) * (height - 1); g.fillRect(bar + 16, y - 0.5, 4, 1); g.fillText(`${d ? "-" : "+"}${d} dB`, bar + 23, y); }
    vertical(g, "power (dB re. maximum)", bar + 90, (spec[0] + spec[1]) / 2);

    const yP = (p) => prob[1] - ((p + 0.03) / 1.06) * (prob[1] - prob[0]);
    g.textAlign = "right"; g.strokeStyle = "#e5e5e5"; g.lineWidth = 1;
    [0, 0.25, 0.5, 0.75, 1].forEach((p) => { line(g, L, yP(p), R, yP(p)); g.fillText(p.toFixed(2), L - 8, yP(p)); });
    vertical(g, "probability", 16, (prob[0] + prob[1]) / 2);
    const centres = rows.map((r) => (r.start + r.end) / 2), edges = [0, ...centres.slice(1).map((c, i) => (c + centres[i]) / 2), seconds];
    const legend = [];
    ["crackle", "wheeze"].forEach((key, index) => {
      g.strokeStyle = PROBABILITY[key]; g.fillStyle = PROBABILITY[key]; g.lineWidth = 2.5;
      g.beginPath();
      rows.forEach((row, i) => { g[i ? "lineTo" : "moveTo"](x(edges[i]), yP(row[key])); g.lineTo(x(edges[i + 1]), yP(row[key])); });
      g.stroke();
      if (rows.length <= 60) centres.forEach((c, i) => { g.beginPath(); g.arc(x(c), yP(rows[i][key]), 3, 0, 2 * Math.PI); g.fill(); });
      g.lineWidth = 1.5; g.setLineDash([6, 4]); line(g, L, yP(thresholds[index]), R, yP(thresholds[index])); g.setLineDash([]);
      legend.push([key, false, `P(${key}s present)`], [key, true, `${key} threshold (${thresholds[index].toFixed(2)})`]);
    });
    g.textAlign = "left";
    legend.forEach(([key, dashed, text], i) => {
      const y = (prob[0] + prob[1]) / 2 + (i - 1.5) * 20;
      g.strokeStyle = PROBABILITY[key]; g.lineWidth = dashed ? 1.5 : 2.5; g.setLineDash(dashed ? [6, 4] : []);
      line(g, R + 12, y, R + 40, y); g.setLineDash([]); g.fillStyle = "#222"; g.fillText(text, R + 46, y);
    });
    g.strokeStyle = "#222"; g.lineWidth = 1; g.strokeRect(L, prob[0], R - L, prob[1] - prob[0]);

    const rowY = (i) => strip[0] + 26 * i + 3;
    g.textAlign = "center";
    rows.forEach((row, i) => {
      g.fillStyle = LABEL[row.label]; g.fillRect(x(edges[i]), rowY(0), x(edges[i + 1]) - x(edges[i]), 20);
      g.fillStyle = "#fff"; g.fillRect(x(edges[i + 1]) - 1, rowY(0), 2, 20);
      if (x(edges[i + 1]) - x(edges[i]) > 44) { g.fillStyle = "#222"; g.fillText(row.label, (x(edges[i]) + x(edges[i + 1])) / 2, rowY(0) + 10); }
    });
    const names = ["predicted"];
    if (result.events) {
      names.push("crackle events", "wheeze events");
      result.events.events.forEach((e) => {
        g.globalAlpha = 0.35 + 0.65 * Math.min(Math.max(e.confidence, 0), 1); g.fillStyle = PROBABILITY[e.type];
        g.fillRect(x(e.onset), rowY(e.type === "crackle" ? 1 : 2) + 3, Math.max(3, x(e.offset) - x(e.onset)), 14);
      });
      g.globalAlpha = 1;
    }
    g.textAlign = "right"; g.fillStyle = "#222";
    names.forEach((name, i) => g.fillText(name, L - 8, rowY(i) + 10));
    g.textAlign = "left";
    Object.entries(LABEL).forEach(([name, colour], i) => {
      const lx = R + 12 + 90 * (i % 2), ly = strip[0] + 6 + 20 * Math.floor(i / 2);
      g.fillStyle = colour; g.fillRect(lx, ly, 24, 12); g.fillStyle = "#222"; g.fillText(name, lx + 30, ly + 6);
    });
    [spec, strip].forEach(([a, b]) => g.strokeRect(L, a, R - L, b - a));

    const long = seconds > 600, step = timeStep(seconds);
    g.textAlign = "center"; g.textBaseline = "top";
    for (let t = 0; t <= seconds + 1e-9; t += step) { g.fillRect(x(t) - 0.5, strip[1], 1, 5); g.fillText(clock(t, long), x(t), strip[1] + 8); }
    g.fillText(long ? "time (min:s)" : "time (s)", (L + R) / 2, strip[1] + 28);
    g.textBaseline = "middle";
  }
  function line(g, x0, y0, x1, y1) { g.beginPath(); g.moveTo(x0, y0); g.lineTo(x1, y1); g.stroke(); }
  function vertical(g, text, x, y) {
    g.save(); g.translate(x, y); g.rotate(-Math.PI / 2); g.textAlign = "center"; g.fillStyle = "#222"; g.fillText(text, 0, 0); g.restore();
  }
  return { draw, spectrogram, layout, MAGMA };
})();
