"""The browser page's screenshot in the docs, ``docs/_static/web-page.png`` (``make web-screenshot``).

``respira export icbhi-crackle-wheeze --web`` writes the page to a temporary folder, respira's page
server (``respira app``'s) serves it, Debian's chromium (headless, through Selenium) opens it and analyses
a KAUH recording of ``../shared`` (or ``--recording``) as a dropped file would be; the page's content is
cropped and saved with a 256-colour palette, small enough to commit.
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIGURE = ROOT / "docs" / "_static" / "web-page.png"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
DETECTOR = "icbhi-crackle-wheeze"
RECORDING = "kauh/EP17_*.wav"
"""The recording of ``../shared`` shown (the one ``respira predict --plot`` shows in the README)."""
WIDTH = 1100
ANALYSE = """const [data, name, done] = arguments;
const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
respira.ready.then(() => respira.run(bytes.buffer, name)).then((r) => done(
  [r ? "" : document.getElementById("message").textContent, document.body.scrollHeight]));"""
CONTENT = "const r = document.body.getBoundingClientRect(); return [r.left, r.right];"


def screenshot(url: str, recording: Path, output: Path, profile: Path) -> tuple[int, int]:
    """The page at ``url`` once ``recording`` is analysed and drawn, saved to ``output`` (PNG); the
    horizontal extent of its content in pixels."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={WIDTH},900")
    options.add_argument(f"--user-data-dir={profile}")
    browser: Any = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        browser.set_script_timeout(300)
        browser.get(url)
        data = base64.b64encode(recording.read_bytes()).decode()
        error, height = browser.execute_async_script(ANALYSE, data, recording.name)
        if error:
            raise SystemExit(f"the page refused {recording}: {error}")
        browser.set_window_size(WIDTH, int(height) + 200)
        left, right = browser.execute_script(CONTENT)
        browser.save_screenshot(str(output))
        return int(left), int(right)
    finally:
        browser.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="the ../shared folder")
    parser.add_argument("--recording", type=Path, help="another recording to show")
    parser.add_argument("--output", type=Path, default=FIGURE, help="the PNG written")
    args = parser.parse_args()
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        raise SystemExit("needs Debian's chromium and chromium-driver (make browser-deps)")
    recording = args.recording or next(iter(sorted(args.shared.glob(RECORDING))), None)
    if recording is None or not recording.is_file():
        raise SystemExit(f"no recording {args.recording or args.shared / RECORDING}")
    from PIL import Image, ImageChops

    from respira.app.options import ServeOptions
    from respira.app.serving import folder_server
    from respira.cli import main as respira

    with tempfile.TemporaryDirectory() as work:
        page = Path(work) / "page"
        if respira(["export", DETECTOR, str(page), "--web"]) != 0:
            return 2
        server = folder_server(page, ServeOptions(port=0)).start()
        try:
            shot = Path(work) / "page.png"
            left, right = screenshot(f"{server.url}index.html", recording, shot, Path(work) / "profile")
        finally:
            server.close()
        rgb = Image.open(shot).convert("RGB")
        box = ImageChops.difference(rgb, Image.new("RGB", rgb.size, "white")).getbbox() or (0, 0, *rgb.size)
        rgb = rgb.crop((max(0, left - 8), max(0, box[1] - 8), min(rgb.width, right + 8), box[3] + 8))
        staged = args.output.with_suffix(".partial.png")
        rgb.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(staged, optimize=True)
        staged.replace(args.output)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
