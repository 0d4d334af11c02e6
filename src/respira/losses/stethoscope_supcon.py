"""Stethoscope-guided supervised contrastive learning (Kim et al., ICASSP 2024): ``SupConLoss`` whose
positives are the samples of the same device (``positives="domain"``, the paper's ``meta_mode="dev"``) or
of the same class on another device (``"label_across_domains"``); ``domain_key`` names the column."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from .base import same_label_mask, same_metadata_mask
from .supcon import SupConLoss

POSITIVES: tuple[str, ...] = ("domain", "label_across_domains")


class StethoscopeGuidedSupConLoss(SupConLoss):
    """Supervised contrastive loss with stethoscope positives, or same-class cross-domain positives."""

    name = "stethoscope_supcon"
    citation = """@inproceedings{kim2024stethoscope,
  title     = {Stethoscope-Guided Supervised Contrastive Learning for Cross-Domain Adaptation on
               Respiratory Sound Classification},
  author    = {Kim, June-Woo and Bae, Sangmin and Cho, Won-Yang and Lee, Byungjo and Jung, Ho-Young},
  booktitle = {IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
  pages     = {1431--1435},
  year      = {2024}
}"""

    def __init__(
        self, temperature: float = 0.07, domain_key: str = "device", positives: str = "domain"
    ) -> None:
        if positives not in POSITIVES:
            raise ValueError(f"positives={positives!r} is not one of {', '.join(POSITIVES)}")
        if not domain_key or domain_key == "labels":
            raise ValueError(f"domain_key must name a metadata column (e.g. device), got {domain_key!r}")
        super().__init__(temperature, positive_key=domain_key)
        self.domain_key = domain_key
        self.positives = positives

    def positive_pairs(
        self, labels: torch.Tensor | None, values: Mapping[str, Any], size: int, device: torch.device
    ) -> torch.Tensor:
        if values.get(self.domain_key) is None:
            raise ValueError(f"{self.name} needs the {self.domain_key!r} metadata of every sample")
        same_domain = same_metadata_mask((self.domain_key,), values, size, device)
        if self.positives == "domain":
            return same_domain
        if labels is None:
            raise ValueError(f"{self.name} with positives='label_across_domains' needs labels")
        return same_label_mask(labels) & ~same_domain
