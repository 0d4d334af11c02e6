"""Global-batch plumbing of the auxiliary losses: gathering embeddings and labels across processes.

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
