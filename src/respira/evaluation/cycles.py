"""Evaluate a respira classifier on a dataset of cycles and write a report folder."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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
from ..models.respira.decision import decide_flags, flag_order, thresholds_of, validate_thresholds
from ..models.respira.labels import (
    CLASS_NAMES,
    MULTI_LABEL,
    MULTI_LABEL_NAMES,
    SINGLE_LABEL,
    classes_to_flags,
)
from ..models.respira.number_checks import check_whole
from ..reports.curves import label_curve_figures, plot_confusion_matrix
from ..reports.figures import save_figures
from ..utils.files import staged_folder, write_json_atomic, write_text_atomic
from ..utils.progress import stage

if TYPE_CHECKING:
    import datasets

    from ..models.respira import RespiraForAudioClassification

__all__ = ["check_dataset", "evaluate_model", "json_ready", "write_json"]

REPORT_FILES = ("metrics.json", "cycle_predictions.csv", "confusion_matrix.png")
"""The files every report holds (the curve plots follow)."""
_CYCLE_COLUMNS = ("recording", "cycle_index", "start", "end")


def json_ready(value: Any) -> Any:
    """``value`` with numpy types turned into Python ones and non-finite floats into ``None``."""
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return json_ready(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def write_json(path: str | Path, value: Any) -> Path:
    """Write ``json_ready(value)`` as indented JSON (non-finite → ``null``) atomically; return the path."""
    return write_json_atomic(path, json_ready(value))


def check_dataset(dataset: datasets.Dataset, columns: Sequence[str], needs: str) -> None:
    """One line when ``dataset`` lacks one of ``columns`` (``needs``: what needs them) or is empty."""
    missing = [column for column in columns if column not in dataset.column_names]
    if missing:
        raise ValueError(
            f"the dataset lacks column(s) {', '.join(missing)} (columns: {', '.join(dataset.column_names)}); "
            f"{needs}"
        )
    if len(dataset) == 0:
        raise ValueError("the dataset is empty: there is nothing to evaluate")


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
    check_dataset(dataset, (audio_column, label_column), "evaluation needs the audio and the label")
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

    with staged_folder(output_dir, overwrite=True) as output:
        write_json(output / "metrics.json", metrics)
        _write_predictions(output / "cycle_predictions.csv", dataset, labels, predictions, columns)
        plot_confusion_matrix(cm, CLASS_NAMES, output / "confusion_matrix.png")
        figures = label_curve_figures(
            flags, label_scores, classes_to_flags(predictions), thresholds=metrics.get("thresholds")
        )
        curves = save_figures(figures, output)
    metrics["files"] = [*REPORT_FILES, *(path.name for path in curves)]
    metrics["predictions"] = predictions
    return metrics
