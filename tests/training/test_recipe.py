"""transformers' `run_audio_classification.py` argument names: accepted as flags and recipe keys for the
respira fields of the same meaning, shown beside them in `--help`; --model_name_or_path alone picks the
encoder family from the checkpoint's config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from respira.cli import main
from respira.training.recipe import TRANSFORMERS_NAMES, parse_recipe, read_recipe


def _checkpoint(tmp_path: Path, model_type: str) -> Path:
    folder = tmp_path / model_type
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
    return folder


def test_transformers_flags_set_the_respira_fields(tmp_path: Path) -> None:
    checkpoint = _checkpoint(tmp_path, "audio-spectrogram-transformer")
    model, data, _, _ = parse_recipe(
        None,
        ["--model_name_or_path", str(checkpoint), "--max_length_seconds", "2.5", "--freeze_feature_encoder",
         "true", "--audio_column_name", "sound",
         "--label_column_name", "class", "--dataset_name", "user/icbhi"],
        given={"output_dir": str(tmp_path / "run")},
    )  # fmt: skip
    assert model.encoder_name_or_path == str(checkpoint)
    assert model.encoder == "ast"  # read from the checkpoint's config.json
    assert model.target_seconds == 2.5 and (model.freeze_feature_encoder, model.freeze_encoder) == (
        True,
        False,
    )
    assert (data.audio_column_name, data.label_column_name, data.dataset_name) == (
        "sound",
        "class",
        "user/icbhi",
    )


def test_an_explicit_encoder_wins_and_an_unknown_checkpoint_keeps_the_default(tmp_path: Path) -> None:
    checkpoint = _checkpoint(tmp_path, "audio-spectrogram-transformer")
    model, *_ = parse_recipe(None, ["--model_name_or_path", str(checkpoint), "--encoder", "beats"])
    assert model.encoder == "beats"
    model, *_ = parse_recipe(None, ["--model_name_or_path", str(_checkpoint(tmp_path, "bert"))])
    assert model.encoder == "cnn"  # no respira family: the model checks then say what is wrong


def test_transformers_names_in_a_recipe(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"max_length_seconds": 4.0, "freeze_feature_encoder": True}))
    model, *_ = parse_recipe(recipe)
    assert model.target_seconds == 4.0 and (model.freeze_feature_encoder, model.freeze_encoder) == (
        True,
        False,
    )
    recipe.write_text(yaml.safe_dump({"max_length_seconds": 4.0, "target_seconds": 2.0}))
    with pytest.raises(ValueError, match="max_length_seconds and target_seconds name the same option"):
        parse_recipe(recipe)
    recipe.write_text("pooling: mean\nmax_length_seconds: oops\n")
    with pytest.raises(
        ValueError, match=r"recipe.yaml:2: argument --target_seconds.*: invalid float value: 'oops'"
    ):
        parse_recipe(recipe)  # the line of the transformers name


def test_help_shows_both_names(capsys) -> None:
    assert main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    for transformers_name, respira_name in TRANSFORMERS_NAMES.items():
        assert f"--{respira_name} " in text and f"--{transformers_name} " in text
    for name in ("--dataset_name", "--dataset_config_name", "--audio_column_name", "--label_column_name"):
        assert name in text


FLOW = "while parsing a flow sequence; expected ',' or ']', but got '<stream end>'"
TAB = "while scanning for the next token; found character '\\t' that cannot start any token"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("learning_rate: 1e-4\nseeds: [1, 2\n", f"recipe.yaml:3:1: not valid YAML: {FLOW}"),
        (
            "learning_rate: 1e-4\n  seed: 3\n",
            "recipe.yaml:2:7: not valid YAML: mapping values are not allowed here",
        ),
        ("encoder: cnn\n\tseed: 3\n", f"recipe.yaml:2:1: not valid YAML: {TAB}"),
    ],
)
def test_a_recipe_that_does_not_parse_is_one_line_naming_its_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(text)
    with pytest.raises(ValueError) as error:
        read_recipe(recipe)
    message = str(error.value)
    assert message == f"{tmp_path}/{expected}"
    assert "<unicode string>" not in message and "\n" not in message


def test_recipe_files_and_flags_share_one_home_for_their_keys(tmp_path: Path) -> None:
    """A recipe file and a flag get the same unknown-key hints (one home: respira.training.recipe)."""
    from respira.training.recipe import field_suggestions

    assert field_suggestions("lr") == ["learning_rate"]
    assert field_suggestions("learnin_rate")[0] == "learning_rate"
    path = tmp_path / "typo.yaml"
    path.write_text("learnin_rate: 0.1\n")
    with pytest.raises(
        ValueError, match=r"unknown option\(s\) in .*typo.yaml: 'learnin_rate' \(did you mean learning_rate"
    ):
        read_recipe(path)
    with pytest.raises(
        ValueError,
        match=r"^unrecognized arguments: --learnin_rate \(did you mean --learning_rate\?\)$",
    ):
        parse_recipe(None, ["--learnin_rate", "0.1"])


def test_a_recipe_mapping_is_read_as_its_yaml_file_is(tmp_path: Path) -> None:
    """respira.train's recipe dict: Python values (a path, a tuple) as YAML holds them, checked as a file's
    keys and values are, its errors naming the mapping."""
    from respira.training.recipe import as_recipe

    path = tmp_path / "recipe.yaml"
    path.write_text(
        "data_dir: /data/icbhi\nseeds: [0, 1]\nmax_length_seconds: 2.5\naux_loss_options: {margin: 1}\n"
    )
    given = {
        "data_dir": Path("/data/icbhi"),
        "seeds": (0, 1),
        "max_length_seconds": 2.5,
        "aux_loss_options": {"margin": 1},
    }
    assert as_recipe(given).options == read_recipe(path).options
    assert parse_recipe(given) == parse_recipe(path)
    assert as_recipe(read_recipe(path)) == read_recipe(path)
    with pytest.raises(
        ValueError, match=r"^unknown option\(s\) in the recipe mapping: 'lr' \(did you mean learning_rate"
    ):
        as_recipe({"lr": 0.1})
    with pytest.raises(ValueError, match=r"^the recipe mapping: argument --seed: invalid int value: 'x'$"):
        parse_recipe({"seed": "x"})
    with pytest.raises(ValueError, match=r"^the recipe mapping: learning_rate cannot be null$"):
        parse_recipe({"learning_rate": None})
    assert parse_recipe({"projector_dim": None})[0].projector_dim is None  # null: the field's None
    with pytest.raises(
        ValueError, match="a recipe is a YAML file's path or a mapping of option: value, got a list"
    ):
        parse_recipe([("seed", 1)])
