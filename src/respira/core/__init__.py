"""The torch-free inference core every runner shares (the pipeline, the Detector, ``respira screen``, the
app's ONNX runner): windows, batching, the decision rule, events, streamed chunks and the ONNX graph's
names.
"""
