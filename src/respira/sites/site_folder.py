"""The model folder ``respira fit-site`` writes: the base model with a site's heads and thresholds, in Hub
layout like the shipped detector, so ``predict``, ``app``, :class:`~respira.Detector`, onnxruntime and
``trust_remote_code`` run it unchanged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..inference.embeddings import head_norm_statistics, site_head_refusal
from ..models.respira.decision import flag_order, validate_thresholds
from ..records.site_fit import CURVE_FIGURE, SiteFitRecord
from ..utils.files import staged_folder
from .options import HEAD_CANDIDATES

if TYPE_CHECKING:
    from ..models.respira import RespiraForAudioClassification


def apply_site_fit(model: RespiraForAudioClassification, fit: Any) -> None:
    """Give ``model`` (in place) the fit's heads, thresholds and recording rule."""
    heads = [flag for flag, chosen in enumerate(fit.chosen) if chosen in HEAD_CANDIDATES]
    if heads:
        refusal = site_head_refusal(model)
        if refusal is not None:
            raise ValueError(f"the model cannot take a site head: {refusal}")
        # the raw-space head as rows of the linear layer behind head_norm: w * sqrt(var + eps), b + w . mu
        weight, bias = np.asarray(fit.head_weight, np.float64), np.asarray(fit.head_bias, np.float64)
        statistics = head_norm_statistics(model)
        if statistics is not None:
            weight, bias = weight * statistics[1], bias + weight @ statistics[0]
        linear, order = model.classifier[-1], flag_order(model.config)
        with torch.no_grad():
            for flag in heads:
                linear.weight[order[flag]] = torch.as_tensor(weight[flag], dtype=linear.weight.dtype)
                linear.bias[order[flag]] = torch.as_tensor(bias[flag], dtype=linear.bias.dtype)
    model.config.decision_thresholds = list(validate_thresholds(list(fit.thresholds)))
    model.config.recording_aggregation = str(fit.aggregation)
    model.config.recording_top_k = None if fit.top_k is None else int(fit.top_k)


def write_site_folder(
    model: RespiraForAudioClassification,
    fit: Any,
    record: SiteFitRecord,
    output_dir: str | Path,
    *,
    base: str | Path,
    curve: Sequence[Mapping[str, Any]],
    overwrite: bool = False,
    onnx: bool = True,
) -> Path:
    """Write the site's model folder (weights, config, ONNX, code, checksums, run files and card), staged
    beside ``output_dir``; return it. ``model`` is changed in place (:func:`apply_site_fit`)."""
    from ..hub.card_render import render_folder_card
    from ..hub.export import write_model_files
    from ..hub.loading import quiet_transformers
    from ..hub.remote_code import remote_code_files

    output_dir = Path(output_dir).expanduser()
    apply_site_fit(model, fit)
    model.config.calibration = record.calibration()
    model.eval()
    message = f"output folder {output_dir} exists and is not empty; pass --overwrite to replace it"
    with (
        quiet_transformers(),
        staged_folder(output_dir, overwrite=overwrite, exists_message=message) as staging,
    ):
        model.save_pretrained(staging)
        record.save(staging, curve)
        _curve_figure(curve, staging / CURVE_FIGURE)
        write_model_files(staging, base, onnx=onnx, code=remote_code_files(), model=model)
        folder = Path(base).expanduser()
        render_folder_card(staging, base_folder=folder if folder.is_dir() else None)
    return output_dir


def _curve_figure(curve: Sequence[Mapping[str, Any]], path: Path) -> None:
    from ..reports.figures import new_figure, save_figure
    from .out_of_sample import draw_scores

    figure = new_figure(6.0, 4.0)
    ax = figure.add_subplot()
    by_name = draw_scores(curve)
    for name, points in by_name.items():
        sizes = sorted(points)
        mean = 100 * np.array([np.mean(points[n]) for n in sizes])
        spread = 100 * np.array([np.std(points[n]) for n in sizes])
        ax.plot(sizes, mean, marker="o", label=name.replace("_", " "))
        ax.fill_between(sizes, mean - spread, mean + spread, alpha=0.15)
    ax.set_xlabel("labelled units (patients) the procedure was fitted on")
    ax.set_ylabel("ICBHI-style score on the other units (%)")
    ax.set_title("fit-site learning curve (mean ± sd over draws)")
    if by_name:
        ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    save_figure(figure, path)
