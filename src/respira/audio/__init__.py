"""Audio in respira: one decoder for every input (:mod:`.decoding`), input checks (:mod:`.checks`), WAV
(:mod:`.wav`) and the shared signal processing (:mod:`.dsp`).
"""

from .decoding import *  # noqa: F403  (the decoder's names, listed in its __all__)
from .decoding import __all__ as __all__
