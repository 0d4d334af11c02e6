"""The browser page's speed and first-load size (issue 61): ``respira export icbhi-crackle-wheeze --web``
in Debian's headless chromium.

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python benchmarks/web_page.py [--shared ../shared] [--repeats 5]
                                                                     [--output FILE] [--json FILE]

Recordings: 30 s of real audio at each rate of ``../shared`` (ICBHI at 4, 10 and 44.1 kHz, SPRSound at 8
kHz), 16- or 24-bit WAV as their corpus stores them; where no recording lasts 30 s, the shortest run of
recordings of that rate joined end to end, cut at 30 s.

The page is served from 127.0.0.1 by a static server that gzips what it sends (level 6, as a host's
default does) in two ways: a plain static host, and one that adds the COOP/COEP headers (the page is then
cross-origin isolated and onnxruntime-web runs on threads). Each way, a fresh chromium opens the page
and analyses each recording ``--repeats`` times after one run not counted (the page's first run compiles
and allocates); the time is the page's own (``performance.now()`` around ``respira.run``: from the file's
bytes to the drawn result), with the parts the page times (decode, resample, low-pass, model, events;
drawing is the rest; ``n/a`` where a page does not time a part).
The first-load size is the browser's own count: the encoded (gzipped) bodies of the page and every
resource it loaded, from its performance entries. Output: ``--output`` (Markdown, pasted in
docs/history/speed.md) and ``--json`` (every run).
"""

from __future__ import annotations

import argparse
import base64
import functools
import gzip
import http.server
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from _machine import load_average, run_header, write_results

REPOSITORY = Path(__file__).resolve().parent.parent
DETECTOR = "icbhi-crackle-wheeze"
SECONDS = 30
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ISOLATION = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}
PARTS = ("decode", "resample", "lowpass", "model", "events")
RUN = """const [data, name, done] = arguments;
const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
const start = performance.now();
respira.run(bytes.buffer, name).then((r) => done(r ? {...r.timing, total: (performance.now() - start) / 1000}
  : document.getElementById("message").textContent));"""
LOADED = """const done = arguments[0];
respira.ready.then(() => {
  const entries = ["navigation", "resource"].flatMap((type) => performance.getEntriesByType(type));
  done({message: document.getElementById("message").textContent, isolated: self.crossOriginIsolated,
        threads: ort.env.wasm.numThreads, files: entries.map((e) => ({name: e.name.split("/").pop(),
        encoded: e.encodedBodySize, decoded: e.decodedBodySize}))});
});"""


def recordings(shared: Path, folder: Path) -> dict[int, Path]:
    """30 s at each rate: the first recordings (by name) of that rate, joined until they last 30 s."""
    sources = {
        4000: sorted((shared / "icbhi" / "ICBHI_final_database").glob("*Meditron.wav")),
        10000: sorted((shared / "icbhi" / "ICBHI_final_database").glob("*Meditron.wav")),
        44100: sorted((shared / "icbhi" / "ICBHI_final_database").glob("*AKGC417L.wav")),
        8000: sorted((shared / "sprsound" / "train_wav").glob("*.wav")),
    }
    made = {}
    for rate, paths in sorted(sources.items()):
        parts, length, subtype = [], 0, None
        for path in paths:
            info = sf.info(path)
            if info.samplerate != rate:
                continue
            samples, _ = sf.read(path, dtype="float64")
            parts.append(samples)
            length, subtype = length + len(samples), info.subtype
            if length >= SECONDS * rate:
                break
        if length < SECONDS * rate:
            raise SystemExit(f"{shared}: recordings at {rate} Hz last less than {SECONDS} s in all")
        made[rate] = folder / f"{rate}.wav"
        sf.write(made[rate], np.concatenate(parts)[: SECONDS * rate], rate, subtype=subtype)
    return made


@contextmanager
def served(folder: Path, headers: dict[str, str]) -> Iterator[str]:
    """``folder`` on 127.0.0.1, gzipped where the browser accepts it, with ``headers`` on every answer."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path = Path(self.translate_path(self.path))
            if not path.is_file():
                self.send_error(404)
                return
            body = path.read_bytes()
            gzipped = "gzip" in self.headers.get("Accept-Encoding", "")
            if gzipped:
                body = gzip.compress(body, compresslevel=6)
            self.send_response(200)
            self.send_header("Content-Type", self.guess_type(str(path)))
            self.send_header("Content-Length", str(len(body)))
            if gzipped:
                self.send_header("Content-Encoding", "gzip")
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()


@contextmanager
def chromium(profile: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_script_timeout(600)
    try:
        yield driver
    finally:
        driver.quit()


def measure(url: str, files: dict[int, Path], repeats: int, profile: Path) -> dict[str, Any]:
    with chromium(profile) as browser:
        browser.get(url)
        loaded = browser.execute_async_script(LOADED)
        if loaded["message"] != "Ready: drop a recording.":
            raise SystemExit(f"the page did not load: {loaded['message']}")
        runs: dict[str, list[dict[str, float]]] = {}
        for rate, path in files.items():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            timings = [browser.execute_async_script(RUN, data, path.name) for _ in range(repeats + 1)]
            if not all(isinstance(timing, dict) for timing in timings):
                raise SystemExit(f"{path.name}: the page said {timings}")
            runs[str(rate)] = timings
        requests = browser.execute_script("return performance.getEntriesByType('resource').length")
    return {**loaded, "runs": runs, "requests_after_load": requests - (len(loaded["files"]) - 1)}


def median(timings: list[dict[str, float]], key: str) -> float | None:
    """The median of ``key`` over ``timings``; ``None`` where the page does not time that part."""
    return statistics.median(timing[key] for timing in timings) if key in timings[0] else None


def table(ways: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        f"| host | threads | rate kHz | 30 s analysed, s (median) | {' | '.join(PARTS)} | drawing "
        "| first run, s |",
        "| --- | --- | --- | --- | " + "--- | " * len(PARTS) + "--- | --- |",
    ]
    for way, result in ways.items():
        for rate, timings in result["runs"].items():
            counted = timings[1:]
            total = median(counted, "total")
            parts = [median(counted, part) for part in PARTS]
            drawing = None if None in parts else total - sum(parts)
            values = (total, *parts, drawing, timings[0]["total"])
            cells = ["n/a" if value is None else f"{value:.3f}" for value in values]
            lines.append(
                f"| {way} | {result['threads']} | {int(rate) / 1000:g} | " + " | ".join(cells) + " |"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPOSITORY.parent / "shared")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path, default=REPOSITORY / "benchmarks/results/web_page.md")
    parser.add_argument("--json", type=Path, default=REPOSITORY / "benchmarks/results/web_page.json")
    args = parser.parse_args(argv)
    from respira.app.web_page import ORT_WEB_VERSION, write_web_page

    version = subprocess.run(
        [CHROMIUM, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    lines = [run_header(1, version, f"onnxruntime-web {ORT_WEB_VERSION}"), ""]
    with tempfile.TemporaryDirectory(prefix="respira-web-bench-") as tmp:
        page = write_web_page(DETECTOR, Path(tmp) / "page")
        files = recordings(args.shared, Path(tmp))
        ways: dict[str, dict[str, Any]] = {}
        with served(page, {}) as url:
            ways["plain static host"] = measure(url, files, args.repeats, Path(tmp) / "plain")
        with served(page, ISOLATION) as url:
            ways["cross-origin isolated"] = measure(url, files, args.repeats, Path(tmp) / "isolated")
    plain, isolated = ways["plain static host"], ways["cross-origin isolated"]
    encoded = sum(entry["encoded"] for entry in plain["files"])
    decoded = sum(entry["decoded"] for entry in plain["files"])
    lines += [
        f"{len(files)} recordings of {SECONDS} s, each analysed {args.repeats} times after a run not counted",
        "",
        *table(ways),
        "",
        f"first load: {len(plain['files'])} files, {encoded / 1e6:.2f} MB gzipped ({decoded / 1e6:.2f} MB "
        f"as files); requests while analysing: {plain['requests_after_load']} plain, "
        f"{isolated['requests_after_load']} isolated",
        f"cross-origin isolated: {plain['isolated']} plain, {isolated['isolated']} isolated",
        f"<!-- load average {load_average()} (end) -->",
    ]
    print("\n".join(lines))
    write_results(lines, args.output, ways, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
