"""Tests for respira.losses: formulas against float64 double-loop references, edge cases, the batch layout,
and the global-batch equivalence under torch.distributed (2 CPU processes, gloo)."""

from __future__ import annotations

import json
import math
import multiprocessing
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from respira.losses import (
    AUXILIARY_LOSSES,
    ADDLoss,
    ContrastiveTupleLoss,
    MetadataContrastiveLoss,
    PatchMixContrastiveLoss,
    SupConLoss,
    build_auxiliary_loss,
    contrastive_tuple_loss,
    label_kind,
    same_label_mask,
)
from respira.losses.base import gather_labels, gather_with_grad, global_batch_indices
from respira.training.samplers import ContrastiveTupleBatchSampler

F64 = torch.float64


def random_embeddings(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def unit(vector: torch.Tensor) -> list[float]:
    return (vector / vector.norm()).tolist()


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def same(labels: torch.Tensor, i: int, j: int) -> bool:
    return bool(torch.equal(labels[i], labels[j]))


# --------------------------------------------------------------------------------------------------
# Double-loop references (float64 Python floats)
# --------------------------------------------------------------------------------------------------
def reference_add(z: torch.Tensor, labels: torch.Tensor, lambdas=(1.0, 1.0, 1.0, 1.0)) -> float:
    vectors = [unit(row) for row in z]
    positives, negatives = [], []
    for i in range(len(vectors)):
        for j in range(i + 1, len(vectors)):
            d = 1.0 - dot(vectors[i], vectors[j])
            if same(labels, i, j):
                positives.append(d**2)
            else:
                negatives.append((1.0 - d) ** 2)
    loss = 0.0
    if positives:
        loss += lambdas[0] * statistics.fmean(positives) + lambdas[1] * statistics.pstdev(positives)
    if negatives:
        loss += lambdas[2] * statistics.fmean(negatives) + lambdas[3] * statistics.pstdev(negatives)
    return loss


def reference_add_soft(z: torch.Tensor, y: torch.Tensor, threshold=0.5, lam_mean=1.0, lam_std=1.0) -> float:
    vectors = [unit(row) for row in z]
    label_vectors = [unit(row) for row in y.to(F64)]
    squared, positives = [], []
    for i in range(len(vectors)):
        for j in range(i + 1, len(vectors)):
            dz = 1.0 - dot(vectors[i], vectors[j])
            cy = dot(label_vectors[i], label_vectors[j])
            squared.append(((1.0 - cy) - dz) ** 2)
            if cy >= threshold:
                positives.append(dz)
    return lam_mean * statistics.fmean(squared) + (
        lam_std * statistics.pstdev(positives) if positives else 0.0
    )


def reference_supcon(views: torch.Tensor, positive: Callable[[int, int], bool], temperature: float) -> float:
    """views [B, V, D]; positive(b1, b2) says whether samples b1 and b2 are positives."""
    items = [(b, unit(views[b, v])) for v in range(views.shape[1]) for b in range(views.shape[0])]
    losses = []
    for i, (bi, zi) in enumerate(items):
        denominator = sum(math.exp(dot(zi, za) / temperature) for a, (_, za) in enumerate(items) if a != i)
        terms = [
            math.log(math.exp(dot(zi, zp) / temperature) / denominator)
            for p, (bp, zp) in enumerate(items)
            if p != i and positive(bi, bp)
        ]
        if terms:
            losses.append(-statistics.fmean(terms))
    return statistics.fmean(losses)


def reference_metadata(views: torch.Tensor, same_metadata: Callable[[int, int], bool], temperature) -> float:
    items = [(b, unit(views[b, v])) for v in range(views.shape[1]) for b in range(views.shape[0])]
    losses = []
    for i, (bi, zi) in enumerate(items):
        positives = [zp for p, (bp, zp) in enumerate(items) if p != i and bp == bi]
        negatives = [zn for bn, zn in items if not same_metadata(bi, bn)]
        if not negatives:
            continue
        denominator = sum(math.exp(dot(zi, z) / temperature) for z in positives + negatives)
        losses.append(
            -statistics.fmean(math.log(math.exp(dot(zi, zp) / temperature) / denominator) for zp in positives)
        )
    return statistics.fmean(losses)


def reference_tuple(z: torch.Tensor, drawn: torch.Tensor, temperature: float = 1.0) -> float:
    half = z.shape[0] // 2
    vectors = [unit(row) for row in z]
    losses = []
    for i in range(half):
        if drawn[i, 0] < 0:
            continue
        positive = math.exp(dot(vectors[i], vectors[half + i]) / temperature)
        negatives = sum(math.exp(dot(vectors[i], vectors[k]) / temperature) for k in drawn[i].tolist())
        losses.append(-math.log(positive / (positive + negatives)))
    return statistics.fmean(losses)


def reference_patch_mix(mixed, original, permutation, lam, temperature) -> float:
    m = [unit(row) for row in mixed]
    o = [unit(row) for row in original]
    lams = [float(lam)] * len(m) if not isinstance(lam, torch.Tensor) else lam.tolist()
    losses = []
    for i in range(len(m)):
        logits = [dot(m[i], oj) / temperature for oj in o]
        log_norm = math.log(sum(math.exp(x) for x in logits))
        partner = int(permutation[i])
        log_p = [x - log_norm for x in logits]
        losses.append(-((1 - lams[i]) * log_p[i] + lams[i] * log_p[partner]))
    return statistics.fmean(losses)


# --------------------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------------------
def test_label_kinds_and_multi_hot_same_class():
    assert label_kind(torch.tensor([0, 3, 1])) == "index"
    flags = torch.tensor([[0, 0], [1, 0], [1, 1], [1, 0]])
    assert label_kind(flags) == "multi_hot"
    assert label_kind(flags.float()) == "multi_hot"
    assert label_kind(torch.tensor([[0.3, 0.7], [1.0, 0.0]])) == "soft"
    expected = torch.tensor(
        [[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0], [0, 1, 0, 1]], dtype=torch.bool
    )  # (1,0) != (1,1): identical vectors only
    assert torch.equal(same_label_mask(flags), expected)
    with pytest.raises(ValueError, match="soft"):
        same_label_mask(torch.tensor([[0.3, 0.7], [1.0, 0.0]]))


def test_gathering_is_identity_in_one_process():
    x = torch.randn(3, 2)
    assert gather_with_grad(x) is x
    assert gather_labels(x) is x
    assert gather_labels(None) is None
    assert global_batch_indices(3) == (0, 3)


# --------------------------------------------------------------------------------------------------
# ADD
# --------------------------------------------------------------------------------------------------
def test_add_matches_reference_for_indices_and_multi_hot():
    z = random_embeddings(10, 6)
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 1, 3, 0, 2])
    loss = ADDLoss()(z, labels)
    assert loss.item() == pytest.approx(reference_add(z, labels), abs=1e-10)
    flags = torch.tensor([[0, 0], [1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [1, 0], [1, 1], [0, 0], [0, 1]])
    assert ADDLoss()(z, flags).item() == pytest.approx(loss.item(), abs=1e-10)  # 4 classes either way
    weights = (0.5, 2.0, 1.5, 0.25)
    weighted = ADDLoss(*weights)(z, flags.float())
    assert weighted.item() == pytest.approx(reference_add(z, flags, weights), abs=1e-10)


def test_add_constructed_geometry():
    angle = torch.tensor([0.0, 60.0, 150.0], dtype=F64) * math.pi / 180
    z = torch.stack([angle.cos(), angle.sin()], dim=1).to(F64)
    loss_module = ADDLoss()
    loss = loss_module(z, torch.tensor([0, 0, 1]))
    # D+ = {(1 - cos 60)^2} = {0.25}: mean 0.25, std 0; D- = {cos^2 150, cos^2 90} = {0.75, 0}: 0.375, 0.375
    assert loss.item() == pytest.approx(1.0, abs=1e-12)
    components = loss_module.last_components
    assert components["add_mean_pos"] == pytest.approx(0.25)
    assert components["add_std_pos"] == 0.0
    assert components["add_mean_neg"] == pytest.approx(0.375)
    assert components["add_std_neg"] == pytest.approx(0.375)
    assert (components["add_pos_pairs"], components["add_neg_pairs"]) == (1, 2)


def test_add_perfectly_separated_is_zero_with_zero_gradient():
    basis = torch.eye(4, dtype=F64)[:3]
    z = basis.repeat_interleave(2, dim=0).mul(torch.tensor([1.0, 3.0] * 3, dtype=F64)[:, None])
    z.requires_grad_(True)
    loss = ADDLoss()(z, torch.tensor([0, 0, 1, 1, 2, 2]))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(z.grad).all() and z.grad.abs().max() < 1e-12


@pytest.mark.parametrize(
    ("embeddings", "labels", "skipped"),
    [
        (
            random_embeddings(5, 4),
            torch.zeros(5, dtype=torch.long),
            {"add_skipped_neg": 1.0, "add_skipped_pos": 0.0},
        ),
        (random_embeddings(1, 4), torch.tensor([2]), {"add_skipped_neg": 1.0, "add_skipped_pos": 1.0}),
        (
            random_embeddings(4, 4),
            torch.tensor([[1, 0]] * 4),
            {"add_skipped_neg": 1.0, "add_skipped_pos": 0.0},
        ),
        (random_embeddings(3, 4), torch.tensor([0, 1, 2]), {"add_skipped_neg": 0.0, "add_skipped_pos": 1.0}),
        (
            torch.ones(4, 3, dtype=F64),
            torch.tensor([1, 1, 1, 1]),
            {"add_skipped_neg": 1.0, "add_skipped_pos": 0.0},
        ),
    ],
    ids=["one-class", "single-sample", "identical-multi-hot", "no-positive", "identical-embeddings"],
)
def test_add_degenerate_batches(embeddings, labels, skipped):
    z = embeddings.clone().requires_grad_(True)
    module = ADDLoss()
    loss = module(z, labels)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    assert loss.item() == pytest.approx(reference_add(embeddings, labels), abs=1e-10)
    for key, value in skipped.items():
        assert module.last_components[key] == value
    if skipped["add_skipped_neg"] and skipped["add_skipped_pos"]:
        assert loss.item() == 0.0 and torch.count_nonzero(z.grad) == 0


def test_add_single_pair_has_zero_std():
    z = random_embeddings(2, 3).requires_grad_(True)
    module = ADDLoss()
    loss = module(z, torch.tensor([1, 1]))
    loss.backward()
    assert module.last_components["add_std_pos"] == 0.0 and torch.isfinite(z.grad).all()
    d = 1 - torch.nn.functional.cosine_similarity(z[0], z[1], dim=0)
    assert loss.item() == pytest.approx(d.item() ** 2)


def test_add_soft_form_matches_reference():
    z = random_embeddings(8, 5, seed=3)
    a = torch.tensor([0, 1, 2, 3, 1, 0, 2, 3])
    b = torch.tensor([1, 1, 3, 0, 2, 0, 2, 1])
    lam = torch.tensor([0.7, 1.0, 0.5, 0.2, 0.9, 1.0, 0.6, 0.35], dtype=F64)[:, None]
    soft = lam * torch.nn.functional.one_hot(a, 4) + (1 - lam) * torch.nn.functional.one_hot(b, 4)
    module = ADDLoss(lambda_std_pos=0.7, lambda_mean_soft=1.3)
    loss = module(z, soft)
    assert "add_soft_mse" in module.last_components
    assert loss.item() == pytest.approx(reference_add_soft(z, soft, lam_mean=1.3, lam_std=0.7), abs=1e-10)
    forced = ADDLoss(soft=True, soft_positive_threshold=0.9)(z, a)  # indices are one-hot encoded
    assert forced.item() == pytest.approx(
        reference_add_soft(z, torch.nn.functional.one_hot(a, 4), threshold=0.9), abs=1e-10
    )


def test_add_soft_form_degenerate():
    z = random_embeddings(1, 3).requires_grad_(True)
    module = ADDLoss(soft=True)
    loss = module(z, torch.tensor([[0.4, 0.6]]))
    loss.backward()
    assert loss.item() == 0.0 and torch.count_nonzero(z.grad) == 0
    assert module.last_components["add_skipped_pairs"] == 1.0


# --------------------------------------------------------------------------------------------------
# SupCon and the metadata-negatives loss
# --------------------------------------------------------------------------------------------------
def test_supcon_labels_two_views_matches_reference():
    views = random_embeddings(6, 2, 5, seed=1)
    labels = torch.tensor([0, 1, 0, 2, 3, 1])
    module = SupConLoss(temperature=0.5)
    loss = module(views, labels)
    expected = reference_supcon(views, lambda a, b: bool(labels[a] == labels[b]), 0.5)
    assert loss.item() == pytest.approx(expected, abs=1e-10)
    stacked = torch.cat([views[:, 0], views[:, 1]])  # [2B, D], view-major
    assert module(stacked, labels).item() == pytest.approx(expected, abs=1e-10)
    assert module.last_components["supcon_anchors_without_positive"] == 0


def test_supcon_single_view_excludes_anchors_without_positive():
    z = random_embeddings(6, 4, seed=2)
    labels = torch.tensor([0, 1, 0, 2, 3, 1])
    module = SupConLoss()
    loss = module(z, labels)
    expected = reference_supcon(z[:, None], lambda a, b: bool(labels[a] == labels[b]), 0.07)
    assert loss.item() == pytest.approx(expected, rel=1e-9)
    assert module.last_components["supcon_anchors_without_positive"] == 2  # classes 2 and 3
    z = z.clone().requires_grad_(True)
    lonely = module(z, torch.arange(6))
    lonely.backward()
    assert lonely.item() == 0.0 and module.last_components["supcon_skipped"] == 1.0
    assert torch.count_nonzero(z.grad) == 0


def test_supcon_metadata_positives():
    views = random_embeddings(5, 2, 4, seed=4)
    device = torch.tensor([2, 0, 2, 1, 0])
    labels = torch.tensor([0, 0, 1, 1, 3])
    loss = SupConLoss(temperature=0.2, positive_key="device")(views, labels, device=device, sex=torch.ones(5))
    assert loss.item() == pytest.approx(
        reference_supcon(views, lambda a, b: bool(device[a] == device[b]), 0.2), abs=1e-10
    )
    both = SupConLoss(temperature=0.2, positive_key=("labels", "device"))(views, labels, device=device)
    assert both.item() == pytest.approx(
        reference_supcon(views, lambda a, b: bool(device[a] == device[b] and labels[a] == labels[b]), 0.2),
        abs=1e-10,
    )
    with pytest.raises(ValueError, match="device"):
        SupConLoss(positive_key="device")(views, labels)


def test_metadata_contrastive_matches_reference():
    views = random_embeddings(6, 2, 4, seed=5)
    age = torch.tensor([0, 1, 0, 2, 0, 1])
    sex = torch.tensor([0, 0, 0, 1, 1, 0])
    module = MetadataContrastiveLoss(temperature=0.3)
    loss = module(torch.cat([views[:, 0], views[:, 1]]), None, age_group=age, sex=sex)
    metadata = list(zip(age.tolist(), sex.tolist(), strict=True))
    expected = reference_metadata(views, lambda a, b: metadata[a] == metadata[b], 0.3)
    assert loss.item() == pytest.approx(expected, abs=1e-10)
    # with all metadata identical nothing is a negative: skipped, zero gradient
    z = views.clone().requires_grad_(True)
    zero = module(z, None, age_group=torch.zeros(6), sex=torch.zeros(6))
    zero.backward()
    assert zero.item() == 0.0 and module.last_components["metadata_contrastive_skipped"] == 1.0
    assert torch.count_nonzero(z.grad) == 0
    with pytest.raises(ValueError, match="two views"):
        module(views[:, 0], None, age_group=age, sex=sex)


# --------------------------------------------------------------------------------------------------
# Contrastive tuple
# --------------------------------------------------------------------------------------------------
def test_contrastive_tuple_hard_negative_gets_larger_gradient():
    anchor = torch.tensor([[1.0, 0.0, 0.0]], dtype=F64)
    positive = torch.tensor([[0.9, math.sqrt(1 - 0.81), 0.0]], dtype=F64)
    hard = [0.0, 0.0, 1.0]  # cosine 0 with the anchor
    easy = [-0.95, 0.0, math.sqrt(1 - 0.95**2)]  # cosine -0.95
    negatives = torch.tensor([[hard, easy]], dtype=F64, requires_grad=True)
    contrastive_tuple_loss(anchor, positive, negatives).sum().backward()
    hard_grad, easy_grad = negatives.grad[0].norm(dim=-1)
    assert hard_grad > 3 * easy_grad > 0


def test_contrastive_tuple_takes_all_candidates_when_exactly_n():
    z = random_embeddings(8, 5, seed=6)
    labels = torch.tensor([0, 0, 1, 1, 0, 0, 1, 1])  # [anchors, positives]: 4 other-class samples each
    module = ContrastiveTupleLoss(num_negatives=4, temperature=0.5)
    loss = module(z, labels)
    drawn = module.last_negative_indices
    for i in range(4):
        candidates = [k for k in range(8) if labels[k] != labels[i]]
        assert sorted(drawn[i].tolist()) == candidates
    assert loss.item() == pytest.approx(reference_tuple(z, drawn, 0.5), abs=1e-10)


def test_contrastive_tuple_sampling_with_replacement_and_skips():
    z = random_embeddings(10, 4, seed=7)
    labels = torch.tensor([0, 1, 1, 2, 3, 0, 1, 1, 2, 3])
    module = ContrastiveTupleLoss(num_negatives=16, seed=3)
    loss = module(z, labels, step=5)
    drawn = module.last_negative_indices
    assert drawn.shape == (5, 16)
    for i in range(5):
        assert all(labels[k] != labels[i] for k in drawn[i].tolist())
    assert loss.item() == pytest.approx(reference_tuple(z, drawn), abs=1e-10)
    assert module(z, labels, step=5).item() == loss.item()  # the draw depends on (seed, step) only
    assert torch.equal(module.last_negative_indices, drawn)
    one_class = z.clone().requires_grad_(True)
    zero = module(one_class, torch.zeros(10, dtype=torch.long))
    zero.backward()
    assert zero.item() == 0.0 and module.last_components["contrastive_tuple_skipped_anchors"] == 5
    assert torch.count_nonzero(one_class.grad) == 0
    with pytest.raises(ValueError, match="anchor i's class"):
        module(z, torch.tensor([0, 1, 1, 2, 3, 1, 1, 1, 2, 3]))


def test_sampler_batches_feed_the_loss():
    labels = torch.tensor([0, 1, 2, 3] * 6)
    z = random_embeddings(24, 8, seed=8)
    module = ContrastiveTupleLoss(num_negatives=5)
    for batch in ContrastiveTupleBatchSampler(labels.tolist(), batch_size=6, seed=1):
        loss = module(z[batch], labels[batch])
        assert loss.item() == pytest.approx(
            reference_tuple(z[batch], module.last_negative_indices), abs=1e-10
        )


# --------------------------------------------------------------------------------------------------
# Patch-Mix
# --------------------------------------------------------------------------------------------------
def test_patch_mix_loss_matches_reference_and_detaches_originals():
    mixed = random_embeddings(6, 4, seed=10).requires_grad_(True)
    original = random_embeddings(6, 4, seed=11).requires_grad_(True)
    permutation = torch.tensor([2, 0, 1, 3, 5, 4])  # 3 is a fixed point
    module = PatchMixContrastiveLoss()
    loss = module(mixed, original, permutation, 0.3)
    assert loss.item() == pytest.approx(
        reference_patch_mix(mixed, original, permutation, 0.3, 0.06), abs=1e-9
    )
    assert module.last_components["patch_mix_lam"] == pytest.approx(0.3)
    loss.backward()
    assert original.grad is None and mixed.grad is not None
    lam = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], dtype=F64)
    per_sample = module(mixed, original, permutation, lam)
    assert per_sample.item() == pytest.approx(
        reference_patch_mix(mixed, original, permutation, lam, 0.06), abs=1e-9
    )
    # lam is the partner's weight: lam = 1 with partner j is plain InfoNCE towards original j
    full = module(mixed, original, permutation, 1.0)
    shuffled = module(mixed, original[permutation], torch.arange(6), 0.0)
    assert full.item() == pytest.approx(shuffled.item(), abs=1e-12)


# --------------------------------------------------------------------------------------------------
# Registry, configs, citations
# --------------------------------------------------------------------------------------------------
NON_DEFAULT = {
    "contrastive_tuple": {"num_negatives": 8, "temperature": 0.5, "seed": 3},
    "supcon": {"temperature": 0.1, "positive_key": ("labels", "device")},
    "metadata_contrastive": {"negative_keys": ("device",), "temperature": 0.2},
    "add": {"lambda_std_neg": 0.5, "soft": True, "soft_positive_threshold": 0.8},
    "patch_mix": {"temperature": 0.1, "negatives": "different_label"},
    "stethoscope_supcon": {"temperature": 0.2, "domain_key": "hospital", "positives": "label_across_domains"},
}


@pytest.mark.parametrize("name", sorted(AUXILIARY_LOSSES))
def test_config_round_trip_and_citation(name):
    for options in ({}, NON_DEFAULT[name]):
        loss = build_auxiliary_loss(name, **options)
        config = loss.get_config_dict()
        for key, value in options.items():
            assert config[key] == value
        rebuilt = build_auxiliary_loss(name, **json.loads(json.dumps(config)))
        assert rebuilt.get_config_dict() == config
        assert type(rebuilt)(**config).get_config_dict() == config
    citation = AUXILIARY_LOSSES[name].citation
    assert citation.startswith("@") and "title" in citation and "year" in citation
    assert citation.count("{") == citation.count("}")


def test_build_auxiliary_loss_errors():
    with pytest.raises(ValueError, match="nope") as error:
        build_auxiliary_loss("nope")
    for name in AUXILIARY_LOSSES:
        assert name in str(error.value)
    with pytest.raises(TypeError, match="temperature"):
        build_auxiliary_loss("supcon", temprature=0.1)


# --------------------------------------------------------------------------------------------------
# Distributed: 2 gloo processes, each with a shard of the global batch
# --------------------------------------------------------------------------------------------------
WORLD = 2
SHARDS = ((0, 5), (5, 8))  # unequal shards of a global batch of 8
TUPLE_SHARDS = ((0, 4), (4, 6))  # of 6 anchors (and their 6 positives)
PATCH_PERMUTATIONS = (torch.tensor([3, 0, 4, 1, 2]), torch.tensor([1, 2, 0]))
PATCH_LAMS = (0.25, 0.75)


def distributed_cases() -> dict[
    str, tuple[torch.Tensor, Callable[[torch.Tensor, slice | None], torch.Tensor]]
]:
    """name -> (global leaf data, fn(shard data, shard slice or None for the whole batch) -> loss)."""
    generator = torch.Generator().manual_seed(123)
    z = torch.randn(8, 6, generator=generator, dtype=F64)
    views = torch.randn(8, 2, 6, generator=generator, dtype=F64)
    labels = torch.tensor([0, 1, 2, 1, 0, 3, 1, 2])
    soft = torch.softmax(torch.randn(8, 4, generator=generator, dtype=F64), dim=1)
    device = torch.tensor([0, 1, 1, 0, 2, 2, 0, 1])
    age, sex = torch.tensor([0, 1, 0, 2, 1, 1, 0, 2]), torch.tensor([0, 1, 1, 0, 1, 0, 1, 1])
    tuple_z = torch.randn(12, 6, generator=generator, dtype=F64)
    tuple_labels = torch.tensor([0, 1, 2, 1, 3, 0] * 2)
    original = torch.randn(8, 6, generator=generator, dtype=F64)

    def piece(tensor, part):
        return tensor if part is None else tensor[part]

    def tuple_case(local, part):
        if part is None:
            return ContrastiveTupleLoss(num_negatives=4, seed=5)(local, tuple_labels)
        lab = torch.cat([tuple_labels[:6][part], tuple_labels[6:][part]])
        return ContrastiveTupleLoss(num_negatives=4, seed=5)(local, lab)

    def patch_case(local, part):
        if part is None:
            permutation = torch.cat([PATCH_PERMUTATIONS[0], PATCH_PERMUTATIONS[1] + 5])
            lam = torch.tensor([PATCH_LAMS[0]] * 5 + [PATCH_LAMS[1]] * 3, dtype=F64)
            return PatchMixContrastiveLoss()(local, original, permutation, lam)
        rank = 0 if part.start == 0 else 1
        return PatchMixContrastiveLoss()(local, original[part], PATCH_PERMUTATIONS[rank], PATCH_LAMS[rank])

    return {
        "add": (z, lambda x, p: ADDLoss()(x, piece(labels, p))),
        "add_soft": (z, lambda x, p: ADDLoss()(x, piece(soft, p))),
        "supcon_views": (views, lambda x, p: SupConLoss(temperature=0.2)(x, piece(labels, p))),
        "supcon_device": (
            z,
            lambda x, p: SupConLoss(positive_key="device")(x, piece(labels, p), device=piece(device, p)),
        ),
        "metadata": (
            views,
            lambda x, p: MetadataContrastiveLoss()(x, None, age_group=piece(age, p), sex=piece(sex, p)),
        ),
        "contrastive_tuple": (tuple_z, tuple_case),
        "patch_mix": (z, patch_case),
    }


def tuple_shard(tensor: torch.Tensor, part: slice) -> torch.Tensor:
    return torch.cat([tensor[:6][part], tensor[6:][part]])


def _distributed_worker(rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)  # as DataLoader workers do: the parent's OpenMP pool does not survive fork
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD, timeout=timedelta(seconds=30)
    )
    try:
        results = {}
        for name, (data, fn) in distributed_cases().items():
            shards = TUPLE_SHARDS if name == "contrastive_tuple" else SHARDS
            part = slice(*shards[rank])
            local = (tuple_shard(data, part) if name == "contrastive_tuple" else data[part]).clone()
            local.requires_grad_(True)
            loss = fn(local, part)
            loss.backward()
            results[name] = (loss.item(), local.grad.clone())
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(
    not dist.is_available() or "fork" not in multiprocessing.get_all_start_methods(),
    reason="needs torch.distributed and the fork start method",
)
def test_distributed_global_batch_equals_one_process(tmp_path: Path):
    # fork: the children inherit the imported modules (spawning would re-import respira, ~10 s)
    context = torch.multiprocessing.start_processes(
        _distributed_worker,
        args=(str(tmp_path / "store"), str(tmp_path)),
        nprocs=WORLD,
        join=False,
        start_method="fork",
    )
    deadline = time.monotonic() + 60
    try:
        while not context.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail("distributed workers timed out")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
                process.join()
    results = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(WORLD)]
    for name, (data, fn) in distributed_cases().items():
        full = data.clone().requires_grad_(True)
        loss = fn(full, None)
        loss.backward()
        shards = TUPLE_SHARDS if name == "contrastive_tuple" else SHARDS
        for rank, (start, stop) in enumerate(shards):
            value, grad = results[rank][name]
            assert value == pytest.approx(loss.item(), abs=1e-6), name
            expected = (
                tuple_shard(full.grad, slice(start, stop))
                if name == "contrastive_tuple"
                else full.grad[start:stop]
            )
            # the local gradient is WORLD x the one-process slice; DDP's averaging divides by WORLD
            torch.testing.assert_close(grad / WORLD, expected, atol=1e-6, rtol=0, msg=name)
