"""Does ``respira suggest``'s second round gain from the site's own labels? Later rounds, out of sample.

    python benchmarks/suggest_rounds.py [--shared ../shared] [--sites kauh sprsound] [--draws 8]
                                        [--cache DIR] [--output FILE] [--json FILE]

Protocol (written and committed before any number was seen; issue 60):

- Sites, held-out patients and pool exactly ``benchmarks/suggest.py``'s: KAUH and SPRSound (Poor Quality
  left out), embedded once by the shipped detector (``--cache``: the same ``.npz`` files), a fixed third of
  the patients held out by :func:`suggest.held_out` (seed 2026, stratified), never seen by an arm; the rest
  is the pool.
- The serve-your-site loop: a site labels 10 patients per round; ``--draws`` draws per site (8). Round 1
  is the first 10 patients of the draw's random order (``suggest.order(pool, "random", draw)``): a site's
  first labels are whoever it labels first, so the draws vary the start. Rounds 2 and 3 add 10 patients
  each, by one of three arms (:data:`ARMS`), all from the same round-1 patients (paired by draw):

  - ``random``: the next patients of the same random order (``suggest.py``'s random at k = 20, 30);
  - ``model``: :func:`respira.sites.suggest.suggest_units` ``(pool, 10, labelled=labelled)``, today's
    later round: the doubt of the model as is;
  - ``refit``: fit-site's procedure (:func:`respira.sites.procedure.fit_procedure`, its defaults, seed 0,
    as ``suggest.py`` fits it) fitted on the labelled patients' recordings; the pool's unlabelled units
    ordered by the doubt of the fitted ``chosen`` rule, the same doubt as ``suggest_units`` (the minimum
    over the unit's recordings and both labels of ``|logit(p) - logit(threshold)|``, ties by the pool's
    unit order) with the chosen rule's recording probabilities and thresholds: ``suggest_units`` itself
    run on the pool with the rule's window logits, recording rule and thresholds in place of the model's.
    Where fit-site would refuse (no normal or no abnormal recording among the labelled), as ``model``.

- Scored as ``suggest.py`` scores (:func:`suggest.score_order` on each arm's 30 patients): fit-site's
  procedure fitted on the first k = 20 and k = 30 labelled patients, the chosen procedure scored on the
  held-out recordings (ICBHI-style score per recording): the mean over the draws with the
  patient-bootstrap 95 % interval of that mean (:func:`suggest.held_scores`), the model as is, the draws
  below the model as is, the draws fit-site could not fit, the abnormal patients among the k. Round 1
  (k = 10, the same for every arm) is shown once per site. Beside them, the paired per-draw differences
  refit - model and refit - random (and model - random) of the held-out score: their mean and the
  minimum and maximum over the draws (min/max, not a bootstrap: 8 draws).
- Decision (:func:`decision`): ``refit`` becomes ``suggest``'s behaviour for later rounds (when the
  archive holds labelled units fit-site can fit) only if (1) its mean over both sites and k = 20, 30
  exceeds ``model``'s by at least 0.5 points AND ``random``'s by at least 0.5 points, and (2) its draws
  below the model as is, summed over the sites and k = 20, 30, are no more than ``model``'s. Otherwise
  ``suggest`` is unchanged and the table goes to the history. The run also reports, with no decision
  attached, how ``model`` compares with ``random`` in later rounds.

Threads: OMP_NUM_THREADS / ``respira``'s choice. Output: ``--output`` (the table and the decision line)
and ``--json`` (every draw: orders, procedures, scores).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
ARMS = ("random", "model", "refit")
ROUND = 10
MARGIN = 0.5  # points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    raise SystemExit("not implemented yet: the protocol is committed first")


if __name__ == "__main__":
    sys.exit(main())
