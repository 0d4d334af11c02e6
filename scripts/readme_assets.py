"""README's picture and results table, made from the shipped detector and the files its runs wrote
(``make readme``).

1. The picture, ``docs/_static/predict_plot.png``: ``respira predict --plot`` of the shipped detector on
   one real recording of a site it never heard (KAUH, in ``../shared``), as a user would run it, saved
   with a 256-colour palette so that it stays small enough to commit.
2. The results table between README's ``<!-- results table -->`` markers: the shipped detector's
   "Where this detector serves" table, as its card renders it from its own ``evaluation_*/metrics.json``
   (:func:`respira.records.sites.site_verdicts`). Nothing in it is typed by hand;
   ``tests/test_pretrained.py`` fails when README's copy no longer matches the files.

``--check`` writes nothing and exits 1 when README's table is not the rendered one.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FIGURE = ROOT / "docs" / "_static" / "predict_plot.png"
RECORDING = "kauh/EP17_COPD,E W,A R M,57,M.wav"
"""Held out: a KAUH recording (expiratory wheeze by its file name) of a site the detector never heard."""
TABLE_START, TABLE_END = "<!-- results table: start -->", "<!-- results table: end -->"
CARD_TABLE = re.compile(r"^### Where this detector serves$.*?^(\|.*?)\n\n", re.S | re.M)


def rendered_results_table() -> str:
    """The shipped detector's site table, rendered afresh from the folder's files (not from its card)."""
    from respira.hub.card_render import render_folder_card
    from respira.pretrained import default_detector_dir

    with tempfile.TemporaryDirectory() as work:
        copy = Path(shutil.copytree(default_detector_dir(), Path(work) / "detector"))
        (copy / "README.md").unlink()
        render_folder_card(copy)
        found = CARD_TABLE.search((copy / "README.md").read_text(encoding="utf-8"))
    if found is None:
        raise SystemExit("the shipped detector's card has no 'Where this detector serves' table")
    return found.group(1).strip()


def readme_results_table(text: str) -> str:
    """The table between README's markers."""
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        raise SystemExit(f"README.md lacks the markers {TABLE_START} ... {TABLE_END}")
    return text[start + len(TABLE_START) : end].strip()


def write_results_table() -> None:
    text = README.read_text(encoding="utf-8")
    readme_results_table(text)  # the markers are there
    head, rest = text.split(TABLE_START, 1)
    tail = rest.split(TABLE_END, 1)[1]
    table = rendered_results_table()
    README.write_text(f"{head}{TABLE_START}\n\n{table}\n\n{TABLE_END}{tail}", encoding="utf-8")


def draw_figure(shared: Path) -> None:
    """``respira predict --plot`` of :data:`RECORDING`, palette-quantised into :data:`FIGURE`."""
    from PIL import Image

    from respira.cli import main

    recording = shared / RECORDING
    if not recording.is_file():
        raise SystemExit(f"{recording}: not found (the figure is drawn from ../shared's KAUH recordings)")
    with tempfile.TemporaryDirectory() as work:
        plots = Path(work) / "plots"
        if main(["predict", str(recording), "--plot_dir", str(plots), "--output", f"{work}/rows.csv"]) != 0:
            raise SystemExit("respira predict --plot failed")
        (drawn,) = plots.glob("*.png")
        FIGURE.parent.mkdir(parents=True, exist_ok=True)
        staged = FIGURE.with_suffix(".partial.png")
        # an octree palette keeps the legend's rare colours, which median cut merges away
        rgb = Image.open(drawn).convert("RGB")
        rgb.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(staged, optimize=True)
        staged.replace(FIGURE)
    print(f"wrote {FIGURE.relative_to(ROOT)} ({FIGURE.stat().st_size / 1024:.0f} KiB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="the ../shared folder")
    parser.add_argument("--check", action="store_true", help="only check README's table; write nothing")
    args = parser.parse_args()
    if args.check:
        same = readme_results_table(README.read_text(encoding="utf-8")) == rendered_results_table()
        print("README's results table is " + ("up to date" if same else "stale: run make readme"))
        return 0 if same else 1
    write_results_table()
    draw_figure(args.shared)
    return 0


if __name__ == "__main__":
    sys.exit(main())
