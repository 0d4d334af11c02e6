"""KAUH file names: the parser, and the maps that normalise their spelling to one vocabulary.

A KAUH recording carries all its labels in its name::

    {filter}P{patient}_{diagnosis},{sound},{location},{age},{sex}.wav
    BP12_Asthma,E W,P L L,50,F.wav      bell filter, patient 12, asthma, expiratory wheeze,
                                        posterior left lower, 50 years, female

The names were typed by hand; spelling is normalised, never rejected, except an unknown sound code
(:class:`KAUHNameError`: labels are never guessed). ``BRON`` is read as bronchiectasis, a judgement (every
``BRON`` recording has crackles). Sound codes: ``N`` normal, ``C`` crackles, ``W`` wheeze, ``B`` bronchial
breathing, ``I``/``E`` inspiratory/expiratory, qualifying the sound that follows. A name with more than
five fields loses its empty ones, then keeps its last three as location, age and sex, the trailing sound
codes before them as the sound, the rest as the diagnosis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FILTER_MODES: dict[str, str] = {"B": "bell", "D": "diaphragm", "E": "extended"}
"""Name prefix letter → filter mode of the 3M Littmann 3200 (each recording exists once per mode)."""

SOUND_ALIASES: dict[str, str] = {
    **dict.fromkeys(("n", "normal"), "N"),
    **dict.fromkeys(("c", "crep", "creps", "crepitation", "crepitations", "crackle", "crackles"), "C"),
    **dict.fromkeys(("w", "wheeze", "wheezes"), "W"),
    **dict.fromkeys(("b", "bronchial"), "B"),
    **{"i": "I", "e": "E"},
}
"""Lower-case spelling in a file name → normalised sound code."""

DIAGNOSES: dict[str, str] = {
    **dict.fromkeys(("n", "normal", "healthy"), "Healthy"),
    **{"asthma": "Asthma", "copd": "COPD", "heart failure": "Heart failure", "pneumonia": "Pneumonia"},
    **dict.fromkeys(("lung fibrosis", "pulmonary fibrosis"), "Lung fibrosis"),
    **dict.fromkeys(("bron", "bronchiectasis"), "Bronchiectasis"),
    **dict.fromkeys(("pleural effusion", "plueral effusion"), "Pleural effusion"),
}
"""Lower-case diagnosis spelling (spaces collapsed) → canonical name."""

LOCATION_CODES: frozenset[str] = frozenset("APLRUM")
"""Letters of a chest location: A/P anterior/posterior, L/R left/right, U/M/L upper/middle/lower."""

_PREFIX = re.compile(r"^\s*([BDE])\s*P\s*(\d+)\s*$", re.IGNORECASE)
_DIAGNOSIS_JOINERS = re.compile(r"\s*(?:\+|&|/|\band\b)\s*", re.IGNORECASE)
_SOUND_SEPARATORS = re.compile(r"[\s+&/.]+")
_MISSING = {"", "na", "n/a", "nan", "none", "?", "-"}
_SEX = {"m": "M", "male": "M", "f": "F", "female": "F"}
_AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:y|yr|yrs|years?)?$", re.IGNORECASE)
_FIELDS = "{diagnosis},{sound},{location},{age},{sex}"


class KAUHNameError(ValueError):
    """A file name that cannot be read as a KAUH recording's labels (the message says which part)."""


def looks_like_kauh(stem: str) -> bool:
    """Whether a file stem starts like a KAUH recording (``BP12_``, ``dp 3_``...), valid or not."""
    prefix, separator, _ = stem.partition("_")
    return bool(separator) and _PREFIX.match(prefix) is not None


def normalise_diagnosis(text: str) -> str:
    """The canonical diagnosis of a name's diagnosis field (an unknown one kept, capitalised)."""
    parts = [" ".join(part.split()) for part in _DIAGNOSIS_JOINERS.split(text.replace("_", " "))]
    names: list[str] = []
    for part in parts:
        if not part:
            continue
        known = DIAGNOSES.get(part.lower())
        if known is None:
            known = part if part.isupper() and len(part) <= 5 else part[:1].upper() + part[1:].lower()
        if known not in names:
            names.append(known)
    return " + ".join(names)


def parse_sound(text: str) -> tuple[str, ...]:
    """The normalised codes of a sound field (``"I C E W"`` → ``("I", "C", "E", "W")``);
    :class:`KAUHNameError` for an unknown code, no sound, or ``N`` with an adventitious sound."""
    tokens = [token for token in _SOUND_SEPARATORS.split(text) if token]
    codes = []
    for token in tokens:
        code = SOUND_ALIASES.get(token.lower())
        if code is None:
            raise KAUHNameError(
                f"unknown sound code {token!r} in the sound field {text.strip()!r} (known: N normal, "
                "C or Crep crackles, W wheeze, B or Bronchial bronchial breathing, I/E inspiratory/"
                "expiratory)"
            )
        codes.append(code)
    sounds = {code for code in codes if code not in ("I", "E")}
    if not sounds:
        raise KAUHNameError(f"the sound field {text.strip()!r} names no sound (N, C, W or B)")
    if "N" in sounds and len(sounds) > 1:
        raise KAUHNameError(f"the sound field {text.strip()!r} is both normal (N) and adventitious")
    return tuple(codes)


def _parse_location(text: str) -> str:
    letters = [letter for token in text.split() for letter in token.upper()]
    unknown = sorted({letter for letter in letters if letter not in LOCATION_CODES})
    if unknown or not letters:
        raise KAUHNameError(
            f"chest location {text.strip()!r} is not made of A/P, L/R and U/M/L letters"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    return " ".join(letters)


def _parse_age(text: str) -> float | None:
    text = text.strip()
    if text.lower() in _MISSING:
        return None
    match = _AGE.match(text)
    if match is None:
        raise KAUHNameError(f"age {text!r} is not a number of years")
    return float(match.group(1))


def _parse_sex(text: str) -> str | None:
    text = text.strip().lower()
    if text in _MISSING:
        return None
    if text not in _SEX:
        raise KAUHNameError(f"sex {text!r} is not M or F")
    return _SEX[text]


def _is_sound(text: str) -> bool:
    try:
        parse_sound(text)
    except KAUHNameError:
        return False
    return True


@dataclass(frozen=True)
class KAUHName:
    """The labels a KAUH file name carries, normalised."""

    stem: str
    filter_mode: str
    patient_id: int
    diagnosis: str | None
    sound: tuple[str, ...]
    chest_location: str
    age: float | None
    sex: str | None

    @property
    def crackle(self) -> int:
        return int("C" in self.sound)

    @property
    def wheeze(self) -> int:
        return int("W" in self.sound)

    @property
    def normal(self) -> int:
        return int("N" in self.sound)

    @classmethod
    def parse(cls, stem: str) -> KAUHName:
        """Parse a file stem (the name without ``.wav``); :class:`KAUHNameError` says what is wrong."""
        prefix, separator, rest = stem.partition("_")
        match = _PREFIX.match(prefix)
        if not separator or match is None:
            raise KAUHNameError(
                f"not named like a KAUH recording ({{B|D|E}}P{{patient}}_{_FIELDS}, e.g. "
                "BP12_Asthma,E W,P L L,50,F.wav)"
            )
        fields = [field.strip() for field in rest.replace("_", " ").split(",")]
        while len(fields) > 5 and "" in fields:  # a doubled or trailing comma
            fields.remove("")
        if len(fields) < 5:
            raise KAUHNameError(
                f"expected 5 comma-separated fields after {prefix.strip()}_ ({_FIELDS}), found "
                f"{len(fields)}: {fields}"
            )
        middle = fields[1:-3]
        first_sound = len(middle) - 1  # the last middle field is the sound; earlier sound fields join it
        while first_sound > 0 and _is_sound(middle[first_sound - 1]):
            first_sound -= 1
        for field in middle[:first_sound]:
            if all(len(token) == 1 for token in _SOUND_SEPARATORS.split(field) if token):
                parse_sound(field)  # single letters are codes, not a diagnosis: name the unknown one
        diagnosis = " + ".join([fields[0], *middle[:first_sound]])
        sound = parse_sound(" ".join(middle[first_sound:]))
        return cls(
            stem=stem,
            filter_mode=FILTER_MODES[match.group(1).upper()],
            patient_id=int(match.group(2)),
            diagnosis=normalise_diagnosis(diagnosis) or None,
            sound=sound,
            chest_location=_parse_location(fields[-3]),
            age=_parse_age(fields[-2]),
            sex=_parse_sex(fields[-1]),
        )
