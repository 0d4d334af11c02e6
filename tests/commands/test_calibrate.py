"""``respira calibrate``: fit-site with the candidates as_is and thresholds, refusing in one line before
any work."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from respira import RespiraConfig, RespiraForAudioClassification
from respira.cli import main
from respira.labels import MULTI_LABEL, SINGLE_LABEL


def tiny_model(problem_type: str = MULTI_LABEL) -> RespiraForAudioClassification:
    torch.manual_seed(0)
    config = RespiraConfig(
        encoder_config={"model_type": "respira_cnn", "channels": [4, 8, 8, 16]},
        target_seconds=1.0,
        problem_type=problem_type,
    )
    return RespiraForAudioClassification(config).eval()


def test_calibrate_is_fit_site_with_thresholds_only_and_refuses_in_one_line_before_any_work(
    synthetic_corpus: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
):
    import respira.sites.fit_site

    seen = {}

    def fake(model, data_dir, output_dir, **options):
        seen.update(options, model=model)
        raise ValueError("stop here")

    monkeypatch.setattr(respira.sites.fit_site, "fit_site_folder", fake)
    model = tmp_path / "model"
    tiny_model().save_pretrained(model)
    capsys.readouterr()
    output = tmp_path / "out"
    assert (
        main(["calibrate", str(model), "--data_dir", str(synthetic_corpus), "--output_dir", str(output)]) == 2
    )
    assert seen["candidates"] == ("as_is", "thresholds") and seen["dataset"] == "icbhi"
    assert len(capsys.readouterr().err.strip().splitlines()) == 1  # the refusal alone
    monkeypatch.undo()
    single = tmp_path / "single"
    tiny_model(SINGLE_LABEL).save_pretrained(single)
    capsys.readouterr()
    assert (
        main(["calibrate", str(single), "--data_dir", str(synthetic_corpus), "--output_dir", str(output)])
        == 2
    )
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "single-label model" in error and not output.exists()
    output.mkdir()
    (output / "keep.txt").write_text("earlier result")
    assert (
        main(["calibrate", str(single), "--data_dir", str(synthetic_corpus), "--output_dir", str(output)])
        == 2
    )
    assert "pass --overwrite" in capsys.readouterr().err
    assert (output / "keep.txt").read_text() == "earlier result"
