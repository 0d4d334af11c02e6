"""The features ``studies/transfer_probe.py`` probes: every ICBHI cycle and KAUH window of ``../shared``
through the frozen AudioSet EfficientAT mn04 once (pooled features of every block, the AudioSet logits), and
the hand-crafted lung-sound features of ``_acoustic_features.py``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

import _protocols as protocols
from _acoustic_features import acoustic_features
from _common import respira
from _study_methods import LOWPASS
from respira.audio import decode_audio
from respira.audio.dsp import lowpass, pad_batch
from respira.core.windows import window_starts
from respira.data import load_kauh
from respira.labels import classes_to_flags
from respira.metrics.recording_level import RECORDING_LABELS
from respira.training.splits.datasets import load_splits

RATE, WINDOW, HOP, BATCH = 32_000, 4.0, 4.0, 16


def block_features(model, waveforms: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Per waveform: the flagship's embedding (``final``: the last block's mean, as ``pooling: mean``),
    and per block ``b<i>`` the mean over frequency and time and, over time of the frequency means, the
    standard deviation and the maximum."""
    chunks: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(waveforms), BATCH):
        padded, mask = pad_batch(waveforms[start : start + BATCH])
        with torch.no_grad():
            output = model.respira(padded, attention_mask=mask, output_hidden_states=True)
        parts = {"final": output.embeddings}
        for i, hidden in enumerate(output.hidden_states):
            over_time = hidden.mean(dim=2)  # [batch, channels, frames]
            parts |= {
                f"b{i}_mean": over_time.mean(2),
                f"b{i}_std": over_time.std(2),
                f"b{i}_max": over_time.amax(2),
            }
        for name, value in parts.items():
            chunks.setdefault(name, []).append(value.float().numpy())
    return {name: np.concatenate(values) for name, values in chunks.items()}


def audioset_logits(tagger, waveforms: Iterable[np.ndarray]) -> np.ndarray:
    """The pretrained AudioSet head's 527 logits of each waveform (one at a time: no padding)."""
    with torch.no_grad():
        return np.stack(
            [
                tagger(torch.from_numpy(w)[None], input_features_are_waveform=True).logits[0].numpy()
                for w in waveforms
            ]
        )


def kauh_windows(shared: Path) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """4-s windows every 4 s of each KAUH recording low-passed as the flagship's model does, with the
    recording's labels, filter mode, patient and name repeated per window."""
    kauh = load_kauh(shared / "kauh", sampling_rate=RATE)["test"]
    window, hop = int(WINDOW * RATE), int(HOP * RATE)
    waveforms, meta = [], {"flags": [], "domain": [], "patient": [], "recording": []}
    for example in kauh:
        recording = lowpass(decode_audio(example["audio"], RATE), RATE, LOWPASS)
        starts = window_starts(recording.size, window, hop) if recording.size >= window else [0]
        for start in starts:
            waveforms.append(recording[start : start + window])
            meta["flags"].append([example[label] for label in RECORDING_LABELS[:2]])
            meta["domain"].append(example["filter_mode"])
            meta["patient"].append(f"kauh_{example['patient_id']}")
            meta["recording"].append(example["recording"])
    return waveforms, {k: np.asarray(v) for k, v in meta.items()}


def icbhi_cycles(shared: Path) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Every ICBHI cycle, built as the flagship's training cycles are (4 kHz low-pass)."""
    import datasets

    record = protocols.protocol_record(shared / "icbhi", "icbhi_to_kauh", 1, 0, rate=RATE, lowpass=LOWPASS)
    splits = load_splits(record)
    cycles = datasets.concatenate_datasets([splits[name] for name in ("train", "validation")])
    meta = {
        "flags": classes_to_flags(np.asarray(cycles["label"])),
        "domain": np.asarray(cycles["device"]),
        "patient": np.asarray([str(p) for p in cycles["patient_id"]]),
        "recording": np.asarray(cycles["recording"]),
    }
    return [decode_audio(a, RATE) for a in cycles["audio"]], meta


def flagship_encoder(work: Path, target_seconds: float = 8.0):
    """The flagship's frozen model (the converted mn04 in ``work``, 32 kHz, mean pooling), in eval mode."""
    from respira.models import RespiraForAudioClassification

    return RespiraForAudioClassification.from_encoder_pretrained(
        str(work / "efficientat_mn04"), sampling_rate=RATE, target_seconds=target_seconds, pooling="mean"
    ).eval()


def embed_corpora(shared: Path, work: Path, cache: Path) -> None:
    """Write ``cache`` (``<corpus>/x/<feature>`` and ``<corpus>/<meta>`` arrays for icbhi and kauh)."""
    from respira.models.efficientat.modeling_efficientat import EfficientATForAudioClassification

    encoder = work / "efficientat_mn04"
    if not (encoder / "config.json").is_file():
        respira(
            "convert", "efficientat", str(shared / "reference/efficientat_mn04_as_mAP_432.pt"), str(encoder)
        )
    model = flagship_encoder(work)
    tagger = EfficientATForAudioClassification.from_pretrained(str(encoder)).eval()
    arrays = {}
    for corpus, (waveforms, meta) in (("icbhi", icbhi_cycles(shared)), ("kauh", kauh_windows(shared))):
        features = block_features(model, waveforms) | {
            "audioset": audioset_logits(tagger, waveforms),
            "acoustic": np.stack([acoustic_features(waveform, RATE) for waveform in waveforms]),
        }
        arrays |= {f"{corpus}/x/{name}": value for name, value in features.items()}
        arrays |= {f"{corpus}/{name}": value for name, value in meta.items()}
    np.savez(cache.with_suffix(".partial.npz"), **arrays)
    cache.with_suffix(".partial.npz").replace(cache)


SPEEDS = {"speed2": (1, 2), "slow2": (2, 1)}
"""Playback speeds the probe tries, as ``resample_poly`` ``(up, down)`` factors of a 32 kHz waveform then
read as 32 kHz again: twice as fast (the lung band 100-2000 Hz lands on 200-4000 Hz, a transient lasts half
as long) or half as fast (50-1000 Hz, twice as long)."""


def embed_speeds(shared: Path, work: Path) -> dict[str, np.ndarray]:
    """The flagship's embedding (``final_<speed>``) of every ICBHI cycle and KAUH window played at each of
    :data:`SPEEDS`, the model's cycle length scaled with it so that it covers the same 8 s of the sound."""
    from scipy.signal import resample_poly

    corpora = {"icbhi": icbhi_cycles(shared)[0], "kauh": kauh_windows(shared)[0]}
    arrays = {}
    for name, (up, down) in SPEEDS.items():
        model = flagship_encoder(work, target_seconds=8.0 * up / down)
        for corpus, waveforms in corpora.items():
            played = [resample_poly(w, up, down).astype(np.float32) for w in waveforms]
            arrays[f"{corpus}/x/final_{name}"] = block_features(model, played)["final"]
    return arrays


def low_band_rows(rows: int, cutoff: float = LOWPASS, bins: int = 128, f_max: float = 15_000.0) -> int:
    """How many of a block's ``rows`` frequency rows (each ``bins / rows`` of mn04's mel bins, 0 Hz to
    ``f_max``) lie entirely below ``cutoff``: the rows that hear the low-passed sound (at least one)."""
    below = np.log1p(cutoff / 700) / np.log1p(f_max / 700) * bins  # the mel bins under the cutoff
    return max(1, int(below // (bins / rows)))


def embed_low_band(shared: Path, work: Path) -> dict[str, np.ndarray]:
    """``final_low``: the last block's mean over time of its frequency rows below the low-pass only,
    instead of over every row (the rows above hear nothing: every recording is low-passed first)."""
    model = flagship_encoder(work)
    arrays = {}
    for corpus, (waveforms, _) in (("icbhi", icbhi_cycles(shared)), ("kauh", kauh_windows(shared))):
        chunks = []
        for start in range(0, len(waveforms), BATCH):
            padded, mask = pad_batch(waveforms[start : start + BATCH])
            with torch.no_grad():
                last = model.respira(padded, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
            keep = low_band_rows(last.shape[2])
            chunks.append(last[:, :, :keep, :].mean(dim=(2, 3)).float().numpy())
        arrays[f"{corpus}/x/final_low"] = np.concatenate(chunks)
    return arrays


def embed_unpadded(shared: Path, work: Path) -> dict[str, np.ndarray]:
    """``final_own``: the flagship's embedding of each ICBHI cycle and KAUH window at its own length, not
    repeat-padded to 8 s (mn04 is convolutional with a global mean, so any length embeds; one waveform at
    a time, the model's length set to the waveform's). A cycle shorter than 8 s is otherwise tiled with a
    10 ms fade at each seam, so the embedding also hears the cycle's length (the tiling period; devices
    differ: mean 2.1 s on Litt3200, 2.9 s on Meditron) and the seams."""
    model = flagship_encoder(work)
    arrays = {}
    for corpus, (waveforms, _) in (("icbhi", icbhi_cycles(shared)), ("kauh", kauh_windows(shared))):
        rows = [own_length_embedding(model, waveform) for waveform in waveforms]
        arrays[f"{corpus}/x/final_own"] = np.stack(rows)
    return arrays


def own_length_embedding(model, waveform: np.ndarray) -> np.ndarray:
    """``model``'s pooled embedding of ``waveform`` at its own length: the model's ``target_seconds`` set to
    the waveform's for the call (so ``fit_to_length`` neither tiles nor crops it), then put back."""
    target = model.config.target_seconds
    model.config.target_seconds = waveform.size / model.config.sampling_rate
    try:
        with torch.no_grad():
            return model.respira(torch.from_numpy(waveform)[None]).embeddings[0].float().numpy()
    finally:
        model.config.target_seconds = target


HIGHPASS = 100.0
"""Hz: the bottom of the lung-sound band (about 100-2000 Hz; ERS task force CORSA, Sovijärvi et al. 2000).
Below it lie heart sounds and muscle and handling noise, and there the stethoscopes differ most: a bell
(Littmann 3200's bell mode, KAUH's ``BP``) passes and boosts 20-200 Hz that a diaphragm (``DP``) cuts."""


def highpass(waveform: np.ndarray, rate: int = RATE, cutoff: float = HIGHPASS, order: int = 4) -> np.ndarray:
    """``waveform`` without its content below ``cutoff``: a zero-phase Butterworth high-pass
    (``sosfiltfilt``), the counterpart of :func:`respira.audio.dsp.lowpass`."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(order, cutoff, btype="highpass", fs=rate, output="sos")
    return sosfiltfilt(sos, waveform).astype(np.float32)


def embed_highpassed(shared: Path, work: Path) -> dict[str, np.ndarray]:
    """``final_hp``: the flagship's embedding of every ICBHI cycle and KAUH window high-passed at
    :data:`HIGHPASS` first (so the lung-sound band is all the encoder hears: the 4 kHz low-pass is there
    already)."""
    model = flagship_encoder(work)
    arrays = {}
    for corpus, (waveforms, _) in (("icbhi", icbhi_cycles(shared)), ("kauh", kauh_windows(shared))):
        arrays[f"{corpus}/x/final_hp"] = block_features(model, [highpass(w) for w in waveforms])["final"]
    return arrays


@contextmanager
def target_batch_norm(model, waveforms: list[np.ndarray]) -> Iterator[None]:
    """AdaBN (Li et al., "Revisiting batch normalization for practical domain adaptation", 2016/2018):
    within the block every BatchNorm of ``model``'s encoder normalises with the statistics of
    ``waveforms`` (each layer's per-channel mean and variance over them, a cumulative average over
    batches) instead of AudioSet's; label-free. The model stays in eval mode otherwise, and its
    statistics are put back on leaving."""
    norms = [m for m in model.respira.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [
        (norm.running_mean.clone(), norm.running_var.clone(), norm.num_batches_tracked.clone(), norm.momentum)
        for norm in norms
    ]
    try:
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative average over the batches, not an exponential one
            norm.train()
        for start in range(0, len(waveforms), BATCH):
            padded, mask = pad_batch(waveforms[start : start + BATCH])
            with torch.no_grad():
                model.respira(padded, attention_mask=mask)
        for norm in norms:
            norm.eval()
        yield
    finally:
        for norm, (mean, var, count, momentum) in zip(norms, saved, strict=True):
            norm.running_mean.copy_(mean)
            norm.running_var.copy_(var)
            norm.num_batches_tracked.copy_(count)
            norm.momentum = momentum
            norm.eval()


def embed_domain_batch_norm(shared: Path, work: Path) -> dict[str, np.ndarray]:
    """``final_adabn``: the flagship's embedding of each recording domain's cycles / windows (ICBHI device,
    KAUH filter mode) with the encoder's BatchNorm statistics of that domain (:func:`target_batch_norm`):
    the pool's devices and the target each normalised by their own audio at every layer."""
    model = flagship_encoder(work)
    arrays = {}
    for corpus, (waveforms, meta) in (("icbhi", icbhi_cycles(shared)), ("kauh", kauh_windows(shared))):
        rows_of_domain = {d: np.flatnonzero(meta["domain"] == d) for d in np.unique(meta["domain"])}
        parts = {}
        for domain, rows in rows_of_domain.items():
            chosen = [waveforms[i] for i in rows]
            with target_batch_norm(model, chosen):
                parts[domain] = block_features(model, chosen)["final"]
        out = np.empty((len(waveforms), next(iter(parts.values())).shape[1]), dtype=np.float32)
        for domain, rows in rows_of_domain.items():
            out[rows] = parts[domain]
        arrays[f"{corpus}/x/final_adabn"] = out
    return arrays
