"""The terms of :class:`~respira.training.RespiraTrainer`'s loss besides the model's own task loss:
the auxiliary loss (Patch-Mix included) and the multiple-instance loss of bags."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...labels import classes_to_flags
from ...losses import MultipleInstanceLoss, apply_patch_mix, patch_mix_plan
from ...models.encoders import encoder_specs, get_encoder_spec

__all__ = ["PATCH_MIX", "LossTerms"]

PATCH_MIX = "patch_mix"


class LossTerms:
    """Mixin of ``RespiraTrainer``: the pieces its ``compute_loss`` combines."""

    def _patch_embeddings(self, model: nn.Module) -> tuple[nn.Module, int]:
        """The encoder's patch-embedding module (its output is mixed) and its number of patches."""
        base = self.accelerator.unwrap_model(model)
        find = get_encoder_spec(base.config.encoder_config.model_type).patch_embeddings
        if find is None:
            names = " or ".join(spec.display_name for spec in encoder_specs() if spec.patch_embeddings)
            raise ValueError(
                f"the patch_mix auxiliary loss mixes {names} patch embeddings: use an {names} encoder"
            )
        return find(base.respira.encoder)

    def _check_patch_mix(self, model: nn.Module) -> None:
        self._patch_embeddings(model)

    def _auxiliary(self, model: nn.Module, inputs: dict[str, Any], outputs, labels, metadata) -> torch.Tensor:
        if self.args.aux_loss == PATCH_MIX:
            return self._patch_mix(model, inputs, outputs)
        features = outputs.projections if self.args.aux_input == "projections" else outputs.embeddings
        if features is None:
            raise ValueError("the auxiliary loss needs projections: set projector_dim in the model config")
        # the loss gathers features, labels and metadata across processes itself
        return self.aux_loss(features, labels, **metadata)

    def _patch_mix(self, model: nn.Module, inputs: dict[str, Any], outputs) -> torch.Tensor:
        patch_embeddings, num_patches = self._patch_embeddings(model)
        batch = outputs.logits.shape[0]
        generator = torch.Generator().manual_seed(
            hash((self.args.seed, self.state.global_step, 1)) & 0x7FFFFFFF
        )
        permutation, mask, lam = patch_mix_plan(batch, num_patches, generator=generator)
        hook = patch_embeddings.register_forward_hook(
            lambda module, args, output: apply_patch_mix(
                output, permutation.to(output.device), mask.to(output.device)
            )
        )
        try:
            mixed = model(**inputs)
        finally:
            hook.remove()
        return self.aux_loss(
            mixed.projections, outputs.projections, permutation.to(mixed.projections.device), lam
        )

    def _bag_task_loss(
        self,
        base: nn.Module,
        logits: torch.Tensor,
        labels: torch.Tensor,
        bags: torch.Tensor,
        components: dict[str, Any],
    ) -> torch.Tensor:
        """Cycle BCE over the cycles (``bags < 0``) + ``mil_weight`` × bag BCE over the bags' pooled
        window logits (:class:`~respira.losses.MultipleInstanceLoss`, ``mil_pooling``)."""
        if self.mil_loss is None or self.mil_loss.pooling != self.args.mil_pooling:
            self.mil_loss = MultipleInstanceLoss(self.args.mil_pooling)
        windows = bags >= 0
        flags = classes_to_flags(labels[windows], validate=False) if labels.dim() == 1 else labels[windows]
        bag_loss = self.mil_loss(logits[windows], bags[windows], flags)
        components["mil_loss"] = bag_loss.detach()
        loss = self.args.mil_weight * bag_loss
        if bool((~windows).any()):
            cycle_loss = base.compute_loss(logits[~windows], labels[~windows])
            components["cycle_loss"] = cycle_loss.detach()
            loss = loss + cycle_loss
        return loss
