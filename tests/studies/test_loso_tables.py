"""studies/_loso_tables.py on hand-made results: which scores each candidate is judged by on new patients and
on sites it never heard, and the pairing with the reference seed by seed."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "studies"))
import _loso_tables as tables


def _scores(per_seed: list[float]) -> dict:
    return {"icbhi_score": sum(per_seed) / len(per_seed), "per_seed": per_seed, "ci": [1.0, 99.0], "units": 9}


@pytest.fixture
def results() -> dict:
    # the ICBHI-only head learns from ICBHI (in domain there), never from KAUH (held out = its new patients)
    return {
        "icbhi": {
            "all_normal": {"icbhi": _scores([50.0])},
            "pooled": {"icbhi": _scores([30.0, 32.0, 34.0])},
            "in_domain:pooled": {"icbhi": _scores([48.0, 46.0, 50.0])},
            "in_domain:icbhi_only": {"icbhi": _scores([52.0, 52.0, 52.0])},
        },
        "kauh": {
            "all_normal": {"kauh": _scores([50.0])},
            "pooled": {"kauh": _scores([40.0, 38.0, 42.0])},
            "icbhi_only": {"kauh": _scores([50.0, 51.0, 49.0])},
            "in_domain:pooled": {"kauh": _scores([56.0, 55.0, 57.0])},
        },
    }


def _row(text: str, start: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(start))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_new_patients_are_in_domain_where_a_method_learns_from_the_site_and_held_out_where_it_never_does(
    results: dict,
) -> None:
    assert tables.new_patients(results, "icbhi", "icbhi_only")["icbhi"]["per_seed"] == [52.0] * 3
    assert tables.new_patients(results, "kauh", "icbhi_only")["kauh"]["per_seed"] == [50.0, 51.0, 49.0]
    assert tables.new_patients(results, "kauh", "pooled")["kauh"]["per_seed"] == [56.0, 55.0, 57.0]
    assert tables.never_seen(results, "icbhi", "icbhi_only") is None  # it always learns from ICBHI
    assert tables.never_seen(results, "kauh", "pooled")["kauh"]["per_seed"] == [40.0, 38.0, 42.0]


def test_the_shipping_table_shows_both_scores_and_pairs_each_candidate_with_the_reference(
    results: dict,
) -> None:
    text = tables.shipping(results, ("icbhi_only", "pooled"), reference="icbhi_only")
    ci = " (1.0–99.0)"
    assert _row(text, "| icbhi | icbhi |")[2:] == ["52.0" + ci, "—", "48.0" + ci, "32.0" + ci]
    assert _row(text, "| kauh | kauh |")[2:] == ["50.0" + ci, "50.0" + ci, "56.0" + ci, "40.0" + ci]
    # new patients: ICBHI -4, -6, -2 and KAUH +6, +4, +8 -> mean +1.0, better in 3 of 6
    fresh = _row(text, "| pooled, new patients |")
    assert fresh[1] == "icbhi/icbhi -4.0; kauh/kauh +6.0" and fresh[2] == "+1.00" and fresh[4] == "3/6"
    # never seen: only KAUH pairs (the ICBHI-only head has no ICBHI held out): -10, -13, -7
    unseen = _row(text, "| pooled, site never seen |")
    assert unseen[1] == "kauh/kauh -10.0" and unseen[2] == "-10.00" and unseen[4] == "0/3"
    assert not re.search(r"\| icbhi_only, ", text)  # the reference is not paired with itself


def test_the_domain_gap_lists_only_methods_run_on_both_sides(results: dict) -> None:
    text = tables.domain_gap(results)
    assert _row(text, "| icbhi | icbhi | pooled |")[-1] == "-16.0"
    assert _row(text, "| kauh | kauh | pooled |")[-1] == "-16.0"
    assert "icbhi_only" not in text  # in domain on ICBHI, never held out there


def test_paired_leaves_out_baselines_and_in_domain_rows(results: dict) -> None:
    text = tables.paired(results)
    row = _row(text, "| icbhi_only |")  # +10, +13, +7 on KAUH: sd 3, t(2) 4.30 -> 10 -/+ 4.30 * 3 / sqrt(3)
    assert row[1:3] == ["kauh/kauh +10.0", "+10.00"] and row[4] == "3/3"
    assert row[3] == "+2.55 to +17.45"
    assert "all_normal" not in text and "in_domain" not in text


def test_the_challenge_table_lists_every_method_with_a_challenge_score() -> None:
    methods = {
        "all_normal": {"sprsound": {"challenge_score": 25.0}, "sprsound_windows": {"challenge_score": 25.0}},
        "class_prior": {"sprsound": {"icbhi_score": 40.0}},  # no challenge score: not listed
        "in_domain:pooled": {"sprsound": {"challenge_score": 61.25}, "sprsound_windows": {}},
    }
    text = tables.challenge(methods, {"sprsound": "1-1", "sprsound_windows": "2-1"})
    assert _row(text, "| all_normal |") == ["all_normal", "25.0", "25.0"]
    assert _row(text, "| in_domain:pooled |") == ["in_domain:pooled", "61.2", ""]
    assert _row(text, "| (best published") == ["(best published, task 2-1, 2022)", "", "73.7"]
    assert "class_prior" not in text
