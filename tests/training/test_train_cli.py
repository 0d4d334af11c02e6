"""A discoverable `respira train`: --help lists the recipe fields by group with their defaults, flags alone
train (a recipe is optional), and a bad flag is one line naming it."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import yaml

from respira.cli import main
from respira.measured import note, split_note
from respira.training.recipe import COMMON_TRAINING_OPTIONS, RECIPE_ONLY_OPTIONS, parse_flags, parse_recipe
from respira.training.training_args import (
    DataArguments,
    ModelArguments,
    RespiraTrainingArguments,
    RunArguments,
)

from .conftest import TINY_RECIPE

GROUPS = {"model": ModelArguments, "data": DataArguments, "run": RunArguments}


@pytest.fixture(scope="module")
def help_sections() -> dict[str, str]:
    """`respira train --help`, split into its sections (title → text)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["train", "--help"]) == 0
    text = out.getvalue()
    titles = re.findall(r"^(\w[\w ]*):$", text, re.MULTILINE)
    assert titles == ["positional arguments", "options", "model", "data", "run", "training"]
    parts = re.split(r"^\w[\w ]*:$", text, flags=re.MULTILINE)
    return {"usage": parts[0], **dict(zip(titles, parts[1:], strict=True))}


def _entry(section: str, name: str) -> str:
    """The help entry of ``--name`` in ``section``, on one line, without its last sentence (what
    BENCHMARKS.md measured of the field), which it checks is the field's :func:`respira.measured.note`."""
    match = re.search(rf"^  --{name}\b(.*?)(?=^  -|\Z)", section, re.MULTILINE | re.DOTALL)
    assert match, f"--{name} not listed"
    entry, sentence = split_note(" ".join(match.group(0).split()))
    assert sentence.replace(" ", "") == note(name).replace(" ", ""), entry  # wrapped anchors gain spaces
    return entry


def test_help_lists_every_field_of_model_data_and_run_in_its_group(help_sections: dict[str, str]) -> None:
    for title, dataclass in GROUPS.items():
        defaults = dataclass()
        for field in fields(dataclass):
            if field.name in RECIPE_ONLY_OPTIONS:  # a recipe's: the recipe reference lists it
                assert f"--{field.name} " not in help_sections[title]
                continue
            entry = _entry(help_sections[title], field.name)
            shown = getattr(defaults, field.name)
            assert entry.endswith(f"(default: {'unset' if shown is None else shown})"), entry
            own_help = split_note(field.metadata.get("help", ""))[0]  # without what was measured
            if own_help:  # the field's own help text follows the flag(s) and type
                entry = re.sub(r" \[[A-Z]+ \.\.\.\]", "", entry)  # a many-valued flag's metavar (--data_dir)
                words = re.sub(r", --\w+( \[?[A-Z]+\]?)?", "", entry).split()  # transformers' alias
                assert words[2] == own_help.split()[0], entry
    assert _entry(help_sections["model"], "target_seconds") == (
        "--target_seconds FLOAT, --max_length_seconds FLOAT fixed cycle length in seconds "
        f"(default: {ModelArguments().target_seconds})"
    )
    assert "--data_dir" not in help_sections["model"] and "--encoder " not in help_sections["data"]


def test_help_lists_respira_training_options_and_the_common_trainer_ones(
    help_sections: dict[str, str],
) -> None:
    training = help_sections["training"]
    assert "Every TrainingArguments field is accepted" in " ".join(training.split())
    trainer_fields = {f.name for f in fields(RespiraTrainingArguments)} - {
        f.name for cls in (ModelArguments, DataArguments, RunArguments) for f in fields(cls)
    }
    listed = set(re.findall(r"^  --(\w+) [A-Z\[{]", training, re.MULTILINE))  # entries, not prose
    from transformers import TrainingArguments

    own = trainer_fields - {f.name for f in fields(TrainingArguments)}
    assert (own - set(RECIPE_ONLY_OPTIONS)) | set(COMMON_TRAINING_OPTIONS) == listed
    assert "--mil_weight" not in training and parse_flags(["--mil_weight", "0.5"]) == {"mil_weight": 0.5}
    assert _entry(training, "learning_rate").startswith("--learning_rate FLOAT The initial learning rate")
    assert _entry(training, "learning_rate").endswith("(default: 5e-05)")
    assert "--learning-rate" not in training  # one spelling per flag
    assert "--eval_strategy" not in training and "--bf16" not in training  # plumbing: recipes set it
    # a TrainingArguments field the help leaves out is still a flag
    assert parse_flags(["--torch_compile", "true", "--adam_beta2", "0.98", "--eval_strategy", "epoch"]) == {
        "torch_compile": True,
        "adam_beta2": 0.98,
        "eval_strategy": "epoch",
    }


def _tiny_flags() -> list[str]:
    flags = []
    for key, value in TINY_RECIPE.items():
        text = (
            json.dumps(value)
            if isinstance(value, dict)
            else str(value).lower()
            if isinstance(value, bool)
            else str(value)
        )
        flags += [f"--{key}", text]
    return flags


@pytest.fixture(scope="module")
def flags_run(
    synthetic_corpus: Path, dataset_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, int, str, str]:
    """One `respira train` of flags alone (no recipe): its output folder, exit status, stdout and stderr."""
    import contextlib
    import io

    folder = tmp_path_factory.mktemp("flags_run")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(
            ["train", "--data_dir", str(synthetic_corpus), *_tiny_flags(), "--learning_rate", "0.002",
             "--output_dir", str(folder / "run"), "--dataset_cache_dir", str(dataset_cache)]
        )  # fmt: skip
    return folder / "run", code, out.getvalue(), err.getvalue()


def test_flags_alone_train_a_run(synthetic_corpus: Path, flags_run: tuple[Path, int, str, str]) -> None:
    output, code, _, err = flags_run
    assert code == 0, err
    record = json.loads((output / "respira_run.json").read_text())
    assert record["recipe"] is None
    assert record["data"]["data_dir"] == str(synthetic_corpus)
    assert record["model"]["options"]["encoder_config"] == TINY_RECIPE["encoder_config"]
    assert record["training"]["hyperparameters"]["learning_rate"] == 0.002
    assert record["training"]["hyperparameters"]["max_steps"] == TINY_RECIPE["max_steps"]
    assert (output / "model.safetensors").is_file()


BAD = {
    "non-number": (["--learning_rate", "abc"], "argument --learning_rate: invalid float value: 'abc'"),
    "negative": (["--num_train_epochs", "-1"], "num_train_epochs must be a number >= 0, got -1.0"),
    "zero-batch": (
        ["--per_device_train_batch_size", "0"],
        "per_device_train_batch_size must be a whole number >= 1, got 0",
    ),
    "no-epochs": (["--num_train_epochs", "0", "--max_steps", "-1"], "nothing would be trained"),
    "negative-steps": (
        ["--max_steps", "-5"],
        "max_steps (-1: train num_train_epochs) must be a whole number >= 1, got -5",
    ),
    "unknown": (["--epochs", "-1"], "--epochs (did you mean --num_train_epochs?)"),
    "typo": (["--encoder", "cnn", "--learnin_rate", "0.1"], "--learnin_rate (did you mean --learning_rate?)"),
    "bool": (
        ["--freeze_encoder", "maybe"],
        "argument --freeze_encoder: Truthy value expected: got maybe",
    ),
    "choice": (["--eval_strategy", "hourly"], "argument --eval_strategy: invalid choice: 'hourly'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_flag_is_one_line_naming_it(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags, message = BAD[case]
    code = main(["train", *flags, "--output_dir", str(tmp_path / "run")])
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    assert error.startswith("respira train: error: ") and message in error
    assert "usage:" not in error
    assert list(tmp_path.iterdir()) == []


def test_a_flag_value_is_not_read_as_the_recipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no_corpus_here"
    assert (
        main(["train", "--data_dir", str(missing), "--encoder", "cnn", "--output_dir", str(tmp_path / "r")])
        == 2
    )
    assert (
        capsys.readouterr().err.strip() == f"respira train: error: ICBHI data_dir '{missing}' does not exist"
    )
    with pytest.raises(FileNotFoundError):  # --debug after the command shows the traceback
        main(["train", "--data_dir", str(missing), "--debug"])


def test_flags_override_the_recipe_and_given_options(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({**TINY_RECIPE, "learning_rate": 3e-4, "aux_loss": "add"}))
    *_, args = parse_recipe(recipe, given={"learning_rate": 2e-4})
    assert args.learning_rate == 2e-4 and args.aux_loss == "add"
    *_, args = parse_recipe(recipe, ["--learning_rate", "1e-4"], given={"learning_rate": 2e-4})
    assert args.learning_rate == 1e-4


REPOSITORY = Path(__file__).parents[2]


def _readme_command(start: str) -> list[str]:
    """The first line of README.md that starts with ``start``, split as a shell splits it."""
    lines = [line for line in (REPOSITORY / "README.md").read_text().splitlines() if line.startswith(start)]
    assert lines, f"README.md has no line starting with {start!r}"
    return shlex.split(lines[0])


@pytest.mark.slow
@pytest.mark.real_data
def test_readmes_convert_and_train_lines_run_as_written(
    shared_reference: Path, synthetic_corpus: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    convert = _readme_command("respira convert efficientat ")
    train = _readme_command("respira train recipes/efficientat_frozen_multilabel.yaml")
    monkeypatch.chdir(tmp_path)  # README's relative paths, from a checkout's root
    (tmp_path / "recipes").symlink_to(REPOSITORY / "recipes", target_is_directory=True)
    (tmp_path / convert[3]).symlink_to(shared_reference / "efficientat_mn04_as_mAP_432.pt")
    assert main(convert[1:]) == 0, capsys.readouterr().err
    train[train.index("--data_dir") + 1] = str(synthetic_corpus)  # README's ~/data/ICBHI
    # one epoch, and one augmented view (the recipe's two: each is a pass of the real encoder)
    tiny = ["--num_train_epochs", "1", "--augmented_views", "1", "--use_cpu", "true"]
    tiny += ["--disable_tqdm", "true"]
    assert main([*train[1:], *tiny, "--dataset_cache_dir", str(tmp_path / "cache")]) == 0, (
        capsys.readouterr().err
    )
    run = tmp_path / "runs" / "efficientat_frozen_multilabel"
    assert (run / "model.safetensors").is_file()
    record = json.loads((run / "respira_run.json").read_text())
    assert record["model"]["checkpoint"] == "checkpoints/efficientat_mn04"


@pytest.mark.parametrize("offline", [False, True])
def test_a_recipes_checkpoint_that_is_not_there_is_one_line_before_any_work(
    offline: bool, synthetic_corpus: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing may reach a Hub
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipes").symlink_to(REPOSITORY / "recipes", target_is_directory=True)
    if not offline:
        (tmp_path / "checkpoints").mkdir()  # a local path, whose checkpoint was not converted
    command = ["train", "recipes/efficientat_frozen_multilabel.yaml", "--data_dir", str(synthetic_corpus)]
    assert main(command) == 2
    out, err = capsys.readouterr()
    assert "training" not in out
    assert len(err.strip().splitlines()) == 1, err
    looked_for = tmp_path / "checkpoints" / "efficientat_mn04"
    expected = (
        f"neither a local folder ({looked_for}) nor a model in the Hugging Face cache"
        if offline
        else f"model folder not found: checkpoints/efficientat_mn04 (looked for the folder {looked_for})"
    )
    assert err.startswith("respira train: error: encoder_name_or_path: ")
    assert expected in err and "`respira convert` writes" in err
    assert not (tmp_path / "runs").exists()


def test_a_run_whose_output_is_not_a_terminal_writes_no_escape_codes(
    synthetic_corpus: Path, dataset_cache: Path, tmp_path: Path, capsys, progress_bars_on
) -> None:
    flags = _tiny_flags()
    flags[flags.index("--disable_tqdm") + 1] = "false"  # the bars as a user gets them
    code = main(
        ["train", "--data_dir", str(synthetic_corpus), *flags, "--output_dir", str(tmp_path / "run"),
         "--dataset_cache_dir", str(dataset_cache)]
    )  # fmt: skip
    out, err = capsys.readouterr()  # pytest's capture: not a terminal, as a log file or a pipe
    assert code == 0, err
    assert "\x1b[" not in out + err
    assert any(line.startswith("epoch") and "eval loss" in line for line in out.splitlines())


def test_a_run_prints_its_splits_before_training(flags_run: tuple[Path, int, str, str], icbhi_splits) -> None:
    _, code, out, err = flags_run
    assert code == 0, err
    lines = out.splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.split()[:4] == ["split", "patients", "recordings", "cycles"]
    )
    assert lines[start].split()[4:] == ["normal", "crackle", "wheeze", "both"]
    assert start < next(i for i, line in enumerate(lines) if line.startswith("== seed"))
    for row, (name, part) in zip(lines[start + 2 : start + 5], icbhi_splits.items(), strict=True):
        labels = np.bincount(part["label"], minlength=4)
        expected = [name, len(set(part["patient_id"])), len(set(part["recording"])), len(part), *labels]
        assert row.split() == [str(value) for value in expected]
