"""Fit a pretrained AST to another input length by cropping or interpolating its position embeddings."""

from __future__ import annotations

import copy

import torch
from torch import nn
from transformers import ASTModel


def adapt_ast_to_length(encoder: ASTModel, frames: int) -> ASTModel:
    """A copy of ``encoder`` for ``frames`` input frames (instead of ``config.max_length``)."""
    config = copy.deepcopy(encoder.config)
    frequency_patches, time_patches = encoder.embeddings.get_shape(config)
    config.max_length = frames
    new_frequency_patches, new_time_patches = encoder.embeddings.get_shape(config)
    if new_time_patches < 1:
        raise ValueError(f"{frames} frames are too few for AST's {config.patch_size}-frame patches")
    positions = encoder.embeddings.position_embeddings.detach()
    special, grid = positions[:, :2], positions[:, 2:]
    hidden = grid.shape[-1]
    grid = grid.reshape(1, frequency_patches, time_patches, hidden).permute(0, 3, 1, 2)
    if new_time_patches <= time_patches:
        start = time_patches // 2 - new_time_patches // 2
        grid = grid[..., start : start + new_time_patches]
    else:
        grid = nn.functional.interpolate(grid, size=(frequency_patches, new_time_patches), mode="bilinear")
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_frequency_patches * new_time_patches, hidden)
    adapted = ASTModel(config)
    state = encoder.state_dict()
    state["embeddings.position_embeddings"] = torch.cat([special, grid], dim=1)
    adapted.load_state_dict(state)
    return adapted
