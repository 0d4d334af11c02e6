"""Do fit-site's thresholds fail when new patients have another label mix? The expected-score thresholds
against per-label balanced ones, out of sample (issue 60).

    python benchmarks/fit_site_thresholds.py [--shared ../shared] [--cache DIR] [--output FILE] [--json FILE]

Protocol (written and committed before any number was seen):

- Arms (:data:`ARMS`), each a way fit-site sets a candidate's thresholds, plugged in by replacing
  ``respira.sites.procedure._thresholds`` in this process (as ``fit_site_events.py`` replaces
  ``procedure._window_targets``), the rest of the procedure as is:

  - ``expected``: today's (:func:`respira.sites.heads.expected_thresholds`): the pair of thresholds that
    maximises the ICBHI-style score expected under Platt posteriors moved to the labelled recordings'
    prevalence, so it depends on the labelled class mix;
  - ``balanced``: per label on its own. A label the candidate does not re-threshold (``as_is``) keeps the
    model's own threshold, as today. Otherwise :func:`respira.sites.heads.platt_scaling` (class-balanced)
    of logit(probability) on that label's 0/1 labels; with slope > 0 the threshold is the probability
    where that balanced posterior is 1/2, ``p* = sigmoid(-intercept / slope)`` (it maximises the label's
    expected balanced accuracy whatever the prevalence); else today's fallback (the model's threshold for
    ``thresholds``, 0.5 for a head).

  Both arms see the same draws, the same folds and the same seeds: every comparison is paired.
- (A) ``benchmarks/fit_site.py``'s learning curve (its functions imported; its ``--cache``): sites ICBHI
  sample, KAUH, SPRSound (no Poor Quality); 10, 20, 30 labelled patients, 10 draws each (seed 0,
  :func:`respira.sites.out_of_sample.learning_curve`), each scored on the site's other patients; and its
  "all N, 5-fold nested CV" row (:func:`respira.sites.out_of_sample.fit_sample`, seed 0) per site.
- (B) ``benchmarks/suggest.py``'s protocol (``held_out``, ``order``, ``score_order``, ``held_scores``
  imported): KAUH and SPRSound, its held-out third (seed 2026), strategies ``random`` (8 draws) and
  ``uncertainty`` (1), fit-site fitted on the first k = 10, 20, 30 patients of the order and scored on the
  held-out recordings.
- Reported per site, size (and strategy in B) and arm: the chosen procedure's ICBHI-style score, the mean
  over the draws with the patient-bootstrap 95 % interval of that mean; the draws whose chosen procedure
  scored below the model as is on the same patients; and the paired per-draw difference balanced −
  expected in points (mean, minimum … maximum over the draws). The nested-CV rows: each arm's chosen
  score with its interval, whether it is below the model as is, the difference. Beside them, with no
  decision attached, the issue's case: KAUH, the 20 patients of draw 0 of the ``model`` arm of
  ``benchmarks/results/suggest_rounds.json``, scored on suggest.py's held-out patients under each arm,
  with the chosen thresholds and the predicted class counts.
- Decision (:func:`decision`): ``balanced`` replaces ``expected`` as fit-site's threshold rule only if
  (1) on each of (A) and (B) its mean chosen score over sites and sizes is ≥ expected's + 0.5 points;
  (2) on each of (A) and (B) its draws below the model as is (summed) are no more than expected's;
  (3) the all-patient nested CV of KAUH and of SPRSound (the shipped site detectors' claims) is not lower
  than expected's. Otherwise the product is unchanged.
  Here, in (A) the mean is over the three sites and the sizes 10, 20, 30 of the mean over the draws (the
  nested CV is (3)'s alone), and the draws below are summed over the sites and sizes; in (B) the mean is
  over the two sites, both strategies and k = 10, 20, 30 of the mean over the strategy's draws, and the
  draws below are summed over the sites, strategies and k. In (3) each of the two sites' nested-CV chosen
  score under ``balanced`` must be ≥ its score under ``expected`` (to 1e-9).

Threads: OMP_NUM_THREADS / ``respira``'s choice. Output: ``--output`` (the tables and the decision line,
benchmarks/results/fit_site_thresholds.md) and ``--json`` (every draw), by ``_machine.run_and_write``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
ARMS = ("expected", "balanced")
SIZES = (10, 20, 30)
DRAWS = 10
MARGIN = 0.5  # points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    raise SystemExit("not implemented yet: the protocol is committed first")


if __name__ == "__main__":
    sys.exit(main())
