"""Inference, the only code that runs the model: :class:`respira.Detector` (``detector.py``) over
``forward.py``'s one batch loop (torch or ONNX), ``streaming.py`` (many recordings), ``windowing.py`` (windows
and cycles), ``frames.py`` (frames and events) and ``embeddings.py``."""
