"""What each option measured: every option classified, every section a heading of the results history, the
verdict in every help, and no option the runs found to hurt shipped as a default."""

from __future__ import annotations

import argparse
import json
import re
import unicodedata
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import pytest
import yaml
from transformers import TrainingArguments

from respira.cli import build_parser, main
from respira.measured import (
    HISTORY,
    MEASURED,
    MECHANICAL,
    VERDICTS,
    Measurement,
    note,
    split_note,
    with_note,
)
from respira.training.recipe import COMMON_TRAINING_OPTIONS, DATACLASSES

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP_RECIPE = ROOT / "recipes" / "efficientat_frozen_multilabel.yaml"
SHIPPED_RUN = ROOT / "src" / "respira" / "pretrained" / "icbhi-crackle-wheeze" / "respira_run.json"


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a Markdown file's headings: lower case, every character but letters, marks,
    digits, ``_``, ``-`` and spaces dropped, spaces made hyphens, a repeated anchor numbered ``-1``, ``-2``;
    lines inside fenced code blocks are no headings."""
    anchors: list[str] = []
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        heading = None if fenced else re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading is None:
            continue
        kept = (
            char
            for char in heading.group(1).lower()
            if char in " -" or unicodedata.category(char)[0] in "LMN" or unicodedata.category(char) == "Pc"
        )
        anchor = "".join(kept).replace(" ", "-")
        repeats = sum(1 for earlier in anchors if re.fullmatch(rf"{re.escape(anchor)}(-\d+)?", earlier))
        anchors.append(anchor if repeats == 0 else f"{anchor}-{repeats}")
    return set(anchors)


def test_heading_anchors_are_githubs() -> None:
    text = "# A b\n## `respira predict --plot` on 2 h (`x/y.py`)\n```\n# no heading\n```\n"
    text += "### Reading\n### Reading\n"
    assert heading_anchors(text) == {"a-b", "respira-predict---plot-on-2-h-xypy", "reading", "reading-1"}
    # BENCHMARKS.md's links into the history (written for GitHub) all resolve with it
    benchmarks = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(docs/history/([\w-]+\.md)#([^)]+)\)", benchmarks)
    assert links
    for page, anchor in links:
        assert anchor in heading_anchors((ROOT / HISTORY / page).read_text(encoding="utf-8")), (page, anchor)


def _recipe_fields() -> set[str]:
    """The recipe fields ``respira train --help`` lists: respira's own and the common TrainingArguments."""
    trainer = {item.name for item in fields(TrainingArguments)}
    own = {item.name for cls in DATACLASSES for item in fields(cls) if item.init} - trainer
    return own | set(COMMON_TRAINING_OPTIONS)


def _command_options() -> dict[str, set[str]]:
    """Each command's options (and positional arguments) by name, as ``respira CMD --help`` lists them."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    return {
        name: {
            action.dest
            for action in command._actions
            if action.help != argparse.SUPPRESS and not isinstance(action, argparse._HelpAction)
        }
        for name, command in commands.items()
    }


def test_every_option_is_measured_or_mechanical() -> None:
    options = {f"recipe field {name}": name for name in _recipe_fields()}
    options.update(
        {f"respira {cmd} --{name}": name for cmd, names in _command_options().items() for name in names}
    )
    unclassified = sorted(
        where for where, name in options.items() if name not in MEASURED and name not in MECHANICAL
    )
    assert not unclassified, (
        f"add each to respira.measured (MEASURED or MECHANICAL): {', '.join(unclassified)}"
    )
    assert not set(MEASURED) & MECHANICAL
    stale = (set(MEASURED) | MECHANICAL) - set(options.values())
    assert not stale, f"respira.measured names options no command or recipe has: {sorted(stale)}"


def test_every_verdict_names_a_section_of_the_history() -> None:
    for name, measurements in MEASURED.items():
        for measurement in measurements:
            assert measurement.verdict in VERDICTS, (name, measurement)
            page, _, anchor = measurement.section.partition("#")
            path = ROOT / HISTORY / page
            assert path.is_file(), f"{name}: no page {HISTORY}/{page}"
            assert anchor in heading_anchors(path.read_text(encoding="utf-8")), (
                f"{name}: no heading of {HISTORY}/{page} has #{anchor}"
            )


def test_note_words_the_verdicts_and_their_sections() -> None:
    out_of_domain = (
        "docs/history/new-site.md#where-the-out-of-domain-score-is-lost-decision-ceilings-linear-probes-"
    )
    assert note("head_hidden_size").startswith(f"Measured: hurt ({out_of_domain}")
    assert note("pooling").startswith(
        "Measured: autopool: mixed (docs/history/events.md#frame-level-training"
    )
    two = note("aux_loss")  # two values measured in two sections: each with its own
    assert two.startswith("Measured: add: no effect (docs/history/in-domain.md#the-real-data-study")
    assert "; stethoscope_supcon: hurt (docs/history/sites.md#the-encoder-fine-tuned" in two
    selection = note("selection")  # one value measured
    assert selection.startswith("Measured: bonferroni: mixed (docs/history/fit-site.md#thresholds-from")
    lowpass = note("lowpass_cutoff")  # two values measured in two sections: each with its own
    pattern = (
        r"Measured: 4000: no effect \(docs/history/in-domain.md#efficientat-at-16-khz[^)]*\); 2000: hurt "
    )
    assert re.fullmatch(
        pattern + r"\(docs/history/new-site.md#the-band-every-stethoscope[^)]*\)\.", lowpass
    ), lowpass
    assert note("learning_rate") == "Not measured."
    assert note("output_dir") == "" and note("no_such_option") == ""


def test_with_note_appends_once_and_split_note_takes_it_off() -> None:
    text = with_note("head_hidden_size", "a shared layer (default: unset)")
    assert text == f"a shared layer (default: unset). {note('head_hidden_size')}"
    assert with_note("head_hidden_size", text) == text
    assert split_note(text) == ("a shared layer (default: unset)", note("head_hidden_size"))
    assert with_note("learning_rate", "") == "Not measured."
    assert split_note("Measured: on held-out children, it lowered F1") == (
        "Measured: on held-out children, it lowered F1",
        "",
    )
    assert with_note("output_dir", "write here") == "write here"


def test_recipe_fields_help_ends_with_its_note() -> None:
    from respira.training.recipe import recipe_flags

    measured = _recipe_fields() - set(COMMON_TRAINING_OPTIONS)
    for flag in recipe_flags():
        if flag.dest in MEASURED and flag.dest in measured and flag.options.get("help") != argparse.SUPPRESS:
            assert flag.options["help"].replace("%%", "%").endswith(note(flag.dest)), flag.dest


def _option_helps(command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> dict:
    """``respira COMMAND --help``'s entries by option, each with its whitespace removed (argparse wraps
    long anchors at their hyphens)."""
    monkeypatch.setenv("COLUMNS", "100")
    assert main([command, "--help"]) == 0
    entries = re.split(r"\n  (?=\S)", capsys.readouterr().out)
    return {
        entry.split()[0].rstrip(","): re.sub(r"\s+", "", entry) for entry in entries if entry.startswith("-")
    }


@pytest.mark.parametrize(
    ("command", "option", "shown"),
    [
        ("train", "--head_hidden_size", True),
        ("train", "--threshold_source", True),
        ("train", "--pooling", True),
        ("train", "--learning_rate", True),
        ("predict", "--aggregation", True),
        ("predict", "--events", True),
        ("fit-site", "--apply_anyway", True),
        ("prepare", "--lowpass_cutoff", True),
        ("train", "--output_dir", False),
        ("predict", "--device", False),
        ("screen", "--onnx", False),
    ],
)
def test_help_shows_what_was_measured(
    command: str,
    option: str,
    shown: bool,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = _option_helps(command, capsys, monkeypatch)[option]
    if shown:
        assert entry.endswith(re.sub(r"\s+", "", note(option[2:]))), entry
    else:
        assert "Measured:" not in entry and "Notmeasured." not in entry, entry


def test_recipe_flag_help_ends_with_the_default_then_the_note(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    helps = _option_helps("train", capsys, monkeypatch)
    hidden = helps["--head_hidden_size"]
    assert "(default:unset).Measured:hurt(docs/history/new-site.md#where-the-out-of-domain" in hidden
    assert (
        "(default:mean).Measured:autopool:mixed(docs/history/events.md#frame-level-training"
        in helps["--pooling"]
    )
    assert helps["--learning_rate"].endswith("(default:5e-05).Notmeasured.")


def _is_setting(value: Any, measurement: Measurement) -> bool:
    """Whether an option's ``value`` is the one ``measurement`` measured (``None``: turned on at all)."""
    if measurement.value is None:
        return value not in (None, False, 0, 0.0, "", (), [])
    if isinstance(value, (list, tuple)):
        return any(_is_setting(item, measurement) for item in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value) == float(measurement.value)
        except ValueError:
            return False
    return str(value).lower() == measurement.value.lower()


def _hurt() -> list[tuple[str, Measurement]]:
    return [(name, m) for name, ms in MEASURED.items() for m in ms if m.verdict == "hurt"]


def test_hurt_covers_what_benchmarks_drops() -> None:
    hurt = {(name, m.value) for name, m in _hurt()}
    assert {("head_hidden_size", None), ("aux_loss", "stethoscope_supcon")} <= hurt


def test_no_option_measured_to_hurt_is_a_shipped_default() -> None:
    defaults: dict[str, Any] = {}
    for cls in DATACLASSES:
        for item in fields(cls):
            if item.default is not MISSING:
                defaults[item.name] = item.default
            elif item.default_factory is not MISSING:
                defaults[item.name] = item.default_factory()
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    command_defaults = [
        (f"respira {cmd} --{action.dest}", action.dest, action.default)
        for cmd, command in commands.items()
        for action in command._actions
        if action.default is not argparse.SUPPRESS
    ]
    flagship = yaml.safe_load(FLAGSHIP_RECIPE.read_text(encoding="utf-8"))
    record = json.loads(SHIPPED_RUN.read_text(encoding="utf-8"))
    shipped = {**record["data"], **record["model"]["options"], **record["training"]["hyperparameters"]}
    assert shipped["head_norm"] is True and shipped["threshold_source"] == "cross_fit"  # the record is read
    sources = [
        *((f"recipe field {name}", name, value) for name, value in defaults.items()),
        *command_defaults,
        *((f"{FLAGSHIP_RECIPE.name}: {name}", name, value) for name, value in flagship.items()),
        *((f"the shipped detector's {name}", name, value) for name, value in shipped.items()),
    ]
    hurt = dict.fromkeys(name for name, _ in _hurt())
    checked = [(where, name, value) for where, name, value in sources if name in hurt]
    assert {name for _, name, _ in checked} >= {"head_hidden_size", "aux_loss", "lowpass_cutoff"}
    shipped_hurt = [
        f"{where} = {value!r} ({m.section})"
        for where, name, value in checked
        for measured_name, m in _hurt()
        if measured_name == name and _is_setting(value, m)
    ]
    assert not shipped_hurt, f"measured to hurt, yet shipped: {shipped_hurt}"


def test_the_default_check_would_catch_a_hurt_default() -> None:
    hidden = next(m for name, m in _hurt() if name == "head_hidden_size")
    assert _is_setting(128, hidden) and not _is_setting(None, hidden)
    supcon = next(m for name, m in _hurt() if name == "aux_loss")
    assert _is_setting("stethoscope_supcon", supcon) and not _is_setting(None, supcon)
    lowpass = next(m for name, m in _hurt() if name == "lowpass_cutoff")
    assert _is_setting(2000, lowpass) and _is_setting(2000.0, lowpass) and not _is_setting(4000, lowpass)
