"""Tests for respira.metrics.embedding_geometry: ADD's intra- and inter-class angular distances."""

from __future__ import annotations

import math
import statistics

import pytest
import torch

from respira.metrics.embedding_geometry import add_properties

F64 = torch.float64


def test_add_properties_on_constructed_example():
    angle = torch.tensor([0.0, 60.0, 90.0], dtype=F64) * math.pi / 180
    z = torch.stack([angle.cos(), angle.sin()], dim=1) * torch.tensor([[1.0], [2.0], [0.5]])
    properties = add_properties(z, torch.tensor([[1, 0], [1, 0], [0, 1]]), chunk_size=2)
    inter = [1.0, 1.0 - math.cos(math.pi / 6)]
    assert properties["intra_mean"] == pytest.approx(0.5)
    assert properties["intra_cv"] == pytest.approx(0.0, abs=1e-12)
    assert properties["inter_mean"] == pytest.approx(statistics.fmean(inter))
    assert properties["inter_cv"] == pytest.approx(statistics.pstdev(inter) / statistics.fmean(inter))
    assert math.isnan(add_properties(z, torch.tensor([0, 1, 2]))["intra_mean"])
