"""Audio in respira: decoding (:mod:`.decoding`), input checks (:mod:`.checks`), WAV and signal processing."""

from .decoding import *  # noqa: F403  (the decoder's names, listed in its __all__)
from .decoding import __all__ as __all__
