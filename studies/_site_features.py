"""The units ``studies/leave_one_site_out.py`` learns from and scores, embedded once.

Three sites of ``../shared``, each cut as respira deploys a detector on it, every unit run through the frozen
AudioSet EfficientAT mn04 as the flagship recipe runs it (32 kHz, 4 kHz low-pass of the whole recording,
8-s input, mean pooling: :func:`flagship_encoder`):

* ``icbhi``: every annotated cycle (scored one by one; domain: the stethoscope);
* ``kauh``: 4-s windows every 2 s of every recording (``respira evaluate --dataset kauh``'s defaults),
  carrying the recording's flags; a recording is scored by the maximum over its windows (domain: the filter
  mode);
* ``sprsound``: every annotated event (scored one by one, as a cycle), and 4-s windows every 2 s of every
  recording carrying its record label's flags (``sprsound_windows``, scored per recording; ``poor`` marks
  Poor Quality records, which have no crackle / wheeze label).

Beside the embedding (``x``), each unit has the log-mel mean / std features of the linear baseline
(``logmel``: 64 bands to 4 kHz), its flags, domain, patient (prefixed by the site: ids never collide) and
recording. Each site is written to its own ``.npz``, staged and moved into place.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from _common import LOWPASS, log_mel_features, respira
from respira.data import load_kauh
from respira.data.run_splits import load_splits
from respira.models.respira.audio_decoding import decode_audio, lowpass, pad_batch, read_audio
from respira.models.respira.filterbanks import LogMelSpectrogram
from respira.models.respira.labels import RECORDING_LABELS, classes_to_flags
from respira.models.respira.windows import window_starts
from respira.records.run import DataRecord

RATE, WINDOW, HOP, BATCH = 32_000, 4.0, 2.0, 16
SITES: tuple[str, ...] = ("icbhi", "kauh", "sprsound")
RECORDING_SETS: dict[str, str] = {"kauh": "kauh", "sprsound": "sprsound_windows"}
"""Per site: the unit set scored per recording (windows, the maximum over each recording's)."""
FLAGS = RECORDING_LABELS[:2]


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


def icbhi_cycles(shared: Path) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Every ICBHI cycle, built as the flagship's training cycles are (4 kHz low-pass)."""
    import datasets

    record = DataRecord(  # every ICBHI patient: 80 % train, 20 % validation, as the flagship trains
        data_dir=str(shared / "icbhi"),
        sampling_rate=RATE,
        lowpass_cutoff=LOWPASS,
        stratify_by="chest_location",
        split_strategy="patient",
        patient_split_fractions=(0.8, 0.2, 0.0),
    )
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


STETHOSCOPE: dict[str, str] = {"kauh": "Litt3200"}
"""A site's stethoscope model where its ``domain`` column names something else (KAUH's: the filter mode;
the same Littmann 3200 model as one of ICBHI's four)."""


def stethoscopes(site: str, domain: np.ndarray) -> np.ndarray:
    """Each unit's stethoscope model: ICBHI's device, KAUH's Littmann 3200, SPRSound's Yunting II."""
    return np.full(len(domain), STETHOSCOPE[site]) if site in STETHOSCOPE else np.asarray(domain)


def _windows(recording: np.ndarray) -> list[np.ndarray]:
    window, hop = int(WINDOW * RATE), int(HOP * RATE)
    starts = window_starts(recording.size, window, hop) if recording.size > window else [0]
    return [recording[start : start + window] for start in starts]


def _meta(rows: list[tuple]) -> dict[str, np.ndarray]:
    flags, domain, patient, recording, poor = zip(*rows, strict=True)
    return {
        "flags": np.asarray(flags, dtype=np.int64).reshape(-1, 2),
        "domain": np.asarray(domain),
        "patient": np.asarray(patient),
        "recording": np.asarray(recording),
        "poor": np.asarray(poor, dtype=bool),
    }


def kauh_windows(shared: Path) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    waveforms, rows = [], []
    for example in load_kauh(shared / "kauh", sampling_rate=RATE)["test"]:
        recording = lowpass(decode_audio(example["audio"], RATE), RATE, LOWPASS)
        flags = [example[label] for label in FLAGS]
        for window in _windows(recording):
            waveforms.append(window)
            rows.append(
                (flags, example["filter_mode"], f"kauh_{example['patient_id']}", example["recording"], False)
            )
    return waveforms, _meta(rows)


def _sprsound_recordings(shared: Path) -> dict[str, np.ndarray]:
    from respira.data import read_sprsound_index

    index = read_sprsound_index(shared / "sprsound")
    return {row.recording: lowpass(read_audio(row.path, RATE), RATE, LOWPASS) for row in index.itertuples()}


def sprsound_units(
    shared: Path,
) -> tuple[tuple[list[np.ndarray], dict[str, np.ndarray]], tuple[list[np.ndarray], dict[str, np.ndarray]]]:
    """(events, recording windows) of the SPRSound sample."""
    from respira.data import read_sprsound_events, read_sprsound_index

    audio = _sprsound_recordings(shared)
    events, event_rows = [], []
    for event in read_sprsound_events(shared / "sprsound").itertuples():
        recording = audio[event.recording]
        start, end = round(event.start * RATE), min(round(event.end * RATE), recording.size)
        if end - start < RATE // 10:  # past the end, or shorter than 0.1 s once clipped
            continue
        events.append(recording[start:end])
        flags = [int(event.crackle), int(event.wheeze)]
        event_rows.append((flags, "Yunting II", f"spr_{event.patient_id}", event.recording, False))
    windows, window_rows = [], []
    for row in read_sprsound_index(shared / "sprsound").itertuples():
        flags = [int(row.crackle), int(row.wheeze)]
        for window in _windows(audio[row.recording]):
            windows.append(window)
            window_rows.append(
                (flags, "Yunting II", f"spr_{row.patient_id}", row.recording, bool(row.poor_quality))
            )
    return (events, _meta(event_rows)), (windows, _meta(window_rows))


def unit_sets(shared: Path, name: str) -> dict[str, tuple[list[np.ndarray], dict[str, np.ndarray]]]:
    """The unit sets of one site, by set name."""
    if name == "icbhi":
        waveforms, meta = icbhi_cycles(shared)
        return {"icbhi": (waveforms, meta | {"poor": np.zeros(len(waveforms), dtype=bool)})}
    if name == "kauh":
        return {"kauh": kauh_windows(shared)}
    events, windows = sprsound_units(shared)
    return {"sprsound": events, "sprsound_windows": windows}


def embed_sites(shared: Path, work: Path, cache: Path) -> dict[str, dict[str, np.ndarray]]:
    """Every site's unit sets: ``x`` (the embedding), ``logmel`` and the metadata arrays, each site cached
    in ``cache/<site>.npz`` (staged and moved into place) and read from there once written."""
    encoder = work / "efficientat_mn04"
    if not (encoder / "config.json").is_file():
        respira(
            "convert", "efficientat", str(shared / "reference/efficientat_mn04_as_mAP_432.pt"), str(encoder)
        )
    cache.mkdir(parents=True, exist_ok=True)
    sets: dict[str, dict[str, np.ndarray]] = {}
    for site in SITES:
        path = cache / f"{site}.npz"
        if not path.is_file():
            model = flagship_encoder(work)
            featurizer = LogMelSpectrogram(
                sampling_rate=RATE, n_mels=64, n_fft=2048, hop_length=512, f_max=LOWPASS
            )
            arrays = {}
            for name, (waves, info) in unit_sets(shared, site).items():
                print(f"embedding {name}: {len(waves)} units", flush=True)
                arrays[f"{name}/x"] = block_features(model, waves)["final"]
                arrays[f"{name}/logmel"] = log_mel_features(featurizer, waves)
                arrays |= {f"{name}/{key}": value for key, value in info.items()}
            staged = path.with_suffix(".partial.npz")
            np.savez(staged, **arrays)
            staged.replace(path)
        with np.load(path) as stored:
            for key in stored.files:
                name, column = key.split("/")
                sets.setdefault(name, {})[column] = stored[key]
    return sets
