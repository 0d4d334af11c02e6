"""Evaluate a respira classifier on a dataset of cycles and write a report folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..inference.detector import Detector
from ..metrics import (
    confusion_matrix,
    icbhi_scores,
    multilabel_scores,
    per_patient_icbhi,
    sigmoid,
    trivial_baselines,
)
from ..metrics.baselines import icbhi_below_baselines
from ..metrics.groups import scores_by_metadata
from ..metrics.multilabel import average_precision, label_probabilities, roc_auc
from ..models.respira.audio_decoding import check_whole
from ..models.respira.decision import decide_flags, flag_order, thresholds_of, validate_thresholds
from ..models.respira.labels import (
    CLASS_NAMES,
    MULTI_LABEL,
    MULTI_LABEL_NAMES,
    SINGLE_LABEL,
    classes_to_flags,
)
from ..reports.curves import label_curve_figures, plot_confusion_matrix
from ..utils.files import write_text_atomic
from ..utils.progress import stage
from .protocol import Protocol, write_report

if TYPE_CHECKING:
    import datasets

    from ..models.respira import RespiraForAudioClassification

__all__ = ["CYCLES", "evaluate_model"]

CYCLES = Protocol(
    name="cycles",
    columns=(),  # the audio and label columns evaluate_model is given
    needs="evaluation needs the audio and the label",
    unit="cycle",
    runs="run_dataset",
    grouping="every cycle, then by device and chest location (the metadata the dataset holds)",
    files=("metrics.json", "cycle_predictions.csv", "confusion_matrix.png"),
)
"""Annotated cycles, each scored as one window; the curve plots follow the report's files."""
_CYCLE_COLUMNS = ("recording", "cycle_index", "start", "end")


def _write_predictions(
    path: Path,
    dataset: datasets.Dataset,
    labels: np.ndarray,
    predictions: np.ndarray,
    probabilities: dict[str, np.ndarray],
) -> None:
    """``cycle_predictions.csv``: identity columns, true and predicted class, probabilities."""
    import pandas as pd

    table = pd.DataFrame({name: dataset[name] for name in _CYCLE_COLUMNS if name in dataset.column_names})
    table["label"] = [CLASS_NAMES[int(label)] for label in labels]
    table["predicted"] = [CLASS_NAMES[int(label)] for label in predictions]
    for name, values in probabilities.items():
        table[name] = values
    write_text_atomic(path, table.to_csv(index=False))


def evaluate_model(
    model: RespiraForAudioClassification,
    dataset: datasets.Dataset,
    *,
    output_dir: str | Path,
    batch_size: int = 16,
    thresholds: Sequence[float] | None = None,
    audio_column: str = "audio",
    label_column: str = "label",
    logits: np.ndarray | None = None,
) -> dict[str, Any]:
    """Score ``model`` (or take its ``logits``) on a ``datasets.Dataset`` of cycles; write the report files
    to ``output_dir``."""
    check_whole(batch_size, "batch_size")
    CYCLES.check(dataset, (audio_column, label_column))
    problem_type = model.config.problem_type or SINGLE_LABEL
    if problem_type != MULTI_LABEL and thresholds is not None:
        raise ValueError("thresholds apply to multi-label (crackle, wheeze) models only")

    if logits is None:
        with stage("scoring cycles", len(dataset), "cycle") as shown:
            track = shown.track
            logits = Detector(model).run_dataset(
                dataset, "logits", batch_size=batch_size, audio_column=audio_column, track=track
            )
    logits = np.stack(logits).astype(np.float64)[:, flag_order(model.config)]  # the labels in flag order
    labels = np.asarray(dataset[label_column], dtype=np.int64)
    metrics: dict[str, Any] = {"num_examples": len(labels), "problem_type": problem_type}
    if problem_type == MULTI_LABEL:
        used = thresholds_of(model.config) if thresholds is None else validate_thresholds(thresholds)
        probabilities = sigmoid(logits)
        metrics.update(multilabel_scores(classes_to_flags(labels), probabilities, used))
        predictions = decide_flags(probabilities, used).classes
        metrics["thresholds"] = list(used)
        columns = dict(zip(MULTI_LABEL_NAMES, probabilities.T, strict=True))
    else:
        from scipy.special import softmax

        predictions = logits.argmax(axis=1)
        metrics.update(icbhi_scores(labels, predictions))
        probabilities = softmax(logits, axis=1)
        columns = {f"p_{name}": probabilities[:, index] for index, name in enumerate(CLASS_NAMES)}
    patients = dataset["patient_id"] if "patient_id" in dataset.column_names else None
    if patients is not None:
        metrics.update(per_patient_icbhi(labels, predictions, patients, warn=False))
    metrics.update(trivial_baselines(labels, patient_ids=patients))
    metrics["below_baseline"] = [entry.to_dict() for entry in icbhi_below_baselines(metrics)]
    metrics.update(scores_by_metadata(labels, predictions, dataset))  # by_device, by_chest_location
    flags = classes_to_flags(labels)
    label_scores = probabilities if problem_type == MULTI_LABEL else label_probabilities(probabilities)
    for index, name in enumerate(MULTI_LABEL_NAMES):  # threshold-free; nan for a label with one class
        y, values = flags[:, index], label_scores[:, index]
        metrics[f"auc_{name}"] = roc_auc(y, values)
        metrics[f"average_precision_{name}"] = np.nan if y.all() else average_precision(y, values)
    cm = confusion_matrix(labels, predictions)
    metrics["class_names"] = list(CLASS_NAMES)
    metrics["confusion_matrix"] = cm.tolist()

    writers = {
        "cycle_predictions.csv": lambda path: _write_predictions(path, dataset, labels, predictions, columns),
        "confusion_matrix.png": lambda path: plot_confusion_matrix(cm, CLASS_NAMES, path),
    }
    metrics["files"] = write_report(
        CYCLES,
        output_dir,
        metrics,
        writers,
        lambda: label_curve_figures(
            flags, label_scores, classes_to_flags(predictions), thresholds=metrics.get("thresholds")
        ),
    )
    metrics["predictions"] = predictions
    return metrics
