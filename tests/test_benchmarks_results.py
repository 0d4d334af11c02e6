"""BENCHMARKS.md says what the benchmark scripts wrote: its pasted tables are their output files' lines."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FIT_SITE = "## Fitting the detector to a site"
TWO_THREADS = "fit_site_2_threads.md"
RULE_STUDY = "### Choosing the selection rule and the recording rule"
UNITS_RULES = "### A guard for small samples: the `_units` selection rules"


def _section(text: str, heading: str) -> str:
    """The body of the ``heading`` section of ``text``, up to the next heading of its level or above."""
    start = text.index(heading)
    level = len(heading) - len(heading.lstrip("#"))
    following = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE)
    end = following.search(text, start + len(heading))
    return text[start + len(heading) : end.start() if end else len(text)]


def _not_pasted(benchmarks: str, output: str = "fit_site.md", start: str = "") -> list[str]:
    """Lines of the ``output`` file (from its first line starting with ``start``, and its first line)
    missing from the fit-site section of ``benchmarks``."""
    section = _section(benchmarks, FIT_SITE).splitlines()
    lines = [line for line in (RESULTS / output).read_text(encoding="utf-8").splitlines() if line]
    assert lines
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    return [line for line in [lines[0], *lines[first:]] if line not in section]


def test_the_fit_site_section_pastes_the_whole_output_file() -> None:
    assert _not_pasted((ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")) == []


def test_the_two_thread_run_is_pasted_with_its_timing_table() -> None:
    """The run with both cores: its header and timing table (its score tables equal the one-thread run's)."""
    benchmarks = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert _not_pasted(benchmarks, TWO_THREADS, "| site | recordings") == []
    one, two = ((RESULTS / name).read_text().splitlines() for name in ("fit_site.md", TWO_THREADS))
    timing = next(i for i, line in enumerate(one) if line.startswith("| site | recordings"))
    assert timing > 5 and one[1:timing] == two[1:timing]


def test_a_number_typed_differently_is_not_the_output_files() -> None:
    benchmarks = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    row = next(line for line in _section(benchmarks, FIT_SITE).splitlines() if line.startswith("| KAUH |"))
    typed = re.sub(r"\d", lambda digit: str((int(digit.group()) + 1) % 10), row, count=1)
    assert _not_pasted(benchmarks.replace(row, typed)) == [row]


def test_the_rule_study_rows_are_rows_of_its_output_file() -> None:
    benchmarks = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    written = set((RESULTS / "fit_site_rules.md").read_text(encoding="utf-8").splitlines())
    rows = [
        line
        for line in _section(benchmarks, RULE_STUDY).splitlines()
        if line.startswith("| ") and not line.startswith(("| site", "| ---"))
    ]
    assert len(rows) >= 10 and [line for line in rows if line not in written] == []


def test_the_units_rule_rows_are_rows_of_its_output_file() -> None:
    benchmarks = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    section = _section(benchmarks, UNITS_RULES).splitlines()
    lines = (RESULTS / "fit_site_one_se_units.md").read_text(encoding="utf-8").splitlines()
    scores = lines[: next(i for i, line in enumerate(lines) if line.startswith("| site | recordings"))]
    rows = [line for line in scores if line.startswith("| ") and not line.startswith(("| site", "| ---"))]
    assert len(rows) == 12 and [line for line in [lines[0], *rows] if line not in section] == []


def test_the_units_rules_ten_draw_figures_are_their_files() -> None:
    """The 20-patient, 10-draw figures BENCHMARKS.md quotes for the `_units` rules are their files' rows."""
    section = _section((ROOT / "BENCHMARKS.md").read_text(encoding="utf-8"), UNITS_RULES)
    quoted = re.search(r"\(49\.7 → 53\.1,\s+draws below as is 3 → 1 of 10\)", section)
    assert quoted is not None
    for rule, score, below in (("bonferroni", "49.7", "3 of 10"), ("bonferroni_units", "53.1", "1 of 10")):
        lines = (RESULTS / "fit_site_units_k20" / f"{rule}.md").read_text(encoding="utf-8").splitlines()
        row = next(line for line in lines if line.startswith("| KAUH | 20 of 56 (10 draws)"))
        cells = [cell.strip() for cell in row.split("|")]
        assert cells[7].startswith(score) and cells[9] == below, row


def test_the_one_core_screen_run_is_pasted_whole() -> None:
    """The before/after ``screen`` run of the one inference core: every line of its output file, and the
    two seconds the text quotes are its subprocess rows'."""
    benchmarks = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    start = benchmarks.index("### After the one inference core (issue 51)")
    # not _section: the output's "# " lines would end it
    ends = [benchmarks.find(mark, start + 1) for mark in ("\n## ", "\n### ")]
    section = benchmarks[start : min(end for end in ends if end > 0)]
    lines = (RESULTS / "screen_one_core.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) > 8 and [line for line in lines if line not in section.splitlines()] == []
    seconds = [line.split()[-3] for line in lines if line.startswith("screen, subprocess")]
    assert f"took {seconds[0]} s before and {seconds[1]} s after" in " ".join(section.split())
