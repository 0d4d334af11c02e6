"""Stethoscope-guided supervised contrastive learning (Kim et al., ICASSP 2024).

Kim et al. treat each stethoscope as a domain and train the classifier's cross-entropy together with
``λ`` times a supervised contrastive loss on projections of two augmented views of every cycle, whose
supervision is the *stethoscope* label instead of the class (their code's ``meta_mode="dev"``, the
default; 4 ICBHI devices): positives of an anchor are the other views and the other samples recorded
with the same device. The loss is :class:`~respira.losses.SupConLoss` with ``positive_key`` the device
(``L_out`` form, every embedding an anchor, anchors without a positive left out)::

    loss_i = -1/|P(i)| * sum_{p in P(i)} log( exp(s_ip) / sum_{a != i} exp(s_ia) )

:class:`StethoscopeGuidedSupConLoss` computes it with ``positives="domain"`` (the paper's), and with
``positives="label_across_domains"`` a variant that pulls together what should not depend on the
stethoscope instead: ``P(i)`` = the other views of ``i`` and the samples of the *same class* recorded
with a *different* device (same-device same-class samples are neither positives nor excluded from the
denominator). Both read the device codes the collator passes (``forward(z, labels, device=codes)``;
``domain_key`` names another metadata column, e.g. a hospital). One view per sample works too (the
cached embeddings of a frozen encoder): then only other samples are positives.

With a frozen encoder the loss shapes only what is trained: give the model a trainable layer that the
classifier and the projector share (``head_hidden_size``), or it trains the projector alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from .base import same_label_mask, same_metadata_mask
from .supcon import SupConLoss

__all__ = ["StethoscopeGuidedSupConLoss"]

POSITIVES: tuple[str, ...] = ("domain", "label_across_domains")

CITATION = """@inproceedings{kim2024stethoscope,
  title     = {Stethoscope-Guided Supervised Contrastive Learning for Cross-Domain Adaptation on
               Respiratory Sound Classification},
  author    = {Kim, June-Woo and Bae, Sangmin and Cho, Won-Yang and Lee, Byungjo and Jung, Ho-Young},
  booktitle = {IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
  pages     = {1431--1435},
  year      = {2024}
}"""


class StethoscopeGuidedSupConLoss(SupConLoss):
    """Supervised contrastive loss with stethoscope (domain) positives, or same-class cross-domain
    positives (module docstring)."""

    name = "stethoscope_supcon"
    citation = CITATION

    def __init__(
        self,
        temperature: float = 0.07,
        domain_key: str = "device",
        positives: str = "domain",
        *,
        gather_distributed: bool = True,
    ) -> None:
        if positives not in POSITIVES:
            raise ValueError(f"positives={positives!r} is not one of {', '.join(POSITIVES)}")
        if not domain_key or domain_key == "labels":
            raise ValueError(f"domain_key must name a metadata column (e.g. device), got {domain_key!r}")
        super().__init__(temperature, positive_key=domain_key, gather_distributed=gather_distributed)
        self.domain_key = domain_key
        self.positives = positives

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "domain_key": self.domain_key,
            "positives": self.positives,
            "gather_distributed": self.gather_distributed,
        }

    def positive_pairs(
        self, labels: torch.Tensor | None, values: Mapping[str, Any], size: int, device: torch.device
    ) -> torch.Tensor:
        if values.get(self.domain_key) is None:
            raise ValueError(f"{self.name} needs the {self.domain_key!r} metadata of every sample")
        same_domain = same_metadata_mask(
            (self.domain_key,), values, size, device, gather=self.gather_distributed
        )
        if self.positives == "domain":
            return same_domain
        if labels is None:
            raise ValueError(f"{self.name} with positives='label_across_domains' needs labels")
        return same_label_mask(labels) & ~same_domain
