"""respira evaluate --task events: detections scored against reference events (hand-computed counts)."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pytest

from respira.cli import main
from respira.data.icbhi import icbhi_reference_events
from respira.data.sprsound import EVENT_CLASSES, EVENT_TYPES, sprsound_reference_events
from respira.evaluation.event_detection_report import evaluate_events, event_scores_table, merge_references
from respira.models import RespiraConfig, RespiraForAudioClassification
from respira.models.respira.decision import Event
from respira.models.respira.labels import MULTI_LABEL
from respira.utils.files import WRITTEN_FILE

from ..conftest import RATE, SPRSOUND_PARTS, TINY_ENCODER, save_tiny_model


def test_references_of_a_label_are_merged_where_they_overlap_or_touch():
    merged = merge_references(
        [
            (1.0, 2.0, "wheeze"),
            (0.5, 1.2, "crackle"),
            (1.5, 3.0, "wheeze"),
            (3.0, 3.5, "wheeze"),
            (4, 5, "wheeze"),
        ]
    )
    assert merged == [
        Event(0.5, 1.2, "crackle"),
        Event(1.0, 3.5, "wheeze"),
        Event(4.0, 5.0, "wheeze"),
    ]


def test_corpora_give_their_reference_events():
    cycles = {
        "cycles": [
            {"start": 0.1, "end": 1.5, "crackle": 1, "wheeze": 0},
            {"start": 1.5, "end": 3.0, "crackle": 1, "wheeze": 1},
            {"start": 3.0, "end": 4.0, "crackle": 0, "wheeze": 0},
        ]
    }
    assert icbhi_reference_events(cycles) == [
        (0.1, 1.5, "crackle"),
        (1.5, 3.0, "crackle"),
        (1.5, 3.0, "wheeze"),
    ]
    spans = {
        "events": [
            {"start": 0.0, "end": 0.5, "type": EVENT_TYPES.index("Normal")},
            {"start": 0.5, "end": 0.9, "type": EVENT_TYPES.index("Rhonchi")},
            {"start": 1.0, "end": 1.4, "type": EVENT_TYPES.index("Wheeze+Crackle")},
            {"start": 2.0, "end": 2.2, "type": "Fine Crackle"},
        ]
    }
    assert sprsound_reference_events(spans) == [
        (0.5, 0.9, "wheeze"),
        (1.0, 1.4, "crackle"),
        (1.0, 1.4, "wheeze"),
        (2.0, 2.2, "crackle"),
    ]


@pytest.fixture(scope="module")
def always_crackle() -> RespiraForAudioClassification:
    """Thresholds 0 (crackle) and 1 (wheeze): one crackle event over each whole recording, no wheeze."""
    config = RespiraConfig(
        encoder_config=dict(TINY_ENCODER),
        target_seconds=1.0,
        problem_type=MULTI_LABEL,
        decision_thresholds=[0.0, 1.0],
    )
    return RespiraForAudioClassification(config).eval()


def span(start: float, end: float, label: str) -> dict:
    return {"start": start, "end": end, "label": label}


def recordings() -> datasets.Dataset:
    rng = np.random.default_rng(0)
    rows = {
        "audio": [
            {"array": 0.1 * rng.standard_normal(int(s * RATE)), "sampling_rate": RATE} for s in (2, 3, 2)
        ],
        "recording": ["a", "b", "c"],
        "patient_id": [1, 2, 2],
        "official_part": ["inter", "intra", "intra"],
        "spans": [
            [
                span(0.1, 1.9, "crackle")
            ],  # the detection 0-2 s: onset within 0.2 s, offset within 0.36 s → hit
            [span(1.0, 1.5, "crackle"), span(0.5, 1.0, "wheeze")],  # onset 1 s off → a miss and an insertion
            [],  # no reference: the detection is an insertion
        ],
    }
    return datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio(sampling_rate=RATE))


def spans_of(example: dict) -> list:
    return [(item["start"], item["end"], item["label"]) for item in example["spans"]]


@pytest.fixture(scope="module")
def report(always_crackle, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    folder = tmp_path_factory.mktemp("event_report") / "events"
    metrics = evaluate_events(
        always_crackle,
        recordings(),
        reference_events=spans_of,
        output_dir=folder,
        group_column="official_part",
        resamples=200,
    )
    return metrics, folder


def test_event_based_counts_are_the_hand_counted_ones(report):
    metrics, _ = report
    model = metrics["groups"]["overall"]["model"]["event_based"]
    crackle = model["crackle"]
    assert (crackle["reference"], crackle["estimated"], crackle["true_positives"]) == (2, 3, 1)
    assert crackle["f_measure"] == pytest.approx(2 * 1 / (2 + 3))
    assert crackle["error_rate"] == pytest.approx((1 + 2) / 2)  # one deletion, two insertions
    wheeze = model["wheeze"]
    assert (wheeze["reference"], wheeze["estimated"], wheeze["f_measure"], wheeze["error_rate"]) == (
        1,
        0,
        0.0,
        1.0,
    )
    assert model["overall"]["f_measure"] == pytest.approx(2 * 1 / (3 + 3))
    low, high = crackle["f_measure_ci"]
    assert 0 <= low <= crackle["f_measure"] <= high <= 1


def test_groups_and_baselines_are_scored_on_the_same_recordings(report):
    metrics, _ = report
    groups = metrics["groups"]
    assert list(groups) == ["overall", "inter", "intra"]
    assert groups["inter"]["model"]["event_based"]["crackle"]["f_measure"] == 1.0
    assert (groups["intra"]["recordings"], groups["intra"]["patients"]) == (2, 1)
    none = groups["overall"]["no_events"]["event_based"]
    assert none["crackle"]["f_measure"] == 0.0 and none["crackle"]["error_rate"] == 1.0
    every = groups["overall"]["all_positive"]["event_based"]
    assert every["crackle"]["true_positives"] == 1 and every["wheeze"]["estimated"] == 3
    independent = groups["overall"]["model"]["threshold_independent"]
    assert 0 <= independent["psds"] <= 1 and "best_f1" in independent["crackle"]
    assert (
        "threshold_independent" not in groups["inter"]["model"]
        or "wheeze" not in groups["inter"]["model"]["threshold_independent"]
    )


def test_a_recording_without_a_group_value_counts_in_overall_only(report, always_crackle, tmp_path: Path):
    """As recording evaluation's groups (metrics.groups.group_selections): no group named "None" or ""."""
    metrics, _ = report
    unnamed = recordings().map(lambda row, i: {"official_part": ["inter", None, ""][i]}, with_indices=True)
    options = {"reference_events": spans_of, "group_column": "official_part", "resamples": 200}
    found = evaluate_events(always_crackle, unnamed, output_dir=tmp_path / "events", **options)["groups"]
    assert list(found) == ["overall", "inter"]
    assert json.dumps(found["overall"], sort_keys=True) == json.dumps(
        metrics["groups"]["overall"], sort_keys=True
    )


def test_headlines_that_do_not_beat_a_baseline_are_flagged_and_the_table_prints_the_baselines(report):
    metrics, folder = report
    flagged = {
        entry["key"]: entry for entry in json.loads((folder / "metrics.json").read_text())["below_baseline"]
    }
    # crackle overall: 1 hit, 1 deletion, 2 insertions over 2 references: ER 1.5, above no-events' 1.0; its F1
    # 0.4 ties the all-positive detector's (one crackle over each recording finds the same hit)
    error = flagged["groups.overall.model.event_based.crackle.error_rate"]
    assert (error["value"], error["baseline"], error["baseline_value"]) == (1.5, "no-events", 1.0)
    assert error["lower_is_better"]
    f1 = flagged["groups.overall.model.event_based.crackle.f_measure"]
    assert (f1["value"], f1["baseline"]) == (pytest.approx(0.4), "all-positive")
    # this model is the all-positive detector for crackles (one event over each recording): even its perfect
    # inter detection does not beat it
    inter = flagged["groups.inter.model.event_based.crackle.f_measure"]
    assert (inter["value"], inter["baseline"], inter["baseline_value"]) == (1.0, "all-positive", 1.0)
    lines = event_scores_table(metrics).splitlines()
    crackle = next(line for line in lines if line.split()[:2] == ["overall", "crackle"])
    assert "BELOW BASELINE (no-events 1.000, lower is better)" in crackle
    none = next(line for line in lines if line.split()[:3] == ["overall", "baseline:", "no-events"])
    assert none.split()[3:6] == ["3", "0.000", "1.000"]  # 3 references, F1 0, ER 1
    assert any(line.split()[:3] == ["intra", "baseline:", "all-positive"] for line in lines)


def test_the_folder_holds_the_metrics_and_both_event_lists(report):
    metrics, folder = report
    names = ["events.csv", "metrics.json", "references.csv"]
    assert sorted(path.name for path in folder.iterdir()) == [WRITTEN_FILE, *names]
    stored = json.loads((folder / "metrics.json").read_text())
    assert stored["groups"]["overall"]["model"]["event_based"]["crackle"]["true_positives"] == 1
    detected = list(csv.DictReader((folder / "events.csv").open()))
    assert [(row["file"], row["type"], float(row["onset"]), float(row["offset"])) for row in detected] == [
        ("a", "crackle", 0.0, 2.0),
        ("b", "crackle", 0.0, 3.0),
        ("c", "crackle", 0.0, 2.0),
    ]
    assert len(list(csv.DictReader((folder / "references.csv").open()))) == 3
    table = event_scores_table(metrics)
    assert "0.400" in table and "intra" in table


# ---------------------------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(
        tmp_path_factory.mktemp("events_cli"), problem_type=MULTI_LABEL, decision_thresholds=[0.5, 0.5]
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--dataset", "kauh", "--data_dir", "x"], "KAUH has none (--dataset icbhi or sprsound)"),
        (["--dataset", "sprsound"], "pass --data_dir <folder>"),
        (["--dataset", "sprsound", "--data_dir", "x", "--thresholds", "0.3", "0.3"], "--thresholds: not for"),
        (["--dataset", "sprsound", "--data_dir", "x", "--window", "2"], "--window: not for --task events"),
    ],
)
def test_options_that_do_not_apply_are_one_line_errors(tiny_dir, tmp_path, capsys, extra, message):
    output = tmp_path / "report"
    assert main(["evaluate", str(tiny_dir), "--task", "events", "--output_dir", str(output), *extra]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1
    assert not output.exists()


@pytest.mark.real_data
@pytest.mark.slow
def test_evaluate_events_on_the_real_sprsound_inter_test_part(
    tiny_dir, sprsound_test_parts, tmp_path, capsys
):
    """The CLI as README shows it on ../shared/sprsound: every inter_test recording scored against its
    crackle / wheeze events, the counts derived from the JSON files."""
    root = sprsound_test_parts
    expected: Counter = Counter()
    recordings = 0
    for path in sorted((root / SPRSOUND_PARTS["inter_test"][1]).glob("*.json")):
        recordings += 1
        spans = [
            (float(e["start"]) / 1000, float(e["end"]) / 1000, name)
            for e in json.loads(path.read_text())["event_annotation"]
            for name in ("crackle", "wheeze")
            if EVENT_CLASSES[e["type"]] in (name, "both")
        ]
        expected.update(event.label for event in merge_references(spans))
    output = tmp_path / "events"
    command = [
        "evaluate",
        str(tiny_dir),
        "--task",
        "events",
        "--dataset",
        "sprsound",
        "--data_dir",
        str(root),
    ]
    command += ["--split", "inter_test", "--output_dir", str(output), "--cache_dir", str(tmp_path / "cache")]
    assert main(command) == 0
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["num_recordings"] == recordings
    scored = metrics["groups"]["overall"]["model"]["event_based"]
    assert {label: scored[label]["reference"] for label in ("crackle", "wheeze")} == dict(expected)
    assert not math.isnan(scored["wheeze"]["error_rate"])
    assert "detecting events on SPRSOUND (inter_test" in capsys.readouterr().out


def test_a_recording_listed_twice_is_refused(always_crackle, tmp_path: Path) -> None:
    twice = datasets.concatenate_datasets([recordings(), recordings().select([0])])
    with pytest.raises(ValueError, match="recording 'a' appears twice in the dataset"):
        evaluate_events(always_crackle, twice, reference_events=spans_of, output_dir=tmp_path / "events")
    assert not (tmp_path / "events").exists()
