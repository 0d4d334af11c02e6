"""The labelling page in a real browser (Debian's chromium, headless, through Selenium), as a person uses
it: ``respira label`` served by its own process (``python -m respira``); one event marked by dragging over
the spectrogram, three recordings labelled by keyboard; the server killed (SIGKILL) and started again (in a
fork of this process): the answers and the event are there, the next recording is shown, and nothing else
of labels.csv changed."""

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

from tests.forked import exit_status, fork_command
from tests.hub.hub_server import free_port

from .test_labelling import LABELS, write_site

pytestmark = pytest.mark.slow
SOURCE = Path(__file__).resolve().parents[2] / "src"


def _serving(port: int, running, log: Path) -> None:
    """Until ``/api/state`` answers on ``port``, while ``running()`` (else the log's end is the failure)."""
    deadline = time.monotonic() + 120
    while True:
        if not running() or time.monotonic() > deadline:
            raise AssertionError(f"respira label did not serve:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=5):
                return
        except OSError:
            time.sleep(0.05)


def _wait(condition, what: str, timeout: float = 120) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def label_server(model: Path, site: Path, port: int, log: Path) -> Iterator[subprocess.Popen]:
    """``python -m respira label MODEL SITE --port PORT`` until its page answers; killed on exit."""
    env = {**os.environ, "PYTHONPATH": f"{SOURCE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "respira", "label", str(model), str(site), "--port", str(port)]
    with log.open("a") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        _serving(port, lambda: process.poll() is None, log)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


@contextmanager
def forked_label_server(model: Path, site: Path, port: int, log: Path) -> Iterator[int]:
    """``respira label MODEL SITE --port PORT`` in a fork of this process (respira and torch imported
    already: no process start-up to pay) until its page answers; killed on exit. The page's tests use it;
    the test that kills and restarts the server first runs the command as ``python -m respira``."""
    pid, exited = fork_command(["label", str(model), str(site), "--port", str(port)], log), []

    def running() -> bool:
        exited.extend(status for status in [exit_status(pid, block=False)] if status is not None)
        return not exited

    try:
        _serving(port, running, log)
        yield pid
    finally:
        if not exited:
            os.kill(pid, signal.SIGKILL)
            exit_status(pid)


def _shown(browser, index: int | str) -> None:
    _wait(
        lambda: browser.execute_script("return window.respiraShown") == index, f"recording {index} shown", 60
    )


def _ready(browser) -> None:
    """Until the page takes an answer for the recording shown (its minimum time on screen passed)."""
    _wait(lambda: browser.execute_script("return window.respiraReady !== false"), "answers taken", 30)


def _key(browser, key: str, *, repeat: bool = False, up: bool = True) -> None:
    """``key`` pressed as a keyboard does (Chromium's input, not a script's event), ``repeat``: as the
    auto-repeat of a key held down."""
    codes = {
        "Enter": ("Enter", 13, "\r"),
        "ArrowLeft": ("ArrowLeft", 37, ""),
        "ArrowRight": ("ArrowRight", 39, ""),
    }
    code, number, text = codes[key] if key in codes else (f"Key{key.upper()}", ord(key.upper()), key)
    event = {"key": key, "code": code, "windowsVirtualKeyCode": number, "autoRepeat": repeat}
    browser.execute_cdp_cmd("Input.dispatchKeyEvent", {"type": "keyDown", "text": text, **event})
    if up:
        browser.execute_cdp_cmd("Input.dispatchKeyEvent", {"type": "keyUp", **event})


def _answered(labels: Path) -> list[str]:
    """The ``crackle,wheeze`` cells of each row of the site's labels.csv."""
    return [",".join(line.split(",")[2:4]) for line in labels.read_text(encoding="utf-8").splitlines()[1:]]


def _in_view(browser, element_id: str) -> bool:
    """Whether the element lies wholly inside the window, unscrolled."""
    return browser.execute_script(
        "const box = document.getElementById(arguments[0]).getBoundingClientRect();"
        "return box.height > 0 && box.top >= 0 && box.bottom <= innerHeight && box.right <= innerWidth;",
        element_id,
    )


def _texts(browser, selector: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [element.text for element in browser.find_elements(By.CSS_SELECTOR, selector)]


def test_label_by_keyboard_mark_an_event_kill_and_restart(browser, run_dir: Path, tmp_path: Path) -> None:
    """At 1280×720 the whole page is in view (answers, event tools, fit-site's command), with the
    spectrogram's axes and the probabilities' 0–1 scale; the suggested batch (r0, r1: rows with a reason)
    labelled, the page says so and gives suggest's command instead of moving on to r3 and r4; killed, the
    next round (reasons on r3 and r4) started: they are shown, then fit-site's command."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    labels = write_site(tmp_path / "site")
    port, log = free_port(), tmp_path / "server.log"
    url = f"http://127.0.0.1:{port}/"
    browser.set_window_size(1280, 720)
    with label_server(run_dir, labels.parent, port, log) as process:
        browser.get(url)
        _shown(browser, 0)
        assert "r0.wav" in browser.find_element(By.ID, "recording").text
        for part in ("progress", "view", "probabilities", "answers", "event-tools"):
            assert _in_view(browser, part), part
        assert _texts(browser, "#frequency-axis span") == ["0 Hz", "1 kHz", "2 kHz", "3 kHz", "4 kHz"]
        assert _texts(browser, "#time-axis span") == ["0 s", "0.5 s", "1 s", "1.5 s", "2 s", "2.5 s", "3 s"]
        assert _texts(browser, ".plot:has(#probabilities) .y-axis span") == ["0", "0.5", "1"]
        assert browser.find_element(By.ID, "progress").text == (
            "1 of 4 patients labelled (1 of 5 recordings answered); fit-site needs 4 patients with a normal "
            "and an abnormal recording: 3 more patients, no normal recording yet."
        )
        view = browser.find_element(By.ID, "view")
        width = view.size["width"]
        # drag from a quarter to a half of the spectrogram: a crackle event from 0.75 s to 1.5 s
        ActionChains(browser).move_to_element_with_offset(
            view, -width // 4, 0
        ).click_and_hold().move_by_offset(width // 4, 0).release().perform()
        _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#events li.crackle"), "the event listed", 30)
        body = browser.find_element(By.TAG_NAME, "body")
        _ready(browser)
        body.send_keys("w")
        _shown(browser, 1)
        _ready(browser)
        body.send_keys("n")
        _shown(browser, "done")  # the batch: r2 was labelled already, r3 and r4 were not suggested
        assert browser.find_element(By.ID, "done-text").text.startswith(
            "The suggested batch is done; 2 other recordings were not suggested."
        )
        assert browser.find_element(By.ID, "done-next").text == (
            f"respira suggest {run_dir} --data_dir {labels.parent} --budget 2 --output {labels}"
        )
        assert _in_view(browser, "done-next")
        browser.save_screenshot(str(tmp_path / "label.png"))
        print(f"\nscreenshot: {tmp_path / 'label.png'}")
        process.send_signal(signal.SIGKILL)
        process.wait()
    written = labels.read_text(encoding="utf-8")
    expected = LABELS.replace("r0.wav,p1,,,", "r0.wav,p1,0,1,").replace("r1.wav,p1,,,", "r1.wav,p1,0,0,")
    assert written == expected
    events = (labels.parent / "events.csv").read_text(encoding="utf-8").splitlines()
    assert events[0] == "file,onset,offset,type" and len(events) == 2
    file, onset, offset, kind = events[1].split(",")
    assert (file, kind) == ("r0.wav", "crackle")
    assert float(onset) == pytest.approx(0.75, abs=0.05) and float(offset) == pytest.approx(1.5, abs=0.05)
    expected = expected.replace("r3.wav,p3,,,", "r3.wav,p3,,,next").replace(
        "r4.wav,p4,,,", "r4.wav,p4,,,next"
    )
    labels.write_text(expected, encoding="utf-8")  # the next round, as suggest writes it
    with forked_label_server(run_dir, labels.parent, port, log):
        browser.get(url)
        _shown(browser, 3)
        body = browser.find_element(By.TAG_NAME, "body")
        _ready(browser)
        body.send_keys("b")
        _shown(browser, 4)
        _ready(browser)
        body.send_keys("c")
        _shown(browser, "done")
        assert browser.find_element(By.ID, "done-text").text == "Every recording is answered."
        assert "fit-site's minimum (4 patients" in browser.find_element(By.ID, "progress").text
        assert browser.find_element(By.ID, "fit-site").text.startswith(f"respira fit-site {run_dir}")
        assert _in_view(browser, "fit-site")
        assert browser.find_element(By.ID, "done-next").text == browser.find_element(By.ID, "fit-site").text
    assert labels.read_text(encoding="utf-8") == expected.replace("r3.wav,p3,,,", "r3.wav,p3,1,1,").replace(
        "r4.wav,p4,,,", "r4.wav,p4,1,0,"
    )


# ------------------------------------------------------------------ one answer per recording heard
@pytest.fixture
def page(browser, run_dir: Path, tmp_path: Path) -> Iterator[tuple[object, Path]]:
    """The page of a fresh site (r0 and r1 the suggested batch) open at 1280×720, r0 shown."""
    labels = write_site(tmp_path / "site")
    port = free_port()
    browser.set_window_size(1280, 720)
    with forked_label_server(run_dir, labels.parent, port, tmp_path / "server.log"):
        browser.get(f"http://127.0.0.1:{port}/")
        _shown(browser, 0)
        yield browser, labels


def test_a_held_key_answers_one_recording(page: tuple[object, Path]) -> None:
    """The keyboard's auto-repeat of N held down for 2.5 s (past the next recording's minimum time) answers
    r0 only; r1 is shown, unanswered."""
    browser, labels = page
    _ready(browser)
    _key(browser, "n", up=False)
    for _ in range(25):
        _key(browser, "n", repeat=True, up=False)
        time.sleep(0.1)
    _key(browser, "n", repeat=True)
    time.sleep(1.0)
    assert _answered(labels) == ["0,0", ",", "1,0", ",", ","]
    assert browser.execute_script("return window.respiraShown") == 1


def test_enter_after_a_click_answers_nothing(page: tuple[object, Path]) -> None:
    """A click on wheeze answers r0 and leaves no focused button: Enter, once r1 takes answers, writes
    nothing."""
    from selenium.webdriver.common.by import By

    browser, labels = page
    _ready(browser)
    browser.find_element(By.CSS_SELECTOR, "#answers button[data-answer=wheeze]").click()
    _shown(browser, 1)
    _ready(browser)
    assert browser.execute_script("return document.activeElement.tagName") != "BUTTON"
    _key(browser, "Enter")
    time.sleep(1.0)
    assert _answered(labels) == ["0,1", ",", "1,0", ",", ","]
    assert browser.execute_script("return window.respiraShown") == 1


def test_no_answer_before_the_minimum_time_which_the_page_states(page: tuple[object, Path]) -> None:
    """A key and a click within MINIMUM_SHOWN_S of r0 shown (audio loaded) write nothing, and the page
    says why; the time the page states is the server's constant; after it, a key answers."""
    from selenium.webdriver.common.by import By

    browser, labels = page
    browser.get(browser.current_url)  # r0 shown afresh: pressed at once
    _wait(lambda: browser.execute_script("return window.respiraShown") == 0, "r0 shown", 60)
    _key(browser, "n")
    browser.find_element(By.CSS_SELECTOR, "#answers button[data-answer=normal]").click()
    time.sleep(0.2)
    assert _answered(labels)[0] == ","
    assert browser.execute_script("return window.respiraShown") == 0
    from respira.app.labelling import MINIMUM_SHOWN_S

    assert f"for {MINIMUM_SHOWN_S:g} s" in browser.find_element(By.ID, "rule").text
    assert f"for {MINIMUM_SHOWN_S:g} s" in browser.find_element(By.ID, "message").text
    _ready(browser)
    _key(browser, "n")
    _shown(browser, 1)
    assert _answered(labels)[:2] == ["0,0", ","]


def test_back_and_change_an_answer_by_keys_and_from_the_list(
    page: tuple[object, Path], tmp_path: Path
) -> None:
    """After the batch (r0 wheeze, r1 normal): ← shows r1, ← again r0, C changes r0 to crackle and the page
    returns; the list's "change" of r1 then B makes it both. Written through the labels file, nothing else
    of it changed; the list of this session's answers in view at 1280×720."""
    from selenium.webdriver.common.by import By

    browser, labels = page
    for key, next_shown in (("w", 1), ("n", "done")):
        _ready(browser)
        _key(browser, key)
        _shown(browser, next_shown)
    assert _texts(browser, "#answered li") == ["r1.wav: normal change", "r0.wav: wheeze change"]
    _key(browser, "ArrowLeft")
    _wait(lambda: browser.execute_script("return window.respiraShown") == 1, "r1 shown again", 20)
    assert "r1.wav (now normal)" in browser.find_element(By.ID, "review").text
    _key(browser, "ArrowLeft")
    _shown(browser, 0)
    _ready(browser)
    browser.save_screenshot(str(tmp_path / "review.png"))
    print(f"\nscreenshot: {tmp_path / 'review.png'}")
    _key(browser, "c")
    _shown(browser, "done")
    assert browser.find_element(By.ID, "message").text == "r0.wav: wheeze changed to crackle."
    assert _answered(labels) == ["1,0", "0,0", "1,0", ",", ","]
    assert _in_view(browser, "history")
    browser.find_elements(By.CSS_SELECTOR, "#answered li button")[0].click()  # r1's
    _shown(browser, 1)
    _ready(browser)
    browser.find_element(By.CSS_SELECTOR, "#answers button[data-answer=both]").click()
    _shown(browser, "done")
    assert labels.read_text(encoding="utf-8") == LABELS.replace("r0.wav,p1,,,", "r0.wav,p1,1,0,").replace(
        "r1.wav,p1,,,", "r1.wav,p1,1,1,"
    )
    assert _texts(browser, "#answered li") == ["r1.wav: both change", "r0.wav: crackle change"]
