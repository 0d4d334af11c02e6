"""respira.utils.progress: a bar on a terminal, one line per stage elsewhere, nothing when bars are off."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from respira.utils.progress import GROUP, bars_enabled, progress, stage


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_not_on_a_terminal_each_stage_is_one_line(
    progress_bars_on: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert list(progress(range(5), "scoring recordings", unit="recording")) == [0, 1, 2, 3, 4]
    with stage("embedding the training split", 1, "view") as shown:
        shown.update()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "scoring recordings (5 recordings)\nembedding the training split (1 view)\n"


def test_on_a_terminal_a_bar_counts_to_the_total(
    progress_bars_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with stage("scoring cycles", 7, "cycle") as shown:
        for _ in range(3):
            shown.update(2)
        shown.update()
    text = terminal.getvalue()
    assert "scoring cycles" in text and "7/7" in text and "cycle/s" in text
    assert "(7 cycles)" not in text  # the bar, not the line


def _disable_transformers() -> Callable[[], None]:
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    return transformers_logging.enable_progress_bar


def _disable_datasets() -> Callable[[], None]:
    import datasets

    datasets.disable_progress_bars()
    return datasets.enable_progress_bars


def _disable_respira_group() -> Callable[[], None]:
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

    disable_progress_bars(GROUP)
    return lambda: enable_progress_bars(GROUP)


@pytest.mark.parametrize(
    "switch", [_disable_transformers, _disable_datasets, _disable_respira_group], ids=lambda f: f.__name__
)
def test_bars_turned_off_show_nothing(
    progress_bars_on: None, switch: Callable[[], Callable[[], None]], monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    undo = switch()
    try:
        assert not bars_enabled()
        assert list(progress([1, 2], "scoring cycles", unit="cycle")) == [1, 2]
    finally:
        undo()
    assert terminal.getvalue() == ""
    assert bars_enabled()


def test_tqdm_disable_and_a_stage_turned_off_show_nothing(
    progress_bars_on: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with stage("training the cross-fit group models", 5, "group", enabled=False) as shown:
        shown.update(5)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert list(progress(range(3), "scoring recordings")) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("TQDM_DISABLE", "0")
    assert bars_enabled()


def test_datasets_switch_is_read_without_importing_datasets() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS")}
    # as in a `respira` process (its script's name): `import respira` then registers no models (6 s)
    code = "import os, sys; sys.argv[0] = 'respira'; import respira.cli\n"
    code += "from respira.utils.progress import bars_enabled as on\n"
    code += "for value in ('1', 'yes', '0'):\n"
    code += "    os.environ['HF_DATASETS_DISABLE_PROGRESS_BARS'] = value\n"
    code += "    print(on())\n"
    code += "print('datasets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "True", "False"]  # 1, yes, 0; datasets not imported
