"""respira: fine-tune audio encoders for respiratory-sound classification on ICBHI 2017.

``import respira`` registers respira's models with transformers' Auto classes (when transformers is
imported), so ``AutoModelForAudioClassification`` and ``pipeline("audio-classification")`` load respira
folders without ``trust_remote_code``. ``respira.Detector.from_pretrained(folder_or_hub_id)`` predicts
recordings; ``respira.train``, ``evaluate``, ``fit_site``, ``suggest``, ``bench`` and ``label`` do
what their commands do (:mod:`respira.api`).
"""

import importlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Callable
from typing import Any

from .utils.lazy_exports import lazy_exports

__version__ = "0.1.0.dev0"

_LAZY: dict[str, str] = {
    "Detector": "inference.detector",
    "Prediction": "inference.prediction",
    "RespiraConfig": "models",
    "RespiraFeatureExtractor": "models",
    "RespiraForAudioClassification": "models",
    "RespiraModel": "models",
    "BenchResult": "api",
    "Evaluation": "api",
    "TrainedRun": "training.run",
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
__all__ = list(_LAZY)
__all__.append("__version__")

__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
_COMMAND_LINE = False  # True in the respira command's own process (set by respira.__main__)


def _register_models() -> None:
    if not _COMMAND_LINE:
        importlib.import_module(f"{__name__}.models.respira").register()


class _AfterImport(importlib.abc.MetaPathFinder):
    """Calls ``hook()`` right after the top-level module ``name`` is executed, then steps aside."""

    def __init__(self, name: str, hook: Callable[[], object]) -> None:
        self.name, self.hook = name, hook

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)  # as the other finders find it
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader

        def exec_module(module: Any) -> None:
            del loader.exec_module  # the loader's own method again
            loader.exec_module(module)
            self.hook()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _after_import(name: str, hook: Callable[[], object]) -> None:
    """Call ``hook()`` once the top-level module ``name`` is imported (now, if it already is)."""
    if name in sys.modules:
        hook()
    else:
        sys.meta_path.insert(0, _AfterImport(name, hook))


_after_import("transformers", _register_models)
