"""What a card claims is what its folder records (issue 49): the sites it serves follow their intervals,
``model-index`` carries every site beside all-normal, and the card never says what its run did not do
(a Hub link for a local checkpoint, a test split of 0 %, the whole database as training data, one
held-out site of two, ``hf_hub_download`` of a local folder, an install line that pulls CUDA torch)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from respira.hub.card_render import card_data_from_run_dir, render_model_card
from respira.models.respira.labels import MULTI_LABEL
from respira.pretrained import default_detector_dir
from respira.records.run import DataRecord, MetricsRecord, ModelRecord, RunRecord, SeedResult, SplitSize
from respira.records.sites import BUILD_RECORD, evaluation_digests, site_verdicts, sites_line

from .test_card_export_push import tiny_model, write_run_dir

# the made-up held-out metrics record no scored weights: left off the External validation table, said so
pytestmark = pytest.mark.filterwarnings("ignore::respira.hub.card_results.StaleEvaluationWarning")

RECORD = RunRecord(  # as make detector's final run: every patient learns, no test split
    recipe="efficientat_frozen_multilabel",
    model=ModelRecord(encoder="cnn", checkpoint="checkpoints/efficientat_mn04", problem_type=MULTI_LABEL),
    data=DataRecord(
        data_dir="../shared/icbhi",
        sampling_rate=16000,
        split_strategy="patient",
        patient_split_fractions=(0.8, 0.2, 0.0),
        split_seed=0,
        split_sizes={
            "train": SplitSize(cycles=545, patients=18),
            "validation": SplitSize(cycles=139, patients=8),
        },
    ),
    seeds=[0],
    selected_seed=0,
    thresholds=[0.6, 0.9],
    thresholds_tuned=True,
    metrics=MetricsRecord(per_seed=[SeedResult(0, {}, validation={"icbhi_score": 0.46, "specificity": 0.9})]),
)
CROSS_VALIDATION = {  # the recipe's folds: the score's interval reaches all-normal, wheeze's AUC chance
    "test_icbhi_score_mean": 0.52,
    "test_icbhi_score_ci95": [0.476, 0.564],
    "test_auc_crackle_mean": 0.77,
    "test_auc_crackle_ci95": [0.68, 0.86],
    "test_auc_wheeze_mean": 0.61,
    "test_auc_wheeze_ci95": [0.488, 0.732],
    "out_of_fold": {"cycles": 684, "baseline_all_normal_icbhi_score": 0.5},
}


def _recordings(score: float, interval: list[float], crackle: list[float]) -> dict:
    """A held-out site's per-recording metrics.json (``respira evaluate --dataset ... --record``)."""
    return {
        "thresholds": {"crackle": 0.6, "wheeze": 0.9},
        "windows": {"window_seconds": 4.0, "hop_seconds": 2.0},
        "aggregation": {"description": "recording probability = maximum of its window probabilities"},
        "groups": {
            "overall": {
                "num_recordings": 168,
                "num_patients": 56,
                "icbhi": {
                    "specificity": 0.9,
                    "sensitivity": 0.14,
                    "icbhi_score": score,
                    "baseline_all_normal_icbhi_score": 0.5,
                    "ci": {"icbhi_score": interval},
                },
                "crackle": {"auc": sum(crackle) / 2, "ci": {"auc": crackle}},
                "wheeze": {"auc": 0.69, "ci": {"auc": [0.6, 0.77]}},
            }
        },
    }


def _run(tmp_path: Path, *, served: bool = False) -> Path:
    folder = write_run_dir(tmp_path / "run", tiny_model(MULTI_LABEL), metrics=None, record=RECORD, state=None)
    sites = {
        "evaluation_cross_validation": CROSS_VALIDATION,
        "evaluation_kauh": _recordings(0.524, [0.51 if served else 0.459, 0.582], [0.416, 0.608]),
        "evaluation_sprsound": {"records": _recordings(0.497, [0.466, 0.548], [0.415, 0.66])},
    }
    for name, metrics in sites.items():
        (folder / name).mkdir()
        (folder / name / "metrics.json").write_text(json.dumps(metrics))
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "decision_thresholds": [0.6, 0.9]}))
    # as make detector builds it: the folder claims the evaluations its build record lists
    build = json.loads((default_detector_dir() / BUILD_RECORD).read_text())
    (folder / BUILD_RECORD).write_text(json.dumps({**build, "evaluations": evaluation_digests(folder)}))
    return folder


def test_a_site_is_served_only_when_its_interval_lies_above_all_normal(tmp_path: Path) -> None:
    """Issue 49: "it serves icbhi cycles (52.0 vs 50.0), kauh recordings (52.4 vs 50.0)" while both 95 %
    intervals reached 50 and crackles ranked at chance off-site."""
    line = sites_line(_run(tmp_path))
    assert line.startswith(
        "serves no site it was scored on; not shown to beat calling every recording normal"
    )
    assert "icbhi cycles (in domain: 52.0 [47.6, 56.4] vs all-normal 50.0)" in line
    assert "kauh recordings (held out: 52.4 [45.9, 58.2] vs all-normal 50.0)" in line
    assert "crackle not detected (AUC interval reaches chance, 50) on kauh recordings (AUC 51.2" in line
    assert (
        "wheeze not detected (AUC interval reaches chance, 50) on icbhi cycles (AUC 61.0 [48.8, 73.2])"
        in line
    )
    served = sites_line(_run(tmp_path / "served", served=True))
    assert served.startswith("serves kauh recordings (held out: 52.4 [51.0, 58.2] vs all-normal 50.0);")


def test_the_card_says_what_the_intervals_say_and_model_index_holds_every_site(tmp_path: Path) -> None:
    text = str(render_model_card(card_data_from_run_dir(_run(tmp_path))))
    table = text.split("### Where this detector serves")[1].split("###", maxsplit=1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 3
    assert all("**no**: not shown to beat all-normal" in row for row in rows)
    assert "yes" not in table.split("| Site |")[1].split("It serves")[0]
    assert "wheeze (AUC 61.0 [48.8, 73.2])" in rows[0] and "crackle (AUC 51.2 [41.6, 60.8])" in rows[1]
    results = ModelCard(text).data.to_dict()["model-index"][0]["results"]
    seen = {(r["dataset"]["type"], r["dataset"]["split"]): r["metrics"] for r in results}
    assert set(seen) == {("icbhi", "patient-wise cross-validation"), ("kauh", "all"), ("sprsound", "all")}
    for metrics in seen.values():  # each site's score beside the all-normal baseline of the same samples
        assert [m["name"] for m in metrics][1] == "All-normal baseline (%)" and metrics[1]["value"] == 50.0
    assert seen[("kauh", "all")][0]["args"]["interval_95"] == [45.9, 58.2]


def test_an_evaluation_the_folder_does_not_record_is_no_claim(tmp_path: Path) -> None:
    """A built folder claims the evaluations its build_record.json lists (SHA-256): a later one, or one
    changed since, is neither on the card nor in the sites line."""
    folder = _run(tmp_path)
    assert {v.site for v in site_verdicts(folder)} == {"icbhi", "kauh", "sprsound"}
    (folder / "evaluation_labelled").mkdir()
    (folder / "evaluation_labelled" / "metrics.json").write_text(
        json.dumps(_recordings(0.534, [0.6, 0.7], [0.6, 0.7]))
    )
    kauh = folder / "evaluation_kauh" / "metrics.json"
    kauh.write_text(json.dumps(_recordings(0.542, [0.51, 0.6], [0.6, 0.7])))  # a 24-recording sample
    assert {v.site for v in site_verdicts(folder)} == {"icbhi", "sprsound"}
    assert "labelled" not in sites_line(folder) and "kauh" not in sites_line(folder)


CONTRADICTIONS = {  # what the shipped card said, each against its own folder's files (issue 49, item 9)
    "a local checkpoint as a Hub link": "https://huggingface.co/checkpoints/",
    "hf_hub_download of a local folder": 'hf_hub_download("path/to/exported_model"',
    "pip install respira (README installs from a checkout)": "pip install respira\n",
    "a test split scored once at 0 %": "the test split was scored once",
    "no test results, said as if missing": "No test results were recorded",
    "the whole database as training data": "It was trained on the ICBHI 2017 database: 920 recordings",
    "one held-out site of two, or none": (
        "the only measure of\n  another site is",
        "no external\n  validation was",
    ),
}


@pytest.mark.parametrize("situation", sorted(CONTRADICTIONS))
def test_the_card_says_only_what_the_run_folder_records(situation: str, tmp_path: Path) -> None:
    folder = _run(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["encoder_name_or_path"] = "checkpoints/efficientat_mn04"  # shaped like a Hub id, a local folder
    (folder / "config.json").write_text(json.dumps(config))
    card = card_data_from_run_dir(folder)
    card.onnx = card.remote_code = True
    card.code_requirements = ["numpy", "soundfile", "torch", "transformers"]
    text = str(render_model_card(card))
    said = CONTRADICTIONS[situation]
    assert not any(words in text for words in ((said,) if isinstance(said, str) else said))
    assert "base_model" not in ModelCard(text).data.to_dict()
    assert "It learnt from 684 cycles of 26 patients" in text
    assert "there is no test split (0 % of the patients)" in text and "This run kept no test split" in text
    assert "KAUH lung sounds, King Abdullah University Hospital; SPRSound" in text
    code = text.split("With transformers alone")[1].split("```python", maxsplit=1)[0]
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in code
    plain = [line for line in code.splitlines() if line.startswith("pip install") and "index-url" not in line]
    assert plain and "torch" not in plain[0].split()  # the plain pip line does not pull (CUDA) torch
    assert 'InferenceSession("path/to/exported_model/model.onnx")' in text


def test_a_run_folder_claims_only_evaluations_of_its_own_weights(tmp_path: Path) -> None:
    """Without a build record, a folder claims the evaluations `respira evaluate --record` left there of its
    own weights (SHA-256), not one of other weights or one that names none."""
    from respira.utils.files import sha256_of

    folder = _run(tmp_path)
    (folder / BUILD_RECORD).unlink()
    assert site_verdicts(folder) == []  # the made-up evaluations name no scored weights
    kauh = folder / "evaluation_kauh" / "metrics.json"
    metrics = json.loads(kauh.read_text())
    metrics["model"] = {"weights_sha256": "0" * 64}
    kauh.write_text(json.dumps(metrics))
    assert site_verdicts(folder) == []
    metrics["model"]["weights_sha256"] = sha256_of(folder / "model.safetensors")
    kauh.write_text(json.dumps(metrics))
    assert [(v.site, v.unit) for v in site_verdicts(folder)] == [("kauh", "recordings")]
