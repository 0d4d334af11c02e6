"""The results history (docs/history/) is history: its figures are not proved again, but every link, file
and commit it names exists, so that each run can be read and run again."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_measured import heading_anchors

ROOT = Path(__file__).resolve().parents[1]
HISTORY = ROOT / "docs" / "history"
PAGES = sorted(HISTORY.glob("*.md"))
FENCED = re.compile(r"^```.*?^```", flags=re.MULTILINE | re.DOTALL)
NAMED_FILE = re.compile(r"(?<![\w/.-])((?:benchmarks|studies|scripts|recipes|src|tests|docs)/[\w./-]*\.\w+)")
COMMIT = re.compile(
    r"`([0-9a-f]{7,40})`|\bcommits? ([0-9a-f]{7,40})\b|`git (?:show|switch --detach) ([0-9a-f]{7,40})"
)
SHOWN = re.compile(r"`git show ([0-9a-f]{7,40}):([\w./-]+)`")


def _anchors(page: Path) -> set[str]:
    return heading_anchors(page.read_text(encoding="utf-8"))


def broken_links(page: Path) -> list[str]:
    """The links of ``page`` (outside code) to a file that does not exist or a heading it does not have."""
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", FENCED.sub("", page.read_text(encoding="utf-8"))):
        if "://" in target or target.startswith("mailto:"):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists() or (anchor and file.suffix == ".md" and anchor not in _anchors(file)):
            broken.append(target)
    return broken


def named_files(text: str) -> set[str]:
    """The repository files ``text`` names (placeholders such as ``RULE.md`` or ``<script>`` left out)."""
    return {path.rstrip(".") for path in NAMED_FILE.findall(text) if not re.search(r"/[A-Z_]+\.\w+$", path)}


def named_commits(text: str) -> set[str]:
    """The commits ``text`` names: in code (```abc1234```, ```git show abc1234:...```) or as
    ``commit abc1234`` (a file's checksum, ``036ce2a5…``, is none; nor is a word of hex letters,
    ``deadbee``)."""
    named = {next(group for group in match if group) for match in COMMIT.findall(text)}
    return {commit for commit in named if re.search(r"\d", commit) and re.search(r"[a-f]", commit)}


def _git(*arguments: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["git", *arguments], cwd=ROOT, input=stdin, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def git() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("the history's commits are checked in a git clone of the repository")
    if _git("rev-parse", "--is-shallow-repository").strip() == "true":
        pytest.skip("a shallow clone holds no past commits: the history's are checked in a full clone")


def test_every_link_of_the_history_resolves() -> None:
    assert len(PAGES) >= 7
    assert {page.name: broken_links(page) for page in PAGES if broken_links(page)} == {}


def test_every_file_the_history_names_is_in_the_repository_or_its_past(git: None) -> None:
    """A results file stays in the tree; a script that left is in some earlier commit (its section names
    it, ``git show COMMIT:PATH``, and that commit holds it)."""
    named = set().union(*(named_files(page.read_text(encoding="utf-8")) for page in PAGES))
    assert {"benchmarks/fit_site.py", "benchmarks/fit_site_events.py"} <= named
    results = [
        path for path in named if path.startswith("benchmarks/results/") and not (ROOT / path).exists()
    ]
    assert results == []
    ever = set(_git("log", "--all", "--format=", "--name-only", "--no-renames").split())
    assert sorted(path for path in named if not (ROOT / path).exists() and path not in ever) == []
    shown = {pair for page in PAGES for pair in SHOWN.findall(page.read_text(encoding="utf-8"))}
    assert ("db0b3444", "benchmarks/fit_site_events.py") in shown
    checks = "".join(f"{commit}:{path}\n" for commit, path in sorted(shown))
    assert "missing" not in _git("cat-file", "--batch-check", stdin=checks)


def test_every_commit_the_history_names_exists(git: None) -> None:
    commits = set().union(*(named_commits(page.read_text(encoding="utf-8")) for page in PAGES))
    assert len(commits) > 20
    found = _git(
        "cat-file", "--batch-check", stdin="".join(f"{commit}^{{commit}}\n" for commit in sorted(commits))
    )
    assert [line.split()[0] for line in found.splitlines() if line.endswith("missing")] == []


def test_what_is_gone_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Here\n", encoding="utf-8")
    page.write_text(
        "# Top\n[a](other.md#here) [b](#top) [c](https://x.org/y) [d](gone.md) [e](other.md#there)\n"
        "[f](#nowhere)\n"
        "```text\n[g](fenced.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == ["gone.md", "other.md#there", "#nowhere"]
    text = (
        "run `benchmarks/x.py` (`git show abc1234:benchmarks/x.py`), commit 1234abcd, `0a1b2c3d`; "
        "`benchmarks/results/k20/RULE_SELECTION.md`, `studies/<script>.py`; checksum 036ce2a5…, `deadbee`.\n"
    )
    assert named_files(text) == {"benchmarks/x.py"}
    assert named_commits(text) == {"abc1234", "1234abcd", "0a1b2c3d"}
