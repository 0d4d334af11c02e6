"""Global-batch plumbing of the auxiliary losses: gathering embeddings and labels across processes.

Every rank computes the loss of the global batch. :func:`gather_with_grad`'s backward sums the
gradient over ranks (as ``torch.distributed.nn.all_gather``), ``W`` times the one-process gradient,
which DistributedDataParallel's averaging divides back: the result is exactly the one-process
gradient on the global batch. Do not use a gradient reduction that sums. Shards of different sizes
are padded for the collective; every rank must call the gathers in the same order.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

__all__ = ["gather_labels", "gather_with_grad", "global_batch_indices", "is_distributed"]


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
    """The global batch in rank order, differentiable w.r.t. the local shard (identity alone)."""
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
    """``(start, stop)`` of this rank's shard in the gathered batch; a collective every rank must call."""
    if not is_distributed():
        return 0, local_size
    sizes = _shard_sizes(local_size, torch.device(device))
    start = sum(sizes[: dist.get_rank()])
    return start, start + local_size
