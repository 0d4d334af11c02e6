"""Label-free adaptation of a trained model to a new site's unlabelled recordings (``respira adapt``).

**Head statistics**, estimated from the target audio alone: a frozen-encoder model standardises its
pooled embeddings before the head (``config.head_norm``: a BatchNorm without affine parameters). Its
running mean and variance were estimated on the training site; a new stethoscope or room shifts the
embeddings. They are replaced by the mean and the (unbiased, as BatchNorm accumulates it) variance of the
target's embeddings, over sliding windows of every target recording.

It is not applied by default (:data:`DEFAULT_METHODS`): on leave-one-site-out (train on two of ICBHI,
KAUH and SPRSound, adapt to and score the third; ``studies/leave_one_site_out.py``) it did not raise the
score on every held-out site. A user names it; it then warns with its numbers (:data:`MEASURED`). A prior
shift of the thresholds (Saerens et al.'s EM) lowered the score most and was retired. Labels of a few of
the site's patients do better: ``respira calibrate``.

:func:`adapt_model` changes a loaded model in memory (what ``predict --adapt`` / ``evaluate --adapt`` do
on the batch they score); :func:`write_adapted_model` writes the adapted model as a new folder, staged
and moved into place, with ``config.adaptation`` and a card section saying what it was adapted on.
"""

from __future__ import annotations

import math
import shutil
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..audio.dsp import prepare_recording
from ..data.corpora import CORPORA, resolve
from ..utils.files import staged_folder
from ..utils.progress import progress

if TYPE_CHECKING:
    from ..models.respira import RespiraForAudioClassification

__all__ = [
    "BENCHMARK_SECTIONS",
    "DEFAULT_METHODS",
    "MEASURED",
    "RELIABLE_WINDOWS",
    "Adaptation",
    "AdaptationWarning",
    "MeasuredHarmWarning",
    "adapt_model",
    "adapt_on_split",
    "adaptation_card_section",
    "adaptation_options",
    "check_adaptation_options",
    "head_norm_statistics",
    "target_recordings",
    "window_embeddings",
    "write_adapted_model",
    "write_derived_model",
]

METHODS: tuple[str, ...] = ("head_norm",)
"""What :func:`adapt_model` can re-estimate."""
DEFAULT_METHODS: tuple[str, ...] = ()
"""What is applied when no method is named: only a method that raised the held-out ICBHI score on every
rotation of leave-one-site-out at 3 seeds (``studies/leave_one_site_out.py``, BENCHMARKS.md). None did,
so none is: an adaptation is asked for by name, and then warned about (:data:`MEASURED`)."""
BENCHMARK_SECTIONS: tuple[str, ...] = ("## `respira adapt` and `respira calibrate`",)
"""The BENCHMARKS.md sections (their headings' starts) every number quoted in :data:`MEASURED`,
:data:`NO_DEFAULT` and ``respira adapt``'s help comes from (each figure there is in the results history's
sections: leave-one-site-out measured heads trained on two sites, 3 seeds, and the calibration of a head
trained on ICBHI alone, as the shipped flagship's is; "A new site" measured the methods on a head trained on
ICBHI alone, scored on KAUH, one seed)."""
MEASURED: dict[str, str] = {
    "head_norm": "head_norm changed the held-out ICBHI score by +4.7 points on average over the three "
    "leave-one-site-out rotations (95 % interval +0.6 to +8.8) but by -5.0 on KAUH; on a head trained on "
    "ICBHI alone, as shipped, it lowered KAUH's from 44.9 to 24.5",
}
"""What the benchmarks measured of each method (:data:`BENCHMARK_SECTIONS`), said when it is applied: the
average and the worst site, and on the shipped kind of head."""
NO_DEFAULT = (
    "name the adaptation to apply (--methods head_norm): none is applied by default, as it did not raise "
    "the ICBHI score on every held-out site of leave-one-site-out (BENCHMARKS.md: head_norm +4.7 on "
    "average but -5.0 on KAUH; on a head trained on ICBHI alone, as shipped, head_norm "
    "lowered KAUH's from 44.9 to 24.5); respira calibrate on 5 labelled patients of the site raised a "
    "two-site head's by 9.1 but lowered one trained on ICBHI alone by 3.8 (by 1.2 with the out-of-sample "
    "check it applies by default)"
)
RELIABLE_WINDOWS = 33
"""Fewest target windows whose statistics are trusted without a warning: a variance estimated from ``n``
windows has a relative standard error of ``sqrt(2 / (n - 1))``, 25 % at 33 (141 % at 2)."""
CARRIED_FILES: tuple[str, ...] = ("preprocessor_config.json",)
"""Files of the source model folder the adapted folder keeps as they are (besides the model code)."""


class AdaptationWarning(UserWarning):
    """The target audio is too short for the statistics an adaptation re-estimates to be trusted."""


class MeasuredHarmWarning(UserWarning):
    """An adaptation method is applied although the project's own benchmark showed it can lower the score
    on a new site (:data:`MEASURED`)."""


@dataclass
class Adaptation:
    """What an adaptation did: the target, its size, the methods applied and the thresholds moved."""

    target: str
    recordings: int
    windows: int
    window_seconds: float
    hop_seconds: float
    methods: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Method -> why it was not applied (e.g. the model has no ``head_norm``)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def target_recordings(data_dir: str | Path, dataset: str = "icbhi") -> dict[str, Path]:
    """The audio files of a target folder (name -> path): those of a corpus (its spec's ``locate``: an
    ICBHI download, a KAUH folder...), or (``folder``) every ``.wav`` / ``.flac`` file directly in
    ``data_dir``.

    Only the audio is used: annotations and the labels in KAUH names are ignored. A folder without
    recordings raises a one-line error naming it.
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


def window_embeddings(
    model: RespiraForAudioClassification,
    waveforms: Iterable[np.ndarray],
    *,
    window: float = 4.0,
    hop: float = 2.0,
    batch_size: int = 32,
) -> np.ndarray:
    """``[windows, hidden]`` pooled embeddings of sliding windows over each waveform (at the model's rate,
    not yet low-passed: the model's input preprocessing is applied here, as ``predict`` does)."""
    from ..inference.engine import _window_samples, window_starts
    from ..models.embeddings import embed_waveforms

    window_samples, hop_samples = _window_samples(model, window, hop, 1)

    def crops() -> Iterable[np.ndarray]:
        for waveform in waveforms:
            prepared = prepare_recording(model.config, waveform)
            for start in window_starts(len(prepared), window_samples, hop_samples):
                yield prepared[int(start) : int(start) + window_samples]

    return embed_waveforms(model, crops(), batch_size=batch_size)


def head_norm_statistics(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased variance per feature: what a cumulative BatchNorm holds after ``embeddings``."""
    array = np.asarray(embeddings, dtype=np.float64)
    if array.ndim != 2 or len(array) < 2:
        raise ValueError(f"re-estimating head statistics needs at least 2 windows, got {len(array)}")
    return array.mean(axis=0), array.var(axis=0, ddof=1)


def inapplicable(model: RespiraForAudioClassification, method: str) -> str | None:
    """Why ``method`` cannot adapt ``model`` (``None``: it can)."""
    if method == "head_norm" and model.head_norm is None:
        return "the model has no head_norm (config.head_norm is false)"
    return None


def check_adaptation(
    model: RespiraForAudioClassification,
    *,
    methods: Sequence[str] | None = None,
) -> None:
    """Raise a one-line ``ValueError`` for options :func:`adapt_model` cannot honour (before any audio),
    among them no method named (:data:`DEFAULT_METHODS` is empty) and methods none of which applies to
    ``model`` (an "adapted" model identical to it)."""
    methods = DEFAULT_METHODS if methods is None else tuple(methods)
    if not methods:
        raise ValueError(NO_DEFAULT)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"adaptation methods must be among {', '.join(METHODS)}, got {list(methods)!r}")
    reasons = {method: inapplicable(model, method) for method in methods}
    if all(reasons.values()):
        said = "; ".join(f"{method}: {reason}" for method, reason in reasons.items())
        raise ValueError(f"nothing to adapt in this model ({said})")


def adapt_model(
    model: RespiraForAudioClassification,
    waveforms: Iterable[np.ndarray],
    *,
    target: str,
    methods: Sequence[str] | None = None,
    window: float = 4.0,
    hop: float = 2.0,
    batch_size: int = 32,
) -> Adaptation:
    """Adapt ``model`` in place to the target ``waveforms`` (at its sampling rate); return what was done.

    ``methods`` (none by default, :data:`DEFAULT_METHODS`: name them): ``head_norm`` (re-estimate the head's
    standardisation); refused when none of them applies (:func:`inapplicable`). Each applied method warns
    with what the leave-one-site-out benchmark measured of it (:data:`MEASURED`).
    ``config.adaptation`` records the returned :class:`Adaptation`.
    """
    check_adaptation(model, methods=methods)
    methods = tuple(methods or ())
    for method in methods:
        if method in MEASURED and not inapplicable(model, method):
            warnings.warn(f"{MEASURED[method]} (BENCHMARKS.md)", MeasuredHarmWarning, stacklevel=2)
    recordings = list(waveforms)
    shown = progress(recordings, "adapting: embedding the windows of the target audio", unit="recording")
    embeddings = window_embeddings(model, shown, window=window, hop=hop, batch_size=batch_size)
    report = Adaptation(target, len(recordings), len(embeddings), float(window), float(hop))
    if 2 <= len(embeddings) < RELIABLE_WINDOWS:
        error = 100 * math.sqrt(2 / (len(embeddings) - 1))
        warnings.warn(
            f"adapting on {len(embeddings)} windows of {target}: a statistic re-estimated from so few is "
            f"uncertain by about ±{error:.0f} % (a variance's relative standard error); adapt on more of the "
            f"site's audio, {RELIABLE_WINDOWS} windows or more",
            AdaptationWarning,
            stacklevel=2,
        )
    for method in methods:
        if reason := inapplicable(model, method):
            report.skipped[method] = reason
    if "head_norm" in methods and "head_norm" not in report.skipped:
        mean, variance = head_norm_statistics(np.asarray(embeddings, dtype=np.float32))
        norm = model.head_norm
        norm.running_mean.copy_(torch.as_tensor(mean, dtype=norm.running_mean.dtype))
        norm.running_var.copy_(torch.as_tensor(variance, dtype=norm.running_var.dtype))
        report.methods.append("head_norm")
    model.config.adaptation = report.to_dict()
    return report


def adaptation_card_section(report: Adaptation) -> str:
    """The model card's section on the adaptation (Markdown)."""
    lines = [
        "## Adaptation to a new site (label-free)",
        "",
        f"This model was adapted with `respira adapt` on the **unlabelled** audio of `{report.target}` "
        f"({report.recordings} recordings, {report.windows} windows of {report.window_seconds:g} s every "
        f"{report.hop_seconds:g} s); no labels of that site were used.",
        "",
    ]
    if "head_norm" in report.methods:
        lines.append(
            "- `head_norm` statistics (the standardisation of the pooled embeddings before the head) were "
            "re-estimated as the mean and variance of the target's window embeddings."
        )
    for method, reason in report.skipped.items():
        lines.append(f"- `{method}` not applied: {reason}.")
    lines += [
        "",
        "The results reported above are those of the model before adaptation; the adapted model has not "
        "been scored on labelled data of the target site.",
        "",
    ]
    return "\n".join(lines)


def write_adapted_model(
    model: RespiraForAudioClassification,
    report: Adaptation,
    source: str | Path,
    output_dir: str | Path,
    *,
    overwrite: bool = False,
) -> Path:
    """Write the adapted ``model`` to ``output_dir`` (:func:`write_derived_model`, with
    :func:`adaptation_card_section`) and return it."""
    return write_derived_model(
        model, source, output_dir, card_section=adaptation_card_section(report), overwrite=overwrite
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
    """Write ``model``, changed from the model at ``source``, as a new folder ``output_dir`` (staged, then
    moved into place; an occupied ``output_dir`` is refused unless ``overwrite``) and return it.

    Keeps from the ``source`` folder (when it is one) its preprocessor config, shipped model code and
    model card, with ``card_section`` appended; ``extra(staging)`` may add files (a report). An ONNX
    export is not kept: it holds the weights and thresholds from before.
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


def adaptation_options(options: Any) -> dict[str, Any]:
    """Keyword arguments of :func:`adapt_model` from ``options``' fields of
    :class:`~respira.sites.options.AdaptationOptions`."""
    return {
        "methods": options.methods,
        "window": options.adapt_window,
        "hop": options.adapt_hop,
    }


def check_adaptation_options(model: Any, options: Any) -> None:
    """Every adaptation option checked on the loaded model before any audio is read."""
    from ..inference.engine import _window_samples

    check_adaptation(model, methods=options.methods)
    _window_samples(model, options.adapt_window, options.adapt_hop, 1)


def adapt_on_split(model: Any, split: Any, options: Any, target: str) -> None:
    """``--adapt``: adapt ``model`` in memory to the audio of the examples it is about to score (their
    labels are not read); ``options``: the adaptation options and ``batch_size``."""
    from ..audio.decoding import decode_audio

    rate = int(model.config.sampling_rate)
    audio = split.select_columns(["audio"])
    report = adapt_model(
        model,
        (decode_audio(example["audio"], rate) for example in audio),
        target=target,
        batch_size=options.batch_size,
        **adaptation_options(options),
    )
    print(f"adapted ({', '.join(report.methods) or 'nothing applied'}) on {report.windows} windows")
