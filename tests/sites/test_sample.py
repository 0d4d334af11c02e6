"""SiteSample: its checks, subsets and the .npz it is kept in."""

from __future__ import annotations

import numpy as np
import pytest

from respira.sites import SiteSample

from .conftest import make_sample


def test_a_sample_survives_its_npz(tmp_path):
    sample = make_sample(units=5)
    loaded = SiteSample.load(sample.save(tmp_path / "site.npz"))
    np.testing.assert_array_equal(loaded.embeddings, sample.embeddings)
    np.testing.assert_array_equal(loaded.base_logits, sample.base_logits)
    np.testing.assert_array_equal(loaded.base_head[0], sample.base_head[0])
    assert loaded.recordings == sample.recordings
    assert loaded.base_thresholds == sample.base_thresholds
    np.testing.assert_array_equal(loaded.labels, sample.labels)
    assert list(loaded.units) == list(sample.units)


def test_a_subset_keeps_each_window_with_its_recording():
    sample = make_sample(units=4)
    part = sample.subset(np.array([5, 2]))
    assert [r.recording_id for r in part.recordings] == [
        sample.recordings[5].recording_id,
        sample.recordings[2].recording_id,
    ]
    np.testing.assert_array_equal(
        part.embeddings[part.recording == 0], sample.embeddings[sample.recording == 5]
    )
    np.testing.assert_array_equal(
        part.base_logits[part.recording == 1], sample.base_logits[sample.recording == 2]
    )


def test_a_recording_without_windows_is_refused():
    sample = make_sample(units=2)
    with pytest.raises(ValueError, match="at least one window"):
        SiteSample(
            sample.embeddings[sample.recording != 1],
            sample.recording[sample.recording != 1],
            sample.recordings,
            sample.base_logits[sample.recording != 1],
            sample.base_head,
            sample.base_thresholds,
        )
