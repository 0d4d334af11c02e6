"""The labelling page's screenshot in the docs, ``docs/_static/label-page.png`` (``make label-screenshot``).

As the "serve your site" tutorial does, on a few KAUH recordings of ``../shared`` (one per patient, named
by patient only, labels blank): ``respira suggest`` chooses two of them, ``respira label`` serves the
page in a thread, Debian's chromium (headless, through Selenium) opens it and waits until the first
suggested recording is drawn and the page takes an answer (its minimum time on screen passed); the window is
saved with a 256-colour palette, small enough to commit.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURE = ROOT / "docs" / "_static" / "label-page.png"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
PATIENTS = (11, 17, 25, 40)
"""KAUH patients of the archive (the extended filter mode, ``EP``)."""
WINDOW = (1280, 720)
"""The smallest laptop screen the page is laid out for: all of it (event tools, fit-site's command) shown."""


def write_archive(kauh: Path, archive: Path) -> None:
    """``archive``: a symlink ``P0NN.wav`` per patient of :data:`PATIENTS` and a blank ``labels.csv``."""
    archive.mkdir()
    rows = ["file,patient,crackle,wheeze"]
    for patient in PATIENTS:
        (recording,) = kauh.glob(f"EP{patient}_*.wav")
        name = f"P{patient:03d}"
        (archive / f"{name}.wav").symlink_to(recording.resolve())
        rows.append(f"{name}.wav,{name},,")
    (archive / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def screenshot(url: str, output: Path, profile: Path) -> None:
    """The page at ``url`` once its recording is drawn, saved to ``output`` (PNG)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    options.add_argument(f"--user-data-dir={profile}")
    browser = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        browser.get(url)
        deadline = time.monotonic() + 120
        while not browser.execute_script("return window.respiraShown != null && window.respiraReady"):
            if time.monotonic() > deadline:
                raise SystemExit("the labelling page took no answer within 120 s")
            time.sleep(0.3)
        time.sleep(1.0)  # the spectrogram image and the plot are painted
        browser.save_screenshot(str(output))
    finally:
        browser.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="the ../shared folder")
    args = parser.parse_args()
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        raise SystemExit("needs Debian's chromium and chromium-driver (make browser-deps)")
    from PIL import Image

    import respira

    with tempfile.TemporaryDirectory() as work:
        archive = Path(work) / "kauh_site"
        write_archive(args.shared / "kauh", archive)
        respira.suggest(data_dir=archive, budget=2, output=archive / "labels.csv")
        server = respira.label(archive, port=0)
        try:
            shot = Path(work) / "page.png"
            screenshot(server.url, shot, Path(work) / "profile")
        finally:
            server.close()
        staged = FIGURE.with_suffix(".partial.png")
        rgb = Image.open(shot).convert("RGB")
        rgb.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(staged, optimize=True)
        staged.replace(FIGURE)
    print(f"wrote {FIGURE.relative_to(ROOT)} ({FIGURE.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
