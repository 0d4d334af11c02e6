"""The leaderboard's marks (:func:`respira.encoder_bench.leaderboard.mark_best`: a paired patient-bootstrap
difference with the runner-up), its colours and its Hub entries, each parsed back by huggingface_hub to
the leaderboard's own column (:func:`assert_model_index_round_trips`, also run on the committed board)."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import yaml

from respira.encoder_bench.leaderboard import colours, columns, mark_best, marked, model_index
from respira.encoder_bench.tasks import BENCH, paired

ROOT = Path(__file__).resolve().parents[2]
COLUMN = ("an unseen hospital", "A → B", "icbhi_score")
SUFFIXES = ("_low", "_high", "_best", "_sd", "_undefined")


class _Sample:
    """What :func:`paired` reads of a sample: labels and patients."""

    def __init__(self, labels: np.ndarray, units: list[str]) -> None:
        self.labels, self.units = labels, units


def _truth(patients: int = 40) -> tuple[_Sample, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = (rng.random((3 * patients, 2)) < 0.35).astype(int)
    classes = labels[:, 0] + 2 * labels[:, 1]
    return _Sample(labels, [f"p{i // 3}" for i in range(3 * patients)]), classes


def _row(model: str, entry: str, sample: _Sample | None, classes, scores: tuple[float, ...]) -> dict:
    keys = ("icbhi_score", "icbhi_score_low", "icbhi_score_high")
    row = {"task": "unseen_site", "title": COLUMN[0], "column": COLUMN[1], "dataset": "kauh",
           "model": model, "entry": entry, **dict(zip(keys, scores, strict=False))}  # fmt: skip
    if sample is not None:
        row["paired"] = paired(sample, [(np.ones(len(classes), bool), classes, None)])
    return row


def _noisy(classes: np.ndarray, wrong: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.random(classes.size) < wrong, 0, classes)


def _rows(a: tuple, b: tuple, a_classes, b_classes, sample) -> list[dict]:
    normal = np.zeros(len(sample.units), np.int64)
    return [
        _row("a", "probe", sample, a_classes, a),
        _row("b", "probe", sample, b_classes, b),
        _row("a", "all_normal", sample, normal, (0.5, 0.5, 0.5)),
        _row("a", "class_prior", None, None, (0.3,)),
    ]


def test_the_best_is_marked_from_a_paired_difference_with_the_runner_up() -> None:
    sample, truth = _truth()
    right, noisy = _noisy(truth, 0.05, 1), _noisy(truth, 0.6, 2)
    rows = mark_best(_rows((0.9, 0.8, 0.95), (0.6, 0.5, 0.7), right, noisy, sample))
    assert marked(rows, COLUMN) == "a"
    leader = next(row for row in rows if row["model"] == "a" and row["entry"] == "probe")
    assert leader["icbhi_score_over"] == "b" and leader["icbhi_score_gain_low"] > 0
    assert all("paired" not in row for row in rows)  # the run's own keys never reach results.csv
    # nearly the same predictions: a higher point score, but the paired interval reaches 0
    close = _noisy(truth, 0.07, 3)
    rows = mark_best(_rows((0.9, 0.8, 0.95), (0.89, 0.8, 0.95), right, close, sample))
    assert marked(rows, COLUMN) is None


def test_a_zero_width_interval_is_never_marked() -> None:
    """Issue 84: 75.9 (75.9–75.9) was marked best, its lower end above the next score; the bootstrap that
    cannot move a score says nothing of how sure it is."""
    sample, truth = _truth()
    right, noisy = _noisy(truth, 0.05, 1), _noisy(truth, 0.6, 2)
    rows = mark_best(_rows((0.759, 0.759, 0.759), (0.6, 0.5, 0.7), right, noisy, sample))
    assert marked(rows, COLUMN) is None


def test_all_normal_is_marked_where_it_beats_every_model_paired() -> None:
    sample, truth = _truth()
    wrong = np.where(truth == 0, 1, 0)  # every normal called crackle, every abnormal normal
    worse = _noisy(wrong, 0.1, 4)
    rows = mark_best(_rows((0.1, 0.05, 0.15), (0.12, 0.05, 0.2), wrong, worse, sample))
    assert marked(rows, COLUMN) == "all_normal"


def test_colours_are_fixed_per_model_whatever_else_is_benched() -> None:
    alone = colours(["mn04", "all_normal", "class_prior"])
    among = colours(["cnn", "beats", "mn04", "ast", "all_normal", "class_prior"])
    assert alone["mn04"] == among["mn04"]
    assert alone["all_normal"] == among["all_normal"] != alone["mn04"]
    assert len(set(among.values())) == len(among)


def _leaderboard(folder: Path) -> dict[tuple[str, str, str, str], float]:
    """``(entry, title, column, metric)`` -> the score in % of ``folder``'s ``leaderboard.csv``."""
    with (folder / "leaderboard.csv").open(encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    cells = {}
    for line in table:
        for key, value in line.items():
            parts = key.split(" | ")
            if len(parts) == 3 and value != "" and not parts[2].endswith(SUFFIXES):
                cells[(line["entry"], *parts)] = round(100 * float(value), 2)
    return cells  # type: ignore[return-value]


def assert_model_index_round_trips(folder: Path) -> None:
    """Every ``model_index/*.yaml`` of ``folder`` parsed by huggingface_hub: each group it files results
    under (task, dataset type, config, split) is one leaderboard column, each metric of it one metric of
    that column, and every value the leaderboard's, every leaderboard score of the model there."""
    from huggingface_hub.repocard_data import model_index_to_eval_results

    cells = _leaderboard(folder)
    for path in sorted((folder / "model_index").glob("*.yaml")):
        name, results = model_index_to_eval_results(yaml.safe_load(path.read_text())["model-index"])
        model = name.removesuffix(" (respira bench)")
        groups: dict[tuple, set] = defaultdict(set)
        found = {}
        for result in results:
            title = result.task_name.removeprefix("Respiratory sound classification: ")
            title = title.removesuffix(" (frozen linear probe)")
            groups[result.unique_identifier].add((title, result.dataset_name))
            key = (model, title, result.dataset_name, result.metric_config)
            assert key not in found, f"{path.name}: {key} filed twice"
            found[key] = result.metric_value
        assert all(len(columns) == 1 for columns in groups.values()), f"{path.name}: columns share a group"
        theirs = {key: value for key, value in cells.items() if key[0] == model}
        assert found == theirs, f"{path.name} differs from leaderboard.csv"


def test_model_index_files_every_score_under_its_own_column(tmp_path: Path) -> None:
    sample, truth = _truth()
    rows = _rows((0.9, 0.8, 0.95), (0.6, 0.5, 0.7), _noisy(truth, 0.05, 1), _noisy(truth, 0.6, 2), sample)
    site = [{**row, "task": "site_labels", "column": "KAUH, 10 patients", "procedure": procedure,
             "title": f"a site's own labels, {procedure}"}
            for procedure in ("chosen", "site_head") for row in rows]  # fmt: skip
    rows = mark_best([*rows, *site])
    assert len(columns(rows)) == 9  # three columns, each with its ICBHI score and two AUCs
    (entry,) = model_index(rows, "a")["model-index"]
    assert len(entry["results"]) == 3  # one result per column, none merged
    configs = {result["dataset"]["config"] for result in entry["results"]}
    assert configs == {"unseen-site-a-b", "site-labels-fit-site-kauh-10-patients",
                       "site-labels-site-head-kauh-10-patients"}  # fmt: skip
    from respira.encoder_bench.leaderboard import write_leaderboard

    written = write_leaderboard(rows, tmp_path / "board", suite={"name": "test", "version": "0"})
    assert written == [*BENCH.files, "leaderboard.png"]  # the bench's protocol's files, by the one writer
    assert_model_index_round_trips(tmp_path / "board")


def assert_marks_are_paired(folder: Path) -> None:
    """No best mark in ``folder``'s ``results.csv`` without a paired interval above 0 over the runner-up,
    nor on an interval of zero width (all-normal's, 50 by construction, aside)."""
    with (folder / "results.csv").open(encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    marks = [(line, key[: -len("_best")]) for line in lines for key in line
             if key.endswith("_best") and line[key] == "True"]  # fmt: skip
    for line, metric in marks:
        assert float(line[f"{metric}_gain_low"]) > 0, (line["column"], metric)
        assert line["entry"] == "all_normal" or float(line[f"{metric}_high"]) > float(line[f"{metric}_low"])


@pytest.mark.parametrize("folder", sorted((ROOT / "benchmarks" / "results").glob("bench_*/model_index")))
def test_the_committed_leaderboard_round_trips_and_its_marks_are_paired(folder: Path) -> None:
    assert_model_index_round_trips(folder.parent)
    assert_marks_are_paired(folder.parent)


def test_the_figure_has_a_panel_per_protocol_and_metric_a_50_line_and_zero_width_intervals_seen() -> None:
    from respira.encoder_bench.leaderboard import _figure

    sample, truth = _truth()
    rows = _rows(
        (0.759, 0.759, 0.759), (0.6, 0.5, 0.7), _noisy(truth, 0.05, 1), _noisy(truth, 0.6, 2), sample
    )
    site = [{**row, "task": "site_labels", "column": "KAUH, 10 patients", "title": "a site's own labels"}
            for row in rows]  # fmt: skip
    rows = mark_best([*rows, *site])
    figure = _figure(rows, columns(rows))
    panels = [axis for axis in figure.axes if axis.get_title()]
    assert [axis.get_title() for axis in panels] == [
        f"{title}: {metric}"
        for title in ("an unseen hospital", "a site's own labels")
        for metric in ("ICBHI score", "crackle AUC", "wheeze AUC")
    ]
    for axis in panels:
        assert any(list(line.get_xdata()) == [50, 50] for line in axis.get_lines())  # the 50 % line
    colour = colours(["a", "b", "all_normal", "class_prior"])
    hollow = [line for line in panels[0].get_lines() if line.get_markerfacecolor() == "none"]
    assert {line.get_color() for line in hollow} == {colour["a"], colour["all_normal"]}
