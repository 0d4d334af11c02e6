"""The app page in a real browser (Debian's chromium, headless, through Selenium), as a person uses it:
upload a real ICBHI recording, wait for the result, compare it (the windows and the detected events) with
``respira predict`` (and ``--events``); an undecodable upload; the Space folder served by a Python without
torch or respira. Screenshots are saved under
pytest's tmp_path (their paths are printed: ``pytest -s`` shows them)."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from respira.cli import main

from ..conftest import encode_aac
from .conftest import THRESHOLDS, site_without_torch_or_respira, space_server

pytest.importorskip("gradio", reason="the app needs gradio (pip install '.[app]')")
pytestmark = [pytest.mark.slow, pytest.mark.real_data]
WINDOW, HOP = 4.0, 2.0
TIMEOUT = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(model_dir: Path) -> Iterator[str]:
    """``respira app``'s page for the tiny exported model, served on 127.0.0.1 (a free port)."""
    from respira.app.detectors import open_detector
    from respira.app.page import build_page, launch

    detector, facts = open_detector(str(model_dir))
    port = free_port()
    page = launch(build_page(detector, facts=facts), port=port, block=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        page.close()


def _wait(condition, what: str, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _text(browser, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.ID, element_id).text


def _set_number(browser, element_id: str, value: float) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = browser.find_element(By.CSS_SELECTOR, f"#{element_id} input")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(str(value), Keys.TAB)


def _analyse(browser, url: str, recording: Path, *, window: float = WINDOW, hop: float = HOP) -> str:
    """Open the page, upload ``recording``, set the window and hop, press Analyse; return the message."""
    from selenium.webdriver.common.by import By

    if browser.current_url != url:
        browser.get(url)
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#respira-upload input[type=file]"), "the page")
    previous = _text(browser, "respira-message")
    browser.find_element(By.CSS_SELECTOR, "#respira-upload input[type=file]").send_keys(str(recording))
    _wait(
        lambda: re.search(
            rf"{re.escape(recording.stem)}\s+{re.escape(recording.suffix)}\s+[\d.]+ [KM]?B",
            _text(browser, "respira-upload"),
        ),
        "the upload",
    )
    _set_number(browser, "respira-window", window)
    _set_number(browser, "respira-hop", hop)
    browser.find_element(By.ID, "respira-run").click()
    return _wait(
        lambda: (
            (text := _text(browser, "respira-message"))
            and text != previous
            and recording.name in text
            and text
        ),
        f"the result for {recording.name}",
    )


def _screenshot(browser, path: Path) -> Path:
    browser.save_screenshot(str(path))
    print(f"\nscreenshot: {path}")
    return path


def _predict(model: Path, recording: Path, tmp_path: Path, *extra: str) -> list[dict[str, Any]]:
    output = tmp_path / f"predict-{recording.stem}{''.join(extra)}.json"
    args = ["predict", str(model), str(recording), "--window", str(WINDOW), "--hop", str(HOP)]
    assert main([*args, *extra, "--output", str(output)]) == 0
    return json.loads(output.read_text())


def _check_events(browser, events: list[dict[str, Any]]) -> None:
    """The events table lists ``respira predict --events``' rows: as many, the first one's values."""
    from selenium.webdriver.common.by import By

    assert _table_headers(browser, "respira-events") == ["onset", "offset", "type", "confidence", "rule"]
    grid = browser.find_element(By.CSS_SELECTOR, "#respira-events [role=grid]")
    assert events, "the test model is expected to find events in the test recording"
    assert int(grid.get_attribute("aria-rowcount")) - 1 == len(events)  # header + one row per event
    # the rendered rows (the table scrolls), after the header, five cells each
    cells = [line.strip() for line in grid.text.splitlines() if line.strip()][5:]
    first = events[0]
    assert (cells[2], cells[4]) == (first["type"], first["rule"]) == (first["type"], "verdict")
    got = [float(cells[0]), float(cells[1]), float(cells[3])]
    assert got == pytest.approx([first["onset"], first["offset"], first["confidence"]], abs=6e-4)


def _check_result(browser, rows: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    """The figure is shown, the table has one row per predicted window, the verdict is predict's, the
    events table lists predict's events."""
    from selenium.webdriver.common.by import By

    image = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#respira-figure img"), "the figure")[0]
    _wait(lambda: browser.execute_script("return arguments[0].complete", image), "the figure to load")
    assert browser.execute_script("return arguments[0].naturalWidth", image) >= 1000  # the PNG, not an icon
    grid = browser.find_element(By.CSS_SELECTOR, "#respira-table [role=grid]")
    assert int(grid.get_attribute("aria-rowcount")) - 1 == len(rows)  # header + one row per window
    verdict = _text(browser, "respira-verdict")
    for index, (name, label) in enumerate((("Crackles", "crackle"), ("Wheezes", "wheeze"))):
        highest = max(row[label] for row in rows)
        expected = "present" if highest >= THRESHOLDS[index] else "absent"  # predict's rows, the model's rule
        match = re.search(rf"{name}: (present|absent) \(recording probability ([\d.]+)", verdict)
        assert match is not None, verdict
        assert match.group(1) == expected
        assert float(match.group(2)) == pytest.approx(highest, abs=6e-4)
    assert "maximum of its window probabilities" in verdict
    _check_events(browser, events)
    # nothing of the page covers the figure's title and subtitle (the top left 80 % x 10 % of the picture;
    # gradio's buttons sit in the blank corner above the colour bar)
    covered = browser.execute_script(
        """const img = arguments[0], box = img.getBoundingClientRect();
        const band = [box.left, box.left + 0.8 * box.width, box.top, box.top + 0.1 * box.height];
        return [...document.getElementById("respira-figure").querySelectorAll("*")]
            .filter(e => e !== img && !e.contains(img) && getComputedStyle(e).visibility !== "hidden"
                && !e.closest('[data-testid="status-tracker"]'))  // gradio's progress overlay, hidden
            .filter(e => { const r = e.getBoundingClientRect();
                return r.width > 0 && r.height > 0 && r.left < band[1] && r.right > band[0]
                    && r.top < band[3] && r.bottom > band[2]; })
            .map(e => e.outerHTML.slice(0, 80));""",
        image,
    )
    assert covered == []


def _table_headers(browser, element_id: str = "respira-table") -> list[str]:
    from selenium.webdriver.common.by import By

    cells = browser.find_elements(By.CSS_SELECTOR, f"#{element_id} thead th")
    return [cell.text.strip() for cell in cells if cell.text.strip()]


def test_upload_a_real_icbhi_recording(
    browser, app_url: str, model_dir: Path, icbhi_recording: Path, tmp_path: Path
) -> None:
    message = _analyse(browser, app_url, icbhi_recording)
    rows = _predict(model_dir, icbhi_recording, tmp_path)
    events = _predict(model_dir, icbhi_recording, tmp_path, "--events")
    assert message.startswith(f"Analysed {icbhi_recording.name}") and f"{len(rows)} windows" in message
    crackles, wheezes = (sum(e["type"] == label for e in events) for label in ("crackle", "wheeze"))
    assert f"events: {crackles} crackle, {wheezes} wheeze, shown where the recording's verdict" in message
    _check_result(browser, rows, events)
    downloads = _text(browser, "respira-downloads").split()
    for suffix in (".csv", ".json", ".png"):
        assert downloads[downloads.index(suffix) - 1] == icbhi_recording.stem
    assert downloads[downloads.index(f"{icbhi_recording.stem}_events") + 1] == ".csv"
    assert "not a medical device" in browser.page_source
    _screenshot(browser, tmp_path / "app.png")


def test_a_phones_m4a_upload_is_analysed_as_respira_predict_reads_it(
    browser, app_url: str, model_dir: Path, icbhi_recording: Path, tmp_path: Path
) -> None:
    recording = encode_aac(icbhi_recording, tmp_path / f"{icbhi_recording.stem}.m4a")  # a phone records AAC
    message = _analyse(browser, app_url, recording)
    rows = _predict(model_dir, recording, tmp_path)
    assert message.startswith(f"Analysed {recording.name}") and f"{len(rows)} windows" in message
    _check_result(browser, rows, _predict(model_dir, recording, tmp_path, "--events"))
    _screenshot(browser, tmp_path / "m4a.png")


def test_a_telephone_band_upload_is_analysed_with_a_caution(
    browser, app_url: str, icbhi_recording: Path, tmp_path: Path
) -> None:
    from respira.audio import read_audio
    from respira.audio.wav import encode_wav

    recording = tmp_path / f"{icbhi_recording.stem}_2kHz.wav"  # what a telephone line keeps of it
    recording.write_bytes(encode_wav(read_audio(icbhi_recording, 2000), 2000, "PCM_16"))
    message = _analyse(browser, app_url, recording)
    assert message.startswith(f"Analysed {recording.name}") and (
        f"Caution: {recording.name}: recorded at 2000 Hz" in message
    )
    assert "/tmp/" not in message
    _screenshot(browser, tmp_path / "caution.png")


def test_undecodable_upload_shows_one_message_and_the_app_keeps_serving(
    browser, app_url: str, model_dir: Path, icbhi_recording: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really a wave file" * 40)
    message = _analyse(browser, app_url, broken)
    assert message.startswith("Error: broken.wav") and "\n" not in message
    assert "Traceback" not in browser.page_source and "/tmp/" not in message
    assert _table_headers(browser) == ["start", "end", "crackle", "wheeze", "label"]  # not 1, 2, 3
    assert _table_headers(browser, "respira-events") == ["onset", "offset", "type", "confidence", "rule"]
    _screenshot(browser, tmp_path / "broken.png")
    browser.get(app_url)  # the same server still analyses the next upload
    message = _analyse(browser, app_url, icbhi_recording)
    assert message.startswith(f"Analysed {icbhi_recording.name}")


def _about(browser, url: str) -> str:
    """The page's "About the model" section, as the browser shows it."""
    from selenium.webdriver.common.by import By

    browser.get(url)
    _wait(lambda: browser.find_elements(By.ID, "respira-about"), "the page")
    return _wait(lambda: _text(browser, "respira-about"), "About the model")


def test_about_the_model_says_what_the_shipped_detector_was_trained_on_and_where_it_was_scored(
    browser, tmp_path: Path
) -> None:
    """Issue 49: "About the model" said "Trained on: KAUH lung sounds" (an evaluation read as the training
    set). It says ICBHI, from the training record, and each held-out site beside all-normal."""
    from respira.app.detectors import open_detector
    from respira.app.page import build_page, launch
    from respira.pretrained import default_detector_dir

    detector, facts = open_detector(str(default_detector_dir()))
    port = free_port()
    page = launch(build_page(detector, facts=facts), port=port, block=False)
    try:
        about = _about(browser, f"http://127.0.0.1:{port}/")
        _screenshot(browser, tmp_path / "about.png")
    finally:
        page.close()
    lines = [line.strip() for line in about.splitlines() if line.strip()]
    trained = [line for line in lines if line.startswith("Trained on:")]
    assert len(trained) == 1 and trained[0].startswith("Trained on: ICBHI 2017 Respiratory Sound Database")
    assert "KAUH" not in trained[0] and "SPRSound" not in trained[0]
    for site in ("KAUH lung sounds", "SPRSound"):
        scored = [line for line in lines if line.startswith(f"Scored on {site}")]
        assert scored and all("Held-out" in line and "vs all-normal 50.0" in line for line in scored), site
        # The card's verdict (serves: false on every site of the shipped detector) beside the numbers.
        assert all(
            line.endswith(
                "(not shown to beat calling every recording normal: the interval reaches all-normal)"
            )
            for line in scored
        ), site
    assert any(line.startswith("Scored on ICBHI 2017") and "In-domain" in line for line in lines)


def test_space_folder_runs_without_torch_or_respira(
    browser, run_dir: Path, icbhi_recording: Path, tmp_path: Path
) -> None:
    pytest.importorskip("onnxscript", reason="the Space needs the ONNX export (pip install '.[onnx]')")
    space = tmp_path / "space"
    assert main(["export", str(run_dir), str(space), "--space"]) == 0
    site = site_without_torch_or_respira(tmp_path / "site")
    port = free_port()
    log = tmp_path / "space.log"
    with space_server(space, site, port, log):
        url = f"http://127.0.0.1:{port}/"
        # the Space ships the training record: its page says what the run was trained on
        assert "Trained on: ICBHI 2017 Respiratory Sound Database" in _about(browser, url)
        message = _analyse(browser, url, icbhi_recording)
        assert message.startswith(f"Analysed {icbhi_recording.name}")
        rows = _predict(space / "model", icbhi_recording, tmp_path, "--onnx")
        _check_result(
            browser, rows, _predict(space / "model", icbhi_recording, tmp_path, "--onnx", "--events")
        )
        _screenshot(browser, tmp_path / "space.png")
        assert "Examples" in browser.page_source
    assert "no torch" in log.read_text() and "no respira" in log.read_text()
