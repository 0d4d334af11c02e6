"""A synthetic respiratory-sound corpus in the official ICBHI 2017 layout (a test and demo fixture).

:func:`make_synthetic_icbhi` writes valid ICBHI names, annotation, split, diagnosis and demographic
files (tab separators, CRLF where the release has it, ``NA`` for missing values) and WAV audio at 4,
10 and 44.1 kHz. Breathing is band-limited noise under a breath envelope, crackles damped sinusoids,
wheezes gliding tones with harmonics; the class mix is close to ICBHI's. The same ``seed`` gives
byte-identical files; ``make_synthetic_icbhi(out, **FULL_SIZE)`` reproduces the published counts
(920 recordings, 6898 cycles). Corpora are marked with :data:`respira.data.SYNTHETIC_MARKER`;
production code never imports this package.
"""

from __future__ import annotations

from .writer import FULL_SIZE, make_synthetic_icbhi

__all__ = ["FULL_SIZE", "make_synthetic_icbhi"]
