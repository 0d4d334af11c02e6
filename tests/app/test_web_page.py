"""``respira export --web``'s page in Debian's headless chromium: on real recordings of ``../shared`` (every
rate of its corpora, a stereo WAV, MP3s, and rates the corpora lack made from them), the page's window
probabilities are ``respira predict --onnx``'s within 1e-4, its verdicts the same and its events those of
``respira predict --onnx --events`` (types; onsets and offsets within a frame hop; confidences within
1e-4), with no request after the page loaded (the browser's own resource log and the server's); bad input
gets predict's words and the page keeps working; from ``file://`` it gives the same numbers. The module's
tests share one browser and one page load; each recording reaches the page as a file chosen in a file input
(chromium reads it: no copy of its bytes through the driver)."""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from respira.app.web_page import ORT_WEB_FILES, PAGE_FILES, ort_web_folder
from respira.cli import main

from ..conftest import SHARED_DIR

TOLERANCE = 1e-4
DETECTOR = "icbhi-crackle-wheeze"  # respira's default detector (recording rule: the mean, since issue 83)
UNCALLED = "BP15_Asthma,E W,P R U,49,F.wav"  # KAUH: 1 of its 5 windows over wheeze's threshold, mean below
CHOOSER = """let chooser = document.getElementById("test-chooser");
if (!chooser) {
  chooser = Object.assign(document.createElement("input"), {type: "file", id: "test-chooser", hidden: true});
  document.body.append(chooser);
}
return chooser;"""
ANALYSE = """const [chooser, done] = arguments, file = chooser.files[0];
file.arrayBuffer().then((bytes) => respira.run(bytes, file.name)).then((r) => done({
  result: r && {rows: r.rows, verdict: r.verdict, events: r.events, warning: r.warning, timing: r.timing},
  message: document.getElementById("message").textContent,
  resources: performance.getEntriesByType("resource").length}));"""


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = ort_web_folder()
    if not all((folder / name).is_file() for name in ORT_WEB_FILES):
        pytest.skip(f"onnxruntime-web is not at {folder} (`make web-deps` fetches it with npm)")
    output = tmp_path_factory.mktemp("web") / "page"
    assert main(["export", str(output), "--web"]) == 0  # no MODEL: the default detector, DETECTOR
    return output


def _shortest(paths: list[Path], count: int) -> list[Path]:
    import soundfile as sf

    return sorted(paths, key=lambda path: (sf.info(path).frames / sf.info(path).samplerate, path.name))[
        :count
    ]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Twenty real recordings of ../shared: ICBHI's three shortest at each of its rates, KAUH's two and
    SPRSound's three shortest; made of them: a stereo WAV (two recordings as its channels), two MP3s, and
    one at each rate of the page's tables the corpora lack (16, 22.05, 48 kHz; soxr, 24-bit)."""
    import soundfile as sf
    import soxr

    if not SHARED_DIR.is_dir():
        pytest.skip(
            f"real recordings not found at {SHARED_DIR} (../shared is only present on project machines)"
        )
    icbhi = sorted((SHARED_DIR / "icbhi" / "ICBHI_final_database").glob("*.wav"))
    by_rate: dict[int, list[Path]] = {}
    for path in icbhi:
        by_rate.setdefault(sf.info(path).samplerate, []).append(path)
    chosen = [path for rate in sorted(by_rate) for path in _shortest(by_rate[rate], 3)]
    chosen += _shortest(sorted((SHARED_DIR / "kauh").glob("*.wav")), 2)
    chosen += _shortest(sorted((SHARED_DIR / "sprsound" / "train_wav").glob("*.wav")), 3)
    made = tmp_path_factory.mktemp("web_recordings")
    first, second = _shortest(by_rate[max(by_rate)], 2)
    left, rate = sf.read(first, dtype="float32")
    right, _ = sf.read(second, dtype="float32")
    stereo = np.stack([left[: len(right)], right[: len(left)]], axis=1)
    sf.write(made / "stereo.wav", stereo, rate, subtype="PCM_16")
    chosen.append(made / "stereo.wav")
    for source in (first, chosen[-2]):  # 44.1 and 8 kHz (MP3 has no 4 kHz)
        samples, source_rate = sf.read(source, dtype="float32")
        sf.write(made / f"{source.stem}.mp3", samples, source_rate, format="MP3")
        chosen.append(made / f"{source.stem}.mp3")
    samples, source_rate = sf.read(first, dtype="float32")
    for target in (16000, 22050, 48000):
        path = made / f"{first.stem}_{target}.wav"
        sf.write(path, soxr.resample(samples, source_rate, target, quality="HQ"), target, subtype="PCM_24")
        chosen.append(path)
    return chosen


@pytest.fixture(scope="module")
def served(page: Path) -> Iterator[tuple[str, list[str]]]:
    """The page's folder on a static host (127.0.0.1) and the paths it was asked for."""
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(page))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html", requests
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def loaded(browser: Any, served: tuple[str, list[str]]) -> tuple[str, int]:
    """The page loaded once for the module's tests: its message once ready, and the requests it made."""
    url, requests = served
    return _ready(browser, url), len(requests)


def _predict(files: list[Path], output: Path, *extra: str) -> list[dict[str, Any]]:
    command = ["predict", DETECTOR, *map(str, files), "--onnx", "--format", "json", "--output", str(output)]
    assert main([*command, *extra]) == 0
    return json.loads(output.read_text(encoding="utf-8"))


def _analyse(browser: Any, path: Path) -> dict[str, Any]:
    """The page's ``respira.run`` of ``path``'s bytes, chosen as a file input gives them to the page (a
    hidden input of the test's own: the page's would analyse the file a second time)."""
    chooser = browser.execute_script(CHOOSER)
    chooser.send_keys(str(path.resolve()))
    return browser.execute_async_script(ANALYSE, chooser)


def _ready(browser: Any, url: str) -> str:
    browser.set_script_timeout(900)
    browser.get(url)
    return browser.execute_async_script(
        "const done = arguments[0]; "
        "respira.ready.then(() => done(document.getElementById('message').textContent))"
    )


@pytest.mark.slow
@pytest.mark.real_data
def test_page_agrees_with_predict_and_stays_offline(
    page: Path,
    recordings: list[Path],
    served: tuple[str, list[str]],
    browser: Any,
    loaded: tuple[str, int],
    tmp_path: Path,
) -> None:
    from respira.inference.detector import Detector

    requests = served[1]
    assert "sdk: static" in (page / "README.md").read_text(encoding="utf-8")
    assert loaded[0] == "Ready: drop a recording."
    detector = Detector.from_pretrained(DETECTOR, onnx=True)  # `respira predict --onnx`, with its defaults
    hop = json.loads((page / "respira-web.json").read_text(encoding="utf-8"))["events"]["frame_hop"]
    worst, timings, counted = 0.0, {}, 0
    for path in recordings:
        got = _analyse(browser, path)
        assert got["result"] is not None, got["message"]
        prediction = detector.predict_file(path)  # predict's rows, its --per_recording verdict and --events
        rows = prediction.rows
        assert len(got["result"]["rows"]) == len(rows), path.name
        for mine, theirs in zip(got["result"]["rows"], rows, strict=True):
            assert mine["start"] == pytest.approx(theirs["start"]) and mine["end"] == pytest.approx(
                theirs["end"]
            )
            for key in ("crackle", "wheeze"):
                worst = max(worst, abs(mine[key] - theirs[key]))
                assert abs(mine[key] - theirs[key]) <= TOLERANCE, (path.name, key, mine, theirs)
            assert mine["label"] == theirs["label"], path.name
        assert got["result"]["verdict"]["label"] == prediction.summary()["label"], path.name
        theirs = detector.detect_events(path, prediction=prediction).to_rows()
        mine = got["result"]["events"]["events"]
        assert [e["type"] for e in mine] == [e["type"] for e in theirs], path.name
        for event, row in zip(mine, theirs, strict=True):
            assert abs(event["onset"] - row["onset"]) <= hop + 1e-9, (path.name, event, row)
            assert abs(event["offset"] - row["offset"]) <= hop + 1e-9, (path.name, event, row)
            assert abs(event["confidence"] - row["confidence"]) <= TOLERANCE, (path.name, event, row)
        counted += len(theirs)
        timings[path.name] = got["result"]["timing"]
    print(f"largest difference from respira predict --onnx: {worst:.2e} over {len(recordings)} recordings")
    print(f"{counted} events, as respira predict --onnx --events shows them")
    print(json.dumps(timings))
    assert counted > 0  # the recordings hold events: the comparison compared some
    assert requests[loaded[1] :] == []  # the server saw nothing after the page loaded
    entries = browser.execute_script("return performance.getEntriesByType('resource').map((e) => e.name)")
    assert sorted(Path(name).name for name in entries) == sorted(
        [
            "ort.wasm.min.js",
            "respira-events.js",
            "respira-plot.js",
            "respira-resample.js",
            "respira-web.js",
            "respira-web.json",
            "model.onnx",
            *ORT_WEB_FILES[1:],
        ]
    )
    browser.save_screenshot(str(tmp_path / "web_page.png"))
    print(f"screenshot: {tmp_path / 'web_page.png'}")


@pytest.mark.slow
@pytest.mark.real_data
def test_bad_input_gets_one_line_and_the_page_keeps_working(
    page: Path,
    served: tuple[str, list[str]],
    browser: Any,
    loaded: tuple[str, int],
    tmp_path: Path,
    shared_kauh: Path,
) -> None:
    import soundfile as sf

    requests = served[1]
    (tmp_path / "notes.wav").write_text("not audio\n", encoding="utf-8")
    sf.write(
        tmp_path / "short.wav", 0.1 * np.random.default_rng(0).standard_normal(400), 4000, subtype="FLOAT"
    )
    sf.write(tmp_path / "silence.wav", np.zeros(40000), 4000, subtype="PCM_16")
    sf.write(tmp_path / "long.wav", np.zeros(31 * 60 * 4000), 4000, subtype="PCM_U8")  # 7 MB, 31 min
    said = {
        name: _analyse(browser, tmp_path / name)
        for name in ("notes.wav", "short.wav", "silence.wav", "long.wav")
    }
    assert said["notes.wav"]["result"] is None
    assert said["notes.wav"]["message"].startswith("notes.wav: cannot be decoded as audio (")
    scored = [tmp_path / "short.wav", tmp_path / "silence.wav"]  # as predict scores them, with its warning
    for path, row in zip(scored, _predict(scored, tmp_path / "scored.json", "--per_recording"), strict=True):
        assert said[path.name]["result"]["warning"] == row["warning"].replace(str(path), path.name)
        assert "\n" not in said[path.name]["message"]
    assert said["long.wav"]["result"] is None
    assert "longer than this page's limit of 30 min" in said["long.wav"]["message"]
    good = _analyse(browser, next(shared_kauh.glob("*.wav")))
    assert good["result"] is not None and good["result"]["rows"]
    assert requests[loaded[1] :] == []


@pytest.mark.slow
@pytest.mark.real_data
def test_page_from_file_url_gives_the_same_numbers(
    page: Path, recordings: list[Path], browser: Any, loaded: tuple[str, int]
) -> None:
    over_http = _analyse(browser, recordings[0])["result"]["rows"]
    served_tab = browser.current_window_handle
    browser.switch_to.new_window("tab")  # the served page stays as it is for the module's other tests
    try:
        assert _ready(browser, page.resolve().as_uri() + "/index.html") == "Ready: drop a recording."
        from_file = _analyse(browser, recordings[0])
    finally:
        browser.close()
        browser.switch_to.window(served_tab)
    assert from_file["result"]["rows"] == over_http


def _said_by_predict(model: str, recording: Path, tmp_path: Path, capsys: Any) -> str:
    """The line ``respira predict MODEL RECORDING`` says of its model on stderr."""
    capsys.readouterr()
    assert main(["predict", model, str(recording), "--onnx", "--output", str(tmp_path / "p.json")]) == 0
    return next(line for line in capsys.readouterr().err.splitlines() if line.startswith("model: "))


def _page_lines(browser: Any) -> dict[str, str]:
    return {name: browser.find_element("id", name).text for name in ("serves", "rule", "message", "why")}


@pytest.mark.slow
@pytest.mark.real_data
def test_page_says_where_the_model_serves_its_rule_and_why_a_label_is_not_called(
    recordings: list[Path], browser: Any, loaded: tuple[str, int], tmp_path: Path, capsys: Any
) -> None:
    """The page names the model as ``respira predict`` does (the sites it serves), its recording rule with
    the thresholds, and for a label whose windows reach its threshold while the rule does not call it,
    how many windows and what the rule gave instead (on the served page: its detector's rule is the mean,
    which leaves UNCALLED's one wheeze window uncalled)."""
    from respira.inference.detector import Detector
    from respira.models.respira.decision import aggregation_of, thresholds_of
    from respira.models.respira.windows import describe_aggregation

    said = _page_lines(browser)
    assert said["serves"] == _said_by_predict(DETECTOR, recordings[0], tmp_path, capsys)
    assert "serves" in said["serves"]
    detector = Detector.from_pretrained(DETECTOR, onnx=True)
    config = detector.config
    crackle, wheeze = thresholds_of(config)
    rule = describe_aggregation(*aggregation_of(config))  # the detector's own (issue 83: the mean)
    assert said["rule"] == (
        f"Recording rule: {rule}; crackle is called at {crackle:.3g} or more, wheeze at {wheeze:.3g} or more."
    )
    recording = SHARED_DIR / "kauh" / UNCALLED
    prediction = detector.predict_file(recording)
    threshold = prediction.thresholds[1]
    over = sum(row["wheeze"] >= threshold for row in prediction.rows)
    assert (prediction.label, over, len(prediction.rows)) == ("normal", 1, 5)  # what the test is about
    got = _analyse(browser, recording)
    said = _page_lines(browser)
    assert said["message"].startswith(f"{UNCALLED}: normal (")
    assert got["result"]["verdict"]["uncalled"] == said["why"]
    start = (
        f"wheeze not called: 1 of 5 windows at or over its threshold {threshold:.4f}, "
        "but the recording's wheeze probability is "
    )
    assert said["why"].startswith(start), said["why"]
    value, below = said["why"].removeprefix(start).split(", below it ")
    assert float(value) == pytest.approx(prediction.wheeze, abs=2e-4)
    assert below == f"({rule})" == f"({describe_aggregation('mean')})"
    assert "crackle" not in said["why"]  # none of crackle's windows reaches its threshold


def test_app_pages_name_a_shipped_folder_as_predict_names_the_detector(model_dir: Path) -> None:
    """``respira app`` writes the page of the folder ``chosen_model`` turned the name into: its line is
    the one predict printed for the name; a folder that records no site has none (predict prints none)."""
    from respira.pretrained import default_detector_dir
    from respira.pretrained.shipped import model_line

    said = model_line(None)[1]
    assert said.startswith(f"model: respira's shipped detector {DETECTOR}; it serves ")
    assert model_line(str(default_detector_dir()))[1] == model_line(DETECTOR)[1] == said
    assert model_line(str(model_dir)) == (str(model_dir), "")


def _floats(table: dict[str, Any], name: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(table[name]), dtype="<f4").astype(np.float64)


def test_tables_reproduce_soxr() -> None:
    """Applied as the page applies them (the kernel's response times the input's spectrum, cut to the new
    rate's bins; the first outputs from the start table), the tables give soxr's own output, at a rate of
    few phases (10 kHz: 5) and of many (44.1 kHz: 441)."""
    import soxr

    from respira.app.web_page import START_OUTPUTS, resampler_tables

    signal = np.random.default_rng(0).standard_normal(3000).astype(np.float32) + 0.3  # an offset: a step at 0
    for rate in (10000, 44100):
        table = resampler_tables(rate, 32000)
        expected = soxr.resample(signal, rate, 32000, quality="HQ").astype(np.float64)
        start = _floats(table, "start").reshape(START_OUTPUTS, table["start_inputs"])
        got = start @ signal[: table["start_inputs"]].astype(np.float64)
        assert np.abs(got - expected[:START_OUTPUTS]).max() < 1e-5, rate
        kernel, offset = _floats(table, "kernel"), table["offset"]
        spectrum = np.fft.rfft(signal, rate)  # 1 s: the circular convolution wraps nothing back
        circular = np.zeros(32000)
        np.add.at(circular, np.arange(offset, offset + len(kernel)) % 32000, kernel)
        bins = min(len(spectrum), 16001)
        response = np.fft.fft(circular)[:bins]
        middle = np.fft.irfft(spectrum[:bins] * response, 32000)[: len(expected)]
        assert np.abs(middle - expected)[START_OUTPUTS:].max() < 1e-5, rate


def test_export_refuses_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("RESPIRA_ORT_WEB_DIR", str(tmp_path / "nothing"))
    assert main(["export", DETECTOR, str(tmp_path / "page"), "--web"]) == 2
    error = capsys.readouterr().err.strip()
    assert "make web-deps" in error and "\n" not in error
    assert not (tmp_path / "page").exists()
    assert main(["export", DETECTOR, str(tmp_path / "page"), "--web", "--onnx"]) == 2
    assert "--web writes a static page" in capsys.readouterr().err


def test_makefile_fetches_the_pinned_release() -> None:
    """``make web-deps`` fetches the release and the files the export copies."""
    from respira.app.web_page import ORT_WEB_VERSION

    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text(encoding="utf-8")
    assert f"ORT_WEB_VERSION ?= {ORT_WEB_VERSION}\n" in makefile
    recipe = makefile[makefile.index("web-deps:") :].split("\n\n", 1)[0]
    assert all(f"package/dist/{name}" in recipe for name in ORT_WEB_FILES)


@pytest.fixture
def local_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from huggingface_hub import constants

    from tests.hub.hub_server import HubServer

    with HubServer(tmp_path / "hub") as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        yield hub


@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # huggingface_hub's LFS upload
def test_push_space_to_the_local_hub(
    run_dir: Path, model_dir: Path, local_hub: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``respira push RUN REPO --space --onnx``: the model repo, and the static page (``model.onnx``
    exported from a run that had none) as a Space repo created with ``sdk: static``; the page of the Hub
    id (``respira app REPO``) is made of the model repo's ``model.onnx``. The push's one conversion is
    stood in for by the bytes the session's export of the same run wrote (``model_dir``: converted once)."""
    from huggingface_hub import HfApi, constants

    from respira.app.web_page import write_web_page
    from respira.hub import export as hub_export

    if not all((ort_web_folder() / name).is_file() for name in ORT_WEB_FILES):
        pytest.skip(f"onnxruntime-web is not at {ort_web_folder()} (`make web-deps` fetches it with npm)")
    created, create_repo = [], HfApi.create_repo
    monkeypatch.setattr(  # the test Hub keeps no sdk: the request's is read here
        HfApi,
        "create_repo",
        lambda api, *a, **k: created.append(k.get("space_sdk")) or create_repo(api, *a, **k),
    )
    exports: list[tuple] = []
    monkeypatch.setattr(
        hub_export, "export_onnx", lambda *a, **_: exports.append(a) or _converted(model_dir, *a)
    )
    assert main(["push", str(run_dir), "user/tiny-cnn", "--token", "test-token", "--space", "--onnx"]) == 0
    assert len(exports) == 1  # the page is written from the push's export: the model is converted once
    model_files = local_hub.state.repos["user/tiny-cnn"].resolve("main").files
    assert "model.safetensors" in model_files
    files = local_hub.state.space_repos["user/tiny-cnn"].resolve("main").files
    assert set(PAGE_FILES) | {"respira-web.json", "model.onnx"} <= set(files)
    assert {*ORT_WEB_FILES, "respira-assets.js", "README.md"} <= set(files)
    readme = (local_hub.state.root / "objects" / files["README.md"].sha256).read_text(encoding="utf-8")
    assert "\nsdk: static\n" in readme and created[-1] == "static"
    front = yaml.safe_load(readme.split("---\n")[1])  # COOP and COEP: threads where the Space is opened alone
    assert front["custom_headers"] == {
        "cross-origin-embedder-policy": "require-corp",
        "cross-origin-opener-policy": "same-origin",
    }
    assert not [r for r in local_hub.unhandled if r[0] in ("POST", "PUT")]
    template = f"{local_hub.url}/{{repo_id}}/resolve/{{revision}}/{{filename}}"
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    page = write_web_page("user/tiny-cnn", tmp_path / "hub-page")
    assert hashlib.sha256((page / "model.onnx").read_bytes()).hexdigest() == model_files["model.onnx"].sha256
    assert json.loads((page / "respira-web.json").read_text())["name"] == "tiny-cnn"


def _converted(model_dir: Path, model: Any, path: Path) -> Path:
    """``export_onnx(model, path)`` for the run ``model_dir`` was exported from: its ``model.onnx``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_dir / "model.onnx", path)
    return path


def test_a_torch_folder_is_converted_by_the_onnx_exporter_alone(
    run_dir: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``respira app`` on a folder without ``model.onnx`` converts its weights with the ONNX exporter alone,
    not the whole Hub export (card, checksums, code), into the bytes ``respira export --onnx`` writes."""
    from respira.app.web_page import write_web_page
    from respira.hub import export as hub_export

    if not all((ort_web_folder() / name).is_file() for name in ORT_WEB_FILES):
        pytest.skip(f"onnxruntime-web is not at {ort_web_folder()} (`make web-deps` fetches it with npm)")
    assert not (run_dir / "model.onnx").exists()
    monkeypatch.setattr(hub_export, "export_model", None)
    page = write_web_page(run_dir, tmp_path / "page")
    assert (page / "model.onnx").read_bytes() == (model_dir / "model.onnx").read_bytes()


def test_push_space_refuses_before_pushing_anything(
    run_dir: Path, local_hub: Any, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("RESPIRA_ORT_WEB_DIR", str(run_dir / "no-such-folder"))
    monkeypatch.setattr("respira.hub.push.export_model", None)  # refused before the model is exported
    assert main(["push", str(run_dir), "user/tiny-cnn", "--token", "test-token", "--space"]) == 2
    error = capsys.readouterr().err.strip()
    assert "make web-deps" in error and "\n" not in error
    assert not local_hub.state.repos and not local_hub.state.space_repos


PICTURE = """const [data, rate, columns] = arguments;
const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
const s = respiraPlot.spectrogram(new Float32Array(bytes.buffer), rate, columns);
const canvas = document.getElementById("plot"), box = respiraPlot.layout(canvas.width);
const pixels = canvas.getContext("2d").getImageData(  // inside the box's frame
  box.L + 1, box.spec[0] + 1, box.R - box.L - 2, box.spec[1] - box.spec[0] - 2);
const colours = new Map();
for (let i = 0; i < pixels.data.length; i += 4) {
  const key = Array.from(pixels.data.subarray(i, i + 3), (v) => v.toString(16).padStart(2, "0")).join("");
  colours.set(key, (colours.get(key) || 0) + 1);
}
return {db: Array.from(s.db), bands: s.bands, edges: s.edges, magma: respiraPlot.MAGMA,
  colours: Object.fromEntries(colours)};"""


@pytest.mark.slow
@pytest.mark.real_data
def test_picture_is_predicts_spectrogram(browser: Any, loaded: tuple[str, int]) -> None:
    """The page draws ``respira predict --plot``'s spectrogram: the same mel dB values (80-dB floor), cells
    and magma colour map (matplotlib's, every pixel of the spectrogram's box one of its entries, the
    quietest cells its first)."""
    import matplotlib
    import soundfile as sf

    from respira.reports.spectrogram import mel_spectrogram_db, mel_to_hz

    if not SHARED_DIR.is_dir():
        pytest.skip(f"real recordings not found at {SHARED_DIR}")
    magma = "".join(
        f"{r:02x}{g:02x}{b:02x}"
        for r, g, b in np.round(np.asarray(matplotlib.colormaps["magma"].colors) * 255).astype(int)
    )
    kauh = _shortest(sorted((SHARED_DIR / "kauh").glob("*.wav")), 1)[0]
    assert _analyse(browser, kauh)["result"] is not None
    samples, rate = sf.read(kauh, dtype="float32")  # 4 kHz: shown at its own rate, as predict does
    data = base64.b64encode(samples.astype("<f4").tobytes()).decode()
    got = browser.execute_script(PICTURE, data, rate, 400)
    expected = mel_spectrogram_db(samples, rate, max_columns=400)
    db = np.asarray(got["db"]).reshape(-1, got["bands"]).T
    assert db.shape == expected.db.shape
    assert np.abs(db - expected.db).max() < 0.05
    assert db.min() == -80.0
    np.testing.assert_allclose(mel_to_hz(np.asarray(got["edges"])), expected.frequency_edges, atol=1e-6)
    assert got["magma"] == magma
    entries = {magma[i : i + 6] for i in range(0, len(magma), 6)}
    colours = got["colours"]
    assert set(colours) <= entries and len(colours) > 100  # not one saturated colour, magma's only
    assert colours.get(magma[:6], 0) > 0  # the 80-dB floor is magma's first entry
