"""The pure pieces of studies/event_detection.py and its helper _event_units.py: references from a corpus
plug-in's events, the window baseline's events, step targets, which chunk owns a step (as predict_frames
decides), F1 from counts, the tuning of thresholds and event settings for event F1, the validation slice
and the shared encoder's memory."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "studies"))
import _event_tuning as tuning
import _event_units as units
from respira.data.icbhi import icbhi_reference_events
from respira.inference.frames import MAX_CONTEXT_SECONDS, predict_frames
from respira.metrics.events import event_based_scores
from respira.models.respira.decision import Event, EventSettings, LabelEventSettings


def test_references_merge_each_label_clip_to_the_recording_and_drop_what_starts_after_it() -> None:
    cycles = [
        {"start": 0.0, "end": 1.0, "crackle": 0, "wheeze": 0},  # normal: no event
        {"start": 1.0, "end": 2.0, "crackle": 1, "wheeze": 1},  # both: a crackle and a wheeze
        {"start": 2.0, "end": 3.0, "crackle": 1, "wheeze": 0},  # an adjacent crackle cycle: joined
        {"start": 4.0, "end": 9.0, "crackle": 0, "wheeze": 1},  # runs past the recording's end: clipped
        {"start": 6.0, "end": 7.0, "crackle": 1, "wheeze": 0},  # starts after the end: left out
    ]
    assert units.references(icbhi_reference_events({"cycles": cycles}), duration=5.0) == [
        Event(1.0, 3.0, "crackle"),
        Event(1.0, 2.0, "wheeze"),
        Event(4.0, 5.0, "wheeze"),
    ]
    assert units.references([], duration=5.0) == []


def _row(start: float, end: float, crackle: float = 0.1, wheeze: float = 0.1) -> dict:
    return {"start": start, "end": end, "crackle": crackle, "wheeze": wheeze}


def test_window_events_merge_overlapping_and_adjacent_positive_windows_with_the_peak_probability() -> None:
    rows = [
        _row(0.0, 4.0, crackle=0.6),
        _row(1.0, 5.0, crackle=0.8, wheeze=0.7),  # overlaps: crackle joined; wheeze starts
        _row(2.0, 6.0, crackle=0.45),  # under the crackle threshold: no event, its probability unused
        _row(5.0, 9.0, wheeze=0.9),  # adjacent to the wheeze window: joined
        _row(10.0, 14.0, crackle=0.7),  # after a gap: its own event
        _row(11.0, 13.5),  # the last, shorter window: nothing
    ]
    assert tuning.window_events(rows, (0.5, 0.6)) == [
        Event(0.0, 5.0, "crackle", 0.8),
        Event(1.0, 9.0, "wheeze", 0.9),
        Event(10.0, 14.0, "crackle", 0.7),
    ]
    assert tuning.window_events(rows, (0.75, 0.95)) == [Event(1.0, 5.0, "crackle", 0.8)]
    assert tuning.window_events(rows, (0.45, 0.6))[0] == Event(0.0, 6.0, "crackle", 0.8)  # at it: present
    assert tuning.window_events([], (0.5, 0.5)) == []
    assert tuning.window_events([_row(0.0, 4.0)], (0.5, 0.5)) == []


def test_whole_recording_events_cover_the_recording_once_per_label() -> None:
    assert tuning.whole_recording_events(12.5) == [Event(0.0, 12.5, "crackle"), Event(0.0, 12.5, "wheeze")]


def test_step_targets_mark_steps_whose_centre_lies_in_an_event_of_the_label() -> None:
    events = [Event(1.0, 2.0, "crackle"), Event(1.5, 3.0, "wheeze")]
    targets = units.step_targets(np.array([0.5, 1.0, 1.6, 2.0, 2.9, 3.0]), events)
    assert targets.tolist() == [[0, 0], [1, 0], [1, 1], [0, 1], [0, 1], [0, 0]]
    assert units.step_targets(np.array([]), events).shape == (0, 2)


class _ChunkEcho:
    """A stand-in model for predict_frames (its ``predict_frames`` hook, as an ONNX export has): every
    step of a chunk carries the chunk's start sample in the recording with its mirrored margins / 1e6,
    read from a ramp waveform at the chunk's middle (which lies in the recording itself)."""

    def __init__(self, rate: int, seconds: float) -> None:
        from respira.models.respira import RespiraConfig

        self.config = RespiraConfig(
            problem_type="multi_label_classification", sampling_rate=rate, target_seconds=seconds
        )
        self.margin = round(min(MAX_CONTEXT_SECONDS, seconds / 4) * rate)

    def predict_frames(self, chunks, batch_size):
        out = []
        for chunk in chunks:
            middle = chunk.shape[0] // 2
            start = round(float(chunk[middle]) * 2**18) - middle + self.margin
            times = np.arange(0.05, chunk.shape[0] / self.config.sampling_rate, 0.1)
            out.append((times, np.full((times.size, 2), start / 1e6)))
        return out


@pytest.mark.parametrize("seconds", [5.0, 8.0, 13.7, 30.3])
def test_owning_chunk_is_the_chunk_predict_frames_takes_each_frame_from(seconds: float) -> None:
    rate, target = 16_000, 4.0
    model = _ChunkEcho(rate, target)
    total = round(seconds * rate)
    waveform = (np.arange(total) / 2**18).astype(np.float32)  # exact: the sample index of every value
    frames = predict_frames(model, waveform)
    margin = model.margin
    spans = units.chunk_plan(total, round(target * rate), margin)
    owners = units.owning_chunk(frames.times, spans, total, rate)
    assert (owners >= 0).all()
    expected = np.array([(spans[o][0] + margin) / 1e6 for o in owners])
    np.testing.assert_allclose(frames.posteriors[:, 0], expected, atol=1e-12)


def test_owning_chunk_marks_times_outside_every_chunk() -> None:
    spans = [(100, 200)]
    assert units.owning_chunk(np.array([0.5, 1.5, 2.5]), spans, total=300, rate=100).tolist() == [-1, 0, -1]


def test_f1_from_counts() -> None:
    assert tuning.f1(3, 4, 4) == pytest.approx(0.75)
    assert tuning.f1(0, 5, 0) == 0.0  # no estimates against references: 0, not undefined
    assert np.isnan(tuning.f1(0, 0, 0))


def test_validation_patients_are_seeded_a_share_never_all_and_hold_each_label() -> None:
    patients = np.array([f"p{i // 3}" for i in range(30)])  # 10 patients, 3 units each
    flags = np.zeros((30, 2), dtype=np.int64)
    flags[[0, 4], 0] = 1  # crackle: patients p0, p1
    flags[[10, 29], 1] = 1  # wheeze: patients p3, p9
    chosen = units.validation_patients(patients, flags, seed=1)
    assert len(chosen) == 2
    assert chosen == units.validation_patients(patients, flags, seed=1)
    rows = np.isin(patients, list(chosen))
    assert flags[rows].sum(axis=0).min() > 0
    assert len(units.validation_patients(np.array(["a", "b"]), np.ones((2, 2)), seed=0)) == 1
    with pytest.raises(ValueError, match="positive of each label"):
        units.validation_patients(patients, np.zeros((30, 2)), seed=0)


class _Counting(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, input_values, attention_mask=None, **kwargs):
        self.calls += 1
        return input_values.sum() + len(kwargs)


def test_shared_encoder_serves_a_seen_input_from_memory_until_cleared() -> None:
    inner = _Counting()
    shared = units.SharedEncoder(inner)
    x, mask = torch.ones(2, 5), torch.ones(2, 5, dtype=torch.int64)
    first = shared(x, attention_mask=mask, output_time_steps=True)
    assert shared(x.clone(), attention_mask=mask.clone(), output_time_steps=True) is first
    assert inner.calls == 1
    shared(x, attention_mask=mask, output_time_steps=False)  # other options: run again
    shared(x * 2, attention_mask=mask, output_time_steps=True)  # another input: run again
    assert inner.calls == 3
    shared.clear()
    shared(x, attention_mask=mask, output_time_steps=True)
    assert (inner.calls, shared.calls, shared.hits) == (4, 5, 1)


# ------------------------------------------------------------------------------------------------ tuning
def test_event_counts_are_sed_evals_and_skip_it_only_where_no_estimate_can_match() -> None:
    rng = np.random.default_rng(0)
    skipped = 0
    for _ in range(200):
        refs = [Event(a, a + rng.uniform(0.05, 3), "crackle") for a in rng.uniform(0, 10, 3)]
        ests = [Event(a, a + rng.uniform(0.02, 3), "crackle") for a in rng.uniform(0, 10, 4)]
        ests += [Event(*refs[0][:2], "wheeze")]  # another label: never counted
        scores = event_based_scores({"": refs}, {"": ests}, **tuning.COLLARS)["crackle"]
        expected = (scores["true_positives"], scores["reference"], scores["estimated"])
        assert tuning.event_counts(refs, ests, "crackle") == pytest.approx(expected)
        skipped += not tuning.could_match(refs, [e for e in ests if e.label == "crackle"])
    assert 0 < skipped < 200
    on_the_collar = [Event(1.2, 2.0, "crackle")]  # onset exactly 0.2 s late: sed_eval matches it
    assert tuning.could_match([Event(1.0, 2.0, "crackle")], on_the_collar)
    assert tuning.event_counts([Event(1.0, 2.0, "crackle")], on_the_collar, "crackle") == (1.0, 1.0, 1.0)
    assert tuning.event_counts([], on_the_collar, "crackle") == (0.0, 0.0, 1.0)
    assert tuning.event_counts(on_the_collar, [], "crackle") == (0.0, 1.0, 0.0)


def test_best_per_label_takes_the_highest_f1_then_fewer_errors_then_the_first() -> None:
    references = {"a": [Event(1.0, 2.0, "crackle"), Event(5.0, 6.0, "crackle")], "b": []}
    hit, miss = Event(1.0, 2.0, "crackle"), Event(8.0, 9.0, "crackle")
    candidates = {
        "one hit, one miss": {"a": [hit, miss]},  # F1 2/4
        "one hit": {"a": [hit]},  # F1 2/3: the best
        "one hit again": {"a": [hit]},  # as good: the first wins
        "wheeze only": {"a": [Event(1.0, 2.0, "wheeze")], "b": [Event(0.0, 1.0, "wheeze")]},
    }
    names = list(candidates)
    chosen = tuning.best_per_label(names, candidates.__getitem__, references)
    assert chosen[0] == (1, pytest.approx(2 / 3))
    # no wheeze references: every F1 0 (or undefined); the fewest insertions win, then the first
    assert chosen[1] == (0, 0.0)
    fewer = tuning.best_per_label([{"b": [miss, miss]}, {"b": [miss]}], lambda found: found, references)
    assert fewer[0] == (1, 0.0)


HOP = 0.02


def _posteriors(seconds: float, spans: dict[str, list[tuple[float, float]]]) -> np.ndarray:
    """0.1 everywhere, 0.9 on each label's ``[start, end)`` spans (seconds, on the 0.02 s grid)."""
    posteriors = np.full((round(seconds / HOP), 2), 0.1)
    for column, label in enumerate(("crackle", "wheeze")):
        for start, end in spans.get(label, []):
            posteriors[round(start / HOP) : round(end / HOP), column] = 0.9
    return posteriors


def test_tune_frames_finds_the_threshold_and_each_labels_settings_known_to_be_best() -> None:
    # crackle: a 0.12 s dropout inside [1, 2] (max gap >= 0.3 s joins it; 0.1 s does not), a reference
    # 0.4 s after it (a max gap of 0.6 s would swallow it) and a 0.04 s blip (a min duration >= 0.1 s
    # drops it); wheeze: a 0.3 s burst 0.16 s after its reference (joined at a max gap of 0.3 s; only a
    # min duration of 0.4 s drops it). 0.1 everywhere else: the 0.5 quantile flags the whole recording.
    crackle = [(1.0, 1.4), (1.52, 2.0), (2.4, 3.0), (5.0, 6.0), (8.0, 8.04)]
    posteriors = {"r": _posteriors(10.0, {"crackle": crackle, "wheeze": [(4.0, 5.0), (5.16, 5.46)]})}
    references = {
        "r": [
            Event(1.0, 2.0, "crackle"),
            Event(2.4, 3.0, "crackle"),
            Event(4.0, 5.0, "wheeze"),
            Event(5.0, 6.0, "crackle"),
        ]
    }
    grid = {
        "levels": (0.5, 0.99),
        "medians": (0.0, 0.1),
        "durations": (0.0, 0.1, 0.4),
        "gaps": (0.0, 0.1, 0.3, 0.6),
    }
    choice = tuning.tune_frames(posteriors, references, **grid)
    assert choice.thresholds == (pytest.approx(0.9), pytest.approx(0.9))
    assert choice.levels == (0.99, 0.99)
    assert choice.settings == EventSettings(
        crackle=LabelEventSettings(median_filter_seconds=0.0, min_duration_seconds=0.1, max_gap_seconds=0.3),
        wheeze=LabelEventSettings(median_filter_seconds=0.0, min_duration_seconds=0.4, max_gap_seconds=0.0),
    )
    assert choice.f1 == (1.0, 1.0)
    # the product detects exactly the references with them
    from respira.models.respira.decision import posteriors_to_events

    found = posteriors_to_events(posteriors["r"], HOP, choice.thresholds, choice.settings)
    assert [(e.onset, e.offset, e.label) for e in found] == [tuple(e[:3]) for e in references["r"]]
    # with the settings fixed at the defaults, the best is worse
    fixed = tuning.tune_frames(
        posteriors, references, levels=(0.99,), medians=(0.0,), durations=(0.0,), gaps=(0.0,)
    )
    assert fixed.f1[0] < 1.0 and fixed.f1[1] < 1.0


def test_tune_windows_takes_each_labels_window_threshold_with_the_best_event_f1() -> None:
    rows = {
        "r": [
            _row(0.0, 4.0, crackle=0.9, wheeze=0.3),
            _row(4.0, 8.0, crackle=0.2, wheeze=0.35),
            _row(8.0, 12.0, crackle=0.6, wheeze=0.8),
        ]
    }
    references = {"r": [Event(0.0, 4.0, "crackle"), Event(8.0, 12.0, "crackle"), Event(8.0, 12.0, "wheeze")]}
    # crackle: 0.2 flags all three windows, one event [0, 12] (F1 0); 0.9 finds one of the two (F1 2/3)
    choice = tuning.tune_windows(rows, references, levels=(0.0, 0.5, 1.0))
    assert choice.levels == (0.5, 1.0)
    assert choice.thresholds == (pytest.approx(0.6), pytest.approx(0.8))
    assert choice.settings is None and choice.f1 == (1.0, 1.0)


def test_paired_differences_compare_pooled_f1_seed_by_seed() -> None:
    """Two files of two patients; 'ours' finds every reference at both seeds, 'theirs' half of them at one."""

    def counts(true_positives: list[list[int]]) -> dict:
        # per file (TP, N_ref = 2, N_est = 2) for both labels and levels
        rows = np.array([[tp, 2, 2] for tp in true_positives], dtype=float)
        return {level: {label: rows for label in ("crackle", "wheeze")} for level in ("event", "segment")}

    method_counts = {"ours": [counts([2, 2]), counts([2, 2])], "theirs": [counts([1, 1]), counts([2, 2])]}
    found = tuning.paired_differences(method_counts, [("ours", "theirs")], ["p1", "p2"], resamples=50)
    result = found["ours/theirs/event/crackle"]
    # F1 ours 1.0 at both seeds; theirs 0.5 and 1.0: the seed-mean difference 0.25, ours better at one seed
    assert result["difference"] == pytest.approx(0.25)
    assert (result["wins"], result["seeds"]) == (1, 2)
    assert result["interval"] == pytest.approx([0.25, 0.25])  # every patient resample gives the same
    assert set(found) == {
        f"ours/theirs/{lv}/{lb}" for lv in ("event", "segment") for lb in ("crackle", "wheeze")
    }
    assert tuning.pooled_f1(counts([1, 2])["event"]["crackle"], np.array([0])) == pytest.approx(0.5)
