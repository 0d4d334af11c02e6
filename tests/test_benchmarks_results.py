"""BENCHMARKS.md and the results history (docs/history/) say what the runs wrote: BENCHMARKS.md's figures are
those of the history section each row links to, and the pasted fit-site and screen tables are their output
files' lines."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from tests.test_measured import heading_anchors

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
HISTORY = ROOT / "docs" / "history"
CURRENT_FIT_SITE = "## `respira fit-site`"
FIT_SITE = "## Fitting the detector to a site"
ONE_THREAD = "fit_site_1_thread.md"
RULE_STUDY = "### Choosing the selection rule and the recording rule"
UNITS_RULES = "### A guard for small samples: the `_units` selection rules"
DEFAULT_RULES = "### Thresholds from the expected score: fit-site's default rules"
K20_RULES = RESULTS / "fit_site_k20_rules"
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


def _not_pasted(
    text: str, output: str = "fit_site.md", start: str = "", heading: str = FIT_SITE
) -> list[str]:
    """Lines of the ``output`` file (from its first line starting with ``start``, and its first line)
    missing from the ``heading`` section of ``text``."""
    section = _section(text, heading).splitlines()
    lines = [line for line in (RESULTS / output).read_text(encoding="utf-8").splitlines() if line]
    assert lines
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    return [line for line in [lines[0], *lines[first:]] if line not in section]


def test_the_fit_site_sections_paste_the_whole_output_file() -> None:
    assert _not_pasted(_benchmarks(), heading=CURRENT_FIT_SITE) == []
    assert _not_pasted(_history("fit-site")) == []


def test_the_one_thread_run_is_pasted_with_its_timing_table() -> None:
    """The run with one thread: its header and timing table (its score tables equal the default run's)."""
    assert _not_pasted(_history("fit-site"), ONE_THREAD, "| site | recordings") == []
    default, one = ((RESULTS / name).read_text().splitlines() for name in ("fit_site.md", ONE_THREAD))
    timing = next(i for i, line in enumerate(default) if line.startswith("| site | recordings"))
    assert timing > 5 and default[1:timing] == one[1:timing]


def _cells(lines: list[str], prefix: str) -> list[str]:
    row = next(line for line in lines if line.startswith(prefix))
    return [cell.strip() for cell in row.split("|")[1:-1]]


def _score(cell: str) -> float:
    return float(cell.split(" ", maxsplit=1)[0])


def test_the_fit_site_summary_and_claims_are_the_output_files() -> None:
    """The summary row's figures and the section's nested-CV figures are the default run's cells."""
    lines = (RESULTS / "fit_site.md").read_text(encoding="utf-8").splitlines()
    summary = next(line for line in _benchmarks().splitlines() if line.startswith("| fitting a site"))
    below = 0
    for site in SITES:
        at_20 = _cells(lines, f"| {site} | 20 of")
        name = site.split(" (")[0]
        assert f"{name} {at_20[6].split(' ')[0]} (as is {at_20[2].split(' ')[0]})" in summary, site
        below += sum(int(_cells(lines, f"| {site} | {k} of")[8].split(" of ")[0]) for k in (5, 10, 20))
    assert f"below as is on {below} of 27 draws" in summary
    section = " ".join(_section(_history("fit-site"), FIT_SITE).split())
    for site in ("KAUH", "SPRSound (no Poor Quality)"):
        nested = _cells(lines, f"| {site} | all")
        assert f"{nested[6]} (as is {nested[2].split(' ')[0]})" in summary, site
        assert f"{nested[6].split(' ')[0]} on {site.split(' ')[0]}" in section, site
    timing = [_cells(lines, f"| {site} | ") for site in SITES]
    assert " / ".join(row[6] for row in timing if "min" in row[3]) + "× real time" in summary


def test_the_default_rules_rows_are_their_files_and_their_claims_hold() -> None:
    """Every row of the four 20-patient runs is pasted, and what the subsection concludes from them holds
    in the files: the new default scores higher than the old at 20 patients on every site with fewer draws
    below as is, the tuned thresholds with the same selection twice as many, and the nested CV up on KAUH
    and SPRSound, down on the ICBHI sample."""
    section = _section(_history("fit-site"), DEFAULT_RULES).splitlines()
    runs = {}
    for rule in ("tuned", "expected"):
        for selection in ("bonferroni", "one_se_units"):
            lines = (K20_RULES / f"{rule}_{selection}.md").read_text(encoding="utf-8").splitlines()
            timing = next(i for i, line in enumerate(lines) if line.startswith("| site | recordings"))
            scores = lines[:timing]
            rows = [line for line in scores if line.startswith(("| ICBHI", "| KAUH", "| SPRSound"))]
            assert len(rows) == 6 and lines[0] in section and all(row in section for row in rows)
            runs[rule, selection] = lines
    new, old = runs["expected", "one_se_units"], runs["tuned", "bonferroni"]
    tuned_loose = runs["tuned", "one_se_units"]

    def below(lines: list[str]) -> int:
        return sum(int(_cells(lines, f"| {site} | 20 of")[8].split(" of ")[0]) for site in SITES)

    for site in SITES:
        assert _score(_cells(new, f"| {site} | 20 of")[6]) > _score(_cells(old, f"| {site} | 20 of")[6]), site
    assert below(new) < below(old) and below(tuned_loose) == 2 * below(old)
    for site, sign in (("KAUH", 1), ("SPRSound (no Poor Quality)", 1), ("ICBHI sample", -1)):
        gain = _score(_cells(new, f"| {site} | all")[6]) - _score(_cells(old, f"| {site} | all")[6])
        assert sign * gain > 0, site
    from respira.sites.procedure import SELECTION

    assert SELECTION == "one_se_units"


def test_a_number_typed_differently_is_not_the_output_files() -> None:
    benchmarks = _benchmarks()
    section = _section(benchmarks, CURRENT_FIT_SITE)
    row = next(line for line in section.splitlines() if line.startswith("| KAUH |"))
    typed = re.sub(r"\d", lambda digit: str((int(digit.group()) + 1) % 10), row, count=1)
    assert _not_pasted(benchmarks.replace(row, typed), heading=CURRENT_FIT_SITE) == [row]


def test_the_rule_study_rows_are_rows_of_its_output_file() -> None:
    written = set((RESULTS / "fit_site_rules.md").read_text(encoding="utf-8").splitlines())
    rows = [
        line
        for line in _section(_history("fit-site"), RULE_STUDY).splitlines()
        if line.startswith("| ") and not line.startswith(("| site", "| ---"))
    ]
    assert len(rows) >= 10 and [line for line in rows if line not in written] == []


def test_the_units_rule_rows_are_rows_of_its_output_file() -> None:
    section = _section(_history("fit-site"), UNITS_RULES).splitlines()
    lines = (RESULTS / "fit_site_one_se_units.md").read_text(encoding="utf-8").splitlines()
    scores = lines[: next(i for i, line in enumerate(lines) if line.startswith("| site | recordings"))]
    rows = [line for line in scores if line.startswith("| ") and not line.startswith(("| site", "| ---"))]
    assert len(rows) == 12 and [line for line in [lines[0], *rows] if line not in section] == []


def test_the_units_rules_ten_draw_figures_are_their_files() -> None:
    """The 20-patient, 10-draw figures BENCHMARKS.md quotes for the `_units` rules are their files' rows."""
    section = _section(_history("fit-site"), UNITS_RULES)
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
    benchmarks = _history("speed")
    start = benchmarks.index("### After the one inference core (issue 51)")
    # not _section: the output's "# " lines would end it
    ends = [benchmarks.find(mark, start + 1) for mark in ("\n## ", "\n### ")]
    section = benchmarks[start : min([end for end in ends if end > 0] or [len(benchmarks)])]
    lines = (RESULTS / "screen_one_core.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) > 8 and [line for line in lines if line not in section.splitlines()] == []
    seconds = [line.split()[-3] for line in lines if line.startswith("screen, subprocess")]
    assert f"took {seconds[0]} s before and {seconds[1]} s after" in " ".join(section.split())


PATIENTS_NEEDED = "### How many labelled patients a site needs, and why 20 fall short"


def test_the_patients_needed_rows_are_their_files_and_their_claims_hold() -> None:
    """Both runs' tables are pasted whole (the 30/40-patient scores, the 20-patient ceilings), and the
    subsection's three conclusions hold in the files: SPRSound reaches 60 at 30 children with no draw below
    the model as is while KAUH stays under 60 at 40; thresholds set on half the other patients never reach 60
    and gain at most 2 points over fit-site's own on the embedding; the encoder's blocks move no head's AUC
    by more than 0.03 and score no higher."""
    section = _section(_history("fit-site"), PATIENTS_NEEDED).splitlines()
    counts = (RESULTS / "fit_site_k30_40.md").read_text(encoding="utf-8").splitlines()
    timing = next(i for i, line in enumerate(counts) if line.startswith("| site | recordings"))
    assert all(line in section for line in counts[:timing] if line)
    ceiling = [
        line for line in (RESULTS / "fit_site_ceiling.md").read_text(encoding="utf-8").splitlines() if line
    ]
    assert len(ceiling) == 4 + 30 and all(line in section for line in ceiling)

    spr, kauh = "| SPRSound (no Poor Quality) |", "| KAUH |"
    assert _score(_cells(counts, f"{spr} 30 of")[6]) >= 60 and _cells(counts, f"{spr} 30 of")[8] == "0 of 10"
    assert _score(_cells(counts, f"{kauh} 40 of")[6]) < 60

    def row(site: str, features: str, candidate: str) -> list[float]:
        cells = next(
            [cell.strip() for cell in line.split("|")[1:-1]]
            for line in ceiling
            if line.startswith(f"| {site} | {features} (") and f"| {candidate} |" in line
        )
        return [float(cell) for cell in cells[4:]]  # crackle AUC, wheeze AUC, score, ceiling, halves

    for site in ("KAUH", "SPRSound (no Poor Quality)"):
        for candidate in ("anchored_head", "site_head", "chosen"):
            embedding, blocks = row(site, "embedding", candidate), row(site, "blocks", candidate)
            assert max(embedding[4], blocks[4]) < 60 and embedding[4] <= embedding[2] + 2.0, (site, candidate)
            assert blocks[2] <= embedding[2], (site, candidate)
            if candidate != "chosen":
                assert max(abs(blocks[0] - embedding[0]), abs(blocks[1] - embedding[1])) <= 0.03 + 1e-9
        assert row(site, "embedding", "site_head")[3] > row(site, "embedding", "site_head")[2]


USER_WAITS = "### The wall time a user waits"


def test_the_wall_time_a_user_waits_is_its_output_file_and_the_summary_quotes_it() -> None:
    """fit-site start to exit, per stage, alone and beside a busy loop (issue 58, item 10): the output file
    pasted whole, and the summary row's seconds and ratios its cells."""
    section = _section(_history("fit-site"), USER_WAITS).splitlines()
    lines = [line for line in (RESULTS / "fit_site_wall.md").read_text(encoding="utf-8").splitlines() if line]
    assert len(lines) > 4 and [line for line in lines if line not in section] == []
    summary = next(line for line in _benchmarks().splitlines() if line.startswith("| fitting a site"))
    compared = [c for c in ("alone", "beside a busy loop") if any(f"| {c} | today" in line for line in lines)]
    assert compared
    for condition in compared:
        old = _cells(lines, f"| {condition} | before")
        today = _cells(lines, f"| {condition} | today")
        assert float(old[4]) > 0 and float(today[4]) > 0
        ratio = today[10].split(" ")[0]
        assert f"{condition}: {today[4]} s ({today[5]}× real time; {old[4]} s before, {ratio}×)" in summary
    text = " ".join(" ".join(section).split())
    alone, busy = ([_cells(lines, f"| {c} | {d}") for d in ("before", "today")] for c in compared)
    embedding = [f"{float(row[7]):.0f} s" for row in (alone[0], busy[0], alone[1], busy[1])]
    assert (
        "the embedding took {} alone (others' load) and {} beside the busy loop".format(*embedding[:2])
        in text
    )
    assert "{} and {}. The user waits".format(*embedding[2:]) in text
    assert f"waits {alone[1][10].split(' ')[0]}× less alone and {busy[1][10].split(' ')[0]}× less" in text


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


LABEL_LATENCY = "## `respira label`: keypress → next recording"


def test_the_label_page_history_pastes_its_output_and_the_benchmarks_row_reads_it() -> None:
    benchmarks = _benchmarks()
    section = _section(_history("speed"), LABEL_LATENCY)
    lines = [line for line in (RESULTS / "label_latency.md").read_text(encoding="utf-8").splitlines() if line]
    assert [line for line in lines if line not in section] == []
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


SUGGEST = "## Which patients to label first: `respira suggest`'s strategies"


def test_the_suggest_section_pastes_its_output_files_and_its_reading_holds() -> None:
    from respira.sites.suggest import STRATEGY as DEFAULT_STRATEGY

    section = _section(_history("fit-site"), SUGGEST).splitlines()
    for output in ("suggest.md", "suggest_speed.md", "suggest_speed_ab.md"):
        lines = [line for line in (RESULTS / output).read_text(encoding="utf-8").splitlines() if line]
        assert lines and [line for line in lines if line not in section] == [], output
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
    assert f"**{DEFAULT_STRATEGY.capitalize()} won by the rule**" in "\n".join(section)

    def row(site: str, strategy: str, size: int) -> list[str]:
        return _cells(lines, f"| {site} | {strategy} | {size} of ")

    sprsound, kauh = SITES[2], SITES[1]
    for size in (10, 20, 30):  # "each of its sizes lies above random's mean" on SPRSound
        assert _score(row(sprsound, "uncertainty", size)[3]) > _score(row(sprsound, "random", size)[3])
    assert _score(row(kauh, "uncertainty", 30)[3]) < float(row(kauh, "uncertainty", 30)[4])  # below as is
    strategies = ("random", "uncertainty", "coverage", "balance", "hybrid")
    assert all(_score(row(sprsound, s, 20)[3]) < 61 for s in strategies)  # the goal not met


SUGGEST_ROUNDS = "## Later rounds of `respira suggest`: refitting fit-site on the labels so far"


def _refit_wins(stored: dict, margin: float = 0.5) -> tuple[bool, dict[str, float]]:
    """suggest_rounds.py's protocol, recomputed: refit's mean over the sites and k = 20, 30 leads model's
    and random's by ``margin`` points, with no more draws below the model as is than model's."""
    sites, sizes = stored["sites"].values(), [str(k) for k in stored["sizes"]]
    mean = {
        arm: 100
        * sum(s["arms"][arm][k]["chosen"]["icbhi_score"] for s in sites for k in sizes)
        / (len(sites) * len(sizes))
        for arm in ("random", "model", "refit")
    }
    below = {arm: sum(s["arms"][arm][k]["below_as_is"] for s in sites for k in sizes) for arm in mean}
    wins = (
        mean["refit"] - mean["model"] >= margin
        and mean["refit"] - mean["random"] >= margin
        and below["refit"] <= below["model"]
    )
    return wins, mean


def _fitted(procedure: str) -> str:
    """What a refit's procedure did: ``unfit``, ``as_is`` on both labels, fitted a ``head``, or else
    ``thresholds``."""
    if procedure in ("unfit", "as_is/as_is"):
        return procedure.split("/", maxsplit=1)[0]
    return "head" if "head" in procedure else "thresholds"


def test_the_suggest_rounds_section_pastes_its_output_and_its_decision_is_the_rules() -> None:
    """The section pastes ``suggest_rounds.md``; its decision line, the json's, the reading and the
    BENCHMARKS.md row follow from the json's scores by the protocol's rule."""
    import json

    section = _section(_history("fit-site"), SUGGEST_ROUNDS)
    lines = [
        line for line in (RESULTS / "suggest_rounds.md").read_text(encoding="utf-8").splitlines() if line
    ]
    assert len(lines) > 20 and [line for line in lines if line not in section.splitlines()] == []
    stored = json.loads((RESULTS / "suggest_rounds.json").read_text(encoding="utf-8"))
    assert len(stored["sites"]) == 2 and stored["sizes"] == [20, 30]
    wins, mean = _refit_wins(stored)
    assert stored["decision"]["refit_wins"] is wins
    decision = next(line for line in lines if line.startswith("Decision"))
    shown = ", ".join(f"{arm} {mean[arm]:.1f}" for arm in ("random", "model", "refit"))
    assert f"20 and 30 patients: {shown};" in decision
    verdict = "refit becomes suggest's later rounds." if wins else "suggest is unchanged (later rounds by the"
    assert verdict in decision
    assert ("**Refitting did not help by the rule**" in section) is (not wins)
    kauh = stored["sites"]["kauh"]["arms"]  # "round 2 chose `model`'s patients in all 8 draws"
    assert [o[10:20] for o in kauh["refit"]["orders"]] == [o[10:20] for o in kauh["model"]["orders"]]
    fits = {  # per site and round, the draws whose refit kept the model (or could not fit) and fitted a head
        site: [Counter(_fitted(p[r]) for p in stored["sites"][site]["arms"]["refit"]["refit_procedures"])
               for r in (0, 1)]
        for site in stored["sites"]
    }  # fmt: skip
    text = " ".join(section.split())
    kauh_fits, sprsound_fits = fits["kauh"], fits["sprsound"]
    assert (
        f"on both labels in {kauh_fits[0]['as_is']} draws and could not be fitted in {kauh_fits[0]['unfit']}"
        in text
    )
    assert f"after round 2 it kept the model in {kauh_fits[1]['as_is']} draws" in text
    assert sprsound_fits[1]["head"] == 8  # "in all 8 after round 2"
    assert f"fitted heads in {sprsound_fits[0]['head']} of the 8 draws after round 1 and in all 8" in text
    paired = stored["sites"]["sprsound"]["differences_points"]  # SPRSound's refit − model, per draw
    at20, at30 = (np.asarray(paired[f"refit-model@{k}"]) for k in (20, 30))
    assert f"{-at20.mean():.1f} points below it at 20 patients (no draw above) and {-at30.mean():.1f}" in text
    assert at20.max() <= 0
    row = next(line for line in _benchmarks().splitlines() if line.startswith("| `respira suggest` |"))
    assert wins is False and (
        f"orders no better than the model as is, {mean['refit']:.1f} against {mean['model']:.1f} "
        f"(random {mean['random']:.1f}), so `suggest` keeps the model's order" in row
    )


EVENTS = "## Learning from where the sounds are: SPRSound's events against recording labels"


def test_the_events_section_pastes_its_output_and_its_reading_is_the_protocols() -> None:
    """The section pastes ``fit_site_events.md``; its "do not help" and its counts follow from the json."""
    import json

    section = _section(_history("fit-site"), EVENTS)
    lines = [
        line for line in (RESULTS / "fit_site_events.md").read_text(encoding="utf-8").splitlines() if line
    ]
    assert lines and [line for line in lines if line not in section.splitlines()] == []
    stored = json.loads((RESULTS / "fit_site_events.json").read_text(encoding="utf-8"))
    gains = [draw["gain"] for draw in stored["gain_by_draw"]]
    helps = stored["gain"]["gain_low"] > 0 or (all(g > 0 for g in gains) and stored["gain"]["gain"] >= 0.01)
    assert helps is stored["helps"] is False  # the protocol's rule, recomputed
    assert "**Events do not help out of sample by the rule**" in section
    kept = {
        variant: sum(
            name in ("as_is", "thresholds") for chosen in rows for name in chosen.split("@")[0].split("/")
        )
        for variant, rows in stored["procedures"].items()
    }
    text = " ".join(section.split())
    assert (
        f"on {kept['events']} of the 40 label choices of the 20 draws with events "
        f"({kept['recording']} without)" in text
    )


THRESHOLDS = "## Fit-site's thresholds when new patients have another label mix"


def _arm_wins(stored: dict, other: str, margin: float = 0.5) -> tuple[bool, dict, dict, dict]:
    """fit_site_thresholds.py's protocol, recomputed: on each of (A) and (B) ``other``'s mean chosen score
    over sites and sizes (and strategies) leads expected's by ``margin`` points with no more draws below the
    model as is, and the nested CV of KAUH and of SPRSound is not lower."""
    a, b = stored["A"], stored["B"]
    cells = {
        "A": [(a[s]["arms"], str(k)) for s in a for k in a[s]["sizes"]],
        "B": [
            (b[s]["strategies"][g]["arms"], k)
            for s in b
            for g in b[s]["strategies"]
            for k in ("10", "20", "30")
        ],
    }
    arms = ("expected", other)
    mean = {
        p: {arm: 100 * sum(c[arm][k]["chosen"]["icbhi_score"] for c, k in cs) / len(cs) for arm in arms}
        for p, cs in cells.items()
    }
    below = {
        p: {arm: sum(c[arm][k]["below_as_is"] for c, k in cs) for arm in arms} for p, cs in cells.items()
    }
    nested = {
        s: {arm: a[s]["arms"][arm]["nested"]["chosen"]["icbhi_score"] for arm in arms}
        for s in ("kauh", "sprsound")
    }
    wins = (
        all(mean[p][other] - mean[p]["expected"] >= margin for p in cells)
        and all(below[p][other] <= below[p]["expected"] for p in cells)
        and all(n[other] >= n["expected"] - 1e-9 for n in nested.values())
    )
    return wins, mean, below, nested


def _arm_section(heading: str, stem: str, other: str) -> tuple[str, dict, bool, dict, dict]:
    """A fit_site_thresholds.py arm's history section: it pastes ``stem``.md; the json's verdict and the
    decision line (means and draws below on (A) and (B), both nested CVs, the verdict) are
    :func:`_arm_wins`'; returns the section's text (one line), the json, the verdict, the means and the
    draws below."""
    import json

    section = _section(_history("fit-site"), heading)
    lines = [line for line in (RESULTS / f"{stem}.md").read_text(encoding="utf-8").splitlines() if line]
    assert len(lines) > 30 and [line for line in lines if line not in section.splitlines()] == []
    stored = json.loads((RESULTS / f"{stem}.json").read_text(encoding="utf-8"))
    assert stored["arms"] == ["expected", other] and set(stored["A"]) == {"icbhi", "kauh", "sprsound"}
    assert set(stored["B"]) == {"kauh", "sprsound"}
    wins, mean, below, nested = _arm_wins(stored, other)
    assert stored["decision"][f"{other}_wins"] is wins
    decision = next(line for line in lines if line.startswith("Decision"))
    for p in ("A", "B"):
        assert (
            f"({p}) mean expected {mean[p]['expected']:.1f}, {other} {mean[p][other]:.1f}; draws below "
            f"the model as is: expected {below[p]['expected']}, {other} {below[p][other]}"
        ) in decision
    for site, name in (("kauh", "KAUH"), ("sprsound", "SPRSound (no Poor Quality)")):
        shown = f"{100 * nested[site]['expected']:.1f}, {other} {100 * nested[site][other]:.1f}"
        assert f"nested CV {name}: expected {shown}" in decision
    verdict = (
        f"{other} replaces expected as fit-site's threshold rule." if wins else "the product is unchanged"
    )
    assert verdict in decision
    return " ".join(section.split()), stored, wins, mean, below


def test_the_thresholds_section_pastes_its_output_and_its_decision_is_the_rules() -> None:
    """The section pastes ``fit_site_thresholds.md``; its decision line, the json's and the reading follow
    from the json's scores by the protocol's rule, and the reading's figures are the json's."""
    text, stored, wins, _, _ = _arm_section(THRESHOLDS, "fit_site_thresholds", "balanced")
    assert ("**Balanced thresholds did not help by the rule**" in text) is (not wins)
    a = stored["A"]
    shown = [
        f"{a[s]['arms'][arm]['nested']['thresholds'][label]:.2f}"
        for arm in ("balanced", "expected")
        for s in ("kauh", "sprsound")
        for label in (0, 1)
    ]
    assert (
        f"KAUH {shown[0]} and {shown[1]}, SPRSound {shown[2]} and {shown[3]}), where the expected score put "
        f"them at {shown[4]} and {shown[5]} (KAUH) and {shown[6]} and {shown[7]} (SPRSound)" in text
    )
    kept = [
        a["sprsound"]["arms"][arm]["10"]["procedures"].count("as_is/as_is")
        for arm in ("balanced", "expected")
    ]
    assert f"(SPRSound at 10 patients: in {kept[0]} of 10 draws, against {kept[1]})" in text
    ahead = np.mean(a["kauh"]["differences_points"]["30"])
    icbhi = 100 * (a["icbhi"]["arms"]["balanced"]["nested"]["chosen"]["icbhi_score"]
                   - a["icbhi"]["arms"]["expected"]["nested"]["chosen"]["icbhi_score"])  # fmt: skip
    assert f"(KAUH at 30 patients, +{ahead:.1f}; the ICBHI sample's nested CV, +{icbhi:.1f})" in text
    behind = [np.asarray(a["sprsound"]["differences_points"][k]) for k in ("20", "30")]
    assert all(d.max() < 0 for d in behind)  # "lower in every draw"
    assert (
        f"(SPRSound at 20 and 30 patients: {behind[0].mean():.1f} and {behind[1].mean():.1f}".replace(
            "-", "−"
        )
        in text
    )
    nested = [
        100 * a[s]["arms"]["expected"]["nested"]["chosen"]["icbhi_score"]
        for s in ("icbhi", "kauh", "sprsound")
    ]
    assert "nested-CV rows ({:.1f}, {:.1f}, {:.1f}) exactly".format(*nested) in text


INT8 = "## int8 for the browser page"


def test_the_int8_section_pastes_its_output_and_its_verdict_follows_from_it() -> None:
    """Every line int8_web.py wrote is in the section, and its verdict (ship int8 only where the verdicts
    agree on >= 99 % of each site's recordings and every int8 score lies in its float32 interval) is what
    the numbers say."""
    import json

    section = _section(_history("speed"), INT8)
    written = [line for line in (RESULTS / "int8_web.md").read_text(encoding="utf-8").splitlines() if line]
    assert [line for line in written if line not in section.splitlines()] == []
    sites = json.loads((RESULTS / "int8_web.json").read_text(encoding="utf-8"))["sites"]
    agree = all(site["verdicts_agree"] >= 0.99 for site in sites.values())
    within = all(
        site["scores"]["float32"]["icbhi_score_low"]
        <= site["scores"]["int8"]["icbhi_score"]
        <= site["scores"]["float32"]["icbhi_score_high"]
        for site in sites.values()
    )
    assert ("**Verdict: not shipped; the page keeps float32.**" in section) == (not (agree and within))


WEB_PAGE = "## The browser page: speed and first-load size"


def test_the_web_page_section_pastes_both_runs_whole() -> None:
    """Every line benchmarks/web_page.py wrote, for the page before the FFT resampler and after it, is in
    the section, which says whether the 1-s goal was met as the after run's rows say."""
    section = _section(_history("speed"), WEB_PAGE)
    for name in ("web_page_before.md", "web_page.md"):
        written = [line for line in (RESULTS / name).read_text(encoding="utf-8").splitlines() if line]
        assert len(written) > 8 and [line for line in written if line not in section.splitlines()] == [], name
    lines = (RESULTS / "web_page.md").read_text(encoding="utf-8").splitlines()
    plain = [line for line in lines if line.startswith("| plain static host |")]
    met = bool(plain) and all(float(_cells([line], "|")[3]) <= 1.0 for line in plain)
    assert ("**The 1-s goal is met" in section) == met


ARCHIVE = "## A site's unlabelled recordings beside its labels"
POOLS = {SITES[1]: 38, SITES[2]: 40}


def test_the_archive_section_pastes_its_output_and_its_decision_is_the_protocols() -> None:
    """The section pastes ``fit_site_archive.md``; the protocol's rule, recomputed from the json, adopts no
    variant, and the reading's figures are the table's cells."""
    import json

    section = _section(_history("fit-site"), ARCHIVE)
    lines = [
        line for line in (RESULTS / "fit_site_archive.md").read_text(encoding="utf-8").splitlines() if line
    ]
    assert lines and [line for line in lines if line not in section.splitlines()] == []
    sites = json.loads((RESULTS / "fit_site_archive.json").read_text(encoding="utf-8"))["sites"]
    orders, sizes = ("uncertainty", "random"), ("10", "20", "30")

    def gain(site: str, order: str, size: str, variant: str) -> float:
        return 100 * sites[site]["orders"][order]["sizes"][size][variant]["gain"]["gain"]

    def below(site: str, variant: str) -> int:
        return sum(
            sites[site]["orders"][o]["sizes"][k][variant]["below_as_is"] for o in orders for k in sizes
        )

    def passes(site: str, variant: str) -> bool:
        at20 = [gain(site, order, "20", variant) for order in orders]
        overall = [gain(site, o, k, variant) for o in orders for k in sizes]
        return (
            sum(at20) / 2 >= 1.0
            and min(at20) >= 0.0
            and sum(overall) > 0.0
            and below(site, variant) <= below(site, "labelled")
        )

    variants = ("archive_scale", "self_training", "propagation")
    assert not any(all(passes(site, v) for site in sites) for v in variants)
    assert "Decision (protocol): no variant helps on both sites" in lines[-2]
    assert "**No variant helps on both sites by the rule**" in section

    def cell(site: str, order: str, size: int, variant: str, column: int) -> str:
        return _cells(lines, f"| {site} | {order} | {size} of {POOLS[site]} | {variant} |")[column]

    kauh, sprsound = SITES[1], SITES[2]
    text = " ".join(section.split())
    for site, order, size, variant, quoted in (
        (kauh, "uncertainty", 30, "propagation", "propagation` +7.3 on KAUH's uncertainty order"),
        (kauh, "random", 30, "propagation", "but +0.3 on the random ones"),
        (sprsound, "uncertainty", 30, "archive_scale", "`archive_scale` +3.1 on SPRSound's"),
        (sprsound, "random", 30, "archive_scale", "but -1.1 on its random ones"),
        (kauh, "random", 20, "self_training", "(KAUH +1.3,"),
        (sprsound, "random", 20, "self_training", "SPRSound +1.8 (+0.4 to +4.9))"),
        (sprsound, "uncertainty", 20, "self_training", "uncertainty order (-1.4)"),
    ):
        figure = cell(site, order, size, variant, 5)
        assert (figure if " to " in quoted else figure.split(" ")[0]) in quoted and quoted in text
    best = max(_score(cell(sprsound, "uncertainty", 20, v, 4)) for v in ("labelled", *variants))
    assert f"best at 20 children on the uncertainty order is {best:.1f}" in text and best < 61


GPU_AGREEMENT = "## Inference on CUDA against the CPU"


def test_the_gpu_agreement_section_pastes_its_output_and_the_row_reads_it() -> None:
    """The device run pasted whole; the row's counts, largest differences, agreement and gpu-test count are
    the file's."""
    section = _section(_history("speed"), GPU_AGREEMENT).splitlines()
    lines = [line for line in (RESULTS / "gpu_agreement.md").read_text(encoding="utf-8").splitlines() if line]
    assert [line for line in lines if line not in section] == []
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


MIXES = "## Fit-site's thresholds from the expected score averaged over label mixes"


def test_the_mixes_section_pastes_its_output_and_its_decision_is_the_rules() -> None:
    """The section pastes ``fit_site_thresholds_mixes.md``; its decision line, the json's and the reading
    follow from the json's scores by the protocol's rule (``mixes`` in place of ``balanced``), and the
    reading's figures are the json's."""
    text, stored, wins, mean, below = _arm_section(MIXES, "fit_site_thresholds_mixes", "mixes")
    assert ("**Thresholds averaged over label mixes did not help by the rule**" in text) is (not wins)
    assert (
        f"(A) {mean['A']['mixes']:.1f} against {mean['A']['expected']:.1f} with {below['A']['mixes']} draws "
        f"below the model as is against {below['A']['expected']}; (B) {mean['B']['mixes']:.1f} against "
        f"{mean['B']['expected']:.1f}" in text
    )
    gaps = [
        abs(g)
        for part in (
            [stored["A"][s]["differences_points"] for s in stored["A"]],
            [g["differences_points"] for s in stored["B"] for g in stored["B"][s]["strategies"].values()],
        )
        for by_size in part
        for draws in by_size.values()
        for g in draws
    ]
    assert (
        f"of the {len(gaps)} paired draws of (A) and (B), {sum(g < 1e-9 for g in gaps)} score the same and "
        f"{sum(g < 1 for g in gaps)} within a point" in text
    )
    a = stored["A"]
    shown = [
        f"{a[s]['arms'][arm]['nested']['thresholds'][label]:.2f}"
        for s in ("kauh", "sprsound")
        for arm in ("mixes", "expected")
        for label in (0, 1)
    ]
    assert (
        f"(KAUH {shown[0]} and {shown[1]} against {shown[2]} and {shown[3]}, SPRSound {shown[4]} and "
        f"{shown[5]} against {shown[6]} and {shown[7]})" in text
    )
    case = stored["case"]["arms"]
    assert all(arm["predicted"][2] == arm["predicted"][3] == 0 for arm in case.values())
    assert f"{case['mixes']['thresholds'][1]:.2f} under both arms" in text
    assert f"{case['expected']['thresholds'][1]:.2f}" == f"{case['mixes']['thresholds'][1]:.2f}"
    scores = [f"{100 * case[arm]['icbhi_score']:.1f}" for arm in ("mixes", "expected")]
    assert f"Its score, {scores[0]} against {scores[1]}" in text
