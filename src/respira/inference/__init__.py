"""Inference, the only code that runs the model: :class:`respira.Detector` (``detector.py``) over
``forward.py``'s one batch loop (torch or ONNX), ``streaming.py`` (many recordings), ``engine.py`` (windows
and cycles), ``event_detection.py`` and ``embeddings.py``."""
