"""The base class of respira's auxiliary losses and the helpers they share: labels, metadata, precision."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from .distributed import gather_labels, gather_with_grad

__all__ = [
    "AuxiliaryLoss",
    "LabelKind",
    "as_float",
    "full_precision",
    "label_kind",
    "metadata_keys",
    "same_label_mask",
    "same_metadata_mask",
]

LabelKind = Literal["index", "multi_hot", "soft"]


# --------------------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------------------
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
    """Boolean ``[N, M]``: True where two samples have the *same class*.

    Multi-hot vectors are the same class only when identical, so (crackle, wheeze) flags give four
    classes, as the class indices do. Soft labels are refused.
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

    Every loss has ``forward(embeddings, labels, **kwargs) -> scalar`` (unknown keyword arguments
    ignored), ``get_config_dict()``, a BibTeX ``citation`` and ``last_components`` (named sub-terms of the
    latest forward). ``gather_distributed=True`` computes it over the global batch under
    ``torch.distributed``.
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
    """Boolean ``[N, N]``: True where samples agree on all ``keys``."""
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
