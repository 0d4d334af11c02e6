"""Deprecated alias of :mod:`respira.sites.adaptation` (moved there: a site's fitting, adaptation and quality
verdict live together in :mod:`respira.sites`); kept for one release."""

from __future__ import annotations

from ..utils.moved import moved_module

__getattr__ = moved_module(__name__, "respira.sites.adaptation")
