"""The detector's web pages and the labelling page.

- :mod:`.web_page`: the static page that runs ``model.onnx`` in the browser (``respira export --web``,
  ``respira push --space``);
- :mod:`.serving`: the pages' HTTP server, and ``respira app``, which serves the static page;
- :mod:`.labelling`, :mod:`.label_server`: ``respira label``'s page.
"""
