"""The bench's tasks (:data:`respira.encoder_bench.tasks.TASKS`): each an evaluation protocol, its report
written by the one report writer."""

from __future__ import annotations

from pathlib import Path

import pytest

from respira.encoder_bench import leaderboard
from respira.encoder_bench.tasks import BENCH, TASKS
from respira.evaluation import protocol
from respira.evaluation.protocol import Protocol


def test_every_task_is_a_protocol_that_embeds_and_resamples_patients() -> None:
    assert list(TASKS) == ["in_domain", "unseen_site", "site_labels", "training_patients"]
    for name, task in TASKS.items():
        assert isinstance(task, Protocol) and task.name == name
        assert (task.runs, task.grouping, task.files) == (BENCH.runs, BENCH.grouping, BENCH.files)
        assert task.needs and callable(task.score)
    assert {name: task.unit for name, task in TASKS.items()} == {
        "in_domain": "cycle", "unseen_site": "recording", "site_labels": "recording",
        "training_patients": "recording",
    }  # fmt: skip
    assert BENCH.runs == "embed" and BENCH.grouping.startswith("patients")


def test_the_leaderboard_is_written_by_the_one_report_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = []

    def spy(report: Protocol, output_dir: Path, metrics: object, *args: object, **options: object) -> list:
        written.append((report, metrics))
        return write_report(report, output_dir, metrics, *args, **options)

    write_report = protocol.write_report
    monkeypatch.setattr(protocol, "write_report", spy)
    row = {"task": "unseen_site", "title": "an unseen hospital", "column": "A → B", "dataset": "kauh",
           "model": "m", "entry": "probe", "icbhi_score": 0.6}  # fmt: skip
    suite = {"name": "test", "version": "0"}
    leaderboard.write_leaderboard([row], tmp_path / "board", suite=suite, overwrite=False)
    assert written == [(BENCH, None)]  # no metrics.json: the leaderboard's files hold the scores
    names = sorted(p.relative_to(tmp_path / "board").as_posix() for p in (tmp_path / "board").rglob("*"))
    assert names == [".respira-written", "leaderboard.csv", "leaderboard.md", "leaderboard.png",
                     "model_index", "model_index/m.yaml", "results.csv", "suite.json"]  # fmt: skip
    with pytest.raises(FileExistsError):  # without --overwrite, a folder there stays
        leaderboard.write_leaderboard([row], tmp_path / "board", suite=suite, overwrite=False)
