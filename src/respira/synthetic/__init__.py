"""A synthetic respiratory-sound corpus in the official ICBHI 2017 layout (a test and demo fixture).

The real ICBHI database cannot be shipped with the project, yet ``make demo`` and the test suite
need a corpus that exercises the whole pipeline (finding files, parsing annotations and metadata,
decoding audio at several sample rates and bit depths, splitting, training and evaluating) and on
which a model can actually learn something. :func:`make_synthetic_icbhi` writes such a corpus::

    out_dir/
        ICBHI_final_database/<stem>.wav    mono WAV, 4 / 10 / 44.1 kHz, PCM_16 (some PCM_24)
        ICBHI_final_database/<stem>.txt    "start\\tend\\tcrackle\\twheeze" per cycle (LF)
        ICBHI_challenge_train_test.txt      "<stem>\\t<train|test>" per recording (CRLF)
        ICBHI_Challenge_diagnosis.txt       "<patient>\\t<diagnosis>" (LF)
        ICBHI_Challenge_demographic_information.txt
                                            "<patient>\\t<age>\\t<sex>\\t<adult BMI>\\t<child weight>\\t
                                            <child height>", ``NA`` where missing (CRLF)

Stems are valid ICBHI names (``101_1b1_Al_sc_Meditron``): patient ids from 101, all seven chest
locations, single- and multichannel acquisition and all four devices. The file formats copy the
official release (tab separators, CRLF where the release has it, ``NA`` for missing values, one
patient without age or sex like real patient 223).

The sounds follow the physics the classes are defined by:

* breathing is Gaussian noise band-limited to 100-1000 Hz (Butterworth band-pass) under an
  inspiration/expiration amplitude envelope per cycle, plus a faint broadband sensor hiss;
* crackles are short (5-25 ms) damped sinusoids of a few hundred Hz with an abrupt onset, several
  per cycle and mostly during inspiration (fine crackles short and high, coarse ones long and low);
* wheezes are sustained tones (fundamental 120-800 Hz, slowly gliding, at least 250 ms and a good
  part of the cycle, mostly expiratory) with up to two harmonics kept below 0.45 of the sample rate;
* ``both`` cycles carry crackles and a wheeze.

Cycles last 1.5-4 s and are contiguous; a recording starts with a short un-annotated offset and
runs a little past its last cycle. The per-cycle label mix is close to ICBHI's (about 50 % normal,
27 % crackle, 13 % wheeze, 10 % both; healthy patients are mostly normal). The split file assigns
whole patients to ``train`` or ``test`` (about 60/40 of the recordings) except for one patient whose
recordings straddle both sides, as in the official split, and every class is guaranteed to occur
on both sides.

Everything is determined by ``seed``: the same arguments give byte-identical files. The corpus is
written to a temporary sibling folder and renamed into place at the end, so an interrupted run
never leaves a half-written corpus behind. Generation is vectorised with numpy/scipy (float32):
the default 12-patient corpus (about 25 recordings, 150 cycles, 7 minutes of audio) takes under a
second. ``make_synthetic_icbhi(out, **FULL_SIZE)`` (see :data:`FULL_SIZE`) writes a corpus with
exactly the published ICBHI counts (920 recordings, 6898 cycles, official split and class counts,
about 5.3 h) in under a minute.

The package is a fixture: production code never imports it. It marks the corpora it writes with
:data:`respira.data.SYNTHETIC_MARKER`, which :func:`respira.data.is_synthetic_corpus` checks.
Modules: :mod:`.plan` (patients, recordings, labels, split), :mod:`.sounds` (breathing, crackles,
wheezes as signals), :mod:`.writer` (audio and files, :func:`make_synthetic_icbhi`).
"""

from __future__ import annotations

from .plan import LABEL_PROBABILITIES
from .sounds import breath_envelope, breathing_noise, crackle_transients, wheeze_tone
from .writer import FULL_SIZE, make_synthetic_icbhi

__all__ = [
    "FULL_SIZE",
    "LABEL_PROBABILITIES",
    "breath_envelope",
    "breathing_noise",
    "crackle_transients",
    "make_synthetic_icbhi",
    "wheeze_tone",
]
