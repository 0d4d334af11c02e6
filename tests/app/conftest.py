"""A tiny multi-label run (random weights, thresholds 0.3 / 0.7, card metrics), its export, a real ICBHI
recording, and Debian's chromium driven by Selenium for the browser tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from respira.labels import MULTI_LABEL
from tests.hub.test_card_export_push import tiny_model, write_run_dir

THRESHOLDS = [0.3, 0.7]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training-run folder of a tiny untrained multi-label CNN (with metrics.json and a run record)."""
    model = tiny_model(MULTI_LABEL)
    model.config.decision_thresholds = list(THRESHOLDS)
    return write_run_dir(tmp_path_factory.mktemp("app_runs") / "tiny_cnn", model)


@pytest.fixture(scope="session")
def model_dir(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run exported (card README.md) with its ONNX file."""
    from respira.hub import export_model

    return export_model(run_dir, tmp_path_factory.mktemp("app_export") / "tiny_cnn", onnx=True)


@pytest.fixture(scope="session")
def icbhi_recording(shared_icbhi: Path) -> Path:
    """The shortest real ICBHI recording with a crackle or wheeze cycle (and its annotation beside it)."""
    import soundfile as sf

    from respira.data.text_files import read_annotations

    database = shared_icbhi / "ICBHI_final_database"
    candidates = [
        wav
        for wav in sorted(database.glob("*.wav"))
        if any(c.crackle or c.wheeze for c in read_annotations(wav.with_suffix(".txt")))
    ]
    return min(candidates, key=lambda wav: sf.info(wav).duration)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """Debian's chromium, headless, driven through Debian's chromedriver (Selenium)."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip(
            "Debian's chromium and chromium-driver are not installed (`make test` installs them with apt; "
            "apt could not here)"
        )
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')"
    )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2200"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


# -------------------------------------------------------------------------- the Space without respira
BLOCKED = ("torch", "respira", "__editable__")
"""Site-packages entries the Space's Python does not see: torch (and torchcodec...), respira."""
RUN_SPACE = """
import importlib.util, runpy, sys
for name in ("torch", "respira"):
    assert importlib.util.find_spec(name) is None, f"{name} is importable"
    try:
        __import__(name)
    except ImportError:
        print(f"no {name}", flush=True)
    else:
        raise SystemExit(f"{name} imported")
sys.argv = ["app.py"]
runpy.run_path("app.py", run_name="__main__")
"""


def site_without_torch_or_respira(folder: Path) -> Path:
    """A folder of links to this Python's site-packages entries, less torch* and respira (and .pth files,
    so no editable install of respira comes back)."""
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    folder.mkdir(parents=True)
    for entry in site.iterdir():
        name = entry.name.lower()
        if entry.suffix == ".pth" or any(name.startswith(prefix) for prefix in BLOCKED) or "respira" in name:
            continue
        (folder / entry.name).symlink_to(entry)
    return folder


@contextlib.contextmanager
def space_server(space_dir: Path, site: Path, port: int, log: Path) -> Iterator[subprocess.Popen]:
    """``python app.py`` of a Space folder on 127.0.0.1:``port`` with ``site`` as its only packages
    (``python -S``: no site-packages, no .pth), until the page answers; stopped on exit."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        GRADIO_ANALYTICS_ENABLED="False",
        PYTHONPATH="",
        MPLCONFIGDIR=str(log.parent / "mpl"),
    )
    command = [sys.executable, "-S", "-c", f"import sys; sys.path.append({str(site)!r}); {RUN_SPACE}"]
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=space_dir, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"the Space exited ({process.returncode}):\n{log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError(f"the Space did not answer in 180 s:\n{log.read_text()[-4000:]}")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
