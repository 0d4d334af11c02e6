"""The embedding cache of frozen-encoder runs: every view of a cycle embedded once, the head trained on them.

``cache_embeddings: true`` embeds every split once, clean. ``augmented_views: K`` embeds the training split
``K + 1`` times: view 0 clean, view ``k`` augmented as the collator draws it at epoch ``k - 1``.
:class:`CachedViewSampler` shows each cycle once per epoch, cycling through its views.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from torch.utils.data import Sampler

from ...utils.progress import stage
from ..batches.collator import AudioCollator, view_waveform
from .process_share import ProcessShare

if TYPE_CHECKING:
    import datasets

    from ...models.respira import RespiraForAudioClassification
    from ..recipe.arguments import RespiraTrainingArguments
    from .view_store import ViewStore

VIEW_COLUMN = "view"  # which view of its cycle a cached training row embeds (0: clean)


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

    from ...inference.embeddings import embed_waveforms, with_embeddings

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
    from ...inference.embeddings import embed_audio, with_embeddings

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


def cached_view_count(dataset: Any) -> int | None:
    """The number of views of a :func:`cache_views` dataset (``None`` for another)."""
    names = getattr(dataset, "column_names", None) or ()
    if VIEW_COLUMN not in names:
        return None
    column = np.asarray(list(dataset[VIEW_COLUMN]), dtype=np.int64)
    views = int(column.max()) + 1 if column.size else 1
    if column.size % views or not np.array_equal(column, np.repeat(np.arange(views), column.size // views)):
        raise ValueError(f"the {VIEW_COLUMN!r} column is not laid out view-major as cache_views makes it")
    return views


class CachedViewSampler(Sampler[int]):
    """Index ``i`` of ``cycles`` (a sampler over the cycles) as the row of one of cycle ``i``'s views; each
    round of ``num_views`` epochs shows every view once, in an order drawn from ``(seed, round)``."""

    def __init__(self, cycles: Sampler[int], num_cycles: int, num_views: int, *, seed: int = 0) -> None:
        self.cycles, self.num_cycles, self.num_views, self.seed = cycles, num_cycles, num_views, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.cycles, "set_epoch"):
            self.cycles.set_epoch(epoch)

    def views_at(self, epoch: int) -> np.ndarray:
        """``[num_cycles]``: the view each cycle is shown as in ``epoch``."""
        round_index, position = divmod(epoch, self.num_views)
        orders = np.tile(np.arange(self.num_views), (self.num_cycles, 1))
        orders = np.random.default_rng([self.seed, 0x56494557, round_index]).permuted(orders, axis=1)
        return orders[:, position]

    def __len__(self) -> int:
        return len(self.cycles)

    def __iter__(self) -> Iterator[int]:
        views = self.views_at(self.epoch)
        for index in self.cycles:
            yield int(views[index]) * self.num_cycles + int(index)


def view_sampler(dataset: Any, cycle_sampler: Callable[[Any], Sampler[int]], seed: int) -> Sampler[int]:
    """``cycle_sampler(dataset)``, or for a multi-view cache a :class:`CachedViewSampler` around it."""
    views = cached_view_count(dataset)
    if views is None or views == 1:
        return cycle_sampler(dataset)
    cycles = len(dataset) // views
    return CachedViewSampler(cycle_sampler(dataset.select(range(cycles))), cycles, views, seed=seed)


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
