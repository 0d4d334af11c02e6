"""``respira bench`` end to end on the synthetic corpus and a KAUH-named folder, with the seed CNN at a tiny
width (:mod:`respira.encoder_bench.run`): what it writes, its cache, a killed run resumed, and bad input."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import yaml

import respira
import respira.models
from respira.cli import main
from respira.encoder_bench import models as bench_models
from respira.encoder_bench.tasks import TASKS
from respira.inference.detector import Detector

from ..conftest import write_kauh

OPTIONS = {"sizes": [3], "draws": 2, "resamples": 50, "threads": 1}


@pytest.fixture(scope="module", autouse=True)
def tiny_cnn() -> Iterator[None]:
    """``cnn``, the family name, built with the tiny channels of the training tests (the default width
    costs seconds of convolutions a bench's bookkeeping does not need)."""
    build = respira.models.build_model

    def tiny(encoder: str, **options: Any) -> Any:
        if encoder == "cnn":
            options["encoder_config"] = {"channels": [4, 8, 8, 16], **(options.get("encoder_config") or {})}
        return build(encoder, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(respira.models, "build_model", tiny)
        yield


@pytest.fixture(scope="module")
def kauh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_kauh(tmp_path_factory.mktemp("sites") / "kauh", patients=6)


@pytest.fixture(scope="module")
def first(
    synthetic_corpus: Path, kauh: Path, tmp_path_factory: pytest.TempPathFactory
) -> respira.BenchResult:
    work = tmp_path_factory.mktemp("bench")
    data = [f"icbhi={synthetic_corpus}", f"kauh={kauh}"]
    return respira.bench("cnn", data=data, output_dir=work / "out", cache_dir=work / "cache", **OPTIONS)


def _cache(result: respira.BenchResult) -> Path:
    return result.output_dir.parent / "cache"


def test_writes_every_task_beside_the_baselines_of_the_same_samples(first: respira.BenchResult) -> None:
    folder = first.output_dir
    written = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert written == [
        ".respira-written", "leaderboard.csv", "leaderboard.md", "leaderboard.png", "model_index/cnn.yaml",
        "results.csv", "suite.json",
    ]  # fmt: skip
    columns = {(row["task"], row["column"]) for row in first.rows}
    assert columns == {
        ("in_domain", "ICBHI cycles, official split"),  # the synthetic corpus is whole: its official split
        ("unseen_site", "ICBHI → KAUH"),
        ("unseen_site", "KAUH → ICBHI"),
        ("site_labels", "ICBHI, 3 patients"),
        ("site_labels", "KAUH, 3 patients"),
    }
    for column in {column for _, column in columns}:
        entries = {row["entry"]: row for row in first.rows if row["column"] == column}
        assert set(entries) >= {"probe", "all_normal", "class_prior"}
        normal = entries["all_normal"]  # specificity 1, sensitivity 0, in every resample where both exist
        assert normal["icbhi_score"] == normal["icbhi_score_low"] == normal["icbhi_score_high"] == 0.5
        probe = entries["probe"]
        assert probe["icbhi_score_low"] <= probe["icbhi_score"] <= probe["icbhi_score_high"]
    table = (folder / "leaderboard.md").read_text()
    assert "| cnn |" in table and "| all-normal |" in table and "| class prior |" in table
    with (folder / "leaderboard.csv").open() as handle:
        assert [row[0] for row in csv.reader(handle)] == ["entry", "cnn", "all-normal", "class prior"]


def test_every_protocol_ranks_without_a_threshold_and_names_the_site_procedures(
    first: respira.BenchResult,
) -> None:
    for row in (row for row in first.rows if row["entry"] == "probe" and row["task"] != "site_labels"):
        assert 0 <= row["crackle_auc"] <= 1 and 0 <= row["wheeze_auc"] <= 1, row["column"]
    site = [row for row in first.rows if row["task"] == "site_labels" and row["entry"] == "probe"]
    assert {(row["title"], row["candidate"]) for row in site} == {
        ("a site's own labels, fit-site's procedure", "chosen"),  # what a clinic is served, as-is kept
        ("a site's own labels, the site head alone", "site_head"),
    }
    assert all(row["icbhi_score_draw_sd"] >= 0 for row in site)  # two draws: the seed's spread
    table = (first.output_dir / "leaderboard.md").read_text()
    assert "### crackle AUC" in table and "## a site's own labels, fit-site's procedure" in table
    cost = table[table.index("## cost") :].splitlines()[4]
    assert cost.startswith("| cnn | ") and "thread" in cost


def test_model_index_round_trips_and_every_mark_is_paired(first: respira.BenchResult) -> None:
    from .test_leaderboard import assert_marks_are_paired, assert_model_index_round_trips

    assert_model_index_round_trips(first.output_dir)
    assert_marks_are_paired(first.output_dir)


def test_a_suite_fixes_the_patients_another_run_scores_on(
    first: respira.BenchResult,
    synthetic_corpus: Path,
    kauh: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    suite = json.loads((first.output_dir / "suite.json").read_text())
    assert suite["options"]["draws"] == 2 and len(suite["site_labels"]["KAUH"]["3"]) == 2
    assert suite["in_domain"]["ICBHI"]["kind"] == "official split"
    (tmp_path / "suite.json").write_text(json.dumps(suite))
    data = [f"icbhi={synthetic_corpus}", f"kauh={kauh}"]
    options = {**OPTIONS, "seed": 7, "draws": 1}  # the suite's seed and draws win
    again = respira.bench("cnn", data=data, output_dir=tmp_path / "out", cache_dir=_cache(first),
                          suite=str(tmp_path / "suite.json"), **options)  # fmt: skip
    text = partial(json.dumps, default=lambda value: value.item())  # NaN as NaN: compared as text
    assert text(again.rows) == text(first.rows)
    ours = tmp_path / "ours.json"  # not there yet: this run's suite is written there
    respira.bench("cnn", data=data, output_dir=tmp_path / "written", cache_dir=_cache(first), suite=str(ours),
                  **OPTIONS)  # fmt: skip
    assert json.loads(ours.read_text()) == json.loads((tmp_path / "written" / "suite.json").read_text())
    assert json.loads(ours.read_text())["version"] == suite["version"]  # the same patients, the same version
    suite["site_labels"]["KAUH"]["3"][0] = suite["site_labels"]["KAUH"]["3"][1]
    (tmp_path / "edited.json").write_text(json.dumps(suite))
    for name, said in (
        ("edited.json", "is not its content's"),
        ("suite.json", "--data names no site 'ICBHI'"),
    ):
        argv = ["bench", "cnn", "--data", f"kauh={kauh}", "--output_dir", str(tmp_path / "refused")]
        capsys.readouterr()
        code = main([*argv, "--suite", str(tmp_path / name), "--cache_dir", str(_cache(first))])
        error = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and not (tmp_path / "refused").exists(), name
        assert len(error) == 1 and said in error[0] and name in error[0]


def test_model_index_entries_carry_each_column(first: respira.BenchResult) -> None:
    index = yaml.safe_load((first.output_dir / "model_index" / "cnn.yaml").read_text())["model-index"]
    results = index[0]["results"]
    names = {result["dataset"]["name"] for result in results}
    assert "KAUH → ICBHI" in names and "ICBHI cycles, official split" in names
    assert len(results) == len({(row["title"], row["column"]) for row in first.rows})
    for result in results:
        assert {m["type"] for m in result["metrics"]} == {"recall", "roc_auc"}


def _counted(calls: list[str], name: str, score: Any, *args: Any, **kwargs: Any) -> Any:
    calls.append(name)
    return score(*args, **kwargs)


def test_a_second_run_embeds_and_scores_nothing_and_gives_the_same_rows(
    first: respira.BenchResult,
    synthetic_corpus: Path,
    kauh: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("embedded or scored again")

    monkeypatch.setattr(Detector, "embed", refuse)
    monkeypatch.setattr(Detector, "embed_cycles", refuse)
    tasks = dict(TASKS)
    for name, task in tasks.items():
        monkeypatch.setitem(TASKS, name, replace(task, score=refuse))
    data = [f"icbhi={synthetic_corpus}", f"kauh={kauh}"]
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")  # `accelerate launch --cpu --num_processes 2`: one
    again = respira.bench(
        "cnn", data=data, output_dir=first.output_dir.parent / "again", cache_dir=_cache(first), **OPTIONS
    )
    assert again.rows == json.loads(json.dumps(first.rows, default=lambda value: value.item()))
    said = capsys.readouterr()  # respira.bench's note goes to stderr, as the command's does
    assert f"wrote {again.output_dir} (leaderboard.md, " in said.err and "wrote" not in said.out
    assert again.processes == first.processes == 1
    assert (
        "embedding in 1 process (accelerate launch started one: on CPUs, accelerate launch --multi_gpu "
        "--num_processes N starts N gloo processes; --cpu --num_processes N starts one)\n" in said.err
    )
    monkeypatch.delenv("ACCELERATE_USE_CPU")
    # another protocol (fewer bootstrap resamples) is scored again, from the same embeddings
    calls: list[str] = []
    for name, task in tasks.items():
        counted = partial(_counted, calls, name, task.score)
        monkeypatch.setitem(TASKS, name, replace(task, score=counted))
    options = {**OPTIONS, "resamples": 20}
    other = _cache(first).parent / "other"
    respira.bench("cnn", data=data, output_dir=other, cache_dir=_cache(first), **options)
    assert sorted(calls) == sorted({row["task"] for row in first.rows})


def test_training_patients_scores_the_unseen_site_probe_by_the_sources_patients(
    first: respira.BenchResult, synthetic_corpus: Path, kauh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run only when named; each ordered pair at ``sizes`` of the source's patients (``draws`` draws, their
    mean) and at all of them: the probe unseen_site fits, so the same score."""
    assert "training_patients" not in {row["task"] for row in first.rows}
    data = [f"icbhi={synthetic_corpus}", f"kauh={kauh}"]
    curve = _cache(first).parent / "curve"
    result = respira.bench(
        "cnn", data=data, output_dir=curve, cache_dir=_cache(first), tasks=["training_patients"], **OPTIONS
    )
    assert "embedding in 1 process\n" in capsys.readouterr().err
    icbhi = respira.encoder_bench.tasks.read_sites(data[:1])[0].recordings.recordings
    patients = {"ICBHI": len({r.unit for r in icbhi}), "KAUH": 6}
    probes = {row["column"]: row for row in result.rows if row["entry"] == "probe"}
    assert set(probes) == {
        f"{source}, {size} patients → {target}"
        for source, target in (("ICBHI", "KAUH"), ("KAUH", "ICBHI"))
        for size in ("3", f"all {patients[source]}")
    }
    unseen = {
        row["column"]: row for row in first.rows if row["entry"] == "probe" and row["task"] == "unseen_site"
    }
    for source, target in (("ICBHI", "KAUH"), ("KAUH", "ICBHI")):
        row = probes[f"{source}, all {patients[source]} patients → {target}"]
        assert (row["draws"], row["training_patients"], row["source"]) == (1, patients[source], source)
        assert row["icbhi_score"] == pytest.approx(unseen[f"{source} → {target}"]["icbhi_score"])
    for column in ("ICBHI, 3 patients → KAUH", "KAUH, 3 patients → ICBHI"):
        row = probes[column]
        assert (row["draws"], row["training_patients"]) == (2, 3)
        assert row["icbhi_score_low"] <= row["icbhi_score"] <= row["icbhi_score_high"]
        normal = next(r for r in result.rows if r["column"] == column and r["entry"] == "all_normal")
        assert normal["icbhi_score"] == pytest.approx(0.5)


def test_a_killed_run_keeps_what_it_embedded_and_writes_nothing(
    synthetic_corpus: Path, kauh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_models, "CHUNK", 4)
    calls = []
    real = Detector.embed

    def killed_after_one(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(Detector, "embed", killed_after_one)
    options = {"data": [f"kauh={kauh}"], "output_dir": tmp_path / "out", "cache_dir": tmp_path / "cache"}
    with pytest.raises(KeyboardInterrupt):
        respira.bench("cnn", **options, **OPTIONS)
    assert not (tmp_path / "out").exists()
    assert len(list((tmp_path / "cache" / "embeddings").rglob("*.npz"))) == 4  # the first chunk's
    monkeypatch.setattr(Detector, "embed", real)
    calls.clear()
    respira.bench("cnn", **options, **OPTIONS)
    assert len(list((tmp_path / "cache" / "embeddings").rglob("*.npz"))) == 18  # 6 patients x 3 modes


def _bert(folder: Path) -> Path:
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8
    )
    BertModel(config).save_pretrained(folder)
    return folder


def _audio_model(folder: Path) -> Path:
    """A HuBERT whose feature extractor takes two channels (``stereo``) or that has none (``no_extractor``):
    configs only, refused before any weights load."""
    from transformers import HubertConfig, Wav2Vec2FeatureExtractor

    HubertConfig().save_pretrained(folder)
    if folder.name == "stereo":
        Wav2Vec2FeatureExtractor(feature_size=2).save_pretrained(folder)
    return folder


def _without_patients(folder: Path) -> Path:
    folder.mkdir()
    lines = ["file,crackle,wheeze"]
    for index in range(6):
        sf.write(folder / f"r{index}.wav", np.zeros(8000, np.float32), 4000)
        lines.append(f"r{index}.wav,{index % 2},0")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.parametrize(
    ("case", "named"),
    [
        ("missing folder", "nowhere"),
        ("no patients", "own"),
        ("no task's data", "in_domain needs a cycle-labelled site (icbhi); unseen_site needs two sites"),
        ("not a model", "empty"),
        ("a text model", "bert"),
        ("a stereo feature extractor", "stereo"),
        ("no feature extractor", "no_extractor"),
        ("a layer that is no hidden state", "--layer x"),
    ],
)
def test_bad_input_is_one_line_naming_it_before_any_embedding(
    case: str, named: str, kauh: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    model, data, tasks = "cnn", [f"kauh={kauh}"], []
    if case == "missing folder":
        data = [f"site={tmp_path / 'nowhere'}"]
    elif case == "no patients":
        data = [f"own={_without_patients(tmp_path / 'own')}"]
    elif case == "no task's data":
        tasks = ["--tasks", "unseen_site", "in_domain"]  # one site, no cycles
    elif case == "not a model":
        (tmp_path / "empty").mkdir()
        model = str(tmp_path / "empty")
    elif case == "a text model":
        model = str(_bert(tmp_path / "bert"))
    elif case == "a layer that is no hidden state":
        tasks = ["--layer", "x"]
    else:
        model = str(_audio_model(tmp_path / named))
    capsys.readouterr()  # what making the case printed
    argv = ["bench", model, "--data", *data, *tasks, "--output_dir", str(tmp_path / "out")]
    code = main([*argv, "--cache_dir", str(tmp_path / "cache")])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(error) == 1 and named in error[0] and "Traceback" not in error[0]
    assert "huggingface.co" not in error[0]  # no Hub advice of transformers' in a folder's refusal
    assert not (tmp_path / "out").exists()
    assert not list((tmp_path / "cache").rglob("*.npz"))


def test_processes_embed_their_shares_and_the_main_one_reads_them_all(
    kauh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from respira.sites.site_sample import read_site_recordings

    model = bench_models.load_model("cnn", tmp_path)
    recordings = read_site_recordings(kauh, "kauh").recordings  # 18
    assert bench_models.embed(model, recordings, tmp_path, shard=(1, 2), progress=False) is None
    assert len(list(tmp_path.rglob("*.npz"))) == 9
    bench_models.embed(model, recordings, tmp_path, shard=(0, 2), progress=False)
    assert len(list(tmp_path.rglob("*.npz"))) == 18
    monkeypatch.setattr(Detector, "embed", None)  # nothing left to embed
    sample = bench_models.embed(model, recordings, tmp_path, progress=False)
    assert [r.recording_id for r in sample.recordings] == [r.recording_id for r in recordings]


def test_a_cached_score_is_keyed_by_the_code_that_scored_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 84: a committed cell (cnn, KAUH, 30 patients: 44.3) was no run of its commit's code (44.1 at
    one and two threads, alone or beside the other models, its embeddings bit-identical): a task's score
    cached by earlier code was read back, the cache keyed by the data and options alone."""
    from respira.encoder_bench import run

    stub = tmp_path / "scoring_stub.py"
    stub.write_text("THRESHOLD = 0.5\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(run, "SCORING_CODE", ("scoring_stub",))
    options = run.ScoringOptions(data=[], output_dir=str(tmp_path / "out"))
    before = run._fingerprint(TASKS["site_labels"], {}, options)
    assert run._fingerprint(TASKS["site_labels"], {}, options) == before
    stub.write_text("THRESHOLD = 0.4\n")
    assert run._fingerprint(TASKS["site_labels"], {}, options) != before
