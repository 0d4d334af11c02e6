"""``respira label``: time from a keypress to the next recording shown, for 20-s recordings, and the
server's start-up, for each version of respira's source given (``--arm NAME=SRC``), interleaved; with
``--competing N``, N busy processes compete for the CPU while the keys are pressed.

A site folder of 20-s recordings (real ICBHI audio, each a sample recording repeated to 20 s; noise when
../shared is absent) and a labels.csv with every cell blank. Keypresses: for each arm in turn (the order
alternating by round), a process with ``PYTHONPATH=SRC`` serves the page (``respira.label`` with respira's
shipped detector) to Debian's headless chromium (Selenium). For each recording the page shows, it waits
(``--listen`` seconds: the user listening, while the server prepares the next recording), then presses
``N``; the page's own clock (``performance.now()``) measures from its keydown handler to the next
recording's spectrogram loaded and its probabilities drawn, the answer saved in labels.csv before the
server replies. The same keypresses "at once": as soon as the page takes an answer (a page that states a
minimum time on screen, ``window.respiraReady``, is waited for; an older page at once), the next recording
given only that long to be prepared. Also timed: each recording's preparation in the server's background
thread (decode, model, spectrogram, WAV), the model's first call included.
Start-up: ``python -m respira label SITE --port P`` launched → its ``/api/state`` answered (imports, the
model read, the server listening), ``--startups`` times per arm, the arms in turn.

    python benchmarks/label_latency.py [--arm before=/tmp/old/src --arm after=src] [--recordings 12]
        [--listen 3] [--rounds 2] [--startups 3] [--competing 1] [--output results/label_latency.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import soundfile as sf

from _machine import cpu_name, load_average

SHARED = Path(os.environ.get("RESPIRA_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
SECONDS = 20.0
RATE = 16000


def write_site(folder: Path, count: int) -> str:
    wavs = sorted((SHARED / "icbhi" / "ICBHI_final_database").glob("*.wav"))[:count]
    rng = np.random.default_rng(0)
    rows = ["file,crackle,wheeze"]
    for index in range(count):
        if wavs:
            source, rate = sf.read(wavs[index % len(wavs)], dtype="float32", always_2d=True)
            source = source.mean(axis=1)
        else:
            source, rate = rng.normal(0, 0.1, RATE * 5).astype(np.float32), RATE
        name = f"r{index:02d}.wav"
        sf.write(folder / name, np.resize(source, int(SECONDS * rate)), rate)
        rows.append(f"{name},,")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return f"real ICBHI recordings repeated to {SECONDS:.0f} s" if wavs else f"noise, {SECONDS:.0f} s"


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1200"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)


def timed(prepare, seconds: list[float]):
    """``prepare`` (a session's), appending the seconds each call took to ``seconds``."""

    def wrapped(at: int):
        started = time.perf_counter()
        prepared = prepare(at)
        seconds.append(time.perf_counter() - started)
        return prepared

    return wrapped


def press_through(driver, url: str, presses: int, listen: float) -> list[float]:
    """Open ``url``, then ``presses`` times: wait ``listen`` s (at least until the page takes an answer),
    press N, wait for the next recording."""
    from selenium.webdriver.common.by import By

    driver.get(url)
    shown = lambda: driver.execute_script("return window.respiraShown")  # noqa: E731
    deadline = time.monotonic() + 120
    while shown() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    body = driver.find_element(By.TAG_NAME, "body")
    for _ in range(presses):
        before = shown()
        time.sleep(listen)
        while driver.execute_script("return window.respiraReady") is False:  # its minimum time on screen
            time.sleep(0.01)
        body.send_keys("n")
        while shown() == before:
            time.sleep(0.01)
    return list(driver.execute_script("return window.respiraTimings"))


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def worker(site: Path, listen: float, output: Path) -> None:
    """The keypresses, in this process (its respira the arm's), into ``output`` (JSON)."""
    import respira
    from respira.utils.threads import apply_num_threads

    apply_num_threads()
    original = (site / "labels.csv").read_text()
    half = len(original.splitlines()) // 2
    results = {}
    server = respira.label(site, port=0)
    driver = browser()
    try:
        session = server.session
        during: list[float] = []
        for name, seconds in (("listened", listen), ("at once", 0.0)):
            session.close()  # one writer of labels.csv at a time: the next session takes it afresh
            (site / "labels.csv").write_text(original)
            server.session = type(session)(
                site / "labels.csv",
                session.detector,
                model=session.model,
                minimum_units=session.minimum_units,
            )
            session = server.session
            session._prepare = timed(session._prepare, during)
            results[name] = press_through(driver, server.url, half, seconds)
    finally:
        driver.quit()
        server.close()
        (site / "labels.csv").write_text(original)
    output.write_text(json.dumps({"prepare_s": during, **results}))


def start_up(source: str, site: Path) -> float:
    """Seconds from ``respira label SITE`` launched (``source`` on ``PYTHONPATH``) to its state answered."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": source}
    command = [sys.executable, "-m", "respira", "label", str(site), "--port", str(port)]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"respira label ({source}) exited: {process.stderr.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=30):
                    return time.perf_counter() - started
            except OSError:
                time.sleep(0.02)
    finally:
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arm", action="append", help="NAME=SRC: a respira source folder to measure")
    parser.add_argument("--recordings", type=int, default=12)
    parser.add_argument("--listen", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--startups", type=int, default=3)
    parser.add_argument("--competing", type=int, default=0, help="busy processes beside the keypresses")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "label_latency.md")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.listen, args.output)
        return

    src = str(Path(__file__).resolve().parents[1] / "src")
    arms = dict(arm.split("=", 1) for arm in args.arm or [f"this tree={src}"])
    results: dict[str, dict[str, list[float]]] = {name: {} for name in arms}
    load_start = load_average()
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder) / "site"
        site.mkdir()
        audio = write_site(site, args.recordings)
        busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.competing)]
        try:
            for round_ in range(args.rounds):
                for name in list(arms)[:: 1 if round_ % 2 == 0 else -1]:
                    output = Path(folder) / f"{name}.json"
                    env = {**os.environ, "PYTHONPATH": arms[name]}
                    command = [sys.executable, __file__, "--worker", str(site), "--listen", str(args.listen)]
                    subprocess.run([*command, "--output", str(output)], env=env, check=True)
                    for key, values in json.loads(output.read_text()).items():
                        results[name].setdefault(key, []).extend(values)
                    print(f"round {round_ + 1}, {name}: done", flush=True)
        finally:
            for process in busy:
                process.kill()
                process.wait()
        for turn in range(args.startups):
            for name in list(arms)[:: 1 if turn % 2 == 0 else -1]:
                results[name].setdefault("startup_s", []).append(start_up(arms[name], site))

    lines = [
        f"<!-- {cpu_name()}, {os.cpu_count()} cores; load average {load_start} (start), {load_average()} "
        f"(end); {time.strftime('%Y-%m-%d')}; the page in headless chromium; arms interleaved, "
        f"{args.rounds} rounds; {args.competing} busy process(es) beside the keypresses -->",
        "",
        f"Keypress → next recording shown ({audio}; respira's shipped detector); `respira label` launched → "
        "its page's state answered (start-up). Preparing a recording in the server (decode, model, "
        "spectrogram, WAV): "
        + "; ".join(
            f"{name} median {statistics.median(r['prepare_s']) * 1000:.0f} ms, max "
            f"{max(r['prepare_s']) * 1000:.0f} ms ({len(r['prepare_s'])} recordings)"
            for name, r in results.items()
        ),
        "",
        "| server | keypress | presses | median ms | max ms |",
        "|---|---|---|---|---|",
    ]
    for name, timings in results.items():
        for key, label in (
            ("listened", f"after {args.listen:g} s of listening (next prepared)"),
            ("at once", "at once (as soon as the page takes a key)"),
        ):
            values = timings[key]
            lines.append(
                f"| {name} | {label} | {len(values)} | {statistics.median(values):.0f} | {max(values):.0f} |"
            )
    lines += ["", "| server | start-ups | median s | max s |", "|---|---|---|---|"]
    for name, timings in results.items():
        values = timings["startup_s"]
        lines.append(f"| {name} | {len(values)} | {statistics.median(values):.2f} | {max(values):.2f} |")
    text = "\n".join(lines) + "\n"
    args.output.write_text(text)
    args.output.with_suffix(".json").write_text(
        json.dumps({"arms": list(arms), "listen_s": args.listen, **results}, indent=1) + "\n"
    )
    print(text)


if __name__ == "__main__":
    main()
