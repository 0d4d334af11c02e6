"""Which units to label next (respira.sites.suggestion): every strategy suggests units not yet labelled,
each once with a reason; coverage reaches the places nothing labelled covers, balance alternates the
model's calls, uncertainty starts where the model is least sure."""

from __future__ import annotations

import numpy as np
import pytest

from respira.sites import SiteSample
from respira.sites.suggestion import STRATEGIES, suggest_units, unit_view

from .conftest import make_sample


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_strategy_suggests_unlabelled_units_once_with_a_reason(strategy: str) -> None:
    sample = make_sample(units=12)
    labelled = {"p0": True, "p3": False}
    chosen = suggest_units(sample, 10, labelled=labelled, strategy=strategy, seed=1)
    units = [s.unit for s in chosen]
    assert len(units) == len(set(units)) == 10
    assert not set(units) & set(labelled)
    assert all(s.reason for s in chosen)
    with pytest.raises(ValueError, match=r"budget must lie in 1 \.\. 10"):
        suggest_units(sample, 11, labelled=labelled, strategy=strategy)


def _moved(sample: SiteSample, far: set[str]) -> SiteSample:
    """``sample`` with the windows of the units ``far`` moved far from the others."""
    shift = np.array([str(sample.recordings[r].unit) in far for r in sample.recording])
    embeddings = sample.embeddings.copy()
    embeddings[shift] += 1000.0
    return SiteSample(
        embeddings, sample.recording, sample.recordings, sample.base_logits, sample.base_head,
        sample.base_thresholds,
    )  # fmt: skip


def test_coverage_goes_first_where_nothing_labelled_lies() -> None:
    sample = _moved(make_sample(units=12), {"p10", "p11"})
    labelled = {f"p{unit}": False for unit in range(6)}
    for seed in range(5):
        chosen = [s.unit for s in suggest_units(sample, 3, labelled=labelled, strategy="coverage", seed=seed)]
        assert chosen[0] in {"p10", "p11"}, chosen
        assert (
            "unlike the units labelled or chosen before"
            in suggest_units(sample, 1, labelled=labelled, strategy="coverage", seed=seed)[0].reason
        )


def test_balance_alternates_the_models_calls_and_counts_the_labels() -> None:
    sample = make_sample(units=20)
    view = unit_view(sample)
    called = dict(zip(view.units, view.abnormal.tolist(), strict=True))
    assert 4 <= sum(called.values()) <= 16  # both kinds to alternate between
    chosen = [s.unit for s in suggest_units(sample, 6, strategy="balance")]
    assert [called[u] for u in chosen] == [True, False, True, False, True, False]
    normal_known = {unit: False for unit in list(called)[:2]}  # labelled normal: abnormal until even, then
    chosen = [s.unit for s in suggest_units(sample, 4, labelled=normal_known, strategy="balance")]
    assert [called[u] for u in chosen] == [True, True, True, False]


def test_uncertainty_starts_where_the_model_is_least_sure() -> None:
    sample = make_sample(units=15)
    view = unit_view(sample)
    chosen = [s.unit for s in suggest_units(sample, 5, strategy="uncertainty", view=view)]
    doubt = dict(zip(view.units, view.doubt.tolist(), strict=True))
    assert [doubt[u] for u in chosen] == sorted(doubt.values())[:5]


def test_an_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="strategy must be one of random, uncertainty"):
        suggest_units(make_sample(units=5), 1, strategy="nearest")
