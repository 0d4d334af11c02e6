"""The labelling page in a real browser (Debian's chromium, headless, through Selenium), as a person uses
it: ``respira label`` served by its own process; one event marked by dragging over the spectrogram, three
recordings labelled by keyboard; the server killed (SIGKILL) and started again: the answers and the event
are there, the next recording is shown, and nothing else of labels.csv changed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.hub.hub_server import free_port

from .test_labelling import LABELS, write_site

pytestmark = pytest.mark.slow
SOURCE = Path(__file__).resolve().parents[2] / "src"


def _wait(condition, what: str, timeout: float = 120) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def label_server(model: Path, site: Path, port: int, log: Path) -> Iterator[subprocess.Popen]:
    """``python -m respira label MODEL SITE --port PORT`` until its page answers; killed on exit."""
    env = {**os.environ, "PYTHONPATH": f"{SOURCE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "respira", "label", str(model), str(site), "--port", str(port)]
    with log.open("a") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"respira label did not serve:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=5):
                    break
            except OSError:
                time.sleep(0.3)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def _shown(browser, index: int | str) -> None:
    _wait(
        lambda: browser.execute_script("return window.respiraShown") == index, f"recording {index} shown", 60
    )


def test_label_by_keyboard_mark_an_event_kill_and_restart(browser, run_dir: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    labels = write_site(tmp_path / "site")
    port, log = free_port(), tmp_path / "server.log"
    url = f"http://127.0.0.1:{port}/"
    with label_server(run_dir, labels.parent, port, log) as process:
        browser.get(url)
        _shown(browser, 0)
        assert "r0.wav" in browser.find_element(By.ID, "recording").text
        view = browser.find_element(By.ID, "view")
        width = view.size["width"]
        # drag from a quarter to a half of the spectrogram: a crackle event from 0.75 s to 1.5 s
        ActionChains(browser).move_to_element_with_offset(
            view, -width // 4, 0
        ).click_and_hold().move_by_offset(width // 4, 0).release().perform()
        _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#events li.crackle"), "the event listed", 30)
        body = browser.find_element(By.TAG_NAME, "body")
        for key, next_index in (("w", 1), ("n", 3), ("b", 4)):  # r2 was labelled already
            body.send_keys(key)
            _shown(browser, next_index)
        browser.save_screenshot(str(tmp_path / "label.png"))
        print(f"\nscreenshot: {tmp_path / 'label.png'}")
        process.send_signal(signal.SIGKILL)
        process.wait()
    written = labels.read_text(encoding="utf-8")
    expected = (
        LABELS.replace("r0.wav,p1,,,", "r0.wav,p1,0,1,")
        .replace("r1.wav,p1,,,", "r1.wav,p1,0,0,")
        .replace("r3.wav,p3,,,", "r3.wav,p3,1,1,")
    )
    assert written == expected
    events = (labels.parent / "events.csv").read_text(encoding="utf-8").splitlines()
    assert events[0] == "file,onset,offset,type" and len(events) == 2
    file, onset, offset, kind = events[1].split(",")
    assert (file, kind) == ("r0.wav", "crackle")
    assert float(onset) == pytest.approx(0.75, abs=0.05) and float(offset) == pytest.approx(1.5, abs=0.05)
    with label_server(run_dir, labels.parent, port, log):
        browser.get(url)
        _shown(browser, 4)
        assert browser.find_element(By.ID, "progress").text.startswith("3 of 4 patients labelled (4 of 5")
        assert "not reached yet" in browser.find_element(By.ID, "minimum").text
        body = browser.find_element(By.TAG_NAME, "body")
        body.send_keys("c")
        _shown(browser, "done")
        assert "fit-site's minimum (4 patients" in browser.find_element(By.ID, "minimum").text
        assert browser.find_element(By.ID, "fit-site").text.startswith(f"respira fit-site {run_dir}")
    assert labels.read_text(encoding="utf-8") == expected.replace("r4.wav,p4,,,", "r4.wav,p4,1,0,")
