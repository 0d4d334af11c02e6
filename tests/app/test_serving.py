"""``respira app``: the static page of ``respira export --web`` written to a temporary folder and served with
the COOP and COEP headers (the page is then cross-origin isolated and runs onnxruntime-web on threads);
the address checked before the model is read; the folder removed however the server stops."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
import urllib.request
from email.message import Message
from pathlib import Path

import pytest

from respira.app.options import ServeOptions
from respira.app.serving import ISOLATION_HEADERS, app_server
from respira.app.web_page import ORT_WEB_FILES, PAGE_FILES, ort_web_folder
from respira.cli import main
from tests.forked import exit_status, fork_command
from tests.hub.hub_server import free_port


@pytest.fixture
def ort_web() -> Path:
    folder = ort_web_folder()
    if not all((folder / name).is_file() for name in ORT_WEB_FILES):
        pytest.skip(f"onnxruntime-web is not at {folder} (`make web-deps` fetches it with npm)")
    return folder


def _get(url: str) -> tuple[bytes, Message]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read(), response.headers


def test_the_page_its_model_and_settings_are_served_cross_origin_isolated(
    model_dir: Path, ort_web: Path, tmp_path: Path
) -> None:
    """Of an ONNX export folder (config.json and model.onnx alone), its own model.onnx served."""
    from respira.cli import build_parser

    onnx_only = tmp_path / model_dir.name
    onnx_only.mkdir()
    for name in ("config.json", "model.onnx"):
        shutil.copyfile(model_dir / name, onnx_only / name)
    server = app_server(str(onnx_only), ServeOptions(port=0)).start()
    folder = server.folder
    assert folder is not None
    try:
        for path in ("", *PAGE_FILES, "respira-web.json", "model.onnx", *ORT_WEB_FILES):
            body, headers = _get(server.url + path)
            assert body, path
            assert {name: headers.get(name) for name in ISOLATION_HEADERS} == ISOLATION_HEADERS, path
        page, _ = _get(server.url)
        assert page == (folder / "index.html").read_bytes() and b"<title>respira" in page
        assert _get(server.url + "model.onnx")[0] == (model_dir / "model.onnx").read_bytes()
        assert _get(server.url + ORT_WEB_FILES[2])[1].get("Content-Type") == "application/wasm"
        settings = json.loads(_get(server.url + "respira-web.json")[0])
        predict = build_parser().parse_args(["predict", str(model_dir), "a.wav"])  # predict's windows
        assert (settings["window"], settings["hop"]) == (
            round(predict.window * settings["rate"]),
            round(predict.hop * settings["rate"]),
        )
        assert settings["name"] == model_dir.name and settings["thresholds"] == pytest.approx([0.3, 0.7])
    finally:
        server.close()
    assert not folder.parent.exists()  # the staged page is removed with the server


def test_a_bad_address_is_one_line_before_the_model_is_read(tmp_path: Path, capsys) -> None:
    missing = str(tmp_path / "missing")  # were the model read first, this would say "model folder not found"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["app", missing, "--port", str(port)]) == 2
        assert capsys.readouterr().err.strip() == (
            f"respira app: error: cannot listen on 127.0.0.1:{port} (Address already in use): choose another "
            "--port or --host"
        )
    assert main(["app", missing, "--host", "not a host"]) == 2
    assert capsys.readouterr().err.strip() == (
        "respira app: error: --host 'not a host' is not an address of this machine to listen on"
    )
    assert main(["app", missing, "--port", "70000"]) == 2
    assert capsys.readouterr().err.strip() == (
        "respira app: error: --port must be between 0 (a free one) and 65535, got 70000"
    )
    assert main(["app", missing, "--port", "0"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("respira app: error: model folder not found") and "\n" not in error


def test_respira_app_on_the_network_says_so_and_prints_its_token_once(
    model_dir: Path, ort_web: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command's words for a non-loopback ``--host``: 127.0.0.1 taken for one (nothing else is bound),
    the page never served."""
    from respira.app import serving

    def interrupted(self: serving.PageServer) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(serving, "is_loopback", lambda host: False)
    monkeypatch.setattr(serving.PageServer, "serve", interrupted)
    assert main(["app", str(model_dir), "--port", "0"]) == 130
    out = capsys.readouterr().out
    assert out.count("?token=") == 1 and "the model's page is served to the network on 127.0.0.1" in out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_respira_app_removes_its_page_when_stopped(
    model_dir: Path, tmp_path: Path, signum: int, ort_web: Path
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    port, log = free_port(), tmp_path / "app.log"
    # Ctrl-C as a terminal's foreground job gets it (a runner that starts jobs in the background passes
    # SIGINT on ignored, POSIX, and an app started that way rightly ignores Ctrl-C)
    pid, status = fork_command(["app", str(model_dir), "--port", str(port)], log, tmpdir=temp), None
    try:
        deadline = time.monotonic() + 180
        while True:
            status = exit_status(pid, block=False)
            assert status is None, f"respira app exited ({status}):\n{log.read_text()}"
            assert time.monotonic() < deadline, f"the page never answered:\n{log.read_text()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                    break
            except OSError:
                time.sleep(0.05)
        assert len(list(temp.glob("respira-app-*"))) == 1
        os.kill(pid, signum)
        status = exit_status(pid)
        assert status == 128 + signum
    finally:
        if status is None:  # still running: a check above failed
            os.kill(pid, signal.SIGKILL)
            exit_status(pid)
    assert not list(temp.glob("respira-app-*")), log.read_text()
    assert f"serving the page of {model_dir} on http://127.0.0.1:{port}/" in log.read_text()


THREADED = """const done = arguments[0];
respira.ready.then(async () => {
  const rate = 16000, samples = new Float32Array(5 * rate).map((_, i) => 0.1 * Math.sin(i / 7));
  const wav = new DataView(new ArrayBuffer(44 + 4 * samples.length));
  const text = (at, s) => [...s].forEach((c, i) => wav.setUint8(at + i, c.charCodeAt(0)));
  text(0, "RIFF"); wav.setUint32(4, 36 + 4 * samples.length, true); text(8, "WAVEfmt ");
  wav.setUint32(16, 16, true); wav.setUint16(20, 3, true); wav.setUint16(22, 1, true);
  wav.setUint32(24, rate, true); wav.setUint32(28, 4 * rate, true); wav.setUint16(32, 4, true);
  wav.setUint16(34, 32, true); text(36, "data"); wav.setUint32(40, 4 * samples.length, true);
  samples.forEach((v, i) => wav.setFloat32(44 + 4 * i, v, true));
  const result = await respira.run(wav.buffer, "tone.wav");
  done({isolated: self.crossOriginIsolated, threads: ort.env.wasm.numThreads,
        cores: navigator.hardwareConcurrency, rows: result && result.rows.length});
});"""


@pytest.mark.slow
def test_the_served_page_is_cross_origin_isolated_and_runs_the_model_on_threads(
    model_dir: Path, ort_web: Path, browser
) -> None:
    server = app_server(str(model_dir), ServeOptions(port=0)).start()
    try:
        browser.set_script_timeout(300)
        browser.get(server.url)
        got = browser.execute_async_script(THREADED)
    finally:
        server.close()
    assert got["isolated"] is True, got  # without COOP and COEP: False, and one thread
    assert got["threads"] == min(4, got["cores"]) and got["rows"] == 2, got  # 5 s: two 4-s windows
