"""Options as dataclasses (:mod:`respira.options`): Python keyword arguments read as the command line reads
their flags, with the same one-line refusals."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_python_values_are_read_as_the_command_line_reads_their_flags() -> None:
    """respira.train / respira.evaluate's keyword arguments: each converted and checked by its option's own
    type and choices, with no command line in between, to what parsing the flags gives."""
    from respira.cli import CommandLineError, build_parser, parse_command_line
    from respira.evaluation.evaluate import evaluate_options_type
    from respira.options import OptionError, options_from, options_of
    from respira.sites.options import fit_site_options
    from respira.training.recipe import override_values

    parser = build_parser()
    evaluate = evaluate_options_type()
    options = {"model": "runs/x", "thresholds": (0.4, 0.6), "record": True, "split": None, "batch_size": 4}
    given = options_from(evaluate, options)
    flags = ["evaluate", "runs/x", "--thresholds", "0.4", "0.6", "--record", "--batch_size", "4"]
    assert given == options_of(parse_command_line(flags, parser), evaluate)
    assert (given.thresholds, given.record, given.split, given.batch_size) == ([0.4, 0.6], True, "test", 4)
    assert options_from(evaluate, {"model": "runs/x", "record": False}).record is False
    options = {
        "seeds": [0, 1],
        "overwrite": False,
        "aux_loss_options": {"margin": 1},
        "output_dir": Path("r"),
        "max_steps": None,  # not given: the recipe's value stands
    }
    assert override_values(options) == {
        "seeds": "0,1",
        "overwrite": False,
        "aux_loss_options": '{"margin": 1}',
        "output_dir": "r",
    }
    refusals = {
        ("evaluate", "record", "yes"): "argument --record: expected True or False, got 'yes'",
        ("evaluate", "batch_size", "four"): "argument --batch_size: invalid int value: 'four'",
        ("evaluate", "batch_size", (4, 8)): "argument --batch_size: invalid int value: '(4, 8)'",  # one value
        ("evaluate", "split_strategy", "nope"): "argument --split_strategy: invalid choice: 'nope' (choose "
        "from 'official', 'patient', 'patient_kfold', 'leave_one_device_out')",
        ("train", "max_steps", 2.5): "argument --max_steps: invalid int value: '2.5'",
        ("train", "lr", 0.1): "unrecognized arguments: --lr (did you mean --learning_rate?)",
    }
    for (command, name, value), reason in refusals.items():
        with pytest.raises(OptionError) as refused:
            if command == "train":
                override_values({name: value})
            else:
                options_from(evaluate, {"model": "runs/x", name: value})
        assert str(refused.value) == reason
        if name == "record":  # --record yes means true: Python takes True or False
            continue
        with pytest.raises(CommandLineError) as printed:
            model = ["runs/x"] if command == "evaluate" else []
            parse_command_line([command, *model, f"--{name}", str(value)], parser)
        assert printed.value.line() == f"respira {command}: error: {reason} (see respira {command} --help)"
    with pytest.raises(OptionError, match="the following arguments are required: --data_dir"):
        options_from(fit_site_options(), {"output_dir": "out"})
