"""``make docs``'s build: the site builds with warnings as errors, and each kind of defect fails it.

The defects are checked on a small site built with the real configuration (docs/conf.py and docs/_ext/): a
broken link, a broken cross reference (to a Python object, to a recipe field), a page in no toctree, an
autodoc target that does not exist, a stale name in a package's ``__all__``; each is reported by name
(docs/, with the same configuration, builds without a warning).

Both build in this process with sphinx's ``dummy`` builder: every page read, every reference resolved (what
warns), no HTML written (``make docs``, which CI runs after ``make test``, writes it).
"""

from __future__ import annotations

import pickle
import shutil
import sys
from pathlib import Path

import pytest
from docutils.nodes import Element

from .doc_blocks import REPO

pytestmark = pytest.mark.filterwarnings("ignore::sphinx.deprecation.RemovedInSphinx11Warning")
DOCS = REPO / "docs"
SPHINX_OPTIONS = ["-W", "--keep-going", "-n", "-E", "-q", "-b", "dummy"]
"""As ``make docs`` runs it (see the Makefile), but for the builder."""

CLEAN_PAGES = {
    "index.md": "# Site\n\nSee [the fields](fields.md) and {recipe-field}`encoder`.\n\n"
    "```{toctree}\nfields\napi\n```\n",
    "fields.md": "# Fields\n\n"
    + "".join(
        f"## {group}\n\n```{{recipe-fields}} {group}\n```\n\n"
        for group in ("model", "data", "run", "training")
    ),
    "api.md": "# API\n\n{py:func}`respira.screening.screen`; "
    "{py:mod}`respira.models.respira.audio_decoding` exists, internal.\n\n"
    "```{eval-rst}\n.. automodule:: respira.screening\n.. automodule:: sample_package\n```\n",
}
SAMPLE_PACKAGE = '"""A package."""\n\n__all__ = ["present"]\n\n\ndef present() -> None:\n    """Here."""\n'

DEFECTS = {
    "index.md": ("fields\napi\n", "fields\napi\nbroken\n"),
    "broken.md": (
        None,
        "# Broken\n\n[a page](no_such_page.md), {py:func}`respira.screening.no_such_function`, "
        "{recipe-field}`no_such_field`.\n",
    ),
    "orphan.md": (None, "# In no toctree\n"),
    "api.md": (
        ".. automodule:: sample_package\n",
        ".. automodule:: sample_package\n.. autofunction:: respira.gone\n",
    ),
    "sample_package/__init__.py": ('["present"]', '["present", "vanished"]'),
}
"""Per file, (text replaced or None for a new file, its new text)."""
EXPECTED = (
    "no_such_page.md",
    "respira.screening.no_such_function",
    "no_such_field",
    "orphan.md: WARNING: document isn't included in any toctree",
    "module 'respira' has no attribute 'gone'",
    "sample_package.vanished is in sample_package.__all__ but does not exist",
)


def sphinx_build(
    source: Path, output: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """``make docs``'s build of ``source`` in this process (torch, transformers and respira imported once for
    both builds, not by a fresh interpreter each): its exit status and what it wrote to stderr."""
    from sphinx.cmd.build import build_main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(sys, "path", list(sys.path))  # conf.py puts src/ and _ext/ first
    capsys.readouterr()
    status = build_main([*SPHINX_OPTIONS, str(source), str(output)])
    return status, capsys.readouterr().err


def small_site(folder: Path) -> Path:
    """A site with docs/conf.py and docs/_ext/, a few pages and the defects in ``folder``/site."""
    site = folder / "site"
    site.mkdir(parents=True)
    shutil.copy(DOCS / "conf.py", site / "conf.py")
    shutil.copytree(DOCS / "_ext", site / "_ext", ignore=shutil.ignore_patterns("__pycache__"))
    for name, text in CLEAN_PAGES.items():
        (site / name).write_text(text)
    (folder / "sample_package").mkdir()
    (folder / "sample_package" / "__init__.py").write_text(SAMPLE_PACKAGE)
    for name, (old, new) in DEFECTS.items():
        path = folder / name if name.startswith("sample_package") else site / name
        if old is None:
            path.write_text(new)
        else:
            assert old in path.read_text()
            path.write_text(path.read_text().replace(old, new))
    return site


@pytest.mark.slow
def test_each_defect_fails_a_small_site(tmp_path: Path, monkeypatch, capsys) -> None:
    site = small_site(tmp_path / "broken")
    monkeypatch.syspath_prepend(str(tmp_path / "broken"))
    monkeypatch.delitem(sys.modules, "sample_package", raising=False)
    try:
        status, stderr = sphinx_build(site, tmp_path / "broken_site", monkeypatch, capsys)
    finally:
        sys.modules.pop("sample_package", None)
    assert status != 0
    missing = [text for text in EXPECTED if text not in stderr]
    assert not missing, f"not reported: {missing}\n{stderr}"


@pytest.mark.slow
def test_the_site_builds(tmp_path: Path, monkeypatch, capsys) -> None:
    """docs/ as ``make docs`` builds it: no warning."""
    if not (DOCS / "results.md").is_file():
        pytest.skip("docs/results.md is not written yet (its page comes from the docs content branch)")
    status, stderr = sphinx_build(DOCS, tmp_path / "site", monkeypatch, capsys)
    assert status == 0, stderr
    doctrees = tmp_path / "site" / ".doctrees" / "reference"
    for page in ("cli", "recipe", "api"):
        assert (doctrees / f"{page}.doctree").is_file()
    recipe = pickle.loads((doctrees / "recipe.doctree").read_bytes())
    assert any("recipe-field-encoder" in node["ids"] for node in recipe.findall(Element))  # generated fields
