"""A quality verdict: learn when a recording is too poor to judge (``respira quality``).

SPRSound's annotators marked recordings too poor to judge (record label ``Poor Quality``); a detector
without a quality verdict calls them normal or not, with crackle and wheeze probabilities that mean
nothing. :func:`fit_quality` gives a model a **quality head**: a linear read-out of the pooled embedding
its classifier reads (``RespiraForAudioClassification.quality_head``), whose sigmoid is the probability
that an input is too poor to judge.

- Units: 4-s windows every 2 s of each labelled recording (the windows ``respira predict`` scores), each
  labelled with its recording's label; a recording's quality probability is the **mean** over its windows.
- Fit: per-feature standardisation, then an L2 logistic regression, class-balanced (poor recordings are
  few: 39 of 641 in the SPRSound sample), ``C=0.01`` (strong regularisation: a few hundred recordings, a
  few hundred features); the standardisation is folded into the linear layer.
- Threshold: chosen **out of fold** (patient-grouped folds: no patient's recordings both fit and score
  the threshold) as the recording score with the best Youden's J (sensitivity + specificity - 1 for
  "poor"), or, given a largest share of the other recordings to withhold, the lowest score within it;
  the out-of-fold AUC and how often the verdict is withheld (of poor recordings, of the others) at that
  threshold are what the model's config and card report. The final head is fitted on every recording.

Every consumer decides with :func:`respira.core.decision.withheld` (``config.quality["threshold"]``).
:func:`write_derived_model` writes the model with its quality head as a new folder; :func:`target_recordings`
lists the audio of the other sites it is measured on (``--measure_on``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from ..audio.dsp import prepare_recording
from ..core.decision import withheld
from ..data.corpora import CORPORA, resolve
from ..utils.files import staged_folder
from ..utils.progress import progress

if TYPE_CHECKING:
    from ..models.respira import RespiraForAudioClassification

__all__ = [
    "QualityFit",
    "fit_quality",
    "measure_elsewhere",
    "quality_card_section",
    "target_recordings",
    "write_derived_model",
]

REGULARISATION = 0.01
"""The logistic regression's ``C`` (inverse L2 strength)."""
CARRIED_FILES: tuple[str, ...] = ("preprocessor_config.json",)
"""Files of the source model folder the new folder keeps as they are (besides the model code)."""


@dataclass(frozen=True)
class QualityFit:
    """What :func:`fit_quality` found: the ``threshold``, the out-of-fold ``auc`` (%) and shares (%) of
    poor and other recordings withheld at it, and what it was fitted on."""

    threshold: float
    auc: float
    withheld_poor: float
    withheld_other: float
    recordings: int
    poor: int
    patients: int
    windows: int
    folds: int
    fitted_on: str
    elsewhere: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per other site measured (:func:`measure_elsewhere`): ``recordings`` and the share (%) ``withheld``."""

    def to_config(self) -> dict[str, Any]:
        """``config.quality``: the threshold and the rest, as plain JSON values."""
        return asdict(self)


def target_recordings(data_dir: str | Path, dataset: str = "icbhi") -> dict[str, Path]:
    """The audio files (name -> path) of a corpus's folder, or (``folder``) the ``.wav`` / ``.flac`` in
    ``data_dir``; annotations are ignored. A folder without recordings raises a one-line error.
    """
    if dataset == "folder":
        from ..data.layout import AUDIO_SUFFIXES

        root = Path(data_dir).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"target folder {root} does not exist or is not a folder")
        files = {
            p.name: p
            for p in sorted(root.iterdir())
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in AUDIO_SUFFIXES
        }
        if not files:
            raise FileNotFoundError(f"no audio files (.wav, .flac) in {root}")
        return files
    if dataset not in CORPORA:
        raise ValueError(f"dataset must be one of {', '.join([*CORPORA, 'folder'])}, got {dataset!r}")
    return dict(resolve(CORPORA[dataset].locate)(data_dir).audio_files)


def _window_embeddings(
    model: RespiraForAudioClassification,
    waveforms: Iterable[np.ndarray],
    *,
    window: float = 4.0,
    hop: float = 2.0,
    batch_size: int = 32,
) -> np.ndarray:
    """``[windows, hidden]`` pooled embeddings of the windows ``predict`` cuts of each waveform."""
    from ..inference.engine import _window_samples, window_starts
    from ..models.embeddings import embed_waveforms

    window_samples, hop_samples = _window_samples(model, window, hop, 1)

    def crops() -> Iterable[np.ndarray]:
        for waveform in waveforms:
            prepared = prepare_recording(model.config, waveform)
            for start in window_starts(len(prepared), window_samples, hop_samples):
                yield prepared[int(start) : int(start) + window_samples]

    return embed_waveforms(model, crops(), batch_size=batch_size)


def _logistic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Weights and bias of the standardised, class-balanced L2 logistic regression, in ``x``'s units."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=REGULARISATION, class_weight="balanced", max_iter=3000)
    model.fit(scaler.transform(x), y)
    weights = model.coef_[0] / scaler.scale_
    return weights, float(model.intercept_[0] - np.dot(weights, scaler.mean_))


def _recording_scores(
    x: np.ndarray, owner: np.ndarray, count: int, weights: np.ndarray, bias: float
) -> np.ndarray:
    window = 1.0 / (1.0 + np.exp(-(x @ weights + bias)))
    return np.bincount(owner, weights=window, minlength=count) / np.bincount(owner, minlength=count)


def _threshold(scores: np.ndarray, poor: np.ndarray, max_withheld_other: float | None) -> float:
    """The recording score with the best Youden's J or, given ``max_withheld_other`` (%), the lowest one
    that withholds at most that share of the other recordings."""
    candidates = np.append(np.unique(scores), np.nextafter(1.0, 2.0))
    rates = [withheld(scores, {"quality": {"threshold": min(t, 1.0)}}) for t in candidates]
    if max_withheld_other is not None:
        allowed = [
            t for t, w in zip(candidates, rates, strict=True) if 100 * w[~poor].mean() <= max_withheld_other
        ]
        return float(min(allowed[0], 1.0))
    j = [w[poor].mean() - w[~poor].mean() for w in rates]
    return float(candidates[int(np.argmax(j))])


def fit_quality(
    model: RespiraForAudioClassification,
    recordings: Sequence[np.ndarray],
    poor: Sequence[bool],
    patients: Sequence[Any],
    *,
    fitted_on: str,
    folds: int = 5,
    seed: int = 0,
    window: float = 4.0,
    hop: float = 2.0,
    batch_size: int = 32,
    max_withheld_other: float | None = None,
) -> QualityFit:
    """Give ``model`` a quality head fitted on ``recordings`` labelled ``poor``; set ``config.quality``.

    ``max_withheld_other``: choose the lowest threshold withholding at most that percentage of the other
    recordings out of fold, instead of Youden's J.
    """
    from sklearn.metrics import roc_auc_score

    from ..data.folds import patient_kfold

    poor_array = np.asarray(poor, dtype=bool)
    if len(recordings) != poor_array.size or poor_array.size != len(patients):
        raise ValueError("recordings, poor and patients must have one entry per recording")
    if poor_array.sum() < folds or (~poor_array).sum() < folds:
        raise ValueError(
            f"fitting a quality verdict needs at least {folds} recordings of each kind, got "
            f"{int(poor_array.sum())} too poor to judge and {int((~poor_array).sum())} others"
        )
    embedded = [
        _window_embeddings(model, [waveform], window=window, hop=hop, batch_size=batch_size)
        for waveform in progress(recordings, "quality: embedding the windows", unit="recording")
    ]
    x = np.concatenate(embedded).astype(np.float64)
    owner = np.repeat(np.arange(len(recordings)), [len(e) for e in embedded])
    index = pd.DataFrame({"patient_id": list(patients), "label": poor_array.astype(int)})
    fold = patient_kfold(index, folds, seed=seed, stratify_by="label", require_all="label").to_numpy()
    out_of_fold = np.zeros(len(recordings))
    for held in range(folds):
        fit_rows = ~np.isin(owner, np.flatnonzero(fold == held))
        weights, bias = _logistic(x[fit_rows], poor_array[owner[fit_rows]])
        scores = _recording_scores(x, owner, len(recordings), weights, bias)
        out_of_fold[fold == held] = scores[fold == held]
    threshold = _threshold(out_of_fold, poor_array, max_withheld_other)
    decided = withheld(out_of_fold, {"quality": {"threshold": threshold}})
    weights, bias = _logistic(x, poor_array[owner])
    head = torch.nn.Linear(x.shape[1], 1).to(device=model.device, dtype=model.dtype)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(weights).to(head.weight)[None])
        head.bias.fill_(bias)
    model.quality_head = head
    result = QualityFit(
        threshold=threshold,
        auc=100 * float(roc_auc_score(poor_array, out_of_fold)),
        withheld_poor=100 * float(np.mean(decided[poor_array])),
        withheld_other=100 * float(np.mean(decided[~poor_array])),
        recordings=len(recordings),
        poor=int(poor_array.sum()),
        patients=int(np.unique(np.asarray(patients)).size),
        windows=int(x.shape[0]),
        folds=folds,
        fitted_on=fitted_on,
    )
    model.config.quality = result.to_config()
    return result


def measure_elsewhere(
    model: RespiraForAudioClassification,
    fit: QualityFit,
    sites: dict[str, list[Path]],
    *,
    batch_size: int = 32,
) -> QualityFit:
    """``fit`` with how often ``model`` withholds its verdict on each other site's recordings (also in
    ``config.quality``)."""
    from ..inference.engine import predict_files

    elsewhere = {}
    for name, files in sites.items():
        shown = partial(progress, description=f"quality: measuring on {name}", unit="recording")
        rows, errors = predict_files(model, files, batch_size=batch_size, track=shown)
        if errors:
            raise ValueError(errors[0][1])
        quality = pd.DataFrame(rows).groupby("file", sort=False)["quality"].mean()
        decided = withheld(quality.to_numpy(), model.config)
        elsewhere[name] = {"recordings": len(files), "withheld": 100 * float(np.mean(decided))}
    measured = replace(fit, elsewhere=elsewhere)
    model.config.quality = measured.to_config()
    return measured


def quality_card_section(fit: QualityFit) -> str:
    """The model card's section on the quality verdict."""
    return (
        "\n## Quality verdict\n\n"
        f"This model withholds its verdict on a recording it judges too poor to judge: a quality head fitted "
        f"by `respira quality` on {fit.fitted_on} ({fit.recordings} recordings of {fit.patients} patients, "
        f"{fit.poor} marked too poor to judge) reads the pooled embedding of each 4-s window; a recording "
        f"whose windows' mean probability reaches {fit.threshold:.3f} is labelled `poor_quality` instead of "
        f"a verdict. Out of fold ({fit.folds} patient groups) it ranks poor recordings above the others "
        f"with an AUC of {fit.auc:.1f} % and withholds the verdict on {fit.withheld_poor:.0f} % of the poor "
        f"recordings and {fit.withheld_other:.0f} % of the others."
        + (
            " Elsewhere, where every recording was judged by its annotators, it withholds the verdict on "
            + ", ".join(
                f"{values['withheld']:.0f} % of {values['recordings']} recordings of {name}"
                for name, values in fit.elsewhere.items()
            )
            + "."
            if fit.elsewhere
            else " Measured on one site only: how often it withholds elsewhere is not known until measured "
            "there (`respira quality --measure_on NAME=FOLDER`)."
        )
        + "\n"
    )


def write_derived_model(
    model: RespiraForAudioClassification,
    source: str | Path,
    output_dir: str | Path,
    *,
    card_section: str,
    extra: Callable[[Path], None] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``model``, changed from the model at ``source``, as a new folder ``output_dir``; return it.

    Keeps ``source``'s preprocessor config, model code and card (``card_section`` appended), not its ONNX
    export (old weights); ``extra(staging)`` may add files. An occupied ``output_dir`` needs ``overwrite``.
    """
    output_dir = Path(output_dir).expanduser()
    folder = Path(source).expanduser()
    folder = folder if folder.is_dir() else None
    message = f"output folder {output_dir} exists and is not empty; pass --overwrite to replace it"
    from transformers.utils import logging as transformers_logging

    bars = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()  # no "Writing model shards" bar in command output
    try:
        with staged_folder(output_dir, overwrite=overwrite, exists_message=message) as staging:
            _fill(staging, model, card_section, folder)
            if extra is not None:
                extra(staging)
    finally:
        if bars:
            transformers_logging.enable_progress_bar()
    return output_dir


def _fill(staging: Path, model: RespiraForAudioClassification, section: str, folder: Path | None) -> None:
    """The new folder's files: weights and config, the source's preprocessor and code (generated when the
    source declares it in ``auto_map`` without its files, as a shipped detector does), the card."""
    from ..hub.remote_code import write_remote_code
    from ..models.respira.feature_extraction_respira import feature_extractor_for

    model.save_pretrained(staging)
    if folder is not None:
        for name in (*CARRIED_FILES, *(p.name for p in folder.glob("*.py"))):
            if (folder / name).is_file():
                shutil.copyfile(folder / name, staging / name)
    if not (staging / "preprocessor_config.json").is_file():
        feature_extractor_for(model.config).save_pretrained(staging)
    if getattr(model.config, "auto_map", None) and not any(staging.glob("*.py")):
        write_remote_code(staging)  # a shipped detector declares its code, which its copies write
    readme = folder / "README.md" if folder is not None else None
    card = readme.read_text(encoding="utf-8") if readme is not None and readme.is_file() else ""
    card = (card.rstrip() + "\n\n" if card else "") + section
    (staging / "README.md").write_text(card, encoding="utf-8")
