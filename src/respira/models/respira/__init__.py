"""The model folder: the respira classifier's config, model, feature extractor and pipeline, and all they
need at run time (encoder families, featurizers, audio reading, windows, decisions, labels).

It imports no other respira package, so ``respira export --with_code`` and ``respira push`` ship its
``*.py`` as they are, for ``trust_remote_code=True``. Its modules import on first use (reading a corpus
needs ``labels`` or ``audio_decoding``, not torch); the first class taken from here, or :func:`register`,
registers the classes with the Auto classes. The pipeline is the model's own: an export's ``config.json``
names it (``custom_pipelines``), for ``pipeline(..., trust_remote_code=True)``.
"""

import functools
import importlib

_EXPORTS = {
    "RespiraConfig": "configuration_respira",
    "RespiraFeatureExtractor": "feature_extraction_respira",
    "RespiraClassifierOutput": "modeling_respira",
    "RespiraForAudioClassification": "modeling_respira",
    "RespiraModel": "modeling_respira",
    "RespiraModelOutput": "modeling_respira",
    "RespiraPreTrainedModel": "modeling_respira",
    "build_model": "modeling_respira",
    "RespiraAudioClassificationPipeline": "pipeline_respira",
}

__all__ = list(_EXPORTS)
__all__ += ["register"]


@functools.cache
def register() -> None:
    """Register respira's classes with transformers' Auto classes (``AutoConfig.register`` and the others)."""
    from .configuration_respira import RespiraConfig, register_model_type
    from .feature_extraction_respira import RespiraFeatureExtractor
    from .modeling_respira import RespiraForAudioClassification, RespiraModel

    register_model_type(RespiraConfig, RespiraModel, RespiraForAudioClassification, RespiraFeatureExtractor)


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    register()
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
