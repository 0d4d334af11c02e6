"""Frame posteriors → respiratory events: decision at the threshold, median filter, gap merge, minimum
duration, confidence, time offset; and the settings' round trip and validation."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from respira.models.respira.decision import (
    Event,
    EventSettings,
    LabelEventSettings,
    events_to_rows,
    median_filter_frames,
    posteriors_to_events,
)

HOP = 0.1
OFF = LabelEventSettings(median_filter_seconds=0.0, min_duration_seconds=0.0, max_gap_seconds=0.0)


def posteriors(crackle=(), wheeze=(), frames=12):
    """``[frames, 2]`` zeros with ``{frame: value}`` written in each column."""
    array = np.zeros((frames, 2))
    for column, values in enumerate((crackle, wheeze)):
        for frame, value in dict(values).items():
            array[frame, column] = value
    return array


def settings(crackle=OFF, wheeze=OFF):
    return EventSettings(crackle=crackle, wheeze=wheeze)


def spans(events, label=None):
    return [(e.onset, e.offset) for e in events if label is None or e.label == label]


def test_a_frame_at_its_threshold_is_present_and_just_below_it_is_not():
    # thresholds (crackle 0.5, wheeze 0.6); frame i covers [0.1 i, 0.1 (i + 1))
    array = posteriors(crackle={0: 0.5, 1: 0.4999}, wheeze={1: 0.6, 2: 0.6, 3: 0.5999})
    events = posteriors_to_events(array, HOP, (0.5, 0.6), settings())
    assert events == [Event(0.0, 0.1, "crackle", 0.5), Event(0.1, 0.3, "wheeze", 0.6)]


def test_the_median_filter_removes_a_one_frame_blip_and_fills_a_one_frame_gap():
    # 0.3 s at a 0.1 s hop = 3 frames: a lone frame (also at the very start: zero padding) goes,
    # a one-frame hole inside a run closes, and a run of 2 stays
    array = posteriors(wheeze={0: 0.9, 4: 0.9, 7: 0.8, 8: 0.8, 10: 0.8, 11: 0.8}, frames=14)
    wheeze = LabelEventSettings(median_filter_seconds=0.3, min_duration_seconds=0.0, max_gap_seconds=0.0)
    assert spans(posteriors_to_events(array, HOP, (0.5, 0.5), settings(wheeze=wheeze))) == [(0.7, 1.2)]
    unfiltered = posteriors_to_events(array, HOP, (0.5, 0.5), settings())
    assert spans(unfiltered) == [(0.0, 0.1), (0.4, 0.5), (0.7, 0.9), (1.0, 1.2)]


@pytest.mark.parametrize(
    ("seconds", "hop", "frames"),
    [(0.0, 0.1, 1), (0.1, 0.1, 1), (0.3, 0.1, 3), (0.4, 0.1, 5), (0.1, 0.02, 5), (0.1, 0.05, 3)],
)
def test_the_median_filter_width_is_the_nearest_odd_number_of_frames(seconds, hop, frames):
    assert median_filter_frames(seconds, hop) == frames


def test_events_closer_than_the_gap_merge_and_a_gap_equal_to_it_does_not():
    # crackle runs [0, 0.2) and [0.4, 0.6): a gap of 2 frames = 0.2 s
    array = posteriors(crackle={0: 0.9, 1: 0.9, 4: 0.7, 5: 0.7})
    merge = LabelEventSettings(median_filter_seconds=0.0, min_duration_seconds=0.0, max_gap_seconds=0.3)
    assert spans(posteriors_to_events(array, HOP, None, settings(crackle=merge))) == [(0.0, 0.6)]
    equal = LabelEventSettings(median_filter_seconds=0.0, min_duration_seconds=0.0, max_gap_seconds=0.2)
    assert spans(posteriors_to_events(array, HOP, None, settings(crackle=equal))) == [(0.0, 0.2), (0.4, 0.6)]


def test_events_shorter_than_the_minimum_are_dropped_after_merging():
    # wheeze runs of 1 frame (0.0-0.1), 2 frames (0.3-0.5), 3 frames (0.8-1.1): 3 x 0.1 s is kept
    # by a 0.3 s minimum (float 0.30000000000000004 or not), 2 frames are not
    array = posteriors(wheeze={0: 0.9, 3: 0.9, 4: 0.9, 8: 0.9, 9: 0.9, 10: 0.9})
    keep_3 = LabelEventSettings(median_filter_seconds=0.0, min_duration_seconds=0.3, max_gap_seconds=0.0)
    assert spans(posteriors_to_events(array, HOP, None, settings(wheeze=keep_3))) == [(0.8, 1.1)]
    # the 1-frame and 2-frame runs, 0.2 s apart, merge into 0.0-0.5 (0.5 s) before the 0.3 s minimum
    # applies (dropping first would lose both); the last run, 0.3 s away, stays apart
    merged = LabelEventSettings(median_filter_seconds=0.0, min_duration_seconds=0.3, max_gap_seconds=0.25)
    assert spans(posteriors_to_events(array, HOP, None, settings(wheeze=merged))) == [(0.0, 0.5), (0.8, 1.1)]


def test_an_events_confidence_is_its_peak_posterior():
    array = posteriors(crackle={2: 0.6, 3: 0.9, 4: 0.7})  # mean 0.733..., peak 0.9
    (event,) = posteriors_to_events(array, HOP, (0.5, 0.5), settings())
    assert event == Event(0.2, 0.5, "crackle", 0.9)


def test_events_are_sorted_by_onset_then_label():
    array = posteriors(crackle={0: 0.9, 5: 0.9}, wheeze={0: 0.9, 2: 0.9})
    events = posteriors_to_events(array, HOP, None, settings())
    assert [(e.onset, e.label) for e in events] == [
        (0.0, "crackle"),
        (0.0, "wheeze"),
        (0.2, "wheeze"),
        (0.5, "crackle"),
    ]


def test_the_default_settings_keep_a_lone_crackle_and_drop_a_wheeze_blip():
    assert EventSettings().to_dict() == {
        "crackle": {"median_filter_seconds": 0.0, "min_duration_seconds": 0.0, "max_gap_seconds": 0.3},
        "wheeze": {"median_filter_seconds": 0.1, "min_duration_seconds": 0.1, "max_gap_seconds": 0.1},
    }
    # at a 0.02 s hop: one crackle frame stays (filter off), crackles 0.18 s apart form one run and
    # 0.52 s apart two; a 2-frame wheeze blip (40 ms) goes, and a 6-frame wheeze (120 ms) stays
    hop = 0.02
    array = posteriors(
        crackle={3: 0.8, 13: 0.7, 40: 0.6},
        wheeze={20: 0.9, 21: 0.9, **dict.fromkeys(range(30, 36), 0.7)},
        frames=50,
    )
    events = posteriors_to_events(array, hop, (0.5, 0.5))
    assert events == [
        Event(0.06, 0.28, "crackle", 0.8),
        Event(0.6, 0.72, "wheeze", 0.7),
        Event(0.8, 0.82, "crackle", 0.6),
    ]


def test_no_frames_give_no_events():
    assert posteriors_to_events(np.zeros((0, 2)), HOP, None) == []


def test_settings_round_trip_exactly_through_a_dict_and_json():
    custom = EventSettings(
        crackle=LabelEventSettings(
            median_filter_seconds=0.03, min_duration_seconds=0.01, max_gap_seconds=0.45
        ),
        wheeze=LabelEventSettings(median_filter_seconds=0.25, min_duration_seconds=0.08, max_gap_seconds=0.0),
    )
    for original in (EventSettings(), custom):
        data = original.to_dict()
        assert EventSettings.from_dict(data) == original
        assert EventSettings.from_dict(json.loads(json.dumps(data))) == original
        assert EventSettings.from_dict(data).to_dict() == data
    assert LabelEventSettings(1, 0, 2).median_filter_seconds == 1.0  # ints become floats
    assert isinstance(LabelEventSettings(1, 0, 2).median_filter_seconds, float)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"crackle": EventSettings().to_dict()["crackle"]}, "exactly the labels"),
        ({**EventSettings().to_dict(), "rhonchus": {}}, "exactly the labels"),
        ([], "exactly the labels"),
        (
            {**EventSettings().to_dict(), "wheeze": {"median_filter_seconds": 0.1}},
            "wheeze need exactly the keys",
        ),
        ({**EventSettings().to_dict(), "wheeze": 0.1}, "wheeze need exactly the keys"),
    ],
)
def test_settings_from_a_malformed_dict_raise_one_line(data, message):
    with pytest.raises(ValueError, match=message) as error:
        EventSettings.from_dict(data)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf"), True, "0.1", None])
def test_settings_values_must_be_finite_seconds_at_least_zero(value):
    data = EventSettings().to_dict()
    data["crackle"]["max_gap_seconds"] = value
    with pytest.raises(ValueError, match="max_gap_seconds must be a finite number of seconds >= 0"):
        EventSettings.from_dict(data)
    with pytest.raises(ValueError, match="min_duration_seconds"):
        LabelEventSettings(median_filter_seconds=0.0, min_duration_seconds=value, max_gap_seconds=0.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"posteriors": np.zeros((4, 3))}, r"shape \[frames, 2\]"),
        ({"posteriors": np.zeros(4)}, r"shape \[frames, 2\]"),
        ({"posteriors": np.full((4, 2), 1.5)}, r"probabilities in \[0, 1\]"),
        ({"posteriors": np.full((4, 2), np.nan)}, r"probabilities in \[0, 1\]"),
        ({"posteriors": [["a", "b"]]}, "must be numbers"),
        ({"frame_hop_seconds": 0.0}, "frame_hop_seconds must be > 0"),
        ({"frame_hop_seconds": -0.1}, "frame_hop_seconds must be a finite number"),
        ({"thresholds": (0.5, 0.5, 0.5)}, "decision thresholds"),
        ({"thresholds": (0.5, 1.5)}, "decision thresholds"),
    ],
)
def test_bad_input_raises_one_line(kwargs, message):
    arguments = {"posteriors": np.zeros((4, 2)), "frame_hop_seconds": HOP, "thresholds": None, **kwargs}
    with pytest.raises(ValueError, match=message) as error:
        posteriors_to_events(**arguments)
    assert "\n" not in str(error.value)


def test_events_become_csv_and_json_ready_rows():
    events = [Event(0.1, 0.3, "crackle", np.float32(0.75)), Event(1.0, 1.5, "wheeze", 0.5)]
    rows = events_to_rows(events, file="site/rec 1.wav")
    assert rows == [
        {"file": "site/rec 1.wav", "onset": 0.1, "offset": 0.3, "type": "crackle", "confidence": 0.75},
        {"file": "site/rec 1.wav", "onset": 1.0, "offset": 1.5, "type": "wheeze", "confidence": 0.5},
    ]
    assert all(type(row["confidence"]) is float for row in rows)
    assert json.loads(json.dumps(rows)) == rows
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["file", "onset", "offset", "type", "confidence"])
    writer.writeheader()
    writer.writerows(rows)
    assert buffer.getvalue().splitlines()[1] == "site/rec 1.wav,0.1,0.3,crackle,0.75"
    assert events_to_rows([], file="x.wav") == []
