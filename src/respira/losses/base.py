"""The base class of respira's auxiliary losses and their shared helpers (labels, metadata, precision).

Every rank computes the loss of the global batch: :func:`gather_with_grad`'s backward sums the gradient
over ranks, which DistributedDataParallel's averaging divides back (do not use a summing reduction).
Every rank must call the gathers in the same order.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal

import torch
import torch.distributed as dist
from torch import nn

LabelKind = Literal["index", "multi_hot", "soft"]


def _is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _shard_sizes(local_size: int, device: torch.device) -> list[int]:
    """Every rank's dim-0 size (a collective)."""
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
    """The global batch in rank order, differentiable w.r.t. the local shard (identity alone)."""
    if not _is_distributed():
        return tensor
    sizes = _shard_sizes(tensor.shape[0], tensor.device)
    return _GatherWithGrad.apply(tensor, sizes, dist.get_rank())


@torch.no_grad()
def gather_labels(tensor: torch.Tensor | None) -> torch.Tensor | None:
    """All-gather labels or metadata along dim 0, without gradient (identity when not distributed)."""
    if tensor is None or not _is_distributed():
        return tensor
    sizes = _shard_sizes(tensor.shape[0], tensor.device)
    if tensor.dtype == torch.bool:  # not every backend reduces/gathers bool
        return _all_gather_padded(tensor.to(torch.uint8), sizes).bool()
    return _all_gather_padded(tensor.detach(), sizes)


def global_batch_indices(local_size: int, device: torch.device | str = "cpu") -> tuple[int, int]:
    """``(start, stop)`` of this rank's shard in the gathered batch; a collective every rank must call."""
    if not _is_distributed():
        return 0, local_size
    sizes = _shard_sizes(local_size, torch.device(device))
    start = sum(sizes[: dist.get_rank()])
    return start, start + local_size


def label_kind(labels: torch.Tensor) -> LabelKind:
    """``"index"`` (``[B]``), ``"multi_hot"`` (0/1 ``[B, C]``) or ``"soft"`` (``[B, C]`` in (0, 1))."""
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
    """Boolean ``[N, M]``: True where two samples have the same class (multi-hot vectors: identical);
    soft labels are refused."""
    other = labels if other is None else other
    for tensor in (labels, other):
        if label_kind(tensor) == "soft":
            raise ValueError("this loss needs hard labels (class indices or multi-hot), got soft labels")
    if labels.dim() == 1:
        return labels.reshape(-1, 1) == other.reshape(1, -1)
    return (labels.unsqueeze(1) == other.unsqueeze(0)).all(dim=-1)


class AuxiliaryLoss(nn.Module):
    """Base of respira's auxiliary losses: ``forward(embeddings, labels, **kwargs) -> scalar``,
    ``get_config_dict()``, a BibTeX ``citation`` and ``last_components`` (the last forward's sub-terms)."""

    name: ClassVar[str] = ""
    citation: ClassVar[str] = ""

    def __init__(self, temperature: float | None = None) -> None:
        super().__init__()
        if temperature is not None:
            if temperature <= 0:
                raise ValueError(f"temperature must be positive, got {temperature}")
            self.temperature = float(temperature)
        self.last_components: dict[str, float] = {}

    def get_config_dict(self) -> dict[str, Any]:
        parameters = inspect.signature(type(self).__init__).parameters
        return {name: getattr(self, name) for name in parameters if name != "self"}

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.get_config_dict().items())

    def _record(self, components: Mapping[str, float | torch.Tensor]) -> None:
        self.last_components = {
            key: float(value.detach().item()) if isinstance(value, torch.Tensor) else float(value)
            for key, value in components.items()
        }

    def _record_anchors(self, loss: torch.Tensor, valid: torch.Tensor, left_out: str, **more: float) -> None:
        """Record ``loss``, its anchors, the anchors ``left_out`` (``valid`` False) and whether all were."""
        name = self.name
        counts = {f"{name}_anchors": int(valid.sum()), f"{name}_{left_out}": int((~valid).sum())}
        self._record({name: loss, **counts, **more, f"{name}_skipped": float(not bool(valid.any()))})


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
    """A key or a sequence of keys as a tuple of strings."""
    keys = () if keys is None else (keys,) if isinstance(keys, str) else tuple(keys)
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
) -> torch.Tensor:
    """Boolean ``[N, N]``: True where samples agree on all ``keys`` (metadata ``[size]`` or ``[size, k]``)."""
    mask: torch.Tensor | None = None
    for key in keys:
        if key == "labels":
            if labels is None:
                raise ValueError("positive/negative key 'labels' needs labels")
            same = same_label_mask(labels)  # already gathered by the caller
        else:
            if values.get(key) is None:
                raise ValueError(f"this loss needs the metadata {key!r}: pass {key}=tensor[batch] to forward")
            column = torch.as_tensor(values[key], device=device)
            if column.dim() not in (1, 2) or column.shape[0] != size:
                raise ValueError(
                    f"metadata {key!r} has shape {tuple(column.shape)}, expected [{size}] or [{size}, k]"
                )
            column = gather_labels(column)
            column = column.reshape(column.shape[0], -1)
            same = (column.unsqueeze(1) == column.unsqueeze(0)).all(dim=-1)
        mask = same if mask is None else mask & same
    if mask is None:
        raise ValueError("no metadata keys given")
    return mask
