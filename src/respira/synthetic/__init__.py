"""A synthetic respiratory-sound corpus in the official ICBHI 2017 layout (a test and demo fixture).

:func:`make_synthetic_icbhi` writes ICBHI's names, annotation, split, diagnosis and demographic files and
WAV audio at 4, 10 and 44.1 kHz: band-limited breathing noise, crackles as damped sinusoids, wheezes as
gliding tones, in about ICBHI's class mix. Corpora are marked with :data:`respira.data.SYNTHETIC_MARKER`.
"""

from __future__ import annotations

from .writer import FULL_SIZE, make_synthetic_icbhi

__all__ = ["FULL_SIZE", "make_synthetic_icbhi"]
