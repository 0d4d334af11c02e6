"""What :class:`~respira.Detector` found in one recording, and the one-line error of bad input."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..models.respira.decision import decide_rows
from ..models.respira.windows import describe_aggregation
from ..utils.messages import one_line

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Prediction", "PredictionError"]


class PredictionError(ValueError):
    """An input or option that cannot be predicted; the one-line message names it."""

    @classmethod
    def of(cls, error: BaseException, file: str | None) -> PredictionError:
        """``error`` in one line that names ``file``."""
        message = one_line(error)
        return cls(message if file is None or file in message else f"{file}: {message}")


@dataclass(frozen=True)
class Prediction:
    """What a :class:`~respira.Detector` found in one recording."""

    rows: list[dict[str, Any]]
    crackle: float
    wheeze: float
    label: str
    aggregation: str
    thresholds: tuple[float, float]
    file: str | None = None
    top_k: int | None = field(default=None)
    warning: str | None = None

    @classmethod
    def from_rows(
        cls, rows: list[dict[str, Any]], config: Any, aggregation: str, top_k: int | None, file: str | None
    ) -> Prediction:
        """The recording's verdict from its rows: each label aggregated, then decided at the thresholds."""
        aggregated, decision = decide_rows(rows, config, aggregation, top_k)
        warning = rows[0].get("warning") if rows else None
        crackle, wheeze, label = float(aggregated[0]), float(aggregated[1]), decision.labels[0]
        return cls(rows, crackle, wheeze, label, aggregation, decision.thresholds, file, top_k, warning)

    @property
    def description(self) -> str:
        """How the window probabilities became the recording's (a sentence)."""
        return describe_aggregation(self.aggregation, self.top_k)

    def to_dict(self) -> dict[str, Any]:
        """The verdict and the rows as plain Python values (JSON-serialisable)."""
        return {
            "file": self.file,
            "label": self.label,
            "crackle": self.crackle,
            "wheeze": self.wheeze,
            "warning": self.warning,
            "aggregation": self.aggregation,
            "top_k": self.top_k,
            "thresholds": list(self.thresholds),
            "rows": [dict(row) for row in self.rows],
        }

    def summary(self) -> dict[str, Any]:
        """The verdict as one row (what ``respira predict --per_recording`` writes)."""
        segments = "cycles" if self.rows and "annotated_label" in self.rows[0] else "windows"
        return {
            "file": self.file,
            "label": self.label,
            "crackle": self.crackle,
            "wheeze": self.wheeze,
            segments: len(self.rows),
            "aggregation": self.aggregation,
            "top_k": self.top_k,
            "warning": self.warning,
        }

    def to_pandas(self) -> pd.DataFrame:
        """The rows as a ``pandas.DataFrame`` (one row per window or cycle)."""
        import pandas as pd

        return pd.DataFrame(self.rows)
