"""A synthetic respiratory-sound corpus in the official ICBHI 2017 layout (a test and demo fixture): breathing
noise, crackles as damped sinusoids and wheezes as gliding tones, in about ICBHI's class mix."""

from __future__ import annotations

from .writer import FULL_SIZE, make_synthetic_icbhi

__all__ = ["FULL_SIZE", "make_synthetic_icbhi"]
