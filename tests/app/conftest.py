"""A tiny multi-label run (random weights, thresholds 0.3 / 0.7, card metrics), its export, a real ICBHI
recording, and Debian's chromium driven by Selenium for the browser tests (one for the session, fresh for each
module)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from respira.models.respira.labels import MULTI_LABEL
from tests.conftest import built_once_per_run
from tests.hub.test_card_export_push import tiny_model, write_run_dir

THRESHOLDS = [0.3, 0.7]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = "1400,2200"


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training-run folder of a tiny untrained multi-label CNN (with metrics.json and a run record)."""
    model = tiny_model(MULTI_LABEL)
    model.config.decision_thresholds = list(THRESHOLDS)
    return write_run_dir(tmp_path_factory.mktemp("app_runs") / "tiny_cnn", model)


@pytest.fixture(scope="session")
def model_dir(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run exported (card README.md) with its ONNX file: converted once for the whole run (the run's
    weights are seeded, so each worker's run is the same run)."""
    from respira.hub import export_model

    def export(staging: Path) -> None:
        export_model(run_dir, staging / "tiny_cnn", onnx=True)

    return built_once_per_run(tmp_path_factory, "app_export", export) / "tiny_cnn"


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


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Debian's chromium, headless, driven through Debian's chromedriver (Selenium); one for the session."""
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
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={WINDOW}"):
        options.add_argument(flag)
    profile = tmp_path_factory.mktemp("chromium-profile")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(chromium: Any) -> Any:
    """The session's chromium as a fresh one for each test module: one blank tab of the first size, no
    cookies, nothing cached (a page served on a port another module's server had is fetched anew), the
    script timeout Selenium's default."""
    for handle in chromium.window_handles[1:]:
        chromium.switch_to.window(handle)
        chromium.close()
    chromium.switch_to.window(chromium.window_handles[0])
    chromium.get("about:blank")
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    chromium.execute_cdp_cmd("Network.clearBrowserCache", {})
    chromium.set_window_size(*map(int, WINDOW.split(",")))
    chromium.set_script_timeout(30)
    return chromium
