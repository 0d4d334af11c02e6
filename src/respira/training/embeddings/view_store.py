"""Frozen-encoder embeddings shared by the kept model and the cross-fit group models of one seed.

A view is keyed by cycle and view, a view that appended a same-label partner by its waveform's digest; keys
also hold fingerprints of the model's encoder and of the augmentation settings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..augment import SameLabelConcat
from ..batches.collator import AudioCollator, view_waveform
from .process_share import ProcessShare

if TYPE_CHECKING:
    import datasets

    from ...models.respira import RespiraForAudioClassification

__all__ = ["PartnerProbe", "ViewStore"]

_PER_MODEL_KEYS = ("decision_thresholds", "calibration", "use_cache")  # differ, embeddings do not


@dataclass
class PartnerProbe:
    """A concatenation pool that notes whether it was asked for a partner."""

    pool: Callable[[int, np.random.Generator], Any]
    drawn: bool = False

    def __call__(self, label: int, rng: np.random.Generator) -> Any:
        self.drawn = True
        return self.pool(label, rng)


def _probed(collator: AudioCollator) -> tuple[AudioCollator, PartnerProbe | None, bool]:
    concat = collator.concat
    if concat is None:
        return collator, None, True
    if not isinstance(concat, SameLabelConcat):
        return collator, None, False
    probe = PartnerProbe(concat.pool)
    return replace(collator, concat=replace(concat, pool=probe)), probe, True


def _encoder_fingerprint(model: RespiraForAudioClassification) -> str:
    digest = hashlib.blake2b(digest_size=16)
    config = {k: v for k, v in model.config.to_dict().items() if k not in _PER_MODEL_KEYS}
    digest.update(repr(sorted(config.items(), key=lambda item: item[0])).encode())
    for name, tensor in model.respira.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _collator_fingerprint(collator: AudioCollator) -> str:
    concat = collator.concat
    if isinstance(concat, SameLabelConcat):  # its pool is the trainer's own: not part of the settings
        concat = (concat.probability, concat.classes, concat.max_seconds, concat.crossfade_ms)
    parts = (collator.sampling_rate, collator.seed, repr(collator.augment), repr(concat))
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


class ViewStore:
    """Pooled embeddings of cycle views, each distinct view embedded once."""

    def __init__(self) -> None:
        self._rows: dict[Hashable, np.ndarray] = {}
        self.embedded = 0
        self.reused = 0

    @staticmethod
    def identities(dataset: datasets.Dataset) -> list[tuple[str, int]] | None:
        """Each row's ``(recording, cycle_index)``, or ``None`` when they do not identify the rows."""
        if "recording" not in dataset.column_names or "cycle_index" not in dataset.column_names:
            return None
        names = dataset.select_columns(["recording", "cycle_index"])[:]
        if None in names["cycle_index"]:
            return None
        identities = [(str(r), int(c)) for r, c in zip(names["recording"], names["cycle_index"], strict=True)]
        return identities if len(set(identities)) == len(identities) else None

    def views(
        self,
        model: RespiraForAudioClassification,
        dataset: datasets.Dataset,
        collator: AudioCollator,
        augmented_views: int,
        *,
        batch_size: int = 32,
        track: Callable[[Iterable[Any]], Iterable[Any]] = iter,
        share: ProcessShare | None = None,
        split: str = "train",
    ) -> np.ndarray | None:
        """``[(augmented_views + 1) × rows, hidden]``, view-major, as ``cache_views`` embeds them."""
        identities = self.identities(dataset)
        if identities is None:
            return None
        share = share if share is not None else ProcessShare()
        cycles = len(identities)
        watched, probe, watchable = _probed(collator)
        source = getattr(dataset.features.get("audio"), "sampling_rate", None)
        clean = (_encoder_fingerprint(model), source, collator.sampling_rate)
        augmented = (*clean, _collator_fingerprint(collator))

        def rows(share_rows: range) -> Iterator[tuple[Hashable, Callable[[], np.ndarray] | None]]:
            for row in share_rows:
                view, index = divmod(row, cycles)
                key = (*(augmented if view else clean), identities[index], view)
                if key in self._rows:
                    yield key, None
                    continue
                example = dataset[index]
                if probe is not None:
                    probe.drawn = False
                waveform = view_waveform(watched, example, view)
                own = view > 0 and (not watchable or (probe is not None and probe.drawn))
                if own:  # drawn from this trainer's pool: the waveform itself is the key
                    samples = np.ascontiguousarray(waveform, dtype=np.float32).tobytes()
                    key = (*key, hashlib.blake2b(samples, digest_size=16).hexdigest())
                yield key, (lambda w=waveform: w)

        def embed(share_rows: range) -> tuple[tuple[list[Hashable], np.ndarray], int]:
            before = self.embedded
            part = self._gather(model, track(rows(share_rows)), batch_size)
            return part, self.embedded - before

        parts = share.run(split, (augmented_views + 1) * cycles, embed)
        for keys, table in parts:  # the other processes' rows join this store
            for key, row in zip(keys, table, strict=True):
                self._rows.setdefault(key, row)
        return np.concatenate([table for _, table in parts])

    def clean(
        self,
        model: RespiraForAudioClassification,
        dataset: datasets.Dataset,
        *,
        batch_size: int = 32,
        track: Callable[[Iterable[Any]], Iterable[Any]] = iter,
        share: ProcessShare | None = None,
        split: str = "validation",
    ) -> np.ndarray | None:
        """``[rows, hidden]``: the clean view 0 of every row."""
        import datasets

        feature = dataset.features.get("audio")
        rate = model.config.sampling_rate
        if not isinstance(feature, datasets.Audio) or feature.sampling_rate != rate:
            return None
        clean = AudioCollator(sampling_rate=rate, training=False)
        return self.views(
            model, dataset, clean, 0, batch_size=batch_size, track=track, share=share, split=split
        )

    def _gather(
        self,
        model: RespiraForAudioClassification,
        rows: Iterable[tuple[Hashable, Callable[[], np.ndarray] | None]],
        batch_size: int,
    ) -> tuple[list[Hashable], np.ndarray]:
        from ...inference.embeddings import embed_waveforms

        keys: list[Hashable] = []
        pending: dict[Hashable, np.ndarray] = {}

        def flush() -> None:
            if pending:
                embedded = embed_waveforms(model, pending.values(), batch_size=batch_size)
                self._rows.update(zip(pending, embedded, strict=True))
                self.embedded += len(pending)
                pending.clear()

        for key, waveform in rows:
            keys.append(key)
            if key in self._rows or key in pending:
                self.reused += 1
            elif waveform is not None:
                pending[key] = waveform()
                if len(pending) >= batch_size:
                    flush()
        flush()
        hidden = model.config.hidden_size
        table = np.stack([self._rows[key] for key in keys]) if keys else np.zeros((0, hidden), np.float32)
        return keys, table
