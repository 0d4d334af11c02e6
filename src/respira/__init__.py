"""respira: fine-tune audio encoders for respiratory-sound classification on ICBHI 2017.

``import respira`` registers respira's models with transformers' Auto classes (when transformers is
imported), so ``AutoModelForAudioClassification`` and ``pipeline("audio-classification")`` load respira
folders without ``trust_remote_code``. ``respira.Detector.from_pretrained(folder_or_hub_id)`` predicts
recordings; ``respira.train``, ``evaluate``, ``fit_site``, ``suggest``, ``bench`` and ``label`` do
what their commands do (:mod:`respira.api`).
"""

import importlib

from .utils.lazy_exports import lazy_exports
from .utils.post_import import after_import

__version__ = "0.1.0.dev0"

__all__ = [
    "BenchResult",
    "Detector",
    "Evaluation",
    "Prediction",
    "RespiraConfig",
    "RespiraFeatureExtractor",
    "RespiraForAudioClassification",
    "RespiraModel",
    "SiteFitResult",
    "SuggestResult",
    "TrainedRun",
    "__version__",
    "bench",
    "evaluate",
    "fit_site",
    "label",
    "suggest",
    "train",
]

_LAZY: dict[str, str] = {
    "Detector": "inference.detector",
    "Prediction": "inference.prediction",
    "RespiraConfig": "models",
    "RespiraFeatureExtractor": "models",
    "RespiraForAudioClassification": "models",
    "RespiraModel": "models",
    "BenchResult": "api",
    "Evaluation": "api",
    "TrainedRun": "api",
    "bench": "api",
    "evaluate": "api",
    "fit_site": "api",
    "label": "api",
    "SiteFitResult": "api",
    "SuggestResult": "api",
    "suggest": "api",
    "train": "api",
}
"""Names imported from their module on first use (``import respira`` stays light)."""

__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
_COMMAND_LINE = False  # True in the respira command's own process (set by respira.__main__)


def _register_models() -> None:
    if not _COMMAND_LINE:
        importlib.import_module(f"{__name__}.models.respira").register()


after_import("transformers", _register_models)
