"""The torch-free inference core that every runner shares: the transformers pipeline,
:class:`~respira.inference.detector.Detector`, ``respira screen`` and the app's ONNX runner.

:mod:`.windows` cuts a recording into the model's windows (or cycles) and aggregates their scores into a
recording's, :mod:`.batching` runs windows of several recordings in fixed-size batches and puts their
outputs back per recording, :mod:`.decision` turns probabilities into rows, labels and verdicts,
:mod:`.events` holds event lists, :mod:`.chunks` cuts a long recording into streamed chunks and
:mod:`.onnx_graph` says which time steps of the exported graph a chunk's frames fill and runs it by equal
lengths. Nothing here imports torch, so the ONNX path runs it alone.
"""
