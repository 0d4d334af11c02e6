"""respira models: the classifier and its encoders (AST, BEATs, EfficientAT, CNN, the Hub's audio models),
registered with transformers' Auto classes when first taken from here (:mod:`respira.models.respira`)."""

from . import respira as _folder

__all__ = [
    "RespiraClassifierOutput",
    "RespiraConfig",
    "RespiraFeatureExtractor",
    "RespiraForAudioClassification",
    "RespiraModel",
    "RespiraModelOutput",
    "build_model",
]


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(_folder, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
