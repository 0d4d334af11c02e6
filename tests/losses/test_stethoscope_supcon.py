"""Stethoscope-guided supervised contrastive loss (Kim et al., ICASSP 2024): hand-computed values and its
reduction to SupConLoss with device positives."""

from __future__ import annotations

import math

import pytest
import torch

from respira.losses import StethoscopeGuidedSupConLoss, SupConLoss, build_auxiliary_loss

# four unit embeddings, one view, temperature 1: s01 = 0, s02 = 0.6, s03 = -1, s12 = 0.8, s13 = 0, s23 = -0.6
Z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0]])
DEVICES = torch.tensor([7, 7, 9, 7])  # 0, 1 and 3 share a stethoscope, 2 is on another
LABELS = torch.tensor([0, 1, 0, 0])  # 0, 2 and 3 share a class
E = math.exp


def test_device_positives_match_a_hand_computed_value() -> None:
    loss = StethoscopeGuidedSupConLoss(temperature=1.0)
    got = loss(Z, LABELS, device=DEVICES)
    # anchor 0: positives 1, 3 (s = 0, -1); anchor 1: positives 0, 3 (s = 0, 0); anchor 3: positives 0, 1
    # (s = -1, 0); each against all the others. Anchor 2 has no same-device sample: left out of the mean.
    anchor_0 = math.log(1 + E(0.6) + E(-1)) + 0.5
    anchor_1 = math.log(2 + E(0.8))
    anchor_3 = math.log(E(-1) + 1 + E(-0.6)) + 0.5
    assert got.item() == pytest.approx((anchor_0 + anchor_1 + anchor_3) / 3, abs=1e-6)
    assert loss.last_components["stethoscope_supcon_anchors"] == 3
    assert loss.last_components["stethoscope_supcon_anchors_without_positive"] == 1


def test_same_class_across_devices_matches_a_hand_computed_value() -> None:
    loss = StethoscopeGuidedSupConLoss(1.0, positives="label_across_domains")
    got = loss(Z, LABELS, device=DEVICES)
    # same class on another device: 0 and 3 (device 7) pair with 2 (device 9), never with each other
    anchor_0 = math.log(1 + E(0.6) + E(-1)) - 0.6  # positive 2
    anchor_2 = math.log(E(0.6) + E(0.8) + E(-0.6)) - (0.6 - 0.6) / 2  # positives 0 and 3
    anchor_3 = math.log(E(-1) + 1 + E(-0.6)) + 0.6  # positive 2
    assert got.item() == pytest.approx((anchor_0 + anchor_2 + anchor_3) / 3, abs=1e-6)


def test_it_reduces_to_supcon_with_device_positives_on_two_views() -> None:
    generator = torch.Generator().manual_seed(0)
    views = torch.randn(2 * 8, 16, generator=generator)  # view-major [view 1 of 8 samples, view 2]
    devices = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    labels = torch.tensor([0, 1, 2, 3, 1, 0, 3, 2])
    guided = StethoscopeGuidedSupConLoss(temperature=0.1)
    reference = SupConLoss(temperature=0.1, positive_key="device")
    assert guided(views, labels, device=devices).item() == pytest.approx(
        reference(views, labels, device=devices).item(), rel=1e-6
    )
    # the cross-device variant is another loss: neither device nor label SupCon
    across = StethoscopeGuidedSupConLoss(0.1, positives="label_across_domains")
    by_label = SupConLoss(temperature=0.1)
    value = across(views, labels, device=devices).item()
    assert value != pytest.approx(by_label(views, labels).item(), rel=1e-3)
    assert value != pytest.approx(reference(views, labels, device=devices).item(), rel=1e-3)


def test_gradients_flow_and_multi_hot_labels_work() -> None:
    z = torch.randn(6, 4, requires_grad=True)
    flags = torch.tensor([[1, 0], [1, 0], [0, 1], [0, 1], [1, 1], [0, 0]])
    devices = torch.tensor([0, 1, 0, 1, 0, 1])
    loss = StethoscopeGuidedSupConLoss(positives="label_across_domains")
    loss(z, flags, device=devices).backward()
    assert z.grad is not None and z.grad[:4].abs().sum() > 0
    assert z.grad[4:].abs().sum() > 0  # unpaired anchors still sit in the others' denominators


def test_config_round_trip_citation_and_errors() -> None:
    loss = build_auxiliary_loss("stethoscope_supcon", temperature=0.2, positives="label_across_domains")
    rebuilt = build_auxiliary_loss("stethoscope_supcon", **loss.get_config_dict())
    assert (
        rebuilt.get_config_dict()
        == loss.get_config_dict()
        == {
            "temperature": 0.2,
            "domain_key": "device",
            "positives": "label_across_domains",
        }
    )
    assert "kim2024stethoscope" in loss.citation
    with pytest.raises(ValueError, match="positives='device' is not one of domain, label_across_domains"):
        StethoscopeGuidedSupConLoss(positives="device")
    with pytest.raises(ValueError, match="needs the 'device' metadata"):
        StethoscopeGuidedSupConLoss()(Z, LABELS)
