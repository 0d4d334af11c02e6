"""studies/_choice_tables.py on hand-made results: the rule of docs/history/sites.md, "Every patient we
have", applied as written (the challenger among the 65-patient forms, paired with today's on each held-out
site and with the recipe on 26 patients by device × seed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "studies"))
import _choice_tables as tables

SITES, DEVICES = ("kauh", "sprsound"), ("A", "B")
CANDIDATES = ("probe@26", "probe@65", "recipe@26", "recipe@65")


def _entry(score: float, per_seed: list[float] | None = None) -> dict:
    per_seed = per_seed or [score]
    keys = ("icbhi_score", "sensitivity", "specificity", "crackle_auc", "wheeze_auc")
    return {key: score for key in keys} | {"icbhi_score_low": score - 5, "icbhi_score_high": score + 5,
                                           "per_seed": per_seed}  # fmt: skip


def _pair(gain: float, low: float, high: float) -> dict:
    return {"gain": gain, "low": low, "high": high}


def _results(site_gains: dict[str, tuple[float, float, float]], device_probe: list[float]) -> dict:
    results = {}
    for site in SITES:
        gain = site_gains[site]
        entries = {"all_normal": _entry(50.0), "today": _entry(50.0)}
        entries |= {name: _entry(50.0) for name in CANDIDATES} | {"probe@65": _entry(50.0 + gain[0])}
        pairs = {f"{name} - today": _pair(0.0, -1.0, 1.0) for name in CANDIDATES}
        pairs["probe@65 - today"] = _pair(*gain)
        results[site] = {
            "recordings": 9,
            "patients": 3,
            "reference": "today",
            "entries": entries,
            "pairs": pairs,
        }
    for device in DEVICES:
        entries = {name: _entry(50.0, [50.0, 50.0]) for name in CANDIDATES}
        entries["probe@65"] = _entry(50.0, device_probe)
        results[f"icbhi {device}"] = {"recordings": 9, "patients": 3, "reference": "recipe@26",
                                      "entries": entries, "pairs": {}}  # fmt: skip
    return results


def _verdict(results: dict) -> str:
    return tables.verdict(results, SITES, DEVICES, CANDIDATES)


def test_a_challenger_better_on_one_site_not_worse_elsewhere_replaces_todays() -> None:
    results = _results({"kauh": (8.0, 2.0, 14.0), "sprsound": (0.5, -2.0, 3.0)}, [52.0, 51.0])
    line = _verdict(results)
    assert "challenger probe@65" in line and line.endswith("probe@65 replaces today's detector.")


@pytest.mark.parametrize(
    ("sites", "devices"),
    [
        ({"kauh": (8.0, 2.0, 14.0), "sprsound": (-3.0, -6.0, -0.5)}, [52.0, 51.0]),  # shown worse on one
        ({"kauh": (3.0, -1.0, 7.0), "sprsound": (0.5, -2.0, 3.0)}, [52.0, 51.0]),  # shown better on none
        ({"kauh": (8.0, 2.0, 14.0), "sprsound": (0.5, -2.0, 3.0)}, [40.0, 41.0]),  # worse on the devices
    ],
)
def test_todays_detector_stays_unless_every_condition_holds(sites: dict, devices: list[float]) -> None:
    assert _verdict(_results(sites, devices)).endswith("today's detector stays.")


def test_a_26_patient_form_is_never_the_challenger() -> None:
    results = _results({"kauh": (8.0, 2.0, 14.0), "sprsound": (0.5, -2.0, 3.0)}, [52.0, 51.0])
    for site in SITES:
        results[site]["entries"]["probe@26"] = _entry(90.0)
    assert "challenger probe@65" in _verdict(results)


def test_the_tables_show_each_pair_and_what_the_39_patients_bought() -> None:
    results = _results({"kauh": (8.0, 2.0, 14.0), "sprsound": (0.5, -2.0, 3.0)}, [52.0, 51.0])
    results["kauh"]["pairs"]["probe@65 - probe@26"] = _pair(4.0, 1.0, 7.0)
    text = tables.report(results, SITES, DEVICES, CANDIDATES)
    assert "| probe@65 | 54.2 | +8.0 (+2.0 to +14.0) | +0.5 (-2.0 to +3.0) |" in text
    assert "| kauh | +4.0 (+1.0 to +7.0) |" in text
    assert "| probe@65 | A +1.5; B +1.5 | +1.50 |" in text
