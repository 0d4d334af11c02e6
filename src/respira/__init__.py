"""respira: fine-tune audio encoders for respiratory-sound classification on ICBHI 2017.

``import respira`` registers respira's models with transformers' Auto classes (``AutoConfig.register``
and the others), so ``AutoModelForAudioClassification`` loads respira folders without
``trust_remote_code``; that imports torch and transformers (seconds of CPU), except in the ``respira``
command, which registers them where it loads a model. Nothing else of transformers changes:
``pipeline("audio-classification", model=folder, trust_remote_code=True)`` runs respira's pipeline from an
export's code (its ``config.json`` names it), ``pipeline_class=RespiraAudioClassificationPipeline``
(:mod:`respira.models.respira`) on any respira folder.

``respira.Detector.from_pretrained(folder_or_hub_id)`` predicts recordings; ``respira.train``,
``evaluate``, ``fit_site``, ``suggest``, ``bench`` and ``label`` do what their commands do
(:mod:`respira.api`).
"""

import importlib
import itertools
import sys
from pathlib import Path

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
"""Names imported from their module on first use."""
__all__ = list(_LAZY)
__all__.append("__version__")

__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)


def _the_command() -> bool:
    """This process is the ``respira`` command (its installed script, ``python -m respira``; a user's
    ``respira.py`` is not), which registers the models where it loads one, so that ``respira --help``
    imports no torch."""
    script = Path(sys.argv[0]).name if getattr(sys, "argv", None) else ""
    pairs = itertools.pairwise(getattr(sys, "orig_argv", []))
    return script in (__name__, f"{__name__}.exe") or any(pair == ("-m", __name__) for pair in pairs)


if not _the_command():
    importlib.import_module(f"{__name__}.models.respira").register()
