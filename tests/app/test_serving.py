"""Serving the page: no warning per analysis from Gradio's queue, and ``respira app`` leaves no temporary
folder behind when it is stopped (Ctrl-C or SIGTERM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.app.test_browser import free_port

pytest.importorskip("gradio", reason="the page needs gradio (pip install '.[app]')")


def test_an_analysis_through_the_queue_warns_nothing(model_dir: Path, tmp_path: Path) -> None:
    """The page's handler run by Gradio's queue, as a browser's upload runs it: no deprecation warning,
    from any thread. Gradio's monitoring summary of the queue's events (pandas 3 deprecations) is
    never computed."""
    from gradio_client import Client, handle_file

    from respira.app.detectors import open_detector
    from respira.app.page import build_page, launch

    recording = tmp_path / "noise.wav"
    sf.write(recording, np.random.default_rng(0).normal(0, 0.1, 3 * 16000).astype(np.float32), 16000)
    detector, facts = open_detector(str(model_dir))
    port = free_port()
    page = launch(build_page(detector, facts=facts), port=port, block=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        (endpoint,) = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        with warnings.catch_warnings(record=True) as caught:  # records the queue's worker threads too
            warnings.simplefilter("always")
            for _ in range(2):  # the summary follows each event
                message, *_ = client.predict(
                    handle_file(str(recording)), None, None, 1.0, 0.5, api_name=endpoint
                )
                assert message.startswith("**Analysed** noise.wav")
    finally:
        page.close()
    deprecations = [w for w in caught if issubclass(w.category, (DeprecationWarning, FutureWarning))]
    assert [f"{w.category.__name__}: {w.message}" for w in deprecations] == []


def test_a_ctrl_c_before_gradios_loop_still_stops_the_server(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C that lands while Gradio is still inside ``launch`` (before the loop that catches it)
    stops the server too: the port is free again and the page is no longer running."""
    import gradio

    from respira.cli import main

    pages = []

    def interrupted(page: gradio.Blocks) -> None:
        pages.append(page)
        raise KeyboardInterrupt

    monkeypatch.setattr(gradio.Blocks, "block_thread", interrupted)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    port = free_port()
    assert main(["app", str(model_dir), "--port", str(port)]) == 128 + signal.SIGINT
    (page,) = pages
    assert not page.is_running
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)


def _default_interrupt() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_respira_app_removes_its_temporary_folders_when_stopped(
    model_dir: Path, tmp_path: Path, signum: int
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    port, log = free_port(), tmp_path / "app.log"
    env = {**os.environ, "TMPDIR": str(temp), "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "respira", "app", str(model_dir), "--port", str(port)]
    with log.open("w") as output:
        # as a terminal's foreground job gets it: a runner that starts jobs in the background passes
        # SIGINT on ignored (POSIX), and an app started that way rightly ignores Ctrl-C
        process = subprocess.Popen(
            command,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=_default_interrupt,  # noqa: PLW1509
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, f"respira app exited ({process.returncode}):\n{log.read_text()}"
            assert time.monotonic() < deadline, f"the page never answered:\n{log.read_text()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        made = sorted(folder.name.rsplit("-", 1)[0] for folder in temp.glob("respira-app-*"))
        assert made == ["respira-app", "respira-app-examples"]
        process.send_signal(signum)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not list(temp.glob("respira-app-*")), log.read_text()
