"""The label-free transforms of studies/transfer_probe.py, checked on hand-computed values, and a probe
on separable features scoring what it should."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "studies"))
import transfer_probe as probe


def test_per_domain_standardisation_uses_each_domains_own_statistics() -> None:
    train = np.array([[1.0], [3.0], [10.0], [14.0]])
    test = np.array([[0.0], [4.0]])
    domains = (np.array(["a", "a", "b", "b"]), np.array(["c", "c"]))
    scaled_train, scaled_test = probe.standardise(train, test, domains)
    # a: mean 2, std 1; b: mean 12, std 2; c (the target, its own): mean 2, std 2
    assert scaled_train[:, 0] == pytest.approx([-1, 1, -1, 1], abs=1e-5)
    assert scaled_test[:, 0] == pytest.approx([-1, 1], abs=1e-5)
    _, pooled_test = probe.standardise(train, test, None)  # the pool's: mean 7, std sqrt(110 / 4)
    assert pooled_test[:, 0] == pytest.approx((test[:, 0] - 7) / np.sqrt(27.5), abs=1e-5)


def test_recording_context_mixes_each_cycle_with_its_recordings_mean() -> None:
    probabilities = np.array([[0.2, 0.0], [0.6, 0.4], [0.9, 0.1]])
    recordings = np.array(["r1", "r1", "r2"])
    mixed = probe.with_context(probabilities, recordings, weight=0.5)
    # r1's mean is (0.4, 0.2): 0.5 * own + 0.5 * mean; r2 is alone, so unchanged
    assert mixed == pytest.approx(np.array([[0.3, 0.1], [0.5, 0.3], [0.9, 0.1]]))


def test_rate_matched_thresholds_flag_the_pools_share_of_the_target() -> None:
    pool = np.array(
        [[0.9, 0.1], [0.8, 0.2], [0.1, 0.3], [0.2, 0.9]]
    )  # at (0.5, 0.5): crackle 2/4, wheeze 1/4
    target = np.column_stack([np.linspace(0, 0.3, 8), np.linspace(0.0, 0.07, 8)])  # shifted far down
    crackle, wheeze = probe.rate_matched(target, pool, (0.5, 0.5))
    assert (target[:, 0] >= crackle).sum() == 4 and (target[:, 1] >= wheeze).sum() == 2


def test_a_probe_on_separable_features_scores_them_perfectly() -> None:
    rng = np.random.default_rng(0)
    flags = np.array([[c, w] for c in (0, 1) for w in (0, 1)] * 30)
    features = flags * 4.0 + rng.normal(0, 0.3, size=flags.shape)

    def rows(mask: np.ndarray, domain: str) -> dict:
        count = int(mask.sum())
        return {
            "x": {"final": features[mask]},
            "flags": flags[mask],
            "domain": np.full(count, domain),
            "patient": np.arange(count).astype(str),
            "recording": np.arange(count).astype(str),
        }

    half = rng.permutation(len(flags)) < len(flags) // 2
    result = probe.evaluate(probe.Variant(("final",)), rows(half, "a"), rows(~half, "b"), per_recording=False)
    assert result["icbhi_score"] == pytest.approx(100.0) and result["ceiling"] == pytest.approx(100.0)
    assert result["auc_crackle"] == pytest.approx(100.0) and result["auc_wheeze"] == pytest.approx(100.0)


def test_sample_weights_cut_the_link_between_a_device_and_a_flag() -> None:
    # device a: 3 of 4 crackles; device b: 1 of 4 (the pool: 4 of 8)
    flags = np.array([[1, 0], [1, 0], [1, 1], [0, 0], [1, 0], [0, 1], [0, 0], [0, 0]])
    domains = np.array(["a"] * 4 + ["b"] * 4)
    weights = probe.sample_weights(flags, domains, "deconfounded")
    crackle = weights[:, 0]
    # P(y) / P(y | device): a's crackles 0.5 / 0.75, a's normal 0.5 / 0.25, b's the mirror; mean 1 already
    assert crackle == pytest.approx([2 / 3, 2 / 3, 2 / 3, 2, 2, 2 / 3, 2 / 3, 2 / 3])
    for device in "ab":  # weighted, every device has the pool's crackle prevalence
        rows = domains == device
        assert (crackle[rows] * flags[rows, 0]).sum() / crackle[rows].sum() == pytest.approx(0.5)
    balanced = probe.sample_weights(flags, domains, "domain_class")[:, 0]
    for device in "ab":  # 1 / n(device, y), rescaled: both cells of a device weigh the same
        rows = domains == device
        assert (balanced[rows] * flags[rows, 0]).sum() == pytest.approx(
            (balanced[rows] * (1 - flags[rows, 0])).sum()
        )
    assert balanced.mean() == pytest.approx(1.0)


def test_within_device_reports_each_devices_own_ranking() -> None:
    rng = np.random.default_rng(0)
    n = 200
    devices = np.repeat(np.array(["x", "y"]), n // 2)
    flags = np.column_stack([rng.random(n) < np.where(devices == "x", 0.8, 0.2), rng.random(n) < 0.3])
    flags = flags.astype(int)
    # the feature only says which device a cycle comes from: a ranking across devices, none within
    features = (devices == "x").astype(float)[:, None]
    patients = np.array([f"p{i // 4}" for i in range(n)])
    pool = {"x": {"final": features}, "flags": flags, "domain": devices, "patient": patients}
    lines = {line.split(" | ")[0].strip("| "): line for line in probe.within_device(pool).splitlines()[2:]}
    pooled_auc = float(lines["all (pooled)"].split(" | ")[4])
    # the device shortcut ranks crackles across devices (0.8 x 0.8 + ties / 2 = 80 at best) ...
    assert pooled_auc > 65
    for device in "xy":  # ... and not within one: every model scores a device's cycles alike
        assert float(lines[device].split(" | ")[4]) == 50.0


def test_low_band_rows_keep_the_frequency_rows_entirely_below_the_low_pass() -> None:
    import _probe_features as features

    # 4 kHz is mel bin 128 * ln(1 + 4000/700) / ln(1 + 15000/700) = 78.4 of mn04's 128 (0-15 kHz)
    assert [features.low_band_rows(rows) for rows in (4, 8, 128)] == [2, 4, 78]
    assert features.low_band_rows(1) == 1  # a block with one row keeps it
    assert features.low_band_rows(4, cutoff=15_000.0) == 4


def test_own_length_embedding_neither_tiles_nor_crops_and_restores_the_model() -> None:
    import torch

    from _probe_features import own_length_embedding

    from ..models.encoder_tester import CASES

    model = CASES["cnn"].model(target_seconds=1.0).eval()
    rate = int(model.config.sampling_rate)
    waveform = np.random.default_rng(0).normal(0, 0.1, rate).astype(np.float32)
    with torch.no_grad():
        tiled = model.respira(torch.from_numpy(waveform[: rate // 4])[None]).embeddings[0].numpy()
        whole = model.respira(torch.from_numpy(waveform)[None]).embeddings[0].numpy()
    np.testing.assert_allclose(own_length_embedding(model, waveform), whole, atol=1e-6)  # at its length
    quarter = own_length_embedding(model, waveform[: rate // 4])
    assert not np.allclose(quarter, tiled, atol=1e-3) and model.config.target_seconds == 1.0
    short_model = CASES["cnn"].model(target_seconds=0.25).eval()
    short_model.load_state_dict(model.state_dict())
    with torch.no_grad():
        expected = short_model.respira(torch.from_numpy(waveform[: rate // 4])[None]).embeddings[0].numpy()
    np.testing.assert_allclose(quarter, expected, atol=1e-6)


def test_coral_gives_every_pool_domain_the_targets_covariance() -> None:
    rng = np.random.default_rng(0)
    mixing = {"a": np.array([[2.0, 0.5], [0.0, 0.3]]), "b": np.array([[0.2, 0.0], [1.5, 1.0]])}
    domains = np.repeat(["a", "b"], 200)
    train = np.concatenate([rng.normal(size=(200, 2)) @ mixing[d] for d in "ab"])
    test = rng.normal(size=(300, 2)) @ np.array([[1.0, 0.8], [0.0, 0.5]])
    aligned = probe.coral(train, domains, test, shrinkage=0.0)  # unregularised: matched exactly
    for domain in "ab":
        assert np.cov(aligned[domains == domain], rowvar=False) == pytest.approx(np.cov(test, rowvar=False))
    # one feature, shrinkage 1 (the paper's): x * sqrt(var_target + 1) / sqrt(var_domain + 1)
    one = probe.coral(train[:, :1], domains, test[:, :1])
    for domain in "ab":
        rows = domains == domain
        ratio = np.sqrt((test[:, 0].var(ddof=1) + 1) / (train[rows, 0].var(ddof=1) + 1))
        assert one[rows, 0] == pytest.approx(train[rows, 0] * ratio)


def test_highpass_removes_what_lies_below_the_lung_sound_band_and_keeps_the_band() -> None:
    import _probe_features as features

    rate = features.RATE
    t = np.arange(rate) / rate
    heart, lung = np.sin(2 * np.pi * 30 * t), np.sin(2 * np.pi * 400 * t)
    filtered = features.highpass((heart + lung).astype(np.float32))
    middle = slice(rate // 4, 3 * rate // 4)  # away from the edges
    assert filtered.dtype == np.float32
    # 30 Hz is 1.7 octaves under 100 Hz: a 4th-order Butterworth twice (zero-phase) leaves ~1e-4 of it
    np.testing.assert_allclose(filtered[middle], lung[middle], atol=2e-3)
    assert np.abs(features.highpass(heart.astype(np.float32))[middle]).max() < 2e-3


def test_target_batch_norm_normalises_with_the_targets_statistics_and_puts_them_back() -> None:
    import torch

    import _probe_features as features

    from ..models.encoder_tester import CASES

    model = CASES["cnn"].model(target_seconds=1.0).eval()
    rate = int(model.config.sampling_rate)
    norms = [m for m in model.respira.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    first = norms[0]
    before = [(m.running_mean.clone(), m.running_var.clone()) for m in norms]
    rng = np.random.default_rng(0)
    target = [rng.normal(0, 0.5, rate).astype(np.float32) for _ in range(3)]  # one batch
    seen: list[torch.Tensor] = []
    hook = first.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach()))
    with features.target_batch_norm(model, target):
        hook.remove()
        inputs = seen[0]  # what the first BatchNorm saw of the target: its statistics are those
        np.testing.assert_allclose(first.running_mean, inputs.mean(dim=(0, 2, 3)), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(first.running_var, inputs.var(dim=(0, 2, 3)), rtol=1e-4, atol=1e-6)
        assert not first.training and not model.training
        adapted = features.block_features(model, target)["final"]
    for norm, (mean, var) in zip(norms, before, strict=True):
        assert torch.equal(norm.running_mean, mean) and torch.equal(norm.running_var, var)
    assert not np.allclose(adapted, features.block_features(model, target)["final"], atol=1e-4)
