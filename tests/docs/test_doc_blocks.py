"""The code block collector (tests/docs/doc_blocks.py) and the block checks of test_code_blocks.py, on a
sample page (fixtures/sample_page.md) and small pages written here."""

from __future__ import annotations

from pathlib import Path

import pytest

from .command_server import CommandServer
from .doc_blocks import read_page, respira_command_lines, with_appended
from .test_code_blocks import FIXTURES, PageRun, check_block
from .working_folder import synthetic_working_folder

SAMPLE = FIXTURES / "sample_page.md"


def _page(tmp_path: Path, text: str):
    path = tmp_path / "page.md"
    path.write_text(text)
    return read_page(path)


def test_the_sample_page_is_read_block_by_block() -> None:
    page = read_page(SAMPLE)
    assert not page.errors and not page.shared_data
    assert [(block.line, block.kind) for block in page.blocks] == [
        (5, "shell"), (11, "python"), (17, "python"), (23, "shell"), (29, "shell"), (34, "shell"),
        (39, "shell"), (43, "recipe"), (49, "data"),
    ]  # fmt: skip
    skipped, appended, failing, with_env = page.blocks[3:7]
    assert skipped.skip == "needs the Hub (network)" and not skipped.runs
    assert appended.append == "--device cpu" and appended.runs
    assert failing.exit == 2
    assert with_env.env == {"GREETING": "hello"}
    assert all(not block.errors for block in page.blocks)


def test_markers_out_of_place_or_malformed_are_reported(tmp_path: Path) -> None:
    page = _page(
        tmp_path,
        '<!-- doctest: skip reason="slow" -->\n```bash\nls\n```\n\n'
        "<!-- doctest: exit=2 -->\n\n```bash\nls\n```\n\n"
        "<!-- doctest: retries=3 -->\n```python\npass\n```\n\n"
        "```\nno language\n```\n\n<!-- doctest: data=shared -->\n",
    )
    assert page.shared_data
    first, second, third, fourth = page.blocks
    assert "skip needs reason" in first.errors[0]  # "slow" is none of the allowed reasons
    assert second.exit == 0 and "line right before a code fence" in page.errors[0]
    assert "unknown marker option(s) retries" in third.errors[0]
    assert fourth.kind == "unknown"


def test_blocks_inside_directives_are_found_at_their_line(tmp_path: Path) -> None:
    text = "# t\n\n````{note}\nRun:\n\n```bash\nrespira --version\n```\n````\n\n```{toctree}\na\n```\n"
    page = _page(tmp_path, text)
    found = [(block.line, block.kind, block.code) for block in page.blocks]
    assert found == [(6, "shell", "respira --version\n")]


def test_respira_command_lines_are_found_in_every_form() -> None:
    script = (
        "accelerate launch --num_processes 2 -m respira train r.yaml --seeds 0\n"
        "FOO=1 respira predict a.wav 2> e.txt && echo done\n"
        "python -m respira evaluate run \\\n  --split test  # comment\n"
        "echo respira train  # not a respira command\n"
    )
    assert respira_command_lines(script) == [
        ["train", "r.yaml", "--seeds", "0"], ["predict", "a.wav"], ["evaluate", "run", "--split", "test"],
    ]  # fmt: skip


def test_appended_arguments_go_to_each_respira_command_only() -> None:
    script = "respira train x.yaml | tee log  # note\nls -l\n" + (
        'respira evaluate r \\\n  --b 2 > out.txt\necho "respira x"\n'
    )
    assert with_appended(script, "--max_steps 2") == (
        "respira train x.yaml --max_steps 2 | tee log  # note\nls -l\n"
        'respira evaluate r    --b 2 --max_steps 2 > out.txt\necho "respira x"\n'
    )


@pytest.fixture
def sample_run(tmp_path: Path, synthetic_corpus: Path) -> PageRun:
    return PageRun(synthetic_working_folder(tmp_path / "work", synthetic_corpus))


def test_the_sample_page_runs(
    sample_run: PageRun, monkeypatch: pytest.MonkeyPatch, respira_server: CommandServer
) -> None:
    for block in read_page(SAMPLE).blocks:
        if block.kind != "data":
            check_block(block, sample_run, monkeypatch, respira_server)
    assert sample_run.namespace["first"].startswith("1")  # the shell block's file, read by the Python block
    assert (sample_run.folder / "first.txt").is_file()


@pytest.mark.parametrize(
    ("index", "old", "new", "said"),
    [
        (3, "--private", "--secret", "unrecognized arguments: --secret"),  # a skipped block's renamed flag
        (3, "respira push", "respira pushh", "invalid choice"),  # a renamed command
        (4, "--format csv", "--format tsv", "invalid choice: 'tsv'"),  # parsed before it runs
        (5, "train no_such_recipe.yaml", "--version", "exit status 0, not 2"),
        (6, "hello", "bye", "exit status 1"),
        (7, "problem_type", "problem_kind", "unknown option(s)"),
        (2, "endswith", "startswith", "AssertionError"),
    ],
)
def test_a_broken_block_fails(
    index: int,
    old: str,
    new: str,
    said: str,
    sample_run: PageRun,
    monkeypatch: pytest.MonkeyPatch,
    respira_server: CommandServer,
) -> None:
    blocks = read_page(SAMPLE).blocks
    for block in blocks[:index] if blocks[index].kind == "python" else ():  # what the Python block reads
        check_block(block, sample_run, monkeypatch, respira_server)
    broken = blocks[index]
    assert old in broken.code
    broken.code = broken.code.replace(old, new)
    with pytest.raises((pytest.fail.Exception, AssertionError)) as failed:
        check_block(broken, sample_run, monkeypatch, respira_server)
    assert said in str(failed.value) or said in failed.typename


def test_a_shared_data_page_gets_the_shared_corpora(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from . import test_code_blocks
    from .test_code_blocks import SHARED_DIR, page_run

    page = _page(
        tmp_path,
        "<!-- doctest: data=shared -->\n# t\n\n```bash\nls kauh sprsound ICBHI_final_database > /dev/null\n"
        "test -f ICBHI_challenge_train_test.txt && test -f ICBHI_Challenge_diagnosis.txt\n"
        "test -f recording.wav\n"
        "test ! -e SYNTHETIC_CORPUS.txt\n```\n",
    )
    assert page.shared_data
    monkeypatch.setattr(test_code_blocks, "SHARED_DIR", tmp_path / "no_shared")
    with pytest.raises(pytest.skip.Exception, match="data=shared"):
        page_run(tmp_path / "absent.md", True, None, None)
    if not (SHARED_DIR / "icbhi").is_dir():
        pytest.skip(f"../shared not found at {SHARED_DIR}")
    monkeypatch.setattr(test_code_blocks, "SHARED_DIR", SHARED_DIR)
    folder = test_code_blocks.shared_working_folder(tmp_path / "work", SHARED_DIR)
    check_block(page.blocks[0], PageRun(folder), monkeypatch)


@pytest.mark.parametrize("page", ["README.md", "docs/get-started/quickstart.md"])
def test_the_first_pages_a_user_runs_show_every_flag_they_run_with(page: str) -> None:
    """A new user runs README's and the quick start's commands as shown: a flag the test appends
    (``append=``) would run something else than what the page says and times."""
    from .doc_blocks import REPO

    hidden = [block.name for block in read_page(REPO / page).blocks if block.append]
    assert hidden == []


def test_the_train_tutorials_prepare_previews_the_splits_its_recipe_trains_on() -> None:
    """The tutorial's `respira prepare` shows the dataset its `respira train` builds: the same split
    (strategy, fractions, stratification, seed), rate and low-pass as the recipe's."""
    import yaml

    from respira.cli import build_parser
    from respira.data.icbhi import ICBHIConfig
    from respira.models.respira.encoders import get_encoder_spec

    from .doc_blocks import REPO

    page = read_page(REPO / "docs/tutorials/train-icbhi-detector.md")
    commands = [line for block in page.blocks for line in respira_command_lines(block.code)]
    prepare = build_parser().parse_args(next(line for line in commands if line[0] == "prepare"))
    train = next(line for line in commands if line[0] == "train")
    recipe = yaml.safe_load((REPO / train[1]).read_text())
    defaults = ICBHIConfig()
    fractions = tuple(float(share) for share in str(recipe["patient_split_fractions"]).split(","))
    assert (prepare.split_strategy, prepare.patient_split_fractions) == (recipe["split_strategy"], fractions)
    assert defaults.stratify_by == recipe.get("stratify_by", defaults.stratify_by)  # prepare's own
    assert (prepare.seed or defaults.seed) == recipe.get("split_seed", 0)
    assert not prepare.validation_size
    rate = recipe.get("sampling_rate", get_encoder_spec(recipe["encoder"]).sampling_rate)
    assert (prepare.sampling_rate, prepare.lowpass_cutoff) == (rate, recipe["lowpass_cutoff"])


def test_the_tutorial_the_labelled_how_to_names_builds_and_scores_a_labels_csv_folder() -> None:
    """Datasets and the Hub says the new-site tutorial builds a `labels.csv` folder: it runs a block that
    writes one and scores it with `--dataset labelled`."""
    import re

    from .doc_blocks import REPO

    how_to = (REPO / "docs/how-to/datasets-and-the-hub.md").read_text()
    link = re.search(r"\[[^]]+\]\(([^)]+)\)\s+builds such a folder", how_to)
    assert link is not None
    page = read_page((REPO / "docs/how-to" / link.group(1)).resolve())
    runs = [block for block in page.blocks if block.runs]
    assert any("labels.csv" in block.code and block.kind == "python" for block in runs)
    scored = [line for block in runs for line in respira_command_lines(block.code)]
    assert any(line[0] == "evaluate" and "labelled" in line for line in scored)
