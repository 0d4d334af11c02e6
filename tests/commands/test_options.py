"""The options several commands share (``respira.options``): each command's --help shows them
with their one help text, and they parse as before."""

from __future__ import annotations

import re

import pytest

from respira.cli import build_parser, main, model_or_default

DEVICE_HELP = "torch device (default: cuda if available, else cpu; on cuda: full float32, no TF32)"
MODEL_HELP = (
    "model folder, a shipped detector's name (`respira detectors`) or Hugging Face Hub id "
    "(default: respira's shipped detector, icbhi-crackle-wheeze)"
)
MODEL_COMMANDS = {
    "evaluate": MODEL_HELP,
    "predict": MODEL_HELP,
    "screen": MODEL_HELP,
    "app": "model folder, exported ONNX folder, a shipped detector's name or Hub id (default: respira's "
    "shipped detector, icbhi-crackle-wheeze)",
}


def _help(command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "200")  # one line per option: the checks read whole lines
    assert main([command, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", MODEL_COMMANDS)
def test_help_shows_model_and_device_once_with_their_help(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _help(command, capsys, monkeypatch)
    usage = text.split("\n\n")[0]
    assert usage.startswith(f"usage: respira {command} ") and re.search(r"\bMODEL\b", usage)
    assert re.search(rf"^  MODEL\s+{re.escape(MODEL_COMMANDS[command])}$", text, re.MULTILINE)
    devices = re.findall(rf"^  --device DEVICE\s+{re.escape(DEVICE_HELP)}$", text, re.MULTILINE)
    assert len(re.findall(r"^  --device DEVICE\s", text, re.MULTILINE)) == len(devices) == (command != "app")


@pytest.mark.parametrize(
    ("command", "option", "help_start"),
    [
        ("evaluate", "--thresholds", "multi-label models: decision thresholds"),
    ],
)
def test_crackle_wheeze_pairs_show_both_names_and_parse_two_numbers(
    command: str,
    option: str,
    help_start: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = _help(command, capsys, monkeypatch)
    assert re.search(rf"^  {option} CRACKLE WHEEZE\s+{re.escape(help_start)}", text, re.MULTILINE)
    required = {"predict": ["a.wav"]}.get(command, [])
    args = build_parser().parse_args([command, "m", *required, option, "0.25", "0.5", "--device", "cpu"])
    assert (args.model, getattr(args, option[2:]), args.device) == ("m", [0.25, 0.5], "cpu")


def _predict_args(*positionals: str):
    return build_parser().parse_args(["predict", *positionals])


def test_predict_without_a_model_runs_the_shipped_detector(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    from respira.cli import model_or_default
    from respira.pretrained import default_detector_dir

    recording = tmp_path / "a.wav"
    recording.write_bytes(b"")
    args = _predict_args(str(recording))
    assert (args.model, args.files) == (None, [str(recording)])
    assert model_or_default(args, "files") == str(default_detector_dir())
    assert "respira's shipped detector icbhi-crackle-wheeze" in capsys.readouterr().err
    # two recordings: argparse hands the first to MODEL; an existing file there is a recording
    args = _predict_args(str(recording), "b.wav")
    assert model_or_default(args, "files") == str(default_detector_dir())
    assert args.files == [str(recording), "b.wav"]
    capsys.readouterr()
    # a model folder (or a Hub id) stays the model, and nothing is said
    args = _predict_args(str(tmp_path), str(recording))
    assert model_or_default(args, "files") == str(tmp_path) and args.files == [str(recording)]
    assert capsys.readouterr().err == ""


def test_app_without_a_model_serves_the_shipped_detector() -> None:
    from respira.cli import model_or_default
    from respira.pretrained import default_detector_dir

    args = build_parser().parse_args(["app", "--port", "7861"])
    assert args.model is None
    assert model_or_default(args) == str(default_detector_dir())


def test_screen_without_a_model_screens_with_the_shipped_detector(tmp_path) -> None:
    from respira.cli import model_or_default
    from respira.pretrained import default_detector_dir

    args = build_parser().parse_args(["screen", str(tmp_path), "--output_dir", str(tmp_path / "out")])
    assert (args.model, args.source) == (None, str(tmp_path))
    assert model_or_default(args) == str(default_detector_dir())
    args = build_parser().parse_args(["screen", "user/model", str(tmp_path), "--output_dir", "o"])
    assert (args.model, args.source) == ("user/model", str(tmp_path))


COMMAND_LINES = {
    "evaluate": ["evaluate", "--data_dir", "d"],
    "screen": ["screen", "d", "--output_dir", "o"],
    "app": ["app"],
    "predict": ["predict", "a.wav"],
}


@pytest.mark.parametrize("command", sorted(COMMAND_LINES))
def test_every_command_that_takes_a_model_runs_the_shipped_detector_without_one(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from respira.cli import run_command
    from respira.pretrained import default_detector_dir

    assert set(COMMAND_LINES) == {
        name for name in MODEL_COMMANDS if "model" in vars(build_parser().parse_args(COMMAND_LINES[name]))
    }
    args = build_parser().parse_args(COMMAND_LINES[command])
    assert args.model is None
    seen = []
    args.handler = lambda parsed: seen.append(parsed.model)
    run_command(args)
    assert seen == [str(default_detector_dir())]
    assert "model: respira's shipped detector icbhi-crackle-wheeze" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(COMMAND_LINES))
def test_a_shipped_detectors_name_is_a_model_name_everywhere(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from respira.cli import run_command
    from respira.pretrained import default_detector_dir

    line = COMMAND_LINES[command]
    args = build_parser().parse_args([line[0], "icbhi-crackle-wheeze", *line[1:]])
    assert args.model == "icbhi-crackle-wheeze"
    seen = []
    args.handler = lambda parsed: seen.append(parsed.model)
    run_command(args)
    assert seen == [str(default_detector_dir())]
    assert "respira's shipped detector icbhi-crackle-wheeze" in capsys.readouterr().err


def test_recordings_in_the_model_slot_go_back_to_the_files(tmp_path) -> None:
    from respira.pretrained import default_detector_dir

    args = _predict_args("missing.wav", "b.flac")  # not there yet: still a recording, not a Hub id
    assert model_or_default(args, "files") == str(default_detector_dir())
    assert args.files == ["missing.wav", "b.flac"]
    args = _predict_args("icbhi-crackle-wheeze", "b.wav")
    assert model_or_default(args, "files") == str(default_detector_dir()) and args.files == ["b.wav"]


def test_detectors_lists_each_shipped_detector_with_its_training_corpora(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from respira.pretrained import default_detector_dir
    from respira.records.sites import label_sites_words, site_verdicts

    assert main(["detectors"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "trained", "on", "serves,", "per", "label", "folder"]
    serves = label_sites_words(site_verdicts(default_detector_dir()))  # per label, from its records
    assert serves.startswith("crackle: ") and "; wheeze: " in serves
    fitted = "its head fitted to icbhi (65 patients) as choose_detector.json chose"  # issue 83's head
    folder = str(default_detector_dir())
    assert lines[2].split() == [
        "icbhi-crackle-wheeze", "(default)", "icbhi;", *fitted.split(), *serves.split(), folder
    ]  # fmt: skip


def test_no_aggregation_flag_means_the_models_own_rule() -> None:
    """Without --aggregation, a command decides by the rule the model's config names (fit-site writes it);
    a flag overrides it."""
    from argparse import Namespace

    from respira.models.respira.decision import aggregation_of
    from respira.options import aggregation_options

    config = {"recording_aggregation": "topk_mean", "recording_top_k": 2}
    assert aggregation_options(Namespace(aggregation=None, top_k=None)) == (None, None)
    assert aggregation_of(config) == ("topk_mean", 2)
    assert aggregation_of({}) == ("max", None)
    assert aggregation_options(Namespace(aggregation="mean", top_k=None)) == ("mean", None)


# (command, option): a default of its own, and why
OWN_DEFAULTS = {
    ("fit-site", "batch_size"): "by device, as screening batches (8 on the CPU, 64 on a GPU)",
    ("suggest", "batch_size"): "fit-site's (its embedding pass)",
    ("bench", "batch_size"): "fit-site's (its embedding pass)",
    ("screen", "batch_size"): "by device (a small batch stays in the CPU's cache)",
    ("fit-site", "dataset"): "a labelled folder (labels.csv), what a site has",
    ("demo", "output_dir"): "demo_output, the folder the demo makes",
}


def test_each_shared_option_has_one_default_and_every_command_reads_dataclasses() -> None:
    """The options several commands take (``SHARED_OPTIONS``) default alike, ``--batch_size`` to the windows'
    ``DEFAULT_BATCH_SIZE``; every command with options parses them from one dataclass (``HfArgumentParser``;
    evaluate's groups: one each), the recording rule's fields declared once."""
    from respira.models.respira.windows import DEFAULT_BATCH_SIZE
    from respira.options import SHARED_OPTIONS

    assert SHARED_OPTIONS["batch_size"][0] == DEFAULT_BATCH_SIZE
    commands = build_parser().commands
    defaults = {
        (name, option): command.get_default(option)
        for name, command in commands.items()
        for option in SHARED_OPTIONS
        if f"--{option}" in set(command.options) - command.field_names  # not a recipe field (train)
        and (name, option) not in OWN_DEFAULTS
    }
    differing = {key: value for key, value in defaults.items() if value != SHARED_OPTIONS[key[1]][0]}
    assert differing == {}
    assert {name for name, option in defaults if option == "batch_size"} >= {"predict", "evaluate"}
    assert {name for name, command in commands.items() if not command.dataclass_types} == {
        "train",  # the recipe dataclasses, through their flag parser
        "detectors",  # no options
    }
    several = {name for name, command in commands.items() if len(command.dataclass_types) > 1}
    assert several == {"evaluate"}  # its sliding-window corpora's group: a dataclass of their own
    for option in ("--aggregation", "--top_k"):  # the recording rule: one declaration of each field
        actions = [commands[name].options[option] for name in ("predict", "screen", "evaluate")]
        assert len({(a.help, a.default, tuple(a.choices or ()), a.type) for a in actions}) == 1, option


def test_export_and_push_spell_shipping_the_code_one_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--with_code`` of export and push (one option, ``respira.options.with_code_option``): push ships
    the code unless ``--with_code false``; no ``--no_code``."""
    import respira.hub

    commands = build_parser().commands
    assert "--with_code" in commands["export"].options and "--with_code" in commands["push"].options
    assert not any("no_code" in option for command in commands.values() for option in command.options)
    shipped: list[bool] = []
    monkeypatch.setattr("respira.hub.push.check_push_target", lambda *args, **kwargs: None)
    monkeypatch.setattr(respira.hub, "push_run", lambda *args, **kwargs: shipped.append(kwargs["with_code"]))
    for flags in ([], ["--with_code"], ["--with_code", "false"]):
        assert main(["push", "run", "user/model", *flags]) == 0
    assert shipped == [True, True, False]
