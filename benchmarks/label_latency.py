"""``respira label``: time from a keypress to the next recording shown, for 20-s recordings.

A site folder of 20-s recordings (real ICBHI audio, each a sample recording repeated to 20 s; noise when
../shared is absent) and a labels.csv with every cell blank; ``respira label``'s server with respira's
shipped detector (``respira.label``, in this process) and the page in Debian's headless chromium
(Selenium). For each recording the page shows, the script waits (``--listen`` seconds: the user
listening, while the server prepares the next recording), then presses ``N``; the page's own clock
(``performance.now()``) measures from its keydown handler to the next recording's spectrogram loaded and
its probabilities drawn, the answer saved in labels.csv before the server replies. The same keypresses
without listening (``--listen 0``: the next recording not prepared yet) are the baseline: what the
background preparation saves (pressed as soon as a recording is shown, the next one's preparation has
only the page's loading time ahead of it). Also timed: each recording's preparation in the server's
background thread (decode, model, spectrogram, WAV), the model's first call included.

    python benchmarks/label_latency.py [--recordings 12] [--listen 3] [--output results/label_latency.md]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
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
        prepared = prepare(at)
        seconds.append(prepared.seconds)
        return prepared

    return wrapped


def press_through(driver, url: str, presses: int, listen: float) -> list[float]:
    """Open ``url``, then ``presses`` times: wait ``listen`` s, press N, wait for the next recording."""
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
        body.send_keys("n")
        while shown() == before:
            time.sleep(0.01)
    return list(driver.execute_script("return window.respiraTimings"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recordings", type=int, default=12)
    parser.add_argument("--listen", type=float, default=3.0)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "label_latency.md")
    args = parser.parse_args()

    import respira
    from respira.utils.threads import apply_num_threads

    apply_num_threads()
    half = args.recordings // 2
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder) / "site"
        site.mkdir()
        audio = write_site(site, args.recordings)
        original = (site / "labels.csv").read_text()
        server = respira.label(site, port=0)
        driver = browser()
        try:
            session = server.session
            during: list[float] = []
            for name, listen in (("listened", args.listen), ("at once", 0.0)):
                (site / "labels.csv").write_text(original)
                server.session = type(session)(
                    site / "labels.csv",
                    session.detector,
                    model=session.model,
                    minimum_units=session.minimum_units,
                )
                session.close()
                session = server.session
                session._prepare = timed(session._prepare, during)
                results[name] = press_through(driver, server.url, half, listen)
        finally:
            driver.quit()
            server.close()
        shutil.rmtree(site, ignore_errors=True)

    lines = [
        f"<!-- {cpu_name()}, {os.cpu_count()} cores; load average {load_average()} (end); "
        f"{time.strftime('%Y-%m-%d')}; the page in headless chromium -->",
        "",
        f"Keypress → next recording shown ({audio}; respira's shipped detector). "
        "Preparing a recording in the server (decode, model, spectrogram, WAV): median "
        f"{statistics.median(during) * 1000:.0f} ms, max {max(during) * 1000:.0f} ms "
        f"({len(during)} recordings)",
        "",
        "| keypress | presses | median ms | max ms |",
        "|---|---|---|---|",
    ]
    for name, listen in (("listened", args.listen), ("at once", 0.0)):
        timings = results[name]
        label = f"after {listen:g} s of listening (next prepared)" if listen else "at once (baseline)"
        lines.append(f"| {label} | {len(timings)} | {statistics.median(timings):.0f} | {max(timings):.0f} |")
    text = "\n".join(lines) + "\n"
    args.output.write_text(text)
    args.output.with_suffix(".json").write_text(json.dumps({"prepare_s": during, **results}, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
