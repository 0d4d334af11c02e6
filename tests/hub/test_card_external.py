"""The model card's external validation (respira.hub.card_results): what ``respira evaluate --dataset kauh``
measured of a model folder reaches its card, and only while it is that folder's own model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from respira import RespiraConfig
from respira.cli import main
from respira.hub import card_data_from_run_dir, render_model_card
from respira.hub.card_results import StaleEvaluationWarning, external_validations
from respira.models.respira.labels import MULTI_LABEL
from respira.records.run import CorpusRecord, RunRecord
from respira.records.sites import scored_model
from respira.utils.files import sha256_of

from ..conftest import write_kauh
from .test_card_export_push import tiny_model, write_run_dir


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A multi-label model folder that ``respira evaluate --dataset kauh`` scored, as README shows it."""
    root = tmp_path_factory.mktemp("external")
    model = tiny_model(MULTI_LABEL)
    model.config.decision_thresholds = [0.45, 0.55]
    folder = write_run_dir(root / "run", model)
    kauh = write_kauh(root / "kauh")
    code = main(
        ["evaluate", str(folder), "--dataset", "kauh", "--data_dir", str(kauh), "--window", "1",
         "--hop", "0.5", "--bootstrap", "200", "--cache_dir", str(root / "cache"), "--record"]
    )  # fmt: skip
    assert code == 0
    return folder


def _copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "run"))


def test_the_card_shows_the_evaluation_of_its_own_weights(evaluated: Path) -> None:
    metrics = json.loads((evaluated / "evaluation_kauh" / "metrics.json").read_text())
    assert metrics["model"] == {"weights_sha256": sha256_of(evaluated / "model.safetensors")}
    card = card_data_from_run_dir(evaluated, model_id="someone/model")
    text = " ".join(str(render_model_card(card)).split())
    assert "### External validation" in text
    assert "On **KAUH lung sounds, King Abdullah University Hospital**" in text
    assert "1 s windows every 0.5 s" in text and "(crackle 0.45, wheeze 0.55)" in text
    for group, scores in metrics["groups"].items():
        icbhi = scores["icbhi"]
        low, high = icbhi["ci"]["icbhi_score"]
        least = min(icbhi["normal_recordings"], icbhi["abnormal_recordings"])
        narrow = ""
        if f"{low:.3f}" == f"{high:.3f}":  # too few only on 5 or fewer normal or abnormal recordings
            narrow = (
                f" (interval of zero width: too few samples to mean anything: {least})"
                if least <= 5
                else f" (interval of zero width: every resample of the {least} gave the same score)"
            )
        row = (
            f"| {group} | {scores['num_recordings']} ({scores['num_patients']}) | "
            f"{100 * icbhi['icbhi_score']:.1f} [{100 * low:.1f}, {100 * high:.1f}]{narrow} | "
            f"{100 * icbhi['specificity']:.1f} | {100 * icbhi['sensitivity']:.1f} | "
        )
        assert row in text, row
    assert "| bell | 6 (6) | 25.0 [25.0, 25.0] (interval of zero width" in text  # 6 recordings: says so
    assert "| overall | 18 (6) |" in text and "| bell | 6 (6) |" in text
    assert "no external validation was performed" not in text
    assert "its only measures of other sites are those above (KAUH lung sounds" in " ".join(text.split())
    results = ModelCard(str(render_model_card(card))).data.to_dict()["model-index"][0]["results"]
    external = [result for result in results if result["dataset"]["type"] == "kauh"]
    assert len(external) == 1
    assert external[0]["metrics"][0]["value"] == round(
        100 * metrics["groups"]["overall"]["icbhi"]["icbhi_score"], 2
    )


def test_overall_comes_first_and_is_what_model_index_reports(evaluated: Path, tmp_path: Path) -> None:
    folder = _copy(evaluated, tmp_path)
    path = folder / "evaluation_kauh" / "metrics.json"
    metrics = json.loads(path.read_text())
    assert list(metrics["groups"]) == sorted(metrics["groups"])  # the file sorts its keys: bell first
    for share, group in zip((0.61, 0.72, 0.83, 0.94), metrics["groups"], strict=True):
        metrics["groups"][group]["icbhi"]["icbhi_score"] = share  # four different scores
    path.write_text(json.dumps(metrics))
    card = card_data_from_run_dir(folder)
    text = str(render_model_card(card))
    rows = [
        line.split(" | ")[0].lstrip("| ")
        for line in text.splitlines()
        if line.startswith("| ") and " (6) |" in line
    ]
    assert rows == ["overall", "bell", "diaphragm", "extended"]
    assert "| overall | 18 (6) | 94.0 [" in text  # "overall" sorts last in the file
    results = ModelCard(text).data.to_dict()["model-index"][0]["results"]
    assert [r["metrics"][0]["value"] for r in results if r["dataset"]["type"] == "kauh"] == [94.0]


def test_a_group_below_its_trivial_baseline_is_said_on_the_card(evaluated: Path, tmp_path: Path) -> None:
    folder = _copy(evaluated, tmp_path)
    path = folder / "evaluation_kauh" / "metrics.json"
    metrics = json.loads(path.read_text())
    for group, share in zip(metrics["groups"], (0.61, 0.72, 0.83, 0.94), strict=True):
        icbhi = metrics["groups"][group]["icbhi"]
        assert icbhi["baseline_all_normal_icbhi_score"] == 0.5  # written by respira evaluate
        icbhi["icbhi_score"] = share
    metrics["groups"]["diaphragm"]["icbhi"]["icbhi_score"] = 0.42
    path.write_text(json.dumps(metrics))
    text = " ".join(str(render_model_card(card_data_from_run_dir(folder))).split())
    assert "**Below the trivial baseline** (in %):" in text
    assert (
        "- ICBHI score (KAUH lung sounds, King Abdullah University Hospital, per recording, diaphragm) 42.0 "
        "does not beat the all-normal baseline's 50.0 (every example called normal)"
    ) in text
    assert text.count("does not beat") == 1


def test_a_card_without_an_evaluation_says_none_was_performed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_run_dir(tmp_path / "run", tiny_model(MULTI_LABEL))

    def no_hashing(path: Path) -> str:
        raise AssertionError(f"{path} was hashed with no evaluation to check")

    monkeypatch.setattr("respira.records.sites.sha256_of", no_hashing)
    text = " ".join(str(render_model_card(card_data_from_run_dir(folder))).split())
    assert "External validation" not in text and "no external validation was performed" in text


@pytest.mark.parametrize("change", ["weights", "thresholds", "unrecorded", "trained_on"])
def test_an_evaluation_of_another_model_is_left_out_with_a_warning(
    evaluated: Path, tmp_path: Path, change: str
) -> None:
    folder = _copy(evaluated, tmp_path)
    metrics_file = folder / "evaluation_kauh" / "metrics.json"
    metrics = json.loads(metrics_file.read_text())
    if change == "weights":  # retrained (or fitted to a site) after the evaluation
        model = tiny_model(MULTI_LABEL, seed=1)
        model.config.decision_thresholds = [0.45, 0.55]
        model.save_pretrained(folder)
    elif change == "thresholds":
        config = RespiraConfig.from_pretrained(folder)
        config.decision_thresholds = [0.3, 0.7]
        config.save_pretrained(folder)
    elif change == "unrecorded":  # written before respira evaluate recorded the weights
        del metrics["model"]
    else:
        record = RunRecord.load(folder)
        record.data.corpora = [CorpusRecord("icbhi", "icbhi"), CorpusRecord("kauh", "kauh", "recording")]
        record.save(folder)
    metrics_file.write_text(json.dumps(metrics))
    reason = {
        "weights": "scored other weights than this folder's",
        "thresholds": "decided at other thresholds than this model's",
        "unrecorded": "does not record which weights it scored",
        "trained_on": "a corpus this model was trained on",
    }[change]
    with pytest.warns(StaleEvaluationWarning) as caught:
        card = card_data_from_run_dir(folder)
    (message,) = [str(warning.message) for warning in caught]
    assert message.startswith(f"{metrics_file}: left off the model card: it ") and reason in message
    assert card.external_validations == [] and card.notes == []  # said to whoever exports, not to readers
    text = " ".join(str(render_model_card(card)).split())
    assert "External validation" not in text and "no external validation was performed" in text


def test_a_damaged_metrics_file_is_one_line_naming_it(evaluated: Path, tmp_path: Path) -> None:
    folder = _copy(evaluated, tmp_path)
    (folder / "evaluation_kauh" / "metrics.json").write_text('{"model": ')
    with pytest.raises(
        ValueError, match=r"evaluation_kauh/metrics\.json: not respira evaluate's metrics"
    ) as error:
        card_data_from_run_dir(folder)
    assert "\n" not in str(error.value)
    assert external_validations(folder / "nowhere") == ([], [])


def test_scored_model_of_a_hub_id_or_a_folder_without_weights(tmp_path: Path) -> None:
    assert scored_model("someone/model") == scored_model(tmp_path) == {"weights_sha256": None}
