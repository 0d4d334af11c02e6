"""A corpus is a plug-in: one :class:`~respira.data.corpora.CorpusSpec` (and its builder) makes it
work in ``respira prepare``, ``respira evaluate``, the dataset card and the model card, with no other
code changed. The corpus here ("wards": a few tiny recordings written on the fly, one label per
recording, grouped by ward) and its builder live in this test alone; every fact the commands state
about it must come from its spec, so a per-corpus branch left behind fails here."""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest
import soundfile as sf

from respira.cli import main
from respira.data.corpora import CORPORA, CorpusFacts, CorpusSpec, register_corpus
from respira.models.respira.audio_decoding import DEFAULT_SAMPLING_RATE, encode_wav, read_audio

from ..conftest import save_tiny_model, two_corpus_record

CITATION = """@misc{wards2026plugin,
  title  = {Wards: a corpus that exists only in respira's plug-in test},
  author = {Nobody, A.},
  year   = {2026}
}"""
DESCRIPTION = "Recordings of imaginary wards, one label per recording (a fixture of respira's tests)."
# (patient, ward, crackle, wheeze, seconds)
RECORDINGS = (
    (1, "north", 1, 0, 3.0),
    (1, "south", 1, 0, 2.5),
    (2, "north", 0, 0, 3.5),
    (3, "south", 0, 1, 3.0),
)


@dataclass
class WardsConfig(datasets.BuilderConfig):
    """The fake builder's options."""

    sampling_rate: int = DEFAULT_SAMPLING_RATE
    lowpass_cutoff: float | None = None
    lowpass_order: int = 4


def locate_wards(data_dir: str | Path) -> Any:
    files = {path.stem: path for path in sorted(Path(data_dir).glob("*.wav"))}
    if not files:
        raise FileNotFoundError(f"no wards recordings in {data_dir}")
    return type("WardsLayout", (), {"audio_files": files})()


def load_wards(
    data_dir: str | Path,
    *,
    config_name: str = "recordings",
    sampling_rate: int = DEFAULT_SAMPLING_RATE,
    cache_dir: str | Path | None = None,
    num_proc: int | None = None,
    **options: Any,
) -> datasets.DatasetDict:
    rows: dict[str, list] = {key: [] for key in ("audio", "recording", "patient_id", "ward", "crackle")}
    rows.update(wheeze=[], normal=[])
    for stem, path in locate_wards(data_dir).audio_files.items():
        patient, ward, crackle, wheeze = stem.split("_")
        samples = read_audio(path, sampling_rate)
        rows["audio"].append({"bytes": encode_wav(samples, sampling_rate), "path": path.name})
        rows["recording"].append(stem)
        rows["patient_id"].append(int(patient[1:]))
        rows["ward"].append(ward)
        rows["crackle"].append(int(crackle))
        rows["wheeze"].append(int(wheeze))
        rows["normal"].append(int(crackle == wheeze == "0"))
    features = datasets.Features(
        {
            "audio": datasets.Audio(sampling_rate=sampling_rate),
            "recording": datasets.Value("string"),
            "patient_id": datasets.Value("int32"),
            "ward": datasets.Value("string"),
            **{flag: datasets.Value("int8") for flag in ("crackle", "wheeze", "normal")},
        }
    )
    return datasets.DatasetDict({"test": datasets.Dataset.from_dict(rows, features=features)})


SPEC = CorpusSpec(
    name="wards",
    title="Wards of an imaginary hospital",
    loader=load_wards,
    config_class=WardsConfig,
    labels="recording",
    group_by="patient_id",
    split_roles=("test",),
    citation=CITATION,
    homepage="https://example.org/wards",
    facts=CorpusFacts(
        description=DESCRIPTION,
        license="cc-by-4.0",
        license_text="Made up for a test; CC BY 4.0.",
        tags=("audio", "wards"),
    ),
    locate=locate_wards,
    stored_name="wards",
    group_column="ward",
    training_device="ward {ward}",
)


@pytest.fixture
def wards(tmp_path: Path) -> Iterator[Path]:
    """The corpus registered (for this test only) and its folder of recordings."""
    folder = tmp_path / "wards"
    folder.mkdir()
    rate = 8000
    for patient, ward, crackle, wheeze, seconds in RECORDINGS:
        tone = 0.1 * np.sin(2 * np.pi * 300 * np.arange(round(seconds * rate)) / rate)
        sf.write(folder / f"P{patient}_{ward}_{crackle}_{wheeze}.wav", tone.astype(np.float32), rate)
    register_corpus(SPEC)
    try:
        yield folder
    finally:
        del CORPORA[SPEC.name]


def test_prepare_writes_a_card_with_the_specs_facts(wards: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "prepared"
    assert main(["prepare", "--dataset", "wards", "--data_dir", str(wards), "--output_dir", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "WARDS 'recordings' dataset ready" in printed
    assert "datasets.load_dataset(" in printed and "'wards')" in printed  # the spec's stored name
    header = printed.splitlines()[1].split()
    assert header == ["split", "recordings", "patients", "crackle", "wheeze", "normal", "wards"]
    card = (output / "README.md").read_text()
    for fact in (DESCRIPTION, "Made up for a test; CC BY 4.0.", "@misc{wards2026plugin,", SPEC.title):
        assert fact in card
    assert "license: cc-by-4.0" in card and "- wards" in card  # licence and tags in the front matter
    assert "| test | 4 | 3 | 2 | 1 | 1 | north 2, south 2 |" in card  # the default table, by ward
    assert "`test`: every recording. WARDS validates models trained on another corpus" in card
    assert "This build holds 4 recordings of 3 patients." in card
    assert "one example per recording" in card
    reloaded = datasets.load_dataset(str(output), "wards", cache_dir=str(tmp_path / "pq"))
    assert reloaded["test"]["ward"] == ["north", "south", "north", "south"]


def test_prepare_refuses_the_options_its_builder_lacks(wards: Path, capsys) -> None:
    arguments = ["prepare", "--dataset", "wards", "--data_dir", str(wards), "--seed", "1"]
    assert main([*arguments, "--config", "cycles"]) == 2
    error = capsys.readouterr().err
    assert "--seed, --config cycles: only for --dataset icbhi, sprsound (WARDS is one test split of" in (
        error
    )


def test_evaluate_scores_it_per_recording_by_its_group_column(wards: Path, tmp_path: Path, capsys) -> None:
    model = save_tiny_model(tmp_path / "model")
    report = tmp_path / "report"
    arguments = ["evaluate", str(model), "--dataset", "wards", "--data_dir", str(wards)]
    assert main([*arguments, "--output_dir", str(report), "--bootstrap", "5"]) == 0
    printed = capsys.readouterr().out
    assert "on WARDS (4 recordings, 3 patients)" in printed
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["group_column"] == "ward" and set(metrics["groups"]) == {"overall", "north", "south"}
    assert metrics["groups"]["overall"]["crackle"]["positives"] == 2
    with (report / "recording_predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["ward"] for row in rows] == ["north", "south", "north", "south"]
    assert not (model / "evaluation_kauh").exists()
    assert main([*arguments, "--split", "train"]) == 2
    assert "--split 'train': WARDS's splits are 'test', 'all'" in capsys.readouterr().err
    register_corpus(replace(SPEC, name="cycles_too", labels="cycle"))
    try:
        assert main(["evaluate", str(model), "--dataset", "cycles_too", "--data_dir", str(wards)]) == 2
    finally:
        del CORPORA["cycles_too"]
    assert "--dataset cycles_too: only icbhi's cycles are scored one by one" in capsys.readouterr().err


def _help(capsys, *command: str) -> str:
    """``respira COMMAND --help``, its white space made single spaces (argparse wraps it)."""
    with contextlib.suppress(SystemExit):
        main([*command, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_the_other_commands_offer_it(wards: Path, capsys) -> None:
    for command in ("prepare", "evaluate", "fit-site"):
        assert "wards" in _help(capsys, command).split("--dataset", 1)[1].split("}", 1)[0]


def test_the_help_texts_that_list_the_corpora_list_it(wards: Path, capsys) -> None:
    listings = {
        (): ["build the ICBHI (or KAUH, SPRSOUND, LABELLED or WARDS) dataset from a local folder"],
        ("prepare",): ["kauh for KAUH, the --config for SPRSOUND, labelled for LABELLED, wards for WARDS)"],
        ("evaluate",): [
            "kauh (external validation per recording), sprsound (external validation per event and per "
            "recording, with its challenge's scores), labelled (external validation per recording) or wards "
            "(external validation per recording); default",
            # the options of corpora scored over windows
            "--dataset kauh, sprsound, labelled or wards: --window",
        ],
        ("fit-site",): [
            "the labelled sample (ICBHI layout, KAUH folder, SPRSOUND layout, LABELLED folder or WARDS "
            "folder)",
        ],
    }
    for command, texts in listings.items():
        shown = _help(capsys, *command)
        for text in texts:
            assert text in shown, (command, text)


def test_fit_site_refuses_a_cycle_corpus_it_cannot_read_before_any_work(
    wards: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import respira.hub.loading
    from respira.sites.site_sample import read_site_recordings

    monkeypatch.setattr(respira.hub.loading, "load_model", lambda *args, **kwargs: pytest.fail("loaded"))
    output = tmp_path / "fitted"
    arguments = ["fit-site", str(tmp_path / "model"), "--data_dir", str(wards), "--output_dir", str(output)]
    register_corpus(replace(SPEC, name="cycles_too", labels="cycle"))
    try:
        assert main([*arguments, "--dataset", "cycles_too"]) == 2
        with pytest.raises(ValueError, match=r"^--dataset cycles_too: only icbhi's cycles are scored one by"):
            read_site_recordings(wards, "cycles_too")
    finally:
        del CORPORA["cycles_too"]
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--dataset cycles_too: only icbhi's cycles are scored" in error
    assert not output.exists()


def test_a_model_trained_on_it_cites_and_describes_it(wards: Path) -> None:
    from respira.hub.card_data import RespiraModelCardData
    from respira.hub.card_template import render_model_card
    from respira.records.run import CorpusRecord, DataRecord, ModelRecord, RunRecord, TrainingRecord

    corpora = [CorpusRecord("icbhi", "icbhi"), CorpusRecord("wards", str(wards), "recording", 3, 4, 40)]
    record = RunRecord(
        model=ModelRecord(encoder="cnn"),
        data=DataRecord(data_dir="icbhi", sampling_rate=16000, corpora=corpora),
        training=TrainingRecord(hyperparameters={"mil_weight": 0.5, "mil_pooling": "noisy_or"}),
    )
    card = RespiraModelCardData()
    card.set_run_record(record)
    assert card.corpora == ["icbhi", "wards"] and "wards" in card.all_tags()
    text = str(render_model_card(card))
    assert f"- **Also trained on:** {SPEC.title}, recording-labelled" in text and DESCRIPTION in text
    assert "wards (recording labels: 3 patients, 4 recordings, 40 windows)" in text
    assert "@misc{wards2026plugin," in text and "@article{rocha2019open," in text
    assert "| multiple-instance loss weight (recording bags) | `0.5` |" in text
    assert "| multiple-instance pooling of a recording's windows | `noisy_or` |" in text
    single = RespiraModelCardData()
    single.set_run_record(RunRecord(model=ModelRecord(encoder="cnn"), data=DataRecord("icbhi", 16000)))
    plain = str(render_model_card(single))
    assert "Also trained on" not in plain and "multiple-instance" not in plain and "wards" not in plain


def test_training_takes_its_recordings_as_bags_of_windows(
    wards: Path, synthetic_corpus: Path, tmp_path: Path
) -> None:
    from respira.data.multi_corpus import BAG_COLUMN, PATIENT_OFFSET, check_corpora
    from respira.data.run_splits import load_splits
    from respira.models.respira.labels import MULTI_LABEL

    options = {"window_seconds": 1.0, "hop_seconds": 0.5, "problem_type": MULTI_LABEL}
    assert check_corpora(["icbhi", "wards"], {"wards": str(wards)}, **options) == ["icbhi", "wards"]
    register_corpus(replace(SPEC, name="cycles_too", labels="cycle"))
    try:  # segments join as cycles: no bags, so a single-label model may learn from them too
        single = options | {"problem_type": "single_label_classification"}
        assert check_corpora(["icbhi", "cycles_too"], {"cycles_too": str(wards)}, **single) == [
            "icbhi",
            "cycles_too",
        ]
        with pytest.raises(ValueError, match=r"^corpora: recording-labelled corpora train a multi-label"):
            check_corpora(["icbhi", "wards"], {"wards": str(wards)}, **single)
    finally:
        del CORPORA["cycles_too"]
    with pytest.raises(FileNotFoundError, match=r"^corpus_dirs: wards: no wards recordings in "):
        check_corpora(["icbhi", "wards"], {"wards": str(tmp_path)}, **options)
    record = two_corpus_record(synthetic_corpus, "wards", wards)
    splits = load_splits(record, cache_dir=tmp_path / "cache")
    assert set(splits["test"]["corpus"]) == {"icbhi"}
    windows = splits["train"].filter(lambda row: row["corpus"] == "wards")
    assert len(set(windows[BAG_COLUMN])) == len(RECORDINGS)  # one bag per recording
    assert set(windows["device"]) == {"ward north", "ward south"}  # the spec's training_device
    assert set(np.asarray(windows["patient_id"]) - PATIENT_OFFSET) == {1, 2, 3}
