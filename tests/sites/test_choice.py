"""The fitting procedure on one set of recordings (:mod:`respira.sites.choice`): what it may look at."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from respira.data.errors import SplitError
from respira.data.folds import patient_kfold
from respira.sites import choice
from respira.sites.choice import RECORDING_RULES, fit_procedure, unit_folds
from respira.sites.scores import recording_probabilities

from .conftest import make_sample


def test_an_inner_folds_thresholds_are_set_on_the_other_folds_recordings_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 58, item 11: thresholds tuned on the held fold (``labels[held]``) leak its labels into the
    inner score the choice is made by, the leak nested cross-validation exists to prevent. Every inner
    tuning must see the recordings of all the folds but one, each with its own labels."""
    sample = make_sample(units=16, per_unit=1)
    rng = np.random.default_rng(1)  # distinct logits: a recording is known by its probabilities
    sample = dataclasses.replace(sample, base_logits=rng.normal(size=sample.base_logits.shape))
    count = len(sample.recordings)
    known = [
        recording_probabilities(sample.base_logits, sample.recording, count, *r) for r in RECORDING_RULES
    ]
    folds = unit_folds(sample, 4, 0)
    seen: list[np.ndarray] = []
    real = choice.expected_thresholds

    def tuned(labels: np.ndarray, probabilities: np.ndarray, *args, **kwargs):
        rule = next(rule for rule in known if any((rule == probabilities[0]).all(axis=1)))
        rows = [int(np.flatnonzero((rule == row).all(axis=1))[0]) for row in probabilities]
        assert np.array_equal(labels, sample.labels[rows]), "thresholds tuned on another recording's labels"
        seen.append(np.array(rows))
        return real(labels, probabilities, *args, **kwargs)

    monkeypatch.setattr(choice, "expected_thresholds", tuned)
    fit_procedure(sample, candidates=("as_is", "thresholds"))
    inner = [rows for rows in seen if rows.size < count]
    assert inner and len(inner) % 4 == 0  # every fold of every option
    for rows in inner:
        left_out = set(range(count)) - set(rows.tolist())
        assert len(set(folds[sorted(left_out)])) == 1  # one fold left out, whole
        assert len(set(folds[rows])) == 3
    assert any(rows.size == count for rows in seen)  # the final thresholds: on every recording


@pytest.mark.parametrize("crackle", [False, True])
def test_a_label_without_a_positive_or_a_negative_recording_is_left_alone(crackle: bool) -> None:
    """Issue 73: on recordings none (or all) of which has crackles, crackle is the model's own: no head,
    its threshold, and the model's recording rule, which is one for both labels (a fit once moved it from
    max to mean there): no option re-tunes crackle or tries another rule, in any inner fold or at the end."""
    sample = make_sample(units=16, per_unit=2, crackle_backwards=False)
    recordings = tuple(dataclasses.replace(r, crackle=crackle) for r in sample.recordings)
    sample = dataclasses.replace(sample, recordings=recordings, base_thresholds=(0.37, 0.5))
    why = "every labelled recording has crackle" if crackle else "no crackle recording among the labelled"
    assert choice.unmeasurable_labels(sample.labels) == {0: f"not measurable here: {why}"}
    fitted = fit_procedure(sample)
    assert fitted.chosen[0] == "as_is" and (fitted.aggregation, fitted.top_k) == ("max", None)
    assert fitted.inner_scores and all(k.startswith("as_is/") and "@" not in k for k in fitted.inner_scores)
    for rule in fitted.rules.values():  # every candidate's row too
        assert rule.heads[0] is None and rule.thresholds[0] == 0.37
        assert rule.recording_rule(sample) == ("max", None)


def test_unit_folds_follow_a_sample_whose_units_or_labels_changed() -> None:
    """The folds are kept per process by every unit and class: a sample of the same size whose units were
    merged, or whose labels changed, gets its own folds (a merged unit whole in one), never the first's."""
    sample = make_sample(units=16, per_unit=1)
    first = unit_folds(sample, 4, 0)
    merged = tuple(
        dataclasses.replace(r, unit="p0") if r.unit in ("p1", "p2", "p3") else r for r in sample.recordings
    )
    folds = unit_folds(dataclasses.replace(sample, recordings=merged), 4, 0)
    assert len(set(folds[:4].tolist())) == 1 and len(set(first[:4].tolist())) > 1
    flipped = (dataclasses.replace(sample.recordings[0], wheeze=not sample.recordings[0].wheeze),)
    relabelled = dataclasses.replace(sample, recordings=flipped + sample.recordings[1:])
    index = pd.DataFrame({"unit": relabelled.units, "label": relabelled.classes})
    try:
        fresh = patient_kfold(index, 4, seed=0, group_by="unit", require_all="label").to_numpy()
    except SplitError:
        fresh = patient_kfold(index, 4, seed=0, group_by="unit", require_all=None).to_numpy()
    assert unit_folds(relabelled, 4, 0).tolist() == fresh.tolist() != first.tolist()
    first[:] = -1  # the caller's copy: the next call is not changed by it
    assert unit_folds(sample, 4, 0).min() == 0
