"""The respira command line: prepare, demo, and one-line errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from respira.cli import main
from respira.commands import command_lines
from respira.utils.files import WRITTEN_FILE, staged_folder


def test_prepare_prints_a_summary_and_writes_a_loadable_folder(
    synthetic_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "dataset"
    code = main(
        [
            "prepare",
            "--data_dir",
            str(synthetic_corpus),
            "--validation_size",
            "0.25",
            "--output_dir",
            str(output),
            "--cache_dir",
            str(tmp_path / "cache"),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    for word in ("train", "validation", "test", "normal", "crackle", "wheeze", "both", "minutes"):
        assert word in printed
    assert f"datasets.load_dataset('{output}')" in printed
    assert sorted(str(p.relative_to(output)) for p in output.rglob("*") if p.is_file()) == [
        WRITTEN_FILE,
        "README.md",
        "cycles/test-00000-of-00001.parquet",
        "cycles/train-00000-of-00001.parquet",
        "cycles/validation-00000-of-00001.parquet",
    ]
    reloaded = datasets.load_dataset(str(output), cache_dir=str(tmp_path / "pq"))
    assert list(reloaded) == ["train", "validation", "test"]
    assert reloaded["test"].features["audio"] == datasets.Audio(sampling_rate=16000)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_prepare_checks_its_output_and_options_before_building(
    synthetic_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("the user's own file")
    (tmp_path / "a_file").write_text("")
    cases = {
        ("--output_dir", str(occupied)): (  # not "pass --overwrite": it would refuse too
            f"{occupied} holds no record of what respira wrote in it (.respira-written: not respira's "
            "output, or an older respira's), so respira does not replace it: move it away or choose another "
            "output folder"
        ),
        ("--output_dir", str(tmp_path / "a_file")): f"{tmp_path / 'a_file'} is a file",
        ("--output_dir", str(tmp_path / "a_file" / "x")): f"{tmp_path / 'a_file'} is a file, not a folder",
        ("--validation_size", "1.5"): "validation_size must be in [0, 1), got 1.5",
        ("--dataset", "kauh", "--validation_size", "0.2"): "--validation_size: only for --dataset icbhi",
        ("--dataset", "kauh", "--config", "cycles"): "--config cycles: only for --dataset icbhi",
        ("--sampling_rate", "fast"): "argument --sampling_rate: invalid int value: 'fast'",
        ("--patient_split_fractions", "a,b"): (
            "patient_split_fractions must be three numbers train,validation,test (e.g. 0.6,0.2,0.2), "
            "got 'a,b'"
        ),
        ("--split_strategy", "patient", "--patient_split_fractions", "0.5,0.5"): (
            "patient_split_fractions must be three numbers train,validation,test (e.g. 0.6,0.2,0.2), "
            "got '0.5,0.5'"
        ),
        ("--split_strategy", "patient", "--validation_size", "0.2"): "set patient_split_fractions (train",
        ("--dataset", "kauh", "--patient_split_fractions", "0.8,0,0.2"): (
            "--patient_split_fractions: only for --dataset icbhi"
        ),
        (
            "--lowpass_cutoff",
            "1000",
            "--lowpass_order",
            "0",
        ): "lowpass_order must be a whole number >= 1",
    }
    for flags, message in cases.items():
        code = main(["prepare", "--data_dir", str(synthetic_corpus), "--cache_dir", str(cache), *flags])
        error = capsys.readouterr().err.strip()
        assert code == 2, flags
        assert len(error.splitlines()) == 1 and message in error, (flags, error)
    assert not cache.exists()  # nothing was built
    assert [p.name for p in occupied.iterdir()] == ["notes.txt"]


def test_a_patient_split_too_fine_for_its_patients_says_how_to_split_fewer_ways(
    corpus_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import datasets

    keep = {path.name.split("_")[0] for path in sorted(corpus_copy.rglob("*.txt")) if path.name[:3].isdigit()}
    keep = sorted(keep)[:4]  # four patients: too few for every class in train, validation and test
    for path in corpus_copy.rglob("*"):
        if path.is_file() and path.name[:3].isdigit() and path.name.split("_")[0] not in keep:
            path.unlink()
    base = ["prepare", "--data_dir", str(corpus_copy), "--cache_dir", str(tmp_path / "cache")]
    assert main([*base, "--split_strategy", "patient"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "require_all" not in error
    assert "split_strategy='patient': only" in error and "every 'label' value in 3 splits" in error
    hint = "add recordings of more patients, or split fewer ways (a 0 in patient_split_fractions, "
    assert error.endswith(hint + "train,validation,test)")
    assert main([*base, "--validation_size", "0.9"]) == 2  # the official split's validation carve-out
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "require_all" not in error and "attempts," not in error
    assert error.startswith("respira prepare: error: validation_size=0.9: ")
    assert error.endswith("; use a smaller validation_size or another seed")
    output = tmp_path / "two_splits"
    flags = ["--split_strategy", "patient", "--patient_split_fractions", "0.5,0,0.5"]
    assert main([*base, *flags, "--output_dir", str(output)]) == 0, capsys.readouterr().err
    assert sorted(datasets.load_dataset(str(output))) == ["test", "train"]


def test_prepare_overwrite_replaces_the_whole_folder(
    synthetic_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "dataset"
    with staged_folder(output, overwrite=False) as staging:  # an earlier build's
        (staging / "stale.parquet").write_text("from an earlier build")
    flags = [
        "prepare",
        "--data_dir",
        str(synthetic_corpus),
        "--sampling_rate",
        "4000",
        "--output_dir",
        str(output),
    ]
    assert main([*flags, "--cache_dir", str(tmp_path / "cache"), "--overwrite"]) == 0
    assert not (output / "stale.parquet").exists()
    assert "sampling_rate: 4000" in (output / "README.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "dataset"]


def test_errors_are_one_line_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["prepare", "--data_dir", str(tmp_path / "nowhere")])
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("respira prepare: error:")
    assert str(tmp_path / "nowhere") in error
    assert len(error.splitlines()) == 1


def test_prepare_shows_the_cause_of_a_failed_build(
    corpus_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np
    import soundfile as sf

    wav = sorted((corpus_copy / "ICBHI_final_database").glob("*.wav"))[1]
    samples, rate = sf.read(wav, dtype="float32")
    samples[10] = np.nan
    sf.write(wav, samples, rate, subtype="FLOAT")
    code = main(["prepare", "--data_dir", str(corpus_copy), "--cache_dir", str(tmp_path / "cache")])
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == f"respira prepare: error: {wav}: holds NaN or infinite samples"


def test_patient_split_is_suggested_for_copies_without_split_file(
    synthetic_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "kaggle"
    corpus.mkdir()
    (corpus / "audio_and_txt_files").symlink_to(synthetic_corpus / "ICBHI_final_database")
    code = main(["prepare", "--data_dir", str(corpus), "--cache_dir", str(tmp_path / "cache")])
    assert code == 2
    assert "split_strategy='patient'" in capsys.readouterr().err
    code = main(
        [
            "prepare",
            "--data_dir",
            str(corpus),
            "--split_strategy",
            "patient",
            "--cache_dir",
            str(tmp_path / "c"),
        ]
    )
    assert code == 0


@pytest.mark.parametrize("part", ["run", "synthetic_icbhi", "export"])
def test_demo_refuses_a_folder_holding_an_earlier_demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], part: str
) -> None:
    output = tmp_path / "demo"
    (output / part).mkdir(parents=True)
    (output / part / "precious.txt").write_text("an earlier result")
    (output / "notes.txt").write_text("the user's own file")
    assert main(["demo", "--output_dir", str(output)]) == 2
    error = capsys.readouterr().err.strip()
    if part == "synthetic_icbhi":  # the corpus writer would write beside precious.txt: --overwrite works
        assert error == (
            f"respira demo: error: {output} already holds a demo ({part}/); pass --overwrite to replace it, "
            "or choose another --output_dir"
        )
    else:  # --overwrite would refuse a folder without respira's record: so not "pass --overwrite"
        assert error == (
            f"respira demo: error: {output / part} holds no record of what respira wrote in it "
            "(.respira-written: not respira's output, or an older respira's), so respira does not replace "
            "it: move it away or choose another output folder"
        )
    assert sorted(p.name for p in output.iterdir()) == sorted([part, "notes.txt"])
    assert (output / part / "precious.txt").read_text() == "an earlier result"


def test_the_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every stage of `respira demo` (with one epoch instead of the recipe's twelve, and the fewest patients
    it takes), over an earlier demo."""
    from respira.synthetic.plan import MIN_PATIENTS

    with staged_folder(tmp_path / "demo" / "run", overwrite=False) as staging:  # an earlier demo's run
        (staging / "stale.txt").write_text("from an earlier demo")
    (tmp_path / "demo" / "notes.txt").write_text("the user's own file")
    flags = ["--overwrite", "--num_train_epochs", "1", "--n_patients", str(MIN_PATIENTS)]
    code = main(["demo", "--output_dir", str(tmp_path / "demo"), *flags])
    said = capsys.readouterr()
    assert code == 0, said.err[-3000:]
    for stage in range(1, 7):
        assert f"[{stage}/6" in said.out
    assert "test ICBHI score" in said.out
    assert "demo finished" in said.out
    export = tmp_path / "demo" / "export"
    assert sorted(p.name for p in export.iterdir() if p.name != WRITTEN_FILE) == [
        "README.md",
        "checksums.sha256",
        "config.json",
        "metrics.json",
        "model.safetensors",
        "preprocessor_config.json",
        "respira_run.json",  # the run's records travel with the export (the card reads them)
        "trainer_state.json",
    ]
    assert (tmp_path / "demo" / "run" / "evaluation_test" / "confusion_matrix.png").is_file()
    assert not (tmp_path / "demo" / "run" / "stale.txt").exists()
    assert (tmp_path / "demo" / "notes.txt").read_text() == "the user's own file"
    plots = sorted((tmp_path / "demo" / "predictions").glob("*.png"))  # two recordings drawn
    assert len(plots) == 2 and all(plot.name in said.out for plot in plots)
    assert said.out.count("annotated") >= 2  # the tables of predicted vs annotated cycles


# A misspelled option of each command, and the option it should suggest.
MISSPELLED = {
    "prepare": ("--validaton_size", "--validation_size"),
    "evaluate": ("--splt", "--split"),
    "predict": ("--windw", "--window"),
    "screen": ("--chunk_sise", "--chunk_size"),
    "export": ("--with-code", "--with_code"),
    "push": ("--privte", "--private"),
    "convert": ("--widht", "--width"),
    "fit-site": ("--outer_flods", "--outer_folds"),
    "suggest": ("--budegt", "--budget"),
    "bench": ("--cache_dri", "--cache_dir"),
    "app": ("--prot", "--port"),
    "label": ("--lables", "--labels"),
    "detectors": ("--debgu", "--debug"),
}


@pytest.mark.parametrize("command", sorted(MISSPELLED))
def test_every_command_suggests_the_closest_option_and_points_to_its_own_help(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong, right = MISSPELLED[command]
    assert main([command, wrong, "1"]) == 2
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1, error
    assert error.startswith(f"respira {command}: error: unrecognized arguments: {wrong}")
    assert f"did you mean {right}" in error and error.rstrip().endswith(f"(see respira {command} --help)")


def test_every_command_is_covered_by_the_misspelling_test() -> None:
    from respira.commands import COMMANDS

    commands = {module.replace("_", "-") for module in COMMANDS}  # fit_site.py is respira fit-site
    assert commands - {"train", "demo"} == set(MISSPELLED)  # those: the recipe check


@pytest.mark.parametrize("command", [["train"], ["demo"]])
def test_recipe_commands_suggest_recipe_fields(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--learnig_rate", "3"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"respira {command[0]}: error: unrecognized arguments: --learnig_rate")
    assert "(did you mean --learning_rate?)" in error and error.rstrip().endswith("--help)")


@pytest.mark.parametrize(
    ("command", "wrong", "right"),
    [("demo", "--outptu_dir", "--output_dir"), ("train", "--lr", "--learning_rate")],
)  # fmt: skip
def test_recipe_commands_suggest_their_own_options_first(
    command: str, wrong: str, right: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command's own options come before recipe fields, and the check comes before any other."""
    assert main([command, wrong, "3"]) == 2
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1, error
    assert error == (
        f"respira {command}: error: unrecognized arguments: {wrong} (did you mean {right}?) "
        f"(see respira {command} --help)\n"
    )


@pytest.mark.parametrize(
    "flags",
    [
        ["--n_patients", "3"],
        ["--learning_rate", "-1"],
        ["--split_strategy", "by_magic"],
        ["--lerning_rate", "1"],
    ],
)
def test_demo_checks_every_option_before_writing_anything(
    flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "demo"
    assert main(["demo", "--output_dir", str(output), *flags]) == 2
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1 and error.startswith("respira demo: error:"), error
    assert not output.exists()


def test_a_bool_flag_before_the_recipe_does_not_eat_it(tmp_path: Path, capsys) -> None:
    recipe = Path(__file__).parents[1] / "recipes" / "cnn_ce.yaml"
    missing = tmp_path / "missing"
    for flags in (
        ["--overwrite", str(recipe)],
        [str(recipe), "--overwrite"],
        ["--overwrite", "true", str(recipe)],
    ):
        assert main(["train", *flags, "--data_dir", str(missing), "--output_dir", str(tmp_path / "run")]) == 2
        error = capsys.readouterr().err
        assert f"'{missing}' does not exist" in error, (flags, error)  # the recipe was read, data checked


def test_a_recipe_after_the_folders_of_data_dir_is_the_recipe(synthetic_corpus: Path) -> None:
    from respira.cli import parse_command_line

    recipe = str(Path(__file__).parents[1] / "recipes" / "cnn_ce.yaml")
    folder = str(synthetic_corpus)
    for flags, folders in (([folder], folder), ([folder, folder + "/."], [folder, folder + "/."])):
        for argv in (["--data_dir", *flags, recipe], ["--data_dir", *flags, recipe, "--output_dir", "o"]):
            parsed = parse_command_line(["train", *argv])
            assert (parsed.recipe, parsed.data_dir) == (recipe, folders), argv


def test_recipes_named_in_the_docs_and_help_exist(capsys: pytest.CaptureFixture[str]) -> None:
    import re

    root = Path(__file__).parents[1]
    pages = [root / "README.md", root / "CONTRIBUTING.md", *sorted((root / "docs").rglob("*.md"))]
    texts = [page.read_text() for page in pages]
    assert main(["train", "--help"]) == 0
    texts.append(capsys.readouterr().out)
    named = set(re.findall(r"recipes/[\w./-]+?\.ya?ml", "\n".join(texts)))
    assert "recipes/cnn_ce.yaml" in named
    assert not [name for name in sorted(named) if not (root / name).is_file()]


# One fresh `respira` process (``respira.__main__`` first, as the command imports it) for the tests of what
# a command's process imports and prints: `respira --help` and `respira label --help` (what each imported),
# `respira screen MISSING` (whether the model classes were registered: a module imported stays imported, so
# "False" holds for the refusal whatever ran before it), then two `respira convert` runs whose command only
# warns, each a fresh `main` (pytest records warnings instead of letting them reach stderr). A marker line on
# both streams ends each part.
ONE_PROCESS = """
import contextlib, sys, warnings
sys.argv[0] = "respira"  # the installed script's process (import respira registers no models there)
from respira.__main__ import main  # the command's entry point
from respira.commands import COMMANDS

def imported():
    commands = [name for name in COMMANDS if f"respira.commands.{name}" in sys.modules]
    models = ("torch", "respira.models.respira.modeling_respira")
    return [*commands, *(name for name in models if name in sys.modules)]

def part_over():
    print("--- part over", flush=True)
    print("--- part over", file=sys.stderr, flush=True)

with contextlib.suppress(SystemExit):
    main(["--help"])
print("imported:", imported())
with contextlib.suppress(SystemExit):
    main(["label", "--help"])
print("imported:", imported())
part_over()
with contextlib.suppress(SystemExit):
    main(["screen", sys.argv[1], "--output", sys.argv[2]])
print("registered:", "respira.models.respira.configuration_respira" in sys.modules)
part_over()

from respira.commands import convert
from respira.metrics.icbhi import icbhi_scores

def noisy(args):
    for _ in range(2):
        warnings.warn("unclosed event loop", ResourceWarning, stacklevel=1)
        warnings.warn("old API", DeprecationWarning, stacklevel=1)
        warnings.warn("3 cycles clipped", UserWarning, stacklevel=1)
    return 0

def evaluations(args):  # as in `respira demo`: every evaluation scores an undefined precision, and code
    for _ in range(3):  # between them enters catch_warnings(), which clears the registries "once" keeps
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
        icbhi_scores([0, 1, 0], [0, 0, 0])  # nothing predicted crackle: its precision is undefined
    return 0

codes = []
for command in (noisy, evaluations):
    convert.run = command
    codes.append(main(["convert", "beats", "in.pt", "out"]))
    part_over()
raise SystemExit(max(codes))
"""


@pytest.fixture(scope="module")
def one_process(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str] | Path]:
    """ONE_PROCESS's parts: ``stdout`` and ``stderr`` (each a list, one item a part: help, screen, the two
    convert runs), and the ``missing`` source screen was given."""
    folder = tmp_path_factory.mktemp("one_process")
    missing, output = folder / "missing", folder / "screen.parquet"
    result = subprocess.run(
        [sys.executable, "-c", ONE_PROCESS, str(missing), str(output)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr
    split = {name: text.split("--- part over\n") for name, text in (("stdout", result.stdout),
                                                                     ("stderr", result.stderr))}  # fmt: skip
    assert [len(parts) for parts in split.values()] == [5, 5], result.stderr
    return {**split, "missing": missing}


def test_a_command_prints_each_user_warning_once_and_no_developer_warnings(one_process: dict) -> None:
    assert one_process["stderr"][2] == "warning: 3 cycles clipped\n"


def test_a_metric_warning_repeated_across_evaluations_is_printed_once(one_process: dict) -> None:
    lines = one_process["stderr"][3].splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: metric(s) with an empty denominator"), lines


def test_no_help_text_carries_restructuredtext_markup() -> None:
    """A terminal (and the command-line reference, which escapes markup) shows ``respira`` literally."""
    import argparse

    from respira.cli import build_parser

    def texts(parser: argparse.ArgumentParser) -> list[str]:
        found = [parser.description or "", parser.epilog or ""]
        for action in parser._actions:
            found.append(str(action.help or ""))
            if isinstance(action, argparse._SubParsersAction):
                found += [str(choice.help or "") for choice in action._choices_actions]
                found += [text for command in action.choices.values() for text in texts(command)]
        return found

    assert [text for text in texts(build_parser()) if "``" in text] == []


def test_the_command_line_reads_no_argparse_internals() -> None:
    """The CLI, its commands and the Python API use argparse's public interface only: a parser's options
    are what :class:`respira.cli._Parser` kept as they were added (``options``), not ``_actions``."""
    import respira

    root = Path(respira.__file__).parent
    sources = [
        root / "cli.py",
        root / "api.py",
        root / "options.py",
        *sorted((root / "commands").glob("*.py")),
    ]
    internals = re.compile(
        r"\._(?:option_string_actions|actions|action_groups|group_actions|choices_actions)\b"
    )
    found = [f"{path.name}: {match}" for path in sources for match in internals.findall(path.read_text())]
    assert found == []
    from respira.cli import build_parser

    parser = build_parser()
    export = parser.commands["export"]
    assert {"--overwrite", "--with_code", "--debug", "-h"} <= set(export.options)
    assert parser.commands["train"].field_names >= {"--max_steps", "--learning_rate"}


def test_help_imports_only_the_command_it_shows(one_process: dict) -> None:
    """``respira --help`` lists every command (with its line) without importing any command's module,
    torch or respira's models; ``respira label --help`` imports the label command's module alone."""
    stdout = one_process["stdout"][0]
    listing = " ".join(stdout.split("label [-h]")[0].split())
    assert all(f"{name} {' '.join(line.split())}" in listing for name, line in command_lines().items())
    imported = [line for line in stdout.splitlines() if line.startswith("imported:")]
    assert imported == ["imported: []", "imported: ['label']"]


def test_a_command_refusing_its_input_does_not_register_the_model_classes(one_process: dict) -> None:
    """Validate first: ``respira screen MISSING`` answers before the model folder's config is imported (it
    registers transformers' Auto classes: seconds a wrong path need not cost)."""
    assert f"SOURCE {one_process['missing']} not found" in one_process["stderr"][1]
    assert one_process["stdout"][1].split() == ["registered:", "False"]
