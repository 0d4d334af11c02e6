"""Sphinx configuration of respira's documentation site (``make docs``).

Pages are MyST Markdown. The reference is generated: the command line from respira's own parser
(sphinx-argparse), the Python API from docstrings (autodoc), the recipe fields from the
recipe dataclasses' help (``_ext/recipe_fields.py``). The build runs with warnings as errors and
nitpicky cross references, so a broken reference, a page in no toctree or a stale autodoc target fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(ROOT / "src"), str(DOCS / "_ext")]  # this checkout's respira, before any installed one

import respira  # noqa: E402

project = "respira"
author = "respira contributors"
copyright = "respira contributors"
release = respira.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # some docstrings have Google-style Args:/Returns: sections
    "sphinx.ext.viewcode",
    "sphinxarg.ext",
    "recipe_fields",
    "public_api",
    "results_links",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
html_theme = "furo"
html_title = f"respira {release}"
smartquotes = False  # "--flag" stays two hyphens (sphinx-argparse's group titles, prose)

myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3  # [text](page.md#a-heading) links resolve (and fail the build when stale)

autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_numpy_docstring = False

nitpicky = True
# No intersphinx: the build runs offline (CI has no network), so references to Python's, numpy's, torch's,
# transformers' ... objects (mostly from type hints) have no inventory to resolve against. Only those are
# ignored: every reference into respira must resolve.
nitpick_ignore_regex = [(r"py:.*", r"(?!respira\b)(?!~respira\b).*")]
