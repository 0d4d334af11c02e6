"""Training the encoder's time steps: SPRSound recordings as windows with their events (strong labels), the
trainer's frame loss, its options refused in one line, and a tiny ``respira train`` run end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from respira.cli import main
from respira.labels import CLASS_NAMES
from respira.losses import FrameLoss
from respira.run_record import CorpusRecord, DataRecord, RunRecord
from respira.training import RespiraTrainingArguments
from respira.training.batches.collator import AudioCollator
from respira.training.splits.multi_corpus import window_events

from ..conftest import SPRSOUND_SECONDS, SPRSOUND_TINY, write_sprsound
from .conftest import TINY_RECIPE, tiny_model

WINDOW, HOP = 1.0, 0.5


@pytest.fixture(scope="module")
def sprsound_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sprsound(tmp_path_factory.mktemp("sprsound") / "sprsound")


@pytest.fixture(scope="module")
def strong_splits(synthetic_corpus: Path, sprsound_folder: Path, tmp_path_factory: pytest.TempPathFactory):
    from respira.training.splits.datasets import load_splits

    record = DataRecord(
        data_dir=str(synthetic_corpus),
        sampling_rate=4000,
        validation_size=0.25,
        corpora=[
            CorpusRecord("icbhi", str(synthetic_corpus)),
            CorpusRecord("sprsound", str(sprsound_folder), "event"),
        ],
        corpus_window_seconds=WINDOW,
        corpus_hop_seconds=HOP,
        corpus_strong_labels=True,
    )
    return load_splits(record, cache_dir=tmp_path_factory.mktemp("strong_cache"))


def test_window_events_are_clipped_to_the_window_and_measured_from_its_start() -> None:
    events = [(0.2, 0.7, "crackle"), (0.8, 1.5, "crackle"), (1.6, 1.9, "wheeze")]
    assert window_events(events, 0.5, 1.5) == [
        {"start": 0.0, "end": pytest.approx(0.2), "label": "crackle"},
        {"start": pytest.approx(0.3), "end": 1.0, "label": "crackle"},
    ]
    assert window_events(events, 1.5, 1.6) == []  # touching is not overlapping


def test_sprsound_recordings_join_training_as_windows_carrying_their_events(strong_splits) -> None:
    train = strong_splits["train"]
    windows = train.filter(lambda row: row["corpus"] == "sprsound")
    judged = [row for row in SPRSOUND_TINY if row[2] != "Poor Quality"]  # no label to learn from
    per_recording = int((SPRSOUND_SECONDS - WINDOW) / HOP) + 1
    assert len(windows) == len(judged) * per_recording
    rows = {(row["recording"], round(row["start"], 3)): row for row in windows}
    # 101_6.7_1_p2_12: fine crackle 0.2-0.7 s, coarse crackle 0.8-1.5 s; the window 0.5-1.5 s holds both
    middle = rows[("101_6.7_1_p2_12", 0.5)]
    assert [(e["start"], e["end"], e["label"]) for e in middle["frame_events"]] == [
        (0.0, pytest.approx(0.2), "crackle"),
        (pytest.approx(0.3), 1.0, "crackle"),
    ]
    assert CLASS_NAMES[middle["label"]] == "crackle"
    # 103_12_1_p1_31: one Wheeze+Crackle event 0.1-1.9 s is an event of each label
    both = rows[("103_12_1_p1_31", 1.0)]
    assert sorted(e["label"] for e in both["frame_events"]) == ["crackle", "wheeze"]
    assert CLASS_NAMES[both["label"]] == "both"
    # a Normal recording's windows are annotated with no crackle or wheeze: strong negatives, not weak
    normal = rows[("101_6.7_1_p1_11", 0.0)]
    assert normal["frame_events"] == [] and CLASS_NAMES[normal["label"]] == "normal"
    cycles = train.filter(lambda row: row["corpus"] == "icbhi")
    assert len(cycles) > 0 and set(map(str, cycles["frame_events"])) == {"None"}  # weak: labelled as a whole
    for name in ("validation", "test"):
        assert set(strong_splits[name]["corpus"]) == {"icbhi"}


def test_the_trainers_loss_is_the_task_loss_plus_the_frame_loss_of_the_batch(strong_splits, tmp_path) -> None:
    from respira.training import RespiraTrainer

    train = strong_splits["train"]
    rows = np.flatnonzero(np.asarray(train["corpus"]) == "sprsound")[:3].tolist()
    rows += np.flatnonzero(np.asarray(train["corpus"]) == "icbhi")[:3].tolist()
    batch_rows = [train[i] for i in rows]
    model = tiny_model(sampling_rate=4000, problem_type="multi_label_classification", projector_dim=None)
    args = RespiraTrainingArguments(
        output_dir=str(tmp_path / "run"),
        report_to="none",
        use_cpu=True,
        frame_loss_weight=0.7,
        task_loss_weight=0.5,
    )
    trainer = RespiraTrainer(model=model, args=args)
    collator = AudioCollator(sampling_rate=4000, training=False)
    batch = collator(batch_rows)
    assert batch["strong"].tolist() == [True] * 3 + [False] * 3
    model.train()
    loss = trainer.compute_loss(model, dict(batch))
    outputs = model(batch["input_values"], batch["attention_mask"], output_frames=True)
    flags = torch.tensor([[label in (1, 3), label in (2, 3)] for label in batch["labels"].tolist()])
    task = torch.nn.functional.binary_cross_entropy_with_logits(outputs.logits, flags.float())
    lengths = batch["attention_mask"].sum(dim=1) / 4000  # repeat padding: a short window repeats
    frames = FrameLoss(0.7)(
        outputs.frame_logits, outputs.frame_mask, outputs.frame_times, batch["frame_events"],
        batch["strong"], lengths,
    )  # fmt: skip
    assert frames.item() > 0
    assert loss.item() == pytest.approx(0.5 * task.item() + frames.item(), rel=1e-5)
    assert {"frame_loss", "frame/frame_strong"} <= set(trainer._components)


def _recipe(tmp_path: Path, sprsound_folder: Path, **options: Any) -> Path:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                **TINY_RECIPE,
                "projector_dim": None,
                "problem_type": "multi_label_classification",
                "sampling_rate": 4000,
                "corpora": ["icbhi", "sprsound"],
                "corpus_dirs": {"sprsound": str(sprsound_folder)},
                "corpus_window_seconds": WINDOW,
                "corpus_hop_seconds": HOP,
                "logging_steps": 1,
                **options,
            }
        )
    )
    return recipe


def _train(recipe: Path, corpus: Path, tmp_path: Path) -> int:
    return main(
        ["train", str(recipe), "--data_dir", str(corpus), "--output_dir", str(tmp_path / "run"),
         "--dataset_cache_dir", str(tmp_path / "cache")]
    )  # fmt: skip


def test_a_tiny_run_trains_time_steps_on_strong_labels(
    synthetic_corpus: Path, sprsound_folder: Path, tmp_path: Path, capsys
) -> None:
    options = {"strong_labels": True, "frame_loss_weight": 1.0}
    code = _train(_recipe(tmp_path, sprsound_folder, **options), synthetic_corpus, tmp_path)
    out = capsys.readouterr()
    assert code == 0, out.err
    assert " · strong frames " in out.out  # the term is logged
    record = RunRecord.load(tmp_path / "run")
    assert record.data.corpus_strong_labels is True
    assert record.training.hyperparameters["frame_loss_weight"] == 1.0
    card = " ".join((tmp_path / "run" / "README.md").read_text().split())
    assert "| frame loss weight (time steps against annotated events: strong labels) | `1` |" in card
    judged = [row for row in SPRSOUND_TINY if row[2] != "Poor Quality"]
    windows = len(judged) * (int((SPRSOUND_SECONDS - WINDOW) / HOP) + 1)
    patients = len({row[1].split("_")[0] for row in judged})
    sprsound = {c.name: c for c in record.data.corpora}["sprsound"]
    assert sprsound.examples == windows
    assert (
        f"sprsound (event labels: {patients} patients, {len(judged)} recordings, {windows} windows with "
        "their events' onsets and offsets)" in card
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"frame_loss_weight": 1.0},
            "frame_loss_weight trains time steps on events' times: set strong_labels",
        ),
        ({"strong_labels": True, "corpora": None, "corpus_dirs": None}, "strong_labels needs a corpus with"),
        (
            {
                "strong_labels": True,
                "frame_loss_weight": 1.0,
                "freeze_encoder": True,
                "cache_embeddings": True,
            },
            "which cached embeddings (cache_embeddings / augmented_views: no time steps) cannot",
        ),
        (
            {"strong_labels": True, "frame_loss_weight": 1.0, "augmentation": {"time_shift": {}}},
            "which the time_shift augmentation (it moves events in time) cannot",
        ),
        (
            {"pooling": "autopool", "freeze_encoder": True, "cache_embeddings": True},
            "pooling=autopool pools the head's logits on the encoder's time steps, which cached embeddings",
        ),
    ],
)
def test_frame_options_that_cannot_work_are_refused_in_one_line_before_any_work(
    synthetic_corpus: Path, sprsound_folder: Path, tmp_path: Path, capsys, options: dict, message: str
) -> None:
    code = _train(_recipe(tmp_path, sprsound_folder, **options), synthetic_corpus, tmp_path)
    error = capsys.readouterr().err
    assert code == 2
    assert message in error and len(error.strip().splitlines()) == 1, error
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()
