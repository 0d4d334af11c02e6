// soxr's high-quality resampling (respira.models.respira.audio_decoding.resample) in the browser, for any pair of rates: the
// input cut into overlapping blocks, each block's spectrum times the kernel's response, cut or zero-extended
// to the new rate's bins and transformed back (overlap-save).
// The kernel is soxr's own impulse response where the settings carry it (measured at export, web_page.py),
// else a Kaiser-windowed sinc with soxr's band edges; soxr's first outputs come from its own start table.
"use strict";
globalThis.respiraResample = (function () {
  const plans = new Map(), designs = new Map();

  function factors(n) { // 4s first, then 2, 3, 5, 7, ...: the passes of the mixed-radix FFT
    const out = [];
    while (n % 4 === 0) { out.push(4); n /= 4; }
    for (let p = 2; n > 1; p++) while (n % p === 0) { out.push(p); n /= p; }
    return out;
  }
  function plan(n) { // twiddles exp(-2 pi i t / n) and scratch for one length
    if (!plans.has(n)) {
      const cos = new Float64Array(n), sin = new Float64Array(n);
      for (let t = 0; t < n; t++) { cos[t] = Math.cos((2 * Math.PI * t) / n); sin[t] = -Math.sin((2 * Math.PI * t) / n); }
      plans.set(n, { n, factors: factors(n), cos, sin, re: new Float64Array(n), im: new Float64Array(n) });
    }
    return plans.get(n);
  }

  function fft(p, xr, xi) { // in place, forward, mixed radix (Stockham, self-sorting)
    const { n: N, cos, sin } = p;
    let ar = xr, ai = xi, br = p.re, bi = p.im, n = N, s = 1;
    const pr = new Float64Array(16), pi = new Float64Array(16), mr = new Float64Array(16), mi = new Float64Array(16);
    for (const radix of p.factors) {
      const m = n / radix, stride = N / n, sm = s * m, wc = new Float64Array(radix * radix), ws = new Float64Array(radix * radix);
      for (let jk = 0; jk < radix * radix; jk++) { const t = ((Math.floor(jk / radix) * (jk % radix)) % radix) * (N / radix); wc[jk] = cos[t]; ws[jk] = sin[t]; }
      for (let q = 0; q < m; q++) {
        const t1 = q * stride, c1 = cos[t1], s1 = sin[t1], at = s * q, to = s * radix * q;
        if (radix === 4) {
          const t2 = 2 * t1, c2 = cos[t2], s2 = sin[t2], t3 = 3 * t1, c3 = cos[t3], s3 = sin[t3];
          for (let r = 0; r < s; r++) {
            const a = at + r, b = a + sm, c = b + sm, d = c + sm, o = to + r;
            const s0r = ar[a] + ar[c], s0i = ai[a] + ai[c], d0r = ar[a] - ar[c], d0i = ai[a] - ai[c];
            const s1r = ar[b] + ar[d], s1i = ai[b] + ai[d], d1r = ar[b] - ar[d], d1i = ai[b] - ai[d];
            br[o] = s0r + s1r; bi[o] = s0i + s1i;
            let yr = d0r + d1i, yi = d0i - d1r;
            br[o + s] = yr * c1 - yi * s1; bi[o + s] = yr * s1 + yi * c1;
            yr = s0r - s1r; yi = s0i - s1i;
            br[o + 2 * s] = yr * c2 - yi * s2; bi[o + 2 * s] = yr * s2 + yi * c2;
            yr = d0r - d1i; yi = d0i + d1r;
            br[o + 3 * s] = yr * c3 - yi * s3; bi[o + 3 * s] = yr * s3 + yi * c3;
          }
        } else if (radix === 2) {
          for (let r = 0; r < s; r++) {
            const a = at + r, b = a + sm, o = to + r, dr = ar[a] - ar[b], di = ai[a] - ai[b];
            br[o] = ar[a] + ar[b]; bi[o] = ai[a] + ai[b];
            br[o + s] = dr * c1 - di * s1; bi[o + s] = dr * s1 + di * c1;
          }
        } else { // an odd prime: inputs k and radix - k in pairs, outputs j and radix - j from the same sums
          const h = (radix - 1) / 2;
          for (let r = 0; r < s; r++) {
            const a = at + r, o = to + r;
            let y0r = ar[a], y0i = ai[a];
            for (let k = 1; k <= h; k++) {
              const x = a + k * sm, z = a + (radix - k) * sm;
              pr[k] = ar[x] + ar[z]; pi[k] = ai[x] + ai[z]; mr[k] = ar[x] - ar[z]; mi[k] = ai[x] - ai[z];
              y0r += pr[k]; y0i += pi[k];
            }
            br[o] = y0r; bi[o] = y0i;
            for (let j = 1; j <= h; j++) {
              let tr = ar[a], ti = ai[a], ur = 0, ui = 0;
              for (let k = 1; k <= h; k++) { // wc, ws: cos and -sin of 2 pi jk / radix
                const c = wc[j * radix + k], sn = ws[j * radix + k];
                tr += pr[k] * c; ti += pi[k] * c; ur -= mi[k] * sn; ui += mr[k] * sn;
              }
              let yr = tr + ur, yi = ti + ui, tw = j * t1, at2 = o + s * j;
              br[at2] = yr * cos[tw] - yi * sin[tw]; bi[at2] = yr * sin[tw] + yi * cos[tw];
              yr = tr - ur; yi = ti - ui; tw = (radix - j) * t1; at2 = o + s * (radix - j);
              br[at2] = yr * cos[tw] - yi * sin[tw]; bi[at2] = yr * sin[tw] + yi * cos[tw];
            }
          }
        }
      }
      [ar, br] = [br, ar]; [ai, bi] = [bi, ai];
      n = m; s *= radix;
    }
    if (ar !== xr) { xr.set(ar); xi.set(ai); }
  }

  function besselI0(x) {
    let sum = 1, term = 1;
    for (let k = 1; k < 60; k++) { term *= (x / (2 * k)) ** 2; sum += term; if (term < 1e-17 * sum) break; }
    return sum;
  }
  function kaiserKernel(up, down) { // an input impulse's outputs, soxr's HQ band edges, 125 dB
    const scale = Math.min(1, up / down), attenuation = 125, beta = 0.1102 * (attenuation - 8.7), norm = besselI0(beta);
    const cutoff = 0.5 * ((0.913 + 1.0) / 2) * scale, width = (1.0 - 0.913) * 0.5 * scale;
    const half = Math.ceil((attenuation - 7.95) / (14.36 * width) / 2) + 1, offset = -Math.floor((half * up) / down);
    const kernel = new Float64Array(2 * -offset + 1);
    for (let j = 0; j < kernel.length; j++) {
      const d = ((offset + j) * down) / up, r = d / half, a = 2 * Math.PI * cutoff * d;
      kernel[j] = 2 * cutoff * (a === 0 ? 1 : Math.sin(a) / a) * besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / norm;
    }
    return { kernel, offset };
  }

  function gcd(a, b) { while (b) [a, b] = [b, a % b]; return a; }

  function design(rate, target, table) { // blocks, and the kernel's response at a block's bins
    const g = gcd(rate, target), up = target / g, down = rate / g;
    const { kernel, offset } = table && table.kernel
      ? { kernel: table._kernel || (table._kernel = floatsOf(table.kernel)), offset: table.offset }
      : kaiserKernel(up, down);
    // input k reaches outputs k up / down + offset ... + kernel.length - 1: inputs before and after an output
    const before = Math.ceil(((kernel.length - 1 + offset) * down) / up) + 1, after = Math.ceil((-offset * down) / up) + 1;
    const lead = Math.ceil(Math.max(0, before) / down) * down, tail = Math.ceil(Math.max(0, after) / down) * down;
    let block = down;
    while (block < Math.max(4096, 4 * (lead + tail))) block *= 2;
    const out = (block * up) / down, bins = Math.min(block, out) / 2 + 1, hr = new Float64Array(out), hi = new Float64Array(out);
    for (let j = 0; j < kernel.length; j++) hr[(((offset + j) % out) + out) % out] += kernel[j]; // at its lag, circular
    fft(plan(out), hr, hi); // bin k: sum_j kernel[j] exp(-2 pi i k (offset + j) / out), frequency k rate / block
    return { up, down, block, out, bins, lead, step: block - lead - tail, hr, hi, forward: plan(block), inverse: plan(out) };
  }

  function floatsOf(base64) {
    const text = atob(base64), bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }

  function resample(x, rate, target, table) {
    if (rate === target) return x;
    const key = `${rate}>${target}`;
    if (!designs.has(key)) designs.set(key, design(rate, target, table));
    const { up, down, block, out, bins, lead, step, hr, hi, forward, inverse } = designs.get(key);
    const count = Math.ceil((x.length * up) / down), y = new Float64Array(count), kept = (step * up) / down, skip = (lead * up) / down;
    const zr = new Float64Array(block), zi = new Float64Array(block), wr = new Float64Array(out), wi = new Float64Array(out);
    const sample = (k) => (k >= 0 && k < x.length ? x[k] : 0);
    for (let first = 0; first < x.length; first += 2 * step) { // two real blocks as one complex transform
      const second = first + step;
      for (let i = 0; i < block; i++) { zr[i] = sample(first - lead + i); zi[i] = sample(second - lead + i); }
      fft(forward, zr, zi);
      wr.fill(0); wi.fill(0);
      for (let k = 0; k < bins; k++) { // A = (Z_k + conj Z_-k) / 2, B = (Z_k - conj Z_-k) / 2i; W = A H + i B H
        const n = (block - k) % block, ar = (zr[k] + zr[n]) / 2, ai = (zi[k] - zi[n]) / 2;
        const br = (zi[k] + zi[n]) / 2, bi = (zr[n] - zr[k]) / 2;
        const har = ar * hr[k] - ai * hi[k], hai = ar * hi[k] + ai * hr[k], hbr = br * hr[k] - bi * hi[k], hbi = br * hi[k] + bi * hr[k];
        const edge = 2 * k === out ? 0.5 : 1; // the new Nyquist bin holds both halves
        wr[k] += edge * (har - hbi); wi[k] += edge * (hai + hbr);
        if (k > 0 && 2 * k <= out) { const m = out - k; wr[m] += edge * (har + hbi); wi[m] += edge * (hbr - hai); }
      }
      for (let i = 0; i < out; i++) wi[i] = -wi[i]; // the inverse by a forward transform of the conjugate
      fft(inverse, wr, wi);
      const at = (first * up) / down, next = (second * up) / down;
      for (let i = 0; i < kept && at + i < count; i++) y[at + i] = wr[skip + i] / out;
      for (let i = 0; i < kept && next + i < count; i++) y[next + i] = -wi[skip + i] / out;
    }
    if (table) { // soxr's first outputs
      const start = table._start || (table._start = floatsOf(table.start)), inputs = table.start_inputs;
      for (let m = 0; m < Math.min(start.length / inputs, count); m++) {
        let sum = 0;
        for (let k = 0; k < Math.min(inputs, x.length); k++) sum += start[m * inputs + k] * x[k];
        y[m] = sum;
      }
    }
    return Float32Array.from(y);
  }

  return { resample, fft, plan, kaiserKernel };
})();
