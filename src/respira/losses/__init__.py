"""Auxiliary representation losses, each an :class:`AuxiliaryLoss` (sentence-transformers style).

>>> loss = build_auxiliary_loss("supcon", temperature=0.1)
>>> sorted(AUXILIARY_LOSSES)
['add', 'contrastive_tuple', 'metadata_contrastive', 'patch_mix', 'stethoscope_supcon', 'supcon']
"""

from __future__ import annotations

import inspect
from typing import Any

from .add import ADDLoss
from .base import AuxiliaryLoss, label_kind, same_label_mask
from .contrastive_tuple import ContrastiveTupleLoss, contrastive_tuple_loss
from .mil import MultipleInstanceLoss, pool_bags
from .patch_mix import PatchMixContrastiveLoss, apply_patch_mix, patch_mix_plan
from .stethoscope_supcon import StethoscopeGuidedSupConLoss
from .supcon import MetadataContrastiveLoss, SupConLoss

__all__ = [
    "AUXILIARY_LOSSES",
    "ADDLoss",
    "AuxiliaryLoss",
    "ContrastiveTupleLoss",
    "MetadataContrastiveLoss",
    "MultipleInstanceLoss",
    "PatchMixContrastiveLoss",
    "StethoscopeGuidedSupConLoss",
    "SupConLoss",
    "apply_patch_mix",
    "build_auxiliary_loss",
    "contrastive_tuple_loss",
    "label_kind",
    "patch_mix_plan",
    "pool_bags",
    "same_label_mask",
]

AUXILIARY_LOSSES: dict[str, type[AuxiliaryLoss]] = {
    "contrastive_tuple": ContrastiveTupleLoss,
    "supcon": SupConLoss,
    "metadata_contrastive": MetadataContrastiveLoss,
    "add": ADDLoss,
    "patch_mix": PatchMixContrastiveLoss,
    "stethoscope_supcon": StethoscopeGuidedSupConLoss,
}


def build_auxiliary_loss(name: str, **options: Any) -> AuxiliaryLoss:
    """Instantiate the auxiliary loss registered as ``name``; ``**loss.get_config_dict()`` rebuilds one."""
    try:
        cls = AUXILIARY_LOSSES[name]
    except KeyError:
        valid = ", ".join(sorted(AUXILIARY_LOSSES))
        raise ValueError(f"unknown auxiliary loss {name!r}; valid names: {valid}") from None
    parameters = inspect.signature(cls.__init__).parameters
    unknown = sorted(set(options) - set(parameters) - {"self"})
    if unknown:
        valid_options = ", ".join(p for p in parameters if p != "self")
        raise TypeError(f"{name} loss got unknown option(s) {unknown}; valid options: {valid_options}")
    return cls(**options)
