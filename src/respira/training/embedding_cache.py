"""The embedding cache of frozen-encoder runs: every view of a cycle embedded once, the head trained on them.

``augmented_views: K`` embeds the training split ``K + 1`` times (view 0 clean, view ``k`` as the collator
draws it at epoch ``k - 1``). :class:`ViewStore` shares one seed's views with its cross-fit models, keyed by
cycle, view and encoder and augmentation fingerprints; :class:`ProcessShare` splits a pass over processes."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ..records.run import EmbeddingPass
from ..utils.progress import stage
from .collator import AudioCollator, SameLabelConcat, view_waveform
from .samplers import VIEW_COLUMN

if TYPE_CHECKING:
    import datasets

    from ..models.respira import RespiraForAudioClassification
    from .training_args import RespiraTrainingArguments


T = TypeVar("T")


class ProcessShare:
    """Process ``index`` of ``count``."""

    def __init__(
        self, index: int = 0, count: int = 1, gather: Callable[[Any], list[Any]] | None = None
    ) -> None:
        if not 0 <= index < count:
            raise ValueError(f"process {index} of {count} does not exist")
        self.index, self.count = index, count
        self._gather = gather if gather is not None else (lambda part: [part])
        self.passes: list[EmbeddingPass] = []

    @classmethod
    def of_training(cls, args: RespiraTrainingArguments) -> ProcessShare:
        """This process's share in the launch ``args`` trains under."""
        from accelerate.utils import gather_object

        count = args.world_size
        return cls(
            args.process_index, count, (lambda part: list(gather_object([part]))) if count > 1 else None
        )

    def rows(self, total: int) -> range:
        """This process's block of ``range(total)``."""
        size, extras = divmod(total, self.count)
        start = self.index * size + min(self.index, extras)
        return range(start, start + size + (1 if self.index < extras else 0))

    def run(self, split: str, total: int, embed: Callable[[range], tuple[T, int]]) -> list[T]:
        """Every process's ``embed(rows)`` of a pass over ``total`` rows, in process order."""
        part, embedded = embed(self.rows(total))
        gathered = self._gather((part, embedded))
        self.passes.append(EmbeddingPass(split, total, [count for _, count in gathered]))
        return [part for part, _ in gathered]

    def describe(self) -> str:
        """How a pass is shared, for its progress line ("" for one process)."""
        return f", process {self.index + 1} of {self.count} embedding its share" if self.count > 1 else ""


def uses_cache(args: RespiraTrainingArguments) -> bool:
    """Whether the run trains on cached embeddings."""
    return bool(args.cache_embeddings) or args.augmented_views is not None


def has_waveform_augmentation(args: RespiraTrainingArguments) -> bool:
    """Whether the recipe sets ``augmentation`` or ``concat_same_label``."""
    return bool(args.augmentation_spec) or args.concat_same_label > 0


def check_cache_options(
    args: RespiraTrainingArguments,
    *,
    freeze_encoder: bool,
    spec_augment: Any = None,
    schedule: str = "standard",
) -> None:
    """Raise a one-line ``ValueError`` for cache options that contradict each other or the model."""
    if not uses_cache(args):
        return
    views = args.augmented_views
    name = "cache_embeddings" if views is None else f"augmented_views={views}"
    if not freeze_encoder:
        raise ValueError(f"{name} needs a frozen encoder: set freeze_encoder: true")
    if views is None:
        return
    if views > 0 and not has_waveform_augmentation(args):
        raise ValueError(
            f"{name} caches augmented views, but no waveform augmentation is set (augmentation, "
            "concat_same_label): set one, or augmented_views: 0 for clean embeddings only"
        )
    refusals = (
        (args.views > 1, f"views={args.views} draws {args.views} views per batch for the auxiliary loss"),
        (args.aux_loss == "patch_mix", "aux_loss=patch_mix mixes the encoder's patch embeddings"),
        (bool(spec_augment), "spec_augment masks the features at every step"),
        (schedule != "standard", f"schedule={schedule} trains the encoder"),
    )
    for refused, why in refusals:
        if refused:
            raise ValueError(f"{name}: {why}, which cached embeddings cannot do; drop one of the two")


def cache_views(
    model: RespiraForAudioClassification,
    dataset: datasets.Dataset,
    collator: AudioCollator,
    augmented_views: int,
    *,
    batch_size: int = 32,
    store: ViewStore | None = None,
    progress: str | None = None,
    share: ProcessShare | None = None,
    split: str = "train",
) -> datasets.Dataset:
    """The training split embedded as ``augmented_views + 1`` views (see the module docstring)."""
    import datasets

    from ..inference.embeddings import embed_waveforms, with_embeddings

    if augmented_views == 0:
        return clean_embeddings(
            model, dataset, batch_size=batch_size, store=store, progress=progress, share=share, split=split
        )
    if collator.sampling_rate != model.config.sampling_rate:
        raise ValueError(
            f"the collator decodes at {collator.sampling_rate} Hz, "
            f"the model takes {model.config.sampling_rate} Hz"
        )
    base = dataset.remove_columns("audio")
    parts = [base.add_column(VIEW_COLUMN, [view] * len(base)) for view in range(augmented_views + 1)]
    stored = None
    share = share if share is not None else ProcessShare()
    cycles, total = len(base), len(parts) * len(base)
    described = f"{progress}, {augmented_views + 1} views of {cycles} cycles{share.describe()}"
    with stage(described, len(share.rows(total)), "view", enabled=progress is not None) as shown:
        if store is not None:
            stored = store.views(
                model,
                dataset,
                collator,
                augmented_views,
                batch_size=batch_size,
                track=shown.track,
                share=share,
                split=split,
            )
        if stored is None:

            def embed(rows: range) -> tuple[np.ndarray, int]:  # row r: view r // cycles of cycle r % cycles
                waveforms = (view_waveform(collator, dataset[r % cycles], r // cycles) for r in rows)
                return embed_waveforms(model, shown.track(waveforms), batch_size=batch_size), len(rows)

            stored = np.concatenate(share.run(split, total, embed))
    return with_embeddings(datasets.concatenate_datasets(parts), stored)


def clean_embeddings(
    model: RespiraForAudioClassification,
    dataset: datasets.Dataset,
    *,
    batch_size: int = 32,
    store: ViewStore | None = None,
    progress: str | None = None,
    share: ProcessShare | None = None,
    split: str = "validation",
) -> datasets.Dataset:
    """``dataset``'s clean embeddings, through ``store`` when given."""
    from ..inference.embeddings import embed_audio, with_embeddings

    share = share if share is not None else ProcessShare()
    described = f"{progress}, {len(dataset)} cycles{share.describe()}"
    with stage(described, len(share.rows(len(dataset))), "cycle", enabled=progress is not None) as shown:
        stored = None
        if store is not None:
            stored = store.clean(
                model, dataset, batch_size=batch_size, track=shown.track, share=share, split=split
            )
        if stored is None:

            def embed(rows: range) -> tuple[np.ndarray, int]:
                part = dataset.select(rows)
                return embed_audio(model, part, batch_size=batch_size, track=shown.track), len(rows)

            stored = np.concatenate(share.run(split, len(dataset), embed))
    return with_embeddings(dataset.remove_columns("audio"), stored)


def shows_progress(args: RespiraTrainingArguments) -> bool:
    """Whether a trainer shows its long passes' progress (not with ``disable_tqdm``; first process only)."""
    return not args.disable_tqdm and args.local_process_index == 0


def cache_datasets(
    model: RespiraForAudioClassification,
    args: RespiraTrainingArguments,
    collator: Any,
    train_dataset: datasets.Dataset | None,
    eval_dataset: datasets.Dataset | None,
    *,
    store: ViewStore | None = None,
    share: ProcessShare | None = None,
) -> tuple[datasets.Dataset | None, datasets.Dataset | None]:
    """The training split as :func:`cache_views` and the evaluation split clean; a split that already holds
    ``embeddings`` is kept."""
    config = model.config
    check_cache_options(args, freeze_encoder=config.freeze_encoder, spec_augment=config.spec_augment)
    views = args.augmented_views or 0
    if args.augmented_views is None and has_waveform_augmentation(args):
        warnings.warn(
            "waveform augmentation does not apply to cache_embeddings; set augmented_views: K to cache "
            "K augmented views of each training cycle",
            stacklevel=3,
        )
    if views and not isinstance(collator, AudioCollator):
        kind = type(collator).__name__
        raise ValueError(f"augmented_views={views} draws views with an AudioCollator, got a {kind}")
    batch, shown = args.per_device_eval_batch_size, shows_progress(args)
    if train_dataset is not None and "embeddings" not in train_dataset.column_names:
        train_dataset = cache_views(
            model,
            train_dataset,
            collator,
            views,
            batch_size=batch,
            store=store,
            progress="embedding the training split" if shown else None,
            share=share,
        )
    if eval_dataset is not None and "embeddings" not in eval_dataset.column_names:
        eval_dataset = clean_embeddings(
            model,
            eval_dataset,
            batch_size=batch,
            store=store,
            progress="embedding the validation split" if shown else None,
            share=share,
        )
    return train_dataset, eval_dataset


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
        from ..inference.embeddings import embed_waveforms

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
