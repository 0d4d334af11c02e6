"""BENCHMARKS.md's current figures are what the runs wrote: each is in the history section its row links to,
and the fit-site table and the rows this file reads are their output files' lines and cells. The history
itself is not proved again (tests/test_history.py checks what it names exists)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_measured import heading_anchors

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
HISTORY = ROOT / "docs" / "history"
CURRENT_FIT_SITE = "## `respira fit-site`"
SITES = ("ICBHI sample", "KAUH", "SPRSound (no Poor Quality)")


def _section(text: str, heading: str) -> str:
    """The body of the ``heading`` section of ``text``, up to the next heading of its level or above."""
    start = text.index(heading)
    level = len(heading) - len(heading.lstrip("#"))
    following = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE)
    end = following.search(text, start + len(heading))
    return text[start + len(heading) : end.start() if end else len(text)]


def _history(page: str) -> str:
    return (HISTORY / f"{page}.md").read_text(encoding="utf-8")


def _benchmarks() -> str:
    return (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")


def _not_pasted(text: str, output: str = "fit_site.md", heading: str = CURRENT_FIT_SITE) -> list[str]:
    """Lines of the ``output`` file missing from the ``heading`` section of ``text``."""
    section = _section(text, heading).splitlines()
    lines = [line for line in (RESULTS / output).read_text(encoding="utf-8").splitlines() if line]
    assert lines
    return [line for line in lines if line not in section]


def test_the_fit_site_section_pastes_the_whole_output_file() -> None:
    assert _not_pasted(_benchmarks()) == []


def _cells(lines: list[str], prefix: str) -> list[str]:
    row = next(line for line in lines if line.startswith(prefix))
    return [cell.strip() for cell in row.split("|")[1:-1]]


def test_the_fit_site_summary_and_claims_are_the_output_files() -> None:
    """The summary row's figures are the default run's cells."""
    lines = (RESULTS / "fit_site.md").read_text(encoding="utf-8").splitlines()
    summary = next(line for line in _benchmarks().splitlines() if line.startswith("| fitting a site"))
    below = 0
    for site in SITES:
        at_20 = _cells(lines, f"| {site} | 20 of")
        name = site.split(" (")[0]
        assert f"{name} {at_20[6].split(' ')[0]} (as is {at_20[2].split(' ')[0]})" in summary, site
        below += sum(int(_cells(lines, f"| {site} | {k} of")[8].split(" of ")[0]) for k in (5, 10, 20))
    assert f"below as is on {below} of 27 draws" in summary
    for site in ("KAUH", "SPRSound (no Poor Quality)"):
        nested = _cells(lines, f"| {site} | all")
        assert f"{nested[6]} (as is {nested[2].split(' ')[0]})" in summary, site
    timing = [_cells(lines, f"| {site} | ") for site in SITES]
    assert " / ".join(row[6] for row in timing if "min" in row[3]) + "× real time" in summary


def test_a_number_typed_differently_is_not_the_output_files() -> None:
    benchmarks = _benchmarks()
    section = _section(benchmarks, CURRENT_FIT_SITE)
    row = next(line for line in section.splitlines() if line.startswith("| KAUH |"))
    typed = re.sub(r"\d", lambda digit: str((int(digit.group()) + 1) % 10), row, count=1)
    assert _not_pasted(benchmarks.replace(row, typed)) == [row]


def test_the_wall_time_a_user_waits_is_its_output_file() -> None:
    """fit-site start to exit, alone and beside a busy loop (issue 58, item 10): the summary row's seconds
    and ratios are the output file's cells."""
    lines = [line for line in (RESULTS / "fit_site_wall.md").read_text(encoding="utf-8").splitlines() if line]
    summary = next(line for line in _benchmarks().splitlines() if line.startswith("| fitting a site"))
    compared = [c for c in ("alone", "beside a busy loop") if any(f"| {c} | today" in line for line in lines)]
    assert compared
    for condition in compared:
        old = _cells(lines, f"| {condition} | before")
        today = _cells(lines, f"| {condition} | today")
        assert float(old[4]) > 0 and float(today[4]) > 0
        ratio = today[10].split(" ")[0]
        assert f"{condition}: {today[4]} s ({today[5]}× real time; {old[4]} s before, {ratio}×)" in summary


NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?")
HISTORY_LINK = re.compile(r"\]\(docs/history/([\w-]+)\.md#([^)]+)\)")


def _anchored_section(text: str, anchor: str) -> str:
    """The section of ``text`` whose heading has GitHub's anchor ``anchor``, to the next heading of its level
    or above (lines in code fences are no headings)."""
    fenced, level, kept = False, 0, []
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        heading = None if fenced else re.match(r"(#{1,6}) ", line)
        if heading and level and len(heading.group(1)) <= level:
            break
        if heading and not level and heading_anchors(line) == {anchor}:
            level = len(heading.group(1))
        if level:
            kept.append(line)
    assert kept, f"no heading #{anchor}"
    return "\n".join(kept)


def _unquoted(benchmarks: str) -> list[str]:
    """Each figure of the result cell of a BENCHMARKS.md table row that links to history sections (its last
    cell) not found in those sections."""
    missing, rows = [], 0
    for row in benchmarks.splitlines():
        cells = [cell.strip() for cell in row.split("|")[1:-1]]
        links = HISTORY_LINK.findall(cells[-1]) if cells else []
        if not links:
            continue
        rows += 1
        sources = " ".join(
            " ".join(_anchored_section(_history(page), anchor).split()) for page, anchor in links
        )
        missing += [f"{cells[0]}: {number}" for number in NUMBER.findall(cells[1]) if number not in sources]
    assert rows >= 14
    return missing


def test_every_figure_of_benchmarks_is_in_the_history_section_it_links() -> None:
    assert _unquoted(_benchmarks()) == []


def test_a_figure_typed_differently_is_not_in_its_history_section() -> None:
    benchmarks = _benchmarks()
    assert "1.36× validation-threshold" in benchmarks
    assert _unquoted(benchmarks.replace("1.36× validation-threshold", "1.63× validation-threshold")) == [
        "cross-fitted thresholds (`threshold_source: cross_fit`): 1.63"
    ]


def test_the_label_page_row_reads_its_output() -> None:
    benchmarks = _benchmarks()
    lines = [line for line in (RESULTS / "label_latency.md").read_text(encoding="utf-8").splitlines() if line]
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines if line.startswith("| ")]
    keypress = {(row[0], row[1].split(" ")[0]): row for row in rows if len(row) == 5}
    start_up = {row[0]: row for row in rows if len(row) == 4}
    (before,) = (name for name in start_up if name.endswith("(before)"))
    (after,) = (name for name in start_up if name.endswith("(after)"))
    row = next(line for line in benchmarks.splitlines() if line.startswith("| `respira label` |"))
    listened, at_once = keypress[after, "after"], keypress[after, "at"]
    assert f"shown {listened[3]} ms median (max {listened[4]} ms) after 3 s of listening" in row
    assert f"; {at_once[3]} ms pressed at once" in row
    assert f"against {keypress[before, 'after'][3]} and {keypress[before, 'at'][3]} ms before" in row
    assert f"start-up {start_up[after][2]} s median against {start_up[before][2]} s" in row


def test_the_suggest_row_reads_its_output_files_and_the_default_is_the_protocols() -> None:
    from respira.sites.suggest import STRATEGY as DEFAULT_STRATEGY

    runs: dict[str, list[str]] = {}  # the interleaved speed runs, by the code each ran
    for line in (RESULTS / "suggest_speed_ab.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("<!-- code: "):
            code = line.removeprefix("<!-- code: ").split(" ")[0]
        elif line.startswith("suggest over"):
            runs.setdefault(code, []).append(line.split("first round ")[1].split(" s ")[0])
    row = next(line for line in _benchmarks().splitlines() if line.startswith("| `respira suggest` |"))
    start = sorted(runs["start"], key=float)
    assert f"{' and '.join(runs['main'])} s against {start[0]}–{start[-1]} s" in row
    speeds = [  # the newest runs: the first round's × real time, and with the imports counted in
        sorted(int(part.split(" × real time")[0].rsplit(" ", 1)[-1].lstrip("(")) for part in parts)
        for parts in zip(
            *(
                (line.split("first round ")[1], line.split("counted in, the first round: ")[1])
                for line in (RESULTS / "suggest_speed.md").read_text(encoding="utf-8").splitlines()
                if line.startswith("suggest over")
            ),
            strict=True,
        )
    ]
    (first, counted), cpu = speeds, (RESULTS / "suggest_speed.md").read_text(encoding="utf-8")
    assert f"{first[0]}–{first[-1]} × real time on a quiet 2-core Intel Xeon VM" in row and "Intel" in cpu
    assert f"({counted[0]}–{counted[-1]} × counting the process's imports in; {len(first)} runs)" in row
    assert ("300× real time: met on the Intel Xeon VM" in row) is (first[0] >= 300)
    lines = (RESULTS / "suggest.md").read_text(encoding="utf-8").splitlines()
    decision = next(line for line in lines if line.startswith("Decision"))
    assert decision.endswith(f"default strategy {DEFAULT_STRATEGY}.")  # the default is the protocol's choice
    means = dict(part.split(" ") for part in decision.split("patients: ")[1].split("):")[0].split(", "))
    assert f"{DEFAULT_STRATEGY} {means[DEFAULT_STRATEGY]} (the default), random {means['random']}" in row


def test_the_gpu_agreement_row_reads_its_output() -> None:
    """The row's counts, largest differences, agreement and gpu-test count are the device run's."""
    lines = [line for line in (RESULTS / "gpu_agreement.md").read_text(encoding="utf-8").splitlines() if line]
    runs = [line.split() for line in lines if " cuda tf32 " in line]
    assert len(runs) == 2 * len({run[0] for run in runs}) and {run[5] for run in runs} == {runs[0][5]}

    def largest(tag: str) -> str:
        return max((run[7] for run in runs if run[3] == tag), key=float)

    recordings = len(" ".join(runs[0]).split("events [")[1].split(","))
    passed = re.fullmatch(r"(\d+) passed, \d+ deselected in [\d.]+s", lines[-1])
    row = next(line for line in _benchmarks().splitlines() if line.startswith("| CUDA against the CPU"))
    assert f"{len(runs) // 2} shipped detectors on {recordings} recordings ({runs[0][5]} windows each)" in row
    assert (
        f"the CPU {largest('on')} with cuDNN's TF32 (torch's default), {largest('off')} in full float32"
        in row
    )
    assert ("labels and event counts equal in both" in row) == all(run[10] == "True" for run in runs)
    assert passed is not None and f"the {passed.group(1)} gpu-marked tests pass" in row


def test_the_issue_74_row_reads_its_output_files() -> None:
    """suggest, fit-site and screen before and after issue 74's second session: the row's figures are the
    runs' own lines and cells."""
    row = next(line for line in _benchmarks().splitlines() if line.startswith("| after one engine"))
    runs: dict[str, list[str]] = {}
    for line in (RESULTS / "suggest_speed_issue74_2.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("<!-- code: "):
            which = line.split("(suggest_")[1].split(",")[0]
        elif line.startswith("suggest over"):
            runs.setdefault(which, []).append(line.split("first round ")[1].split(" s ")[0])
    assert f"first round {' / '.join(runs['after'])} s against {' / '.join(runs['before'])} s" in row
    wall = (RESULTS / "fit_site_wall_issue74.md").read_text(encoding="utf-8").splitlines()
    before, after = (_cells(wall, f"| alone | {name}") for name in ("before:", "after:"))
    assert f"{after[4]} s against {before[4]} s, before / after {after[10]}" in row
    times = {}
    for name in ("after", "before"):
        text = (RESULTS / f"screen_issue74_{name}_3.txt").read_text(encoding="utf-8").splitlines()
        rows = [line for line in text if re.match(r"^(predict|screen)", line)]
        times[name] = {line[:54].strip(): line.split()[-3:-1] for line in rows}  # seconds, × real time
    for command, shown in (("predict --per_recording", "predict"), ("screen", "screen"),
                           ("screen --events", "events"), ("screen --onnx", "`--onnx`")):  # fmt: skip
        assert f"{shown} {times['after'][command][1]}× against {times['before'][command][1]}×" in row, command
    subprocess_rows = {key.split("(")[1].split(":")[0]: cells[0] for key, cells in times["after"].items()
                       if key.startswith("screen, subprocess")}  # fmt: skip
    pairs = (RESULTS / "screen_issue74_subprocess_3.txt").read_text(encoding="utf-8").splitlines()[1:]
    seconds = {name: [f"{float(line.split()[1]):.1f}" for line in pairs if line.startswith(name)]
               for name in ("main", "before74")}  # fmt: skip
    assert f"process {subprocess_rows['after']} s against {subprocess_rows['before']} s" in row
    assert f"{' / '.join(seconds['main'])} s against {' / '.join(seconds['before74'])} s" in row


def _install_seconds(name: str) -> tuple[str, str]:
    """A cold install's wall and CPU seconds, its paid steps' cells added up (benchmarks/cold_test.py)."""
    lines = (RESULTS / f"cold_test_install_{name}.md").read_text(encoding="utf-8").splitlines()
    paid = [_cells([line], "| ") for line in lines if line.startswith("| ") and line.endswith("| yes |")]
    assert len(paid) >= 3, name
    return tuple(f"{sum(float(cells[column]) for cells in paid):.0f}" for column in (1, 2))


def test_the_cold_test_row_reads_its_output_files() -> None:
    """``make test`` on a fresh clone (issue 85, item 6): the install's seconds by uv and by pip, and the
    test files' CPU seconds, are the runs' output files'."""
    rows = _benchmarks().splitlines()
    row = next(line for line in rows if line.startswith("| `make test` on a fresh clone"))
    (uv_wall, uv_cpu), (pip_wall, pip_cpu) = _install_seconds("uv"), _install_seconds("pip")
    assert f"uv {uv_wall} s ({uv_cpu} s of CPU) against pip {pip_wall} s ({pip_cpu} s of CPU)" in row
    for name in ("label_browser_before", "label_browser_after"):
        text = (RESULTS / f"cold_test_{name}.md").read_text(encoding="utf-8")
        measured = re.search(r"the (\d+) tests measured ([\d.]+) s of CPU", text)
        assert measured and f"{measured.group(2)} s" in row, name
    profile = re.search(r"the (\d+) tests measured", (RESULTS / "cold_test_profile.md").read_text("utf-8"))
    assert profile and f"read for {profile.group(1)} of " in row


def test_the_cold_test_row_reads_the_quiet_fresh_clone_run() -> None:
    """The whole fresh-clone run (issue 85, item 6): its wall time one step after another and pytest's are the
    quiet runs' output files' (benchmarks/results/: cold_test_round6.md and cold_test_round6_before.md, the
    sixth round's pair, the tests' CPU and the installs too; cold_test_round5.md and
    cold_test_round5_before.md, the fifth round's code and the code it started from, one run after the
    other; cold_test_round4.md and
    cold_test_round4_before.md, the fourth round's pair, and the _second pair the other way round;
    cold_test_round3.md and cold_test_round2.md, after the third and second rounds of test-speed merges;
    cold_test_speedups.md, after the first; cold_test.md, before them)."""
    row = next(
        line for line in _benchmarks().splitlines() if line.startswith("| `make test` on a fresh clone")
    )
    for name, words in (
        (
            "cold_test_round6",
            "after the sixth round (the docs' card template compiled once per command server, a folder's "
            "ONNX graph taken where only a site's values differ), one run after the other: {} s one step "
            "after another, of which pytest {} s",
        ),
        (
            "cold_test_round6_before",
            "against the round's starting code: {} s one step after another, of which pytest {} s (the tests",
        ),
        (
            "cold_test_round5",
            "after the fifth round (the events extra's source built at -O1 without debug information, the "
            "bytecode of what respira imports written beside the dev stack's install), one run after the "
            "other: {} s one step after another, of which pytest {} s",
        ),
        (
            "cold_test_round5_before",
            "against the round's starting code: {} s one step after another, of which pytest {} s",
        ),
        (
            "cold_test_round4",
            "after the fourth round, one run after the other: {} s one step after another, "
            "of which pytest {} s",
        ),
        (
            "cold_test_round4_second",
            "a second pair, the starting code first: {} s one step after another, of which pytest {} s",
        ),
        (
            "cold_test_round4_second_before",
            "against {} s one step after another, of which pytest {} s (the same VM",
        ),
        (
            "cold_test_round4_before",
            "against the round's starting code: {} s one step after another, of which pytest {} s",
        ),
        (
            "cold_test_round3",
            "after the third round of test-speed merges: {} s one step after another, of which pytest {} s",
        ),
        (
            "cold_test_round2",
            "after the second round of test-speed merges: {} s one step after another, of which pytest {} s",
        ),
        (
            "cold_test_speedups",
            "after the test-speed merges: {} s one step after another, of which pytest {} s",
        ),
        ("cold_test", "against {} s, of which pytest {} s"),
    ):
        text = (RESULTS / f"{name}.md").read_text(encoding="utf-8")
        whole = re.search(r"\| all of the above but lint alone, one after another \| ([\d.]+) \|", text)
        pytest_wall = re.search(r"\| of which pytest \(its session's wall time\) \| ([\d.]+) \|", text)
        assert whole and pytest_wall, name
        assert words.format(whole.group(1), pytest_wall.group(1)) in row, name
    for name, words in (
        (
            "cold_test_round5",
            "pytest {}, the install {} s, each worker's start-up and collection {} s of CPU",
        ),
        ("cold_test_round5_before", "pytest {}, the install {} s, start-up and collection {} s"),
    ):
        stored = json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
        steps = stored["steps"]
        install = steps["install-dev: the Python stack, apt and npm side by side"]["wall"]
        pytest_wall = f"{steps['make test (pytest + lint)']['pytest wall']} s"
        assert words.format(pytest_wall, install, stored["startup_and_collection"]) in row, name
    new, old = (
        json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
        for name in ("cold_test_round6", "cold_test_round6_before")
    )
    installs = [
        run["steps"]["install-dev: the Python stack, apt and npm side by side"]["wall"] for run in (new, old)
    ]
    assert f"(the tests {new['tests_cpu']} s of CPU against {old['tests_cpu']} s" in row
    assert f"the install, the same code, {installs[0]} s against {installs[1]} s" in row


def _paired_site_fit() -> tuple[list[str], dict]:
    """The issue-83 paired run's output lines (those of its paired table) and its JSON."""
    lines = (RESULTS / "fit_site_paired_issue83.md").read_text(encoding="utf-8").splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.startswith("| site | labelled patients | as is: b")
    )
    stored = json.loads((RESULTS / "fit_site_paired_issue83.json").read_text(encoding="utf-8"))
    return [line for line in lines[start:] if line.startswith("| ")], stored


def test_the_issue_83_site_fit_row_reads_its_paired_output() -> None:
    """Issue 83's "no worse on any site" at 20 labelled patients, the new default against the previous on the
    same draws: the row's means, paired differences and draws below as is are the paired run's cells, and
    each site's verdict follows the rule its history section states (worse: the interval below 0; met: the
    difference not below 0; else lower, not shown worse)."""
    heading = next(
        line for line in _history("fit-site").splitlines() if line.startswith("## The issue-83 default")
    )
    assert _not_pasted(_history("fit-site"), "fit_site_paired_issue83.md", heading) == []
    lines, stored = _paired_site_fit()
    row = next(line for line in _benchmarks().splitlines() if line.startswith("| site fit from the issue-83"))
    verdicts = []
    for site, key in zip(SITES, ("icbhi", "kauh", "sprsound"), strict=True):
        cells = _cells(lines, f"| {site} | 20 of")
        name = site.split(" (")[0]
        assert f"{name} {cells[5]} against {cells[4]}, {cells[6]}, lower on {cells[7]} draws" in row, site
        assert f"{name} {cells[10]} against {cells[9]}" in row, site
        (paired,) = stored["sites"][key]["baseline"]["paired"]
        assert paired["units"] == 20 and paired["draws"] == 10, site
        if paired["gain_high"] < 0:
            verdicts.append(f"{name} worse")
        elif paired["gain"] >= 0:
            verdicts.append(f"{name} met")
        else:
            verdicts.append(f"{name} lower, not shown worse")
    assert ", ".join(verdicts) in row


def test_the_paired_site_fit_started_from_the_default_before_issue_83() -> None:
    """The paired run's header names its baseline's weights by SHA-256: the default's before 4ab00a20 (the
    commit that shipped issue 83's), and the default's as shipped when the run was committed (79fcdd23)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("the baseline's weights are checked in a git clone of the repository")
    folder = "src/respira/pretrained/icbhi-crackle-wheeze"
    shown, then = (
        subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{commit}:{folder}/checksums.sha256"],
            check=False,
            capture_output=True,
            text=True,
        )
        for commit in ("4ab00a20^", "79fcdd23")
    )
    if shown.returncode or then.returncode:
        pytest.skip("a shallow clone holds no past commits")

    def weights(checksums: str) -> str:
        return next(line.split()[0] for line in checksums.splitlines() if line.endswith(" model.safetensors"))

    header = (RESULTS / "fit_site_paired_issue83.md").read_text(encoding="utf-8").splitlines()[0]
    assert f"default icbhi-crackle-wheeze: model.safetensors {weights(then.stdout)}," in header
    baseline = header.split("; baseline ")[1]
    assert f"icbhi-crackle-wheeze: model.safetensors {weights(shown.stdout)}," in baseline


def test_the_recording_intervals_row_reads_its_output() -> None:
    """The evaluate row's seconds, ratio and sameness are those recording_intervals.md's lines hold."""
    lines = (RESULTS / "recording_intervals.md").read_text(encoding="utf-8").splitlines()
    cells = {
        line.split("|")[1].strip(): line.split("|")[2].strip() for line in lines if line.startswith("| ")
    }
    ratio = re.search(r"before / now: ([\d.]+)x; the same intervals: (\w+)", "\n".join(lines))
    row = next(line for line in _benchmarks().splitlines() if line.startswith("| recording-level intervals"))
    before, now = (
        cells["each resample scored alone (before)"],
        cells["every resample at once from its counts (now)"],
    )
    assert (
        ratio and f"every resample at once {now} s against {before} s scoring each alone: {ratio[1]}×" in row
    )
    assert f"the same intervals: {ratio[2]}" in row and ratio[2] == "True"


def test_the_fit_site_after_suggest_row_reads_its_output() -> None:
    """The row's CPU seconds, ratio and sameness are those fit_site_after_suggest.md's lines hold."""
    lines = (RESULTS / "fit_site_after_suggest.md").read_text(encoding="utf-8").splitlines()
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines if line.startswith("| ")]
    cells = {row[0]: row for row in rows}  # fit-site, runs, wall, CPU, embedding, before / today CPU
    cached, embedded = cells["today: suggest's cache read"], cells["before: the model run again"]
    same = re.search(
        r"chosen procedures (the same|DIFFERENT); thresholds and nested-CV scores differ by at most (\S+)\.",
        "\n".join(lines),
    )
    row = next(line for line in _benchmarks().splitlines() if line.startswith("| fit-site after suggest"))
    assert f"CPU {cached[3]} s against {embedded[3]} s embedding again: {cached[5].split(' ')[0]}×" in row
    assert same and same[1] == "the same" and f"chosen procedures the same, the rest within {same[2]}" in row


def test_the_fit_site_cpu_row_reads_its_output() -> None:
    """The row's CPU seconds, ratio, candidates' seconds and sameness are fit_site_cpu_issue85.md's."""
    lines = (RESULTS / "fit_site_cpu_issue85.md").read_text(encoding="utf-8").splitlines()
    before, after = (_cells(lines, f"| alone | {name}") for name in ("before:", "after:"))
    row = next(line for line in _benchmarks().splitlines() if line.startswith("| fit-site's selection"))
    assert f"CPU {after[11]} s against {before[11]} s: {after[12].split(' ')[0]}×" in row
    assert f"candidates and curve {after[8]} s against {before[8]} s" in row
    rounds = re.search(r"the same in all (\d+) rounds", "\n".join(lines))
    assert rounds and f"the same folder in all {rounds[1]} rounds" in row


def test_the_onnx_from_the_base_row_reads_its_output() -> None:
    """The row's wall and CPU seconds, ratios, rest seconds and sameness are fit_site_onnx_from_base.md's,
    and so are the history section's."""
    lines = (RESULTS / "fit_site_onnx_from_base.md").read_text(encoding="utf-8").splitlines()
    before, after = (_cells(lines, f"| alone | {name}") for name in ("before:", "after:"))
    row = next(line for line in _benchmarks().splitlines() if line.startswith("| fit-site's ONNX graph"))
    wall, cpu = (f"{after[k].split(' ')[0]}× ({after[k].split('(')[1]}" for k in (10, 12))
    assert f"as a user waits it {after[4]} s against {before[4]} s: {wall}" in row
    assert f"CPU {after[11]} s against {before[11]} s: {cpu}" in row
    assert f"the rest of the run (writing the folder and its graph) {after[9]} s against {before[9]} s" in row
    rounds = re.search(r"the same in all (\d+) rounds", "\n".join(lines))
    assert rounds and f"the same folder in all {rounds[1]} rounds" in row
    body = _section(_history("fit-site"), "## fit-site takes its ONNX graph")
    flat = " ".join(body.split())
    assert (
        f"{after[4]} s against {before[4]} s (medians), the CPU {after[11]} s against {before[11]} s" in flat
    )
    assert f"{after[9]} s against {before[9]} s, now the parity check" in flat
    assert [line for line in lines if line and line not in body.splitlines()] == []


def test_the_short_training_run_row_reads_its_output() -> None:
    """The train row's CPU seconds, ratio and sameness are those train_run_cpu.md's lines hold."""
    lines = (RESULTS / "train_run_cpu.md").read_text(encoding="utf-8").splitlines()
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines if line.startswith("| ")]
    cells = {row[0]: row for row in rows}  # way, median CPU seconds, each run's
    text = "\n".join(lines)
    ratio, same = re.search(r"before / now: ([\d.]+)x", text), re.search(r"the same outputs: (\w+)", text)
    row = next(line for line in _benchmarks().splitlines() if line.startswith("| the tutorial's short"))
    assert ratio and f"{cells['now'][1]} s of CPU against {cells['before'][1]} s before: {ratio[1]}×" in row
    assert same and same[1] == "True" and "the same run folder but its runtimes: True" in row


FIFTH_ROUND = "## `make test` on a fresh clone after the fifth round"


def _head(name: str) -> list[str]:
    """A cold test output's lines up to its estimate (the table of test files is left in the file)."""
    lines = (RESULTS / f"{name}.md").read_text(encoding="utf-8").splitlines()
    return lines[: next(i for i, line in enumerate(lines) if line.startswith("estimate of make test")) + 1]


def test_the_fifth_round_section_pastes_its_runs_and_reads_its_figures_from_them() -> None:
    """The fifth round's history: both runs' tables and the build benchmark's output pasted as written, and
    its prose's figures (whole runs, installs, start-ups, the tests' CPU, the exports counted) the files'."""
    speed = _history("speed")
    heading = next(line for line in speed.splitlines() if line.startswith(FIFTH_ROUND))
    section = _section(speed, heading)
    pasted = section.splitlines()
    for name in ("cold_test_round5", "cold_test_round5_before"):
        assert [line for line in _head(name) if line not in pasted] == [], name
    build = (RESULTS / "sdist_build_flags.md").read_text(encoding="utf-8").splitlines()
    assert [line for line in build if f"  {line}" not in pasted] == []
    new, old = (
        json.loads((RESULTS / f"{n}.json").read_text())
        for n in ("cold_test_round5", "cold_test_round5_before")
    )
    flat = " ".join(section.split())
    whole = [
        _cells(_head(name), "| all of the above but lint alone")[1]
        for name in ("cold_test_round5", "cold_test_round5_before")
    ]
    assert f"took {whole[0]} s against {whole[1]} s" in flat
    installs = [
        stored["steps"]["install-dev: the Python stack, apt and npm side by side"]["wall"]
        for stored in (new, old)
    ]
    assert f"the install {installs[0]} s against {installs[1]} s" in flat
    assert f"{new['startup_and_collection']} s of CPU against {old['startup_and_collection']} s" in flat
    assert (
        f"the same tests measured {new['tests_cpu']} s of CPU in the first run and {old['tests_cpu']} s"
        in flat
    )
    exports = [
        json.loads(line) for line in (RESULTS / "onnx_exports_make_test.jsonl").read_text().splitlines()
    ]
    counted = f"exported {len(exports)} times, {len({e['key'] for e in exports})} distinct models"
    assert f"{counted}, {sum(e['cpu'] for e in exports):.1f} s of CPU" in flat


def _pasted_runs(section: str, names: tuple[str, str]) -> tuple[list[dict], list[str], list[str]]:
    """Two cold test runs whose tables ``section`` pastes as written: their JSON, their whole runs' and their
    pytest's seconds."""
    for name in names:
        assert [line for line in _head(name) if line not in section.splitlines()] == [], name
    runs = [json.loads((RESULTS / f"{n}.json").read_text()) for n in names]
    whole, pytest_wall = (
        [_cells(_head(n), prefix)[1] for n in names] for prefix in ("| all of the above", "| of which pytest")
    )
    return runs, whole, pytest_wall


SIXTH_ROUND = "## `make test` on a fresh clone after the sixth round"


def test_the_sixth_round_section_pastes_its_runs_and_reads_its_figures_from_them() -> None:
    """The sixth round's history: both runs' tables pasted as written, and its prose's figures (whole runs,
    pytest, installs, the tests' CPU and counts, the fifth round's run of the starting tests) the files'."""
    speed = _history("speed")
    heading = next(line for line in speed.splitlines() if line.startswith(SIXTH_ROUND))
    section = _section(speed, heading)
    names = ("cold_test_round6", "cold_test_round6_before")
    (new, old), whole, pytest_wall = _pasted_runs(section, names)
    fifth = json.loads((RESULTS / "cold_test_round5.json").read_text())
    flat = " ".join(section.split())
    installs = [
        run["steps"]["install-dev: the Python stack, apt and npm side by side"]["wall"] for run in (new, old)
    ]
    assert (
        f"took {whole[0]} s against {whole[1]} s, pytest {pytest_wall[0]} s against {pytest_wall[1]} s"
        in flat
    )
    assert f"the same code in both, {installs[0]} s against {installs[1]} s" in flat
    assert f"the tests measured {new['tests_cpu']} s of CPU against {old['tests_cpu']} s" in flat
    counts = [
        int(re.search(r"the (\d+) tests measured", "\n".join(_head(n)))[1])
        for n in (*names, "cold_test_round5")
    ]
    assert f"({counts[0] - counts[1]} tests more in the round's code)" in flat
    fifth_whole = _cells(_head("cold_test_round5"), "| all of the above but lint alone")[1]
    assert f"the starting code took {whole[1]} s here and {fifth_whole} s three hours before" in flat
    assert f"{counts[1] - counts[2]} tests fewer" in flat
    assert f"its tests {old['tests_cpu']} s of CPU against {fifth['tests_cpu']} s" in flat


SEVENTH_ROUND = "## `make test` on a fresh clone after the seventh round"
SLOW_STEP = "make test-slow (CI's next step, not make test's)"


def _passed(run: dict, step: str) -> str:
    """How many tests ``step``'s pytest passed in a cold test's stored run, as the docs write it (2,689)."""
    count = re.search(r"(\d+) passed", run["steps"][step]["output"])
    assert count, step
    return f"{int(count[1]):,}"


def _minutes(seconds: str) -> str:
    whole = round(float(seconds))
    return f"{whole // 60} min {whole % 60} s"


def test_the_seventh_round_section_and_row_read_their_runs() -> None:
    """make test with the slow tests left to make test-slow: both runs' tables pasted in the history section,
    and the section's and the BENCHMARKS row's figures (whole runs, pytest, the tests passed and their CPU,
    make test-slow's wall time, the goal cell's minutes, the earlier rounds' whole runs) the files'."""
    speed = _history("speed")
    heading = next(line for line in speed.splitlines() if line.startswith(SEVENTH_ROUND))
    section = _section(speed, heading)
    (new, old), whole, pytest_wall = _pasted_runs(section, ("cold_test_round7", "cold_test_round7_before"))
    fast, slow, before = (
        _passed(new, "make test (pytest + lint)"),
        _passed(new, SLOW_STEP),
        _passed(old, "make test (pytest + lint)"),
    )
    flat = " ".join(section.split())
    assert f"took {whole[0]} s against {whole[1]} s** one step after another" in flat
    assert f"pytest {pytest_wall[0]} s against {pytest_wall[1]} s" in flat
    assert f"the tests {new['tests_cpu']} s of CPU against {old['tests_cpu']} s" in flat
    assert f"`make test` {fast} tests and `make test-slow` {slow} in the round's code" in flat
    added = sum(int(n.replace(",", "")) for n in (fast, slow)) - int(before.replace(",", ""))
    assert f"the whole suite's {before} in the starting code (the round adds {added} tests)" in flat
    assert f"**met**: {_minutes(whole[0])}" in flat
    assert f"`make test-slow` after it, {new['steps'][SLOW_STEP]['wall']} s here" in flat
    earlier = [
        _cells(_head(n), "| all of the above but lint alone")[1]
        for n in ("cold_test_round5", "cold_test_round6")
    ]
    first = re.search(r"\| all of the above but lint alone, one after another \| ([\d.]+) \|",
                      (RESULTS / "cold_test.md").read_text(encoding="utf-8"))  # fmt: skip
    assert first and f"from {first[1]} s (`cold_test.md`) to between {earlier[0]} s" in flat
    assert f"and {earlier[1]} s (`cold_test_round6.md`)" in flat
    row = next(
        line for line in _benchmarks().splitlines() if line.startswith("| `make test` on a fresh clone")
    )
    slow_wall = new["steps"][SLOW_STEP]["wall"]
    assert (
        f"one run after the other: {whole[0]} s one step after another, of which pytest {pytest_wall[0]} s "
        f"({fast} passed; `make test-slow`, CI's next step, {slow_wall} s, {slow} passed), "
        f"against the round's starting code (the whole suite, {before} passed): {whole[1]} s one step after "
        f"another, of which pytest {pytest_wall[1]} s" in row
    )
    assert (
        f"{_minutes(whole[0])} in the seventh round's run ({_minutes(whole[1])} for its starting code" in row
    )


def test_the_seventh_round_s_final_runs_are_pasted_and_read() -> None:
    """The two fresh-clone runs of the final code (the slow marks narrowed): pasted in their subsection, whose
    figures (whole runs, pytest, the tests passed and their CPU, the spread, the minutes) and the BENCHMARKS
    goal cell's minutes are the files'."""
    section = _section(_history("speed"), "### The slow marks narrowed to what is slow")
    (first, second), whole, pytest_wall = _pasted_runs(
        section, ("cold_test_round7_final", "cold_test_round7_final2")
    )
    flat = " ".join(section.split())
    fast = {_passed(run, "make test (pytest + lint)") for run in (first, second)}
    assert (
        len(fast) == 1
        and f"`make test` {fast.pop()} tests and `make test-slow` {_passed(first, SLOW_STEP)}" in flat
    )
    assert f"**{whole[0]} s and {whole[1]} s** (pytest {pytest_wall[0]} s and {pytest_wall[1]} s;" in flat
    assert f"the tests {first['tests_cpu']} s and {second['tests_cpu']} s of CPU)" in flat
    assert f"the same code {float(whole[0]) - float(whole[1]):.1f} s apart" in flat
    minutes = f"{_minutes(whole[0])} and {_minutes(whole[1])}"
    assert f"met in both: {minutes}." in flat
    row = next(
        line for line in _benchmarks().splitlines() if line.startswith("| `make test` on a fresh clone")
    )
    assert f"met, {minutes} in two runs of the final code" in row


def test_the_suite_calls_row_and_section_read_its_output() -> None:
    """The calls table is pasted whole in its history section; the row's wall and CPU seconds and each
    named entry's calls, CPU seconds and share are the table's (depth 0)."""
    lines = [line for line in (RESULTS / "suite_calls.md").read_text(encoding="utf-8").splitlines() if line]
    section = _section(_history("speed"), "## Where `make test`'s CPU goes").splitlines()
    assert [line for line in lines if line not in section] == []
    row = next(line for line in _benchmarks().splitlines() if line.startswith("| what `make test`'s CPU"))
    wall, cpu = re.search(r"([\d.]+) s of wall time, ([\d.]+) s of CPU", "\n".join(lines)).groups()
    assert f"a warm `make test`: {wall} s of wall time, {cpu} s of CPU" in row
    named = re.findall(r"\(`([\w.]+)`, (\d+) calls\) ([\d.]+) s \(([\d.]+) %\)", row)
    assert len(named) == 7
    for function, calls, seconds, share in named:
        cells = _cells(lines, f"| `{function}` | 0 |")
        assert (cells[2], cells[3], cells[4]) == (calls, seconds, f"{share} %"), function


def test_the_source_build_row_reads_its_output() -> None:
    """The dev stack's source build row: the Makefile's flags' and Python's own CPU and ratio, as the
    benchmark wrote them; the Makefile's flags are those the benchmark ran."""
    lines = (RESULTS / "sdist_build_flags.md").read_text(encoding="utf-8").splitlines()
    ours, own = _cells(lines, "| -O1 -g0 -DNDEBUG -fwrapv (the Makefile's)"), _cells(lines, "| Python's own")
    assert "DEV_CXXFLAGS ?= -O1 -g0 -DNDEBUG -fwrapv" in (ROOT / "Makefile").read_text()
    row = next(
        line for line in _benchmarks().splitlines() if line.startswith("| the dev stack's source build")
    )
    assert f"{ours[2]} s of CPU with the Makefile's `-O1 -g0` against {own[2]} s with Python's own" in row
    assert f"`-O3 -g`: {ours[3]} |" in row
