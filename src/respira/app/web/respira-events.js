// The events of `respira predict --events` (verdict rule) in the browser, step for step as respira makes
// them: chunks of the recording with mirrored margins, the graph's frame outputs stitched onto a frame grid
// (respira.inference.frames), runs of decided frames made events
// (respira.models.respira.decision), kept where the recording's verdict holds them (respira.inference.event_rules).
"use strict";
window.respiraEvents = (function () {
  const LABELS = ["crackle", "wheeze"];
  const TOLERANCE = 1e-9;

  function chunkSpans(total, chunk, margin) { // iter_chunk_spans over the mirrored recording
    const step = chunk - 2 * margin, spans = [];
    for (let index = 0; index * step + chunk < total; index++) spans.push([index * step, index * step + chunk, false]);
    spans.push(total <= chunk ? [0, total, true] : [total - chunk, total, true]);
    return spans;
  }

  function mirroredSegment(samples, margin, start, stop) { // MirroredRecording.segment
    const last = samples.length - 1, out = new Float32Array(stop - start);
    for (let i = start; i < stop; i++) {
      let index = Math.abs(i - margin);
      if (index > last) index = Math.max(0, Math.min(last, 2 * last - index));
      out[i - start] = samples[index];
    }
    return out;
  }

  function interp(x, xp, fp) { // numpy.interp: held at both ends
    const n = xp.length;
    if (x <= xp[0]) return fp[0];
    if (x >= xp[n - 1]) return fp[n - 1];
    let j = 0;
    while (xp[j + 1] <= x) j++;
    return fp[j] + ((fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])) * (x - xp[j]);
  }

  const frameCount = (seconds, hop) => Math.max(1, Math.ceil(seconds / hop - 1e-9));

  function frames(samples, outputs, spans, settings) { // _Grid: the value of the chunk most central to it
    const { rate, margin, frame_hop: hop } = settings.events, total = samples.length;
    const size = frameCount((total + 2 * margin) / rate, hop) + 2;
    const posteriors = [new Float64Array(size), new Float64Array(size)], best = new Float64Array(size).fill(-Infinity);
    spans.forEach(([a, b, last], k) => {
      const begin = (a - margin) / rate, end = (b - margin) / rate, needed = frameCount(end, hop);
      const { times, flags } = outputs[k];
      for (let i = Math.max(0, Math.floor(begin / hop - 0.5)); i < needed; i++) {
        const centre = (i + 0.5) * hop;
        if (centre < begin || (!last && centre >= end)) continue;
        const local = (i + 0.5) * hop - begin, centrality = Math.min(local, end - begin - local);
        if (!(centrality > best[i])) continue;
        for (let c = 0; c < 2; c++) posteriors[c][i] = interp(local, times, flags[c]);
        best[i] = centrality;
      }
    });
    const count = frameCount(total / rate, hop);
    return posteriors.map((column) => Array.from(column.subarray(0, count), (v) => Math.min(1, Math.max(0, v))));
  }

  function roundHalfEven(x) {
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }

  function labelRuns(active, hop, setting) { // median filter, gap merging, minimum duration
    const frames = roundHalfEven(setting.median_filter_seconds / hop), width = frames % 2 === 0 ? frames + 1 : frames;
    let decided = active;
    if (width > 1) {
      const half = (width - 1) / 2;
      decided = active.map((_, i) => {
        let ones = 0;
        for (let j = i - half; j <= i + half; j++) if (j >= 0 && j < active.length && active[j]) ones++;
        return ones > half;
      });
    }
    const runs = [];
    for (let i = 0; i < decided.length; i++) {
      if (!decided[i]) continue;
      let stop = i;
      while (stop < decided.length && decided[stop]) stop++;
      runs.push([i, stop]);
      i = stop;
    }
    const merged = [];
    for (const run of runs) {
      if (merged.length && (run[0] - merged[merged.length - 1][1]) * hop < setting.max_gap_seconds - TOLERANCE) merged[merged.length - 1][1] = run[1];
      else merged.push(run);
    }
    return merged.filter(([a, b]) => (b - a) * hop >= setting.min_duration_seconds - TOLERANCE);
  }

  function toEvents(posteriors, settings) { // posteriors_to_events
    const hop = settings.events.frame_hop, events = [];
    LABELS.forEach((label, c) => {
      const column = posteriors[c], threshold = settings.thresholds[c];
      for (const [first, stop] of labelRuns(column.map((p) => p >= threshold), hop, settings.events.settings[label])) {
        events.push({ onset: Math.round(first * hop * 1e6) / 1e6, offset: Math.round(stop * hop * 1e6) / 1e6, type: label,
          confidence: Math.max(...column.slice(first, stop)) });
      }
    });
    return events.sort((a, b) => a.onset - b.onset || LABELS.indexOf(a.type) - LABELS.indexOf(b.type));
  }

  function gate(events, rows, verdict, settings) { // gate_by_verdict: the recording and a window decided present
    const recording = [verdict.crackle >= settings.thresholds[0], verdict.wheeze >= settings.thresholds[1]];
    const has = (row, c) => row.label === "both" || row.label === LABELS[c];
    const kept = [], leftOut = [];
    for (const event of events) {
      const c = LABELS.indexOf(event.type);
      const held = recording[c] && rows.some((row) => has(row, c) && event.onset < row.end && event.offset > row.start);
      (held ? kept : leftOut).push(event);
    }
    return { events: kept, left_out: leftOut, recording };
  }

  async function stepOutputs(session, segments, rate, order) { // the graph's frame outputs, steps past the input dropped
    const outputs = new Array(segments.length), groups = new Map();
    segments.forEach((segment, i) => groups.set(segment.length, [...(groups.get(segment.length) || []), i]));
    for (const [length, indices] of groups) {
      for (let at = 0; at < indices.length; at += 8) {
        const batch = indices.slice(at, at + 8), input = new Float32Array(batch.length * length);
        batch.forEach((index, j) => input.set(segments[index], j * length));
        const out = await session.run({ input_values: new ort.Tensor("float32", input, [batch.length, length]) });
        const times = Array.from(out.frame_times.data), [, steps, width] = out.frame_probabilities.dims;
        const keep = times.map((t, s) => s === 0 || t < length / rate);
        batch.forEach((index, j) => {
          const data = out.frame_probabilities.data.subarray(j * steps * width, (j + 1) * steps * width);
          const kept = times.map((_, s) => s).filter((s) => keep[s]);
          outputs[index] = { times: kept.map((s) => times[s]),
            flags: order.map((column) => kept.map((s) => data[s * width + column])) };
        });
      }
    }
    return outputs;
  }

  async function detect(session, samples, rows, verdict, settings) {
    const { chunk, margin, rate } = settings.events;
    const order = LABELS.map((name) => Number(Object.keys(settings.id2label).find((k) => settings.id2label[k] === name)));
    const spans = chunkSpans(samples.length + 2 * margin, chunk, margin);
    const outputs = await stepOutputs(session, spans.map(([a, b]) => mirroredSegment(samples, margin, a, b)), rate, order);
    return gate(toEvents(frames(samples, outputs, spans, settings), settings), rows, verdict, settings);
  }

  return { detect, chunkSpans, mirroredSegment, toEvents, gate };
})();
