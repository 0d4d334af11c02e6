"""``respira label`` (respira.commands.label): what the command prints once before it serves."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

import respira
import respira.app.label_server
from respira.app.labelling import LabelSession
from respira.cli import main

from ..sites.test_site_folder import tiny_site_model


@pytest.mark.parametrize("patients", [False, True])
def test_a_labels_file_without_patients_is_said_once_to_count_each_recording_as_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, patients: bool
) -> None:
    tiny_site_model(tmp_path / "model")
    site = tmp_path / "site"
    site.mkdir()
    for number in range(3):
        sf.write(site / f"r{number}.wav", np.zeros(8000, dtype=np.float32), 16000)
    column = ",patient" if patients else ""
    rows = "".join(f"r{n}.wav,,{',p' + str(n) if patients else ''}\n" for n in range(3))
    (site / "labels.csv").write_text(f"file,crackle,wheeze{column}\n{rows}")
    session = LabelSession(
        site / "labels.csv", respira.Detector.from_pretrained(tmp_path / "model"), model="m", minimum_units=4
    )

    def stopped() -> None:
        raise KeyboardInterrupt

    server = SimpleNamespace(session=session, url="http://127.0.0.1:1/", exposed=False, serve=stopped)
    server.close = session.close
    monkeypatch.setattr(respira.app.label_server, "label_server", lambda *a, **k: server)
    assert main(["label", str(tmp_path / "model"), str(site)]) in (0, None)
    out = capsys.readouterr().out
    assert out.count("each recording counts as its own patient") == (0 if patients else 1), out
    for claim in ("patient-wise", "patient-bootstrap", "serves"):
        assert claim not in out
