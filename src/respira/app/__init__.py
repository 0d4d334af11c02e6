"""The web page of a detector (``respira app``) and its Hugging Face Space (``--space``).

- :mod:`.analysis`: one recording through a detector (checks, prediction, verdict, figure);
- :mod:`.page`: the Gradio page (needs ``pip install 'respira[app]'``);
- :mod:`.detectors`: a model folder, ONNX folder or Hub id as a detector, with its card facts;
- :mod:`.onnx_runner`: ``model.onnx`` with onnxruntime alone (what the Space runs);
- :mod:`.space`: the Space folder, generated from these modules.

Nothing is imported here, so ``import respira`` never needs gradio.
"""
