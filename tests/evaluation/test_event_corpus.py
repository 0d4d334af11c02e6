"""An event-labelled corpus scored at both levels with its challenge's scores
(respira.evaluation.event_corpus),
on hand-made SPRSound files and, through ``respira evaluate``, on the real sample in ../shared/sprsound."""

from __future__ import annotations

import json
import shutil
import warnings
from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pytest

from respira.cli import main
from respira.data import load_sprsound
from respira.data.text_files import PartialCorpusWarning
from respira.evaluation.event_corpus import challenge_scores, evaluate_event_corpus
from respira.hub.loading import load_model
from respira.metrics.sprsound import SPRSOUND_TASKS

from ..conftest import SPRSOUND_TINY, write_sprsound


def test_challenge_scores_overall_and_per_group_by_hand() -> None:
    # 6 records: 3 Normal (2 predicted Normal), 2 adventitious (1 exact), 1 Poor Quality (in neither)
    references = ["Normal", "Normal", "Normal", "CAS", "DAS", "Poor Quality"]
    predictions = ["Normal", "Normal", "DAS", "CAS", "CAS", "Normal"]
    patients = [1, 1, 2, 3, 3, 4]
    groups = ["a", "a", "b", "b", "a", "b"]
    result = challenge_scores("2-2", references, predictions, patients, groups, resamples=50)
    overall = result["overall"]
    assert overall["sp"] == pytest.approx(2 / 3) and overall["se"] == pytest.approx(1 / 2)
    assert overall["hs"] == pytest.approx(2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3))
    assert overall["n_poor_quality"] == 1
    # group a: Normal, Normal (both right), DAS predicted CAS: SP 1, SE 0; group b: SP 0 (1 normal, wrong)
    assert (result["a"]["sp"], result["a"]["se"]) == (1.0, 0.0)
    assert (result["b"]["sp"], result["b"]["se"]) == (0.0, 1.0)
    low, high = overall["ci"]["score"]
    assert low <= overall["score"] <= high and low < high
    assert overall["baseline_all_normal_score"] == pytest.approx(0.25)


def test_a_task_score_below_its_baseline_is_flagged_in_the_metrics_and_the_table() -> None:
    from respira.evaluation.event_corpus import task_below_baselines
    from respira.evaluation.recording_report import challenge_table

    # every event called adventitious: SE 1, SP 0, Score 0.25, below the class-prior classifier's
    references = ["Normal"] * 6 + ["Adventitious"] * 4
    tasks = {"1-1": challenge_scores("1-1", references, ["Adventitious"] * 10, list(range(10)), resamples=20)}
    (entry,) = task_below_baselines(tasks)
    overall = tasks["1-1"]["overall"]
    assert overall["score"] == 0.25 < overall["baseline_class_prior_score"]
    assert (entry["key"], entry["baseline"]) == ("tasks.1-1.overall.score", "class-prior")
    assert entry["baseline_value"] == overall["baseline_class_prior_score"]
    row = next(line for line in challenge_table({"tasks": tasks, "below_baseline": [entry]}).splitlines()
               if "task 1-1" in line)  # fmt: skip
    assert row.endswith(f"BELOW BASELINE (class-prior {100 * entry['baseline_value']:.1f})")
    tasks["1-1"]["overall"]["score"] = 0.9
    assert task_below_baselines(tasks) == []


def _score_within_its_components(values: dict) -> None:
    """Score = (AS + HS) / 2 <= AS = (SE + SP) / 2 in every resample: its interval cannot top (1 + SE's
    top) / 2 nor (1 + SP's top) / 2."""
    score_high, se_high, sp_high = (values["ci"][key][1] for key in ("score", "se", "sp"))
    assert score_high <= (1 + se_high) / 2 + 1e-12 and score_high <= (1 + sp_high) / 2 + 1e-12


def test_a_resample_without_adventitious_records_is_never_scored_as_sp_alone() -> None:
    # task 2-1 like inter_test: 18 patients with normal records called normal, 2 whose adventitious records
    # are all missed (SE 0, so Score = SP / 4). About 12 % of plain patient resamples draw neither of the
    # two: SE undefined, and a Score that fell back to SP (1.0) topped its interval at 1.0
    references = ["Normal"] * 36 + ["Adventitious"] * 4 + ["Poor Quality"]
    predictions = ["Normal"] * 35 + ["Adventitious"] + ["Normal"] * 4 + ["Normal"]
    patients = [p for p in range(18) for _ in range(2)] + [18, 18, 19, 19, 3]
    overall = challenge_scores("2-1", references, predictions, patients, resamples=400)["overall"]
    assert overall["se"] == 0.0 and overall["ci"]["se"] == [0.0, 0.0]
    assert overall["score"] == pytest.approx(overall["sp"] / 4)
    assert overall["ci"]["score"][1] <= 0.25
    _score_within_its_components(overall)


def test_challenge_intervals_lie_within_what_their_components_allow() -> None:
    # property over seeded random cases of tasks 1-1, 2-1 and 2-2
    for case in range(30):
        rng = np.random.default_rng(case)
        task = ("1-1", "2-1", "2-2")[case % 3]
        classes = SPRSOUND_TASKS[task]
        size = int(rng.integers(4, 16))
        while True:
            references = [classes[i] for i in rng.choice(len(classes), size, p=_skewed(rng, len(classes)))]
            if "Normal" in references and set(references) - {"Normal", "Poor Quality"}:
                break
        predictions = [classes[i] for i in rng.integers(0, len(classes), size)]
        patients = rng.integers(0, max(2, size // 2), size)
        groups = rng.choice(["a", "b"], size)
        for name, values in challenge_scores(
            task, references, predictions, patients, groups, resamples=60, seed=case
        ).items():
            if name == "overall":  # SE and SP are defined in the data, so in every resample
                _score_within_its_components(values)
            for key, (low, high) in values["ci"].items():
                assert np.isnan(low) or 0.0 <= low <= high <= 1.0, (case, name, key)


def _skewed(rng: np.random.Generator, count: int) -> np.ndarray:
    """Class shares with Normal the most frequent, as in SPRSound."""
    shares = rng.random(count) + np.eye(count)[0] * 2
    return shares / shares.sum()


def _tiny_events() -> tuple[list[str], list[str]]:
    """(event types, record labels) of the hand-made corpus, from its definition."""
    events = [kind for _, _, _, spans, _ in SPRSOUND_TINY for *_, kind in spans]
    return events, [label for _, _, label, _, _ in SPRSOUND_TINY]


def _joined(parts: datasets.DatasetDict) -> datasets.Dataset:
    return datasets.concatenate_datasets(list(parts.values()))


def test_both_levels_and_the_tasks_are_scored_in_one_report(multi_label_dir: Path, tmp_path: Path) -> None:
    folder = write_sprsound(tmp_path / "sprsound")
    model, _ = load_model(str(multi_label_dir))
    options = {"sampling_rate": 16000, "cache_dir": tmp_path / "cache"}
    events = load_sprsound(folder, config_name="events", **options)
    recordings = load_sprsound(folder, config_name="recordings", **options)
    output = tmp_path / "report"
    metrics = evaluate_event_corpus(
        model, _joined(events), _joined(recordings), output_dir=output, window=1.0, hop=0.5, resamples=20
    )
    types, labels = _tiny_events()
    tasks = metrics["tasks"]
    assert tasks["1-1"]["overall"]["n"] == len(types)
    assert tasks["1-1"]["overall"]["n_normal"] == types.count("Normal")
    assert tasks["2-1"]["overall"]["n"] == len(labels) - labels.count("Poor Quality")
    assert metrics["unscored"]["poor quality records"] == labels.count("Poor Quality")
    assert set(tasks["2-2"]) == {"overall", "train", "inter_test", "intra_test"}
    # task 1-1's SP is the events' ICBHI specificity: a normal event is right only when predicted normal
    assert tasks["1-1"]["overall"]["sp"] == pytest.approx(metrics["events"]["specificity"])
    written = json.loads((output / "metrics.json").read_text())
    assert written["tasks"]["2-2"]["overall"]["n"] == tasks["2-2"]["overall"]["n"]
    assert (output / "events" / "metrics.json").is_file() and (output / "records" / "metrics.json").is_file()
    # the report is one unit: run again, it replaces itself; a folder of something else is refused
    evaluate_event_corpus(
        model, _joined(events), _joined(recordings), output_dir=output, window=1.0, hop=0.5, resamples=20
    )
    other = tmp_path / "notes"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds no record of what respira wrote"):
        evaluate_event_corpus(model, _joined(events), _joined(recordings), output_dir=other, resamples=20)
    assert (other / "notes.txt").read_text() == "mine"


def test_evaluate_refuses_what_does_not_apply_in_one_line(
    multi_label_dir: Path, tmp_path: Path, capsys
) -> None:
    folder = write_sprsound(tmp_path / "sprsound")
    base = ["evaluate", str(multi_label_dir), "--dataset", "sprsound", "--data_dir", str(folder)]
    assert main([*base, "--split", "validation", "--output_dir", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "--split 'validation': SPRSOUND's splits are 'train', 'inter_test', 'intra_test', 'all'"
    )
    assert main([*base, "--thresholds", "0.3", "0.3", "--output_dir", str(tmp_path / "b")]) == 2
    assert "--thresholds does not apply to --dataset sprsound" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_evaluate_reads_the_parts_it_scores_alone(multi_label_dir: Path, tmp_path: Path, capsys) -> None:
    """The default split (the test parts) is scored in a folder whose train recordings cannot be read; a part
    asked for (--split all) that the folder lacks is one line naming the folder and what is missing."""
    folder = write_sprsound(tmp_path / "sprsound")
    for wav in (folder / "train_wav").iterdir():
        wav.write_bytes(b"not audio")
    base = ["evaluate", str(multi_label_dir), "--dataset", "sprsound", "--data_dir", str(folder),
            "--bootstrap", "5", "--cache_dir", str(tmp_path / "cache")]  # fmt: skip
    assert main([*base, "--output_dir", str(tmp_path / "test")]) == 0
    events = sum(len(events) for part, _, _, events, _ in SPRSOUND_TINY if part != "train")
    assert f"on SPRSOUND (inter_test, intra_test): {events} events" in capsys.readouterr().out
    shutil.rmtree(folder / "train_wav")
    assert main([*base, "--split", "all", "--output_dir", str(tmp_path / "all")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"respira evaluate: error: {folder} has no SPRSound train part: train_wav/ missing"
    ]
    assert not (tmp_path / "all").exists()


@pytest.mark.real_data
@pytest.mark.slow
def test_respira_evaluate_on_the_real_sample(
    multi_label_dir: Path, sprsound_test_parts: Path, tmp_path: Path, capsys
) -> None:
    shared = sprsound_test_parts
    events, records = Counter(), Counter()  # this test's own reading of the test parts' files
    for note in sorted((shared / "test_json").rglob("*.json")):
        data = json.loads(note.read_text())
        label = data.get("record_annotation", data.get("recording_annotation"))
        records[label] += 1
        events.update(event["type"] for event in data["event_annotation"])
    base = ["evaluate", str(multi_label_dir), "--dataset", "sprsound", "--data_dir", str(shared)]
    assert main([*base, "--split", "train", "--output_dir", str(tmp_path / "train")]) == 2  # no recordings
    error = capsys.readouterr().err.splitlines()[-1]
    assert error == f"respira evaluate: error: {shared} has no SPRSound train part: train_wav/ missing"
    with warnings.catch_warnings(record=True) as caught:  # pytest keeps warnings from stderr: record them
        warnings.simplefilter("always")
        code = main(
            [*base, "--bootstrap", "20", "--output_dir", str(tmp_path / "report"),
             "--cache_dir", str(tmp_path / "cache")]
        )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert not [w for w in caught if issubclass(w.category, PartialCorpusWarning)]  # train part not read
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["tasks"]["1-1"]["overall"]["n"] == sum(events.values())
    assert metrics["tasks"]["1-1"]["overall"]["n_normal"] == events["Normal"]
    assert metrics["tasks"]["2-2"]["overall"]["n"] == sum(records.values()) - records["Poor Quality"]
    assert metrics["unscored"]["poor quality records"] == records["Poor Quality"]
    assert f"on SPRSOUND (inter_test, intra_test): {sum(events.values())} events" in out
    assert np.isfinite(metrics["tasks"]["2-1"]["overall"]["score"])
