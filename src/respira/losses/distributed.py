"""Global-batch plumbing shared by the auxiliary losses: gathering across processes, label comparison.

Batch-wise losses (SupCon, ADD, ...) see more pairs when every process contributes its shard, so under
``torch.distributed`` each loss gathers the global batch, computes the loss of the *global* batch on
every rank, and lets gradients flow back to the local shard only.

Gradient scaling (the choice this module makes)
-----------------------------------------------
Let ``L(z)`` be the loss of the global batch ``z = [z_0; ...; z_{W-1}]`` (``W`` processes, rank ``r``
holding ``z_r``). Every rank computes the same value ``L``. On rank ``r`` autograd computes
``G = dL/dz`` for the whole gathered tensor; :func:`gather_with_grad`'s backward **sums** ``G`` over the
ranks (all-reduce) and returns the local slice, i.e. ``W * dL/dz_r``. DistributedDataParallel then
*averages* the parameter gradients over the ranks::

    (1/W) * sum_r (W * dL/dz_r) * dz_r/dtheta = sum_r dL/dz_r * dz_r/dtheta = dL/dtheta

which is exactly the gradient of a one-process run on the global batch (and the task loss, a mean over
the local batch, averages to the global mean in the same way). ``torch.distributed.nn.all_gather``
makes the same choice (reduce-scatter with SUM). The gradient w.r.t. a rank's local embeddings is
therefore ``W`` times the one-process gradient until DDP divides it by ``W``. Do not use these
losses with a gradient reduction that sums instead of averaging.

Shards may have different sizes (e.g. the last batch of an epoch): sizes are gathered first and the
shards padded for the collective. All ranks must call the gathers in the same order (they do when they
run the same loss code).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "AuxiliaryLoss",
    "gather_labels",
    "gather_with_grad",
    "global_batch_indices",
    "is_distributed",
    "label_kind",
    "same_label_mask",
]

LabelKind = Literal["index", "multi_hot", "soft"]


# --------------------------------------------------------------------------------------------------
# Gathering across processes
# --------------------------------------------------------------------------------------------------
def is_distributed() -> bool:
    """True when ``torch.distributed`` is initialised with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _shard_sizes(local_size: int, device: torch.device) -> list[int]:
    """Every rank's dim-0 size (a collective: all ranks must call it)."""
    size = torch.tensor([local_size], dtype=torch.long, device=device)
    sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    return [int(s.item()) for s in sizes]


def _all_gather_padded(tensor: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """Concatenate every rank's ``tensor`` along dim 0 (shards may differ in size)."""
    tensor = tensor.contiguous()
    longest = max(sizes)
    if tensor.shape[0] < longest:
        pad = tensor.new_zeros((longest - tensor.shape[0], *tensor.shape[1:]))
        tensor = torch.cat([tensor, pad], dim=0)
    shards = [torch.empty_like(tensor) for _ in sizes]
    dist.all_gather(shards, tensor)
    return torch.cat([shard[:size] for shard, size in zip(shards, sizes, strict=True)], dim=0)


class _GatherWithGrad(torch.autograd.Function):
    """all_gather forward; backward sums the gradient over ranks and returns the local slice."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, sizes: list[int], rank: int) -> torch.Tensor:
        ctx.start = sum(sizes[:rank])
        ctx.stop = ctx.start + sizes[rank]
        return _all_gather_padded(tensor, sizes)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        grad = grad.contiguous().clone()  # all_reduce is in place; never write into autograd's buffer
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.start : ctx.stop], None, None


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """The global batch ``[sum of shard sizes, ...]`` in rank order, differentiable w.r.t. the local shard.

    Identity when not distributed. Under ``W`` processes the gradient reaching ``tensor`` is the sum over
    ranks of each rank's gradient w.r.t. this slice, i.e. ``W x`` the one-process gradient; DDP's
    averaging divides it back (see the module docstring).
    """
    if not is_distributed():
        return tensor
    sizes = _shard_sizes(tensor.shape[0], tensor.device)
    return _GatherWithGrad.apply(tensor, sizes, dist.get_rank())


@torch.no_grad()
def gather_labels(tensor: torch.Tensor | None) -> torch.Tensor | None:
    """All-gather labels or metadata along dim 0, without gradient (identity when not distributed)."""
    if tensor is None or not is_distributed():
        return tensor
    sizes = _shard_sizes(tensor.shape[0], tensor.device)
    if tensor.dtype == torch.bool:  # not every backend reduces/gathers bool
        return _all_gather_padded(tensor.to(torch.uint8), sizes).bool()
    return _all_gather_padded(tensor.detach(), sizes)


def global_batch_indices(local_size: int, device: torch.device | str = "cpu") -> tuple[int, int]:
    """``(start, stop)`` of this rank's shard in the gathered global batch; ``(0, local_size)`` alone.

    A collective under ``torch.distributed``: every rank must call it. ``device`` must suit the backend
    (a CUDA device with NCCL).
    """
    if not is_distributed():
        return 0, local_size
    sizes = _shard_sizes(local_size, torch.device(device))
    start = sum(sizes[: dist.get_rank()])
    return start, start + local_size


# --------------------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------------------
def label_kind(labels: torch.Tensor) -> LabelKind:
    """``"index"`` for class indices ``[B]``; ``"multi_hot"`` for 0/1 matrices ``[B, C]`` (one-hot
    included); ``"soft"`` for ``[B, C]`` matrices holding any value strictly between 0 and 1 (mixup)."""
    if labels.dim() == 1:
        if torch.is_floating_point(labels) and not torch.equal(labels, labels.round()):
            raise ValueError("1-D labels must be integer class indices; pass soft labels as [batch, classes]")
        return "index"
    if labels.dim() != 2:
        raise ValueError(f"labels must be [batch] indices or [batch, classes], got {tuple(labels.shape)}")
    if labels.dtype == torch.bool or not torch.is_floating_point(labels):
        return "multi_hot"
    return "multi_hot" if bool(((labels == 0) | (labels == 1)).all()) else "soft"


def same_label_mask(labels: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean ``[N, M]``: True where two samples have the *same class*.

    Class indices compare by equality; multi-hot vectors (e.g. (crackle, wheeze) flags) are the same class
    only when the whole vectors are identical, so ``normal (0,0)``, ``crackle (1,0)``, ``wheeze (0,1)``
    and ``both (1,1)`` are four distinct classes, exactly as the 4-class indices. Soft labels are refused.
    """
    other = labels if other is None else other
    for tensor in (labels, other):
        if label_kind(tensor) == "soft":
            raise ValueError("this loss needs hard labels (class indices or multi-hot), got soft labels")
    if labels.dim() == 1:
        return labels.reshape(-1, 1) == other.reshape(1, -1)
    return (labels.unsqueeze(1) == other.unsqueeze(0)).all(dim=-1)


def _as_key_tensor(value: Any, name: str, size: int, device: torch.device) -> torch.Tensor:
    """A metadata column as a tensor ``[size]`` or ``[size, k]`` (compared by equality)."""
    if value is None:
        raise ValueError(f"this loss needs the metadata {name!r}: pass {name}=tensor[batch] to forward")
    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(
                f"metadata {name!r} must be a tensor (or a sequence of numbers), e.g. integer codes; "
                f"got {type(value).__name__}"
            ) from error
    if value.dim() == 0 or value.shape[0] != size:
        raise ValueError(f"metadata {name!r} has shape {tuple(value.shape)}, expected [{size}, ...]")
    return value.to(device)


# --------------------------------------------------------------------------------------------------
# Base class
# --------------------------------------------------------------------------------------------------
class AuxiliaryLoss(nn.Module):
    """Base of respira's auxiliary losses (sentence-transformers style).

    Every loss: ``forward(embeddings, labels, **kwargs) -> scalar`` (unknown keyword arguments, such as
    metadata another loss needs, are ignored), ``get_config_dict()`` (its constructor arguments, so
    ``type(loss)(**loss.get_config_dict())`` rebuilds it), a BibTeX ``citation`` and
    ``last_components``: the named sub-terms of the latest forward as floats, for logging.

    ``gather_distributed=True`` (the default) computes the loss over the global batch under
    ``torch.distributed`` (see this module's docstring for the gradient scaling); it does nothing in a
    single process.
    """

    name: ClassVar[str] = ""
    citation: ClassVar[str] = ""

    def __init__(self, *, gather_distributed: bool = True) -> None:
        super().__init__()
        self.gather_distributed = bool(gather_distributed)
        self.last_components: dict[str, float] = {}

    def get_config_dict(self) -> dict[str, Any]:
        return {"gather_distributed": self.gather_distributed}

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.get_config_dict().items())

    # helpers for subclasses -------------------------------------------------------------------------
    def _gather(self, tensor: torch.Tensor) -> torch.Tensor:
        return gather_with_grad(tensor) if self.gather_distributed else tensor

    def _gather_nograd(self, tensor: torch.Tensor | None) -> torch.Tensor | None:
        return gather_labels(tensor) if self.gather_distributed else tensor

    def _record(self, components: Mapping[str, float | torch.Tensor]) -> None:
        self.last_components = {
            key: float(value.detach().item()) if isinstance(value, torch.Tensor) else float(value)
            for key, value in components.items()
        }


def as_float(tensor: torch.Tensor) -> torch.Tensor:
    """At least float32 (float64 stays float64), for losses computed outside autocast."""
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


@contextlib.contextmanager
def full_precision(device: torch.device) -> Iterator[None]:
    """Disable autocast: the similarity matrices of these losses are computed in float32 or wider."""
    try:
        context = torch.autocast(device_type=device.type, enabled=False)
    except RuntimeError:  # a device type without autocast support
        context = contextlib.nullcontext()
    with context:
        yield


def metadata_keys(keys: str | Sequence[str] | None) -> tuple[str, ...]:
    """Normalise a key or a sequence of keys to a tuple of strings."""
    if keys is None:
        return ()
    if isinstance(keys, str):
        return (keys,)
    keys = tuple(keys)
    if not all(isinstance(key, str) for key in keys):
        raise TypeError(f"metadata keys must be strings, got {keys!r}")
    return keys


def same_metadata_mask(
    keys: Sequence[str],
    values: Mapping[str, Any],
    size: int,
    device: torch.device,
    *,
    labels: torch.Tensor | None = None,
    gather: bool = True,
) -> torch.Tensor:
    """Boolean ``[N, N]`` (``N`` = global batch when ``gather``): True where samples agree on ALL ``keys``.

    The key ``"labels"`` refers to ``labels`` (same-class rule of :func:`same_label_mask`); any other key
    is looked up in ``values`` (the forward's keyword arguments) and compared by equality, rows for 2-D
    values.
    """
    mask: torch.Tensor | None = None
    for key in keys:
        if key == "labels":
            if labels is None:
                raise ValueError("positive/negative key 'labels' needs labels")
            same = same_label_mask(labels)  # already gathered by the caller
        else:
            column = _as_key_tensor(values.get(key), key, size, device)
            if column.dim() > 2:
                raise ValueError(f"metadata {key!r} must be [batch] or [batch, k]")
            if gather:
                column = gather_labels(column)
            column = column.reshape(column.shape[0], -1)
            same = (column.unsqueeze(1) == column.unsqueeze(0)).all(dim=-1)
        mask = same if mask is None else mask & same
    if mask is None:
        raise ValueError("no metadata keys given")
    return mask
