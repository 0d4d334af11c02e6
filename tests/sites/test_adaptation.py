"""Label-free adaptation (respira.sites.adaptation and ``respira adapt`` / ``predict --adapt`` /
``evaluate --adapt``): head statistics equal numpy's on the target embeddings, the thresholds stay, the
new folder is staged and says what it was adapted on."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from respira import RespiraConfig, RespiraForAudioClassification
from respira.audio.wav import encode_wav
from respira.cli import main
from respira.core.decision import thresholds_of
from respira.hub.loading import load_model
from respira.labels import MULTI_LABEL, SINGLE_LABEL
from respira.sites.adaptation import (
    DEFAULT_METHODS,
    MEASURED,
    RELIABLE_WINDOWS,
    AdaptationWarning,
    MeasuredHarmWarning,
    adapt_model,
    head_norm_statistics,
    write_adapted_model,
)

TINY_ENCODER = {"model_type": "respira_cnn", "channels": [4, 8, 8, 16]}
BOTH = ["head_norm"]
"""The method, named: none is applied by default (DEFAULT_METHODS)."""
BOTH_OPTION = ["--methods", *BOTH]
RATE = 16000


def tiny_model(problem_type: str = MULTI_LABEL, *, head_norm: bool = True) -> RespiraForAudioClassification:
    torch.manual_seed(0)
    config = RespiraConfig(
        encoder_config=dict(TINY_ENCODER),
        target_seconds=1.0,
        problem_type=problem_type,
        head_norm=head_norm,
        freeze_encoder=True,
        decision_thresholds=[0.4, 0.6] if problem_type == MULTI_LABEL else None,
        label_priors=[0.3, 0.2],
    )
    return RespiraForAudioClassification(config).eval()


def waveforms(count: int = 3, seconds: float = 2.5, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(int(seconds * RATE))).astype(np.float32) for _ in range(count)]


def crops_by_hand(signals: list[np.ndarray], window: float, hop: float) -> list[np.ndarray]:
    """1 s windows every 1 s over 2.5 s: starts 0, 1, 2 s (the last one half long)."""
    size, step = int(window * RATE), int(hop * RATE)
    return [s[start : start + size] for s in signals for start in range(0, len(s) - size + step, step)]


def test_head_statistics_are_numpys_and_the_thresholds_stay():
    model = tiny_model()
    signals = waveforms()
    crops = crops_by_hand(signals, 1.0, 1.0)
    assert len(crops) == 9
    with torch.no_grad():
        embeddings = np.concatenate([model.embed(torch.from_numpy(c)[None]).numpy() for c in crops])
    report = adapt_model(model, signals, methods=BOTH, target="toy", window=1.0, hop=1.0)
    assert report.windows == 9 and report.recordings == 3
    assert report.methods == ["head_norm"]
    np.testing.assert_allclose(
        model.head_norm.running_mean.numpy(), embeddings.mean(axis=0), rtol=1e-4, atol=1e-6
    )
    np.testing.assert_allclose(
        model.head_norm.running_var.numpy(), embeddings.var(axis=0, ddof=1), rtol=1e-4, atol=1e-7
    )
    assert thresholds_of(model.config) == (0.4, 0.6)
    assert model.config.adaptation["methods"] == ["head_norm"]


def test_statistics_need_two_windows_and_unfit_models_say_what_was_skipped():
    with pytest.raises(ValueError, match="at least 2 windows, got 1"):
        head_norm_statistics(np.zeros((1, 4)))
    single = tiny_model(SINGLE_LABEL)
    report = adapt_model(single, waveforms(1), methods=BOTH, target="toy", window=1.0, hop=1.0)
    assert report.methods == ["head_norm"] and not report.skipped
    for model in (tiny_model(head_norm=False), tiny_model(SINGLE_LABEL, head_norm=False)):
        before = {k: v.clone() for k, v in model.state_dict().items()}
        with pytest.raises(ValueError, match=r"^nothing to adapt in this model \(head_norm: "):
            adapt_model(model, waveforms(1), target="toy", methods=BOTH, window=1.0, hop=1.0)
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_too_few_target_windows_are_adapted_on_with_a_warning_saying_how_uncertain():
    few = waveforms(3)  # 9 windows of 1 s: each variance uncertain by sqrt(2 / 8) = 50 %
    said = r"adapting on 9 windows of toy: .* about ±50 %.* 33 windows or more"
    with pytest.warns(AdaptationWarning, match=said) as caught:
        adapt_model(tiny_model(), few, methods=BOTH, target="toy", window=1.0, hop=1.0)
    uncertain = [warning for warning in caught if warning.category is AdaptationWarning]
    assert len(uncertain) == 1 and "\n" not in str(uncertain[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AdaptationWarning)
        warnings.simplefilter("ignore", MeasuredHarmWarning)
        report = adapt_model(
            tiny_model(), waveforms(11), methods=BOTH, target="toy", window=1.0, hop=1.0
        )  # 33 windows
    assert report.windows == RELIABLE_WINDOWS == 33


def test_the_adapted_folder_loads_and_its_card_says_what_it_was_adapted_on(tmp_path: Path):
    source = tmp_path / "model"
    tiny_model().save_pretrained(source)
    (source / "README.md").write_text("---\nlicense: mit\n---\n# The source model\n")
    model, _ = load_model(source, device="cpu")
    report = adapt_model(model, waveforms(), methods=BOTH, target="/data/site_b", window=1.0, hop=1.0)
    output = write_adapted_model(model, report, source, tmp_path / "adapted")
    adapted, config = load_model(output, device="cpu")
    assert config.decision_thresholds == pytest.approx([0.4, 0.6])
    torch.testing.assert_close(adapted.head_norm.running_mean, model.head_norm.running_mean)
    assert config.adaptation["target"] == "/data/site_b"
    card = (output / "README.md").read_text()
    assert card.startswith("---\nlicense: mit") and "# The source model" in card
    assert "adapted with `respira adapt` on the **unlabelled** audio of `/data/site_b`" in card
    assert (output / "preprocessor_config.json").is_file()
    # a second adaptation into the same folder is refused, and the first one is left as it was
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        write_adapted_model(model, report, source, output)
    assert load_model(output, device="cpu")[1].adaptation["target"] == "/data/site_b"


def test_the_adapted_folder_of_a_shipped_detector_holds_the_code_its_config_declares(tmp_path: Path):
    """A shipped detector declares its code (``auto_map``) without the files, which its copies write: the
    adapted folder holds the code and loads where respira is not installed."""
    from respira.hub.remote_code import check_remote_code, write_remote_code
    from respira.models.respira.feature_extraction_respira import feature_extractor_for

    source = tmp_path / "model"
    shipped = tiny_model()
    shipped.save_pretrained(source)
    feature_extractor_for(shipped.config).save_pretrained(source)
    written = write_remote_code(source)
    for name in written.files:  # the shipped layout: auto_map kept, the generated files taken out
        (source / name).unlink()
    model, _ = load_model(source, device="cpu")
    report = adapt_model(model, waveforms(), methods=BOTH, target="/data/site_b", window=1.0, hop=1.0)
    output = write_adapted_model(model, report, source, tmp_path / "adapted")
    assert check_remote_code(output) == sorted(written.files)


def _write_files(folder: Path, count: int = 3) -> list[str]:
    folder.mkdir()
    paths = []
    for i, signal in enumerate(waveforms(count, seed=1)):
        path = folder / f"rec_{i}.wav"
        path.write_bytes(encode_wav(signal, RATE))
        paths.append(str(path))
    return paths


ADAPTING = "adapting: embedding the windows of the target audio (3 recordings)"


def test_predict_adapt_decides_with_the_head_adapted_on_the_files(
    tmp_path: Path, capsys, progress_bars_on: None
):
    source = tmp_path / "model"
    tiny_model().save_pretrained(source)
    files = _write_files(tmp_path / "audio")
    capsys.readouterr()  # the test's own save_pretrained progress bar
    options = ["--window", "1", "--hop", "1", "--adapt_window", "1", "--adapt_hop", "1"]
    with pytest.warns(MeasuredHarmWarning) as caught:
        assert main(["predict", str(source), *files, *options, "--adapt", *BOTH_OPTION]) == 0
    measured = [str(w.message) for w in caught if w.category is MeasuredHarmWarning]
    assert measured == [f"{MEASURED[method]} (BENCHMARKS.md)" for method in BOTH]  # each named one, once
    captured = capsys.readouterr()
    assert "adapted to 9 windows (head_norm)" in captured.err
    assert captured.err.splitlines()[::2] == [ADAPTING, "predicting (3 files)"]  # the stages, one line each
    rows = json.loads(captured.out)
    model, _ = load_model(source, device="cpu")
    signals = [np.asarray(s) for s in waveforms(3, seed=1)]
    adapt_model(model, signals, methods=BOTH, target="files", window=1.0, hop=1.0)
    from respira.inference.engine import predict_windows

    expected = [row for s in signals for row in predict_windows(model, s, window=1.0, hop=1.0)]
    assert [row["label"] for row in rows] == [row["label"] for row in expected]
    assert [row["crackle"] for row in rows] == pytest.approx([row["crackle"] for row in expected], abs=1e-5)
    assert main(["predict", str(source), *files, "--adapt", "--methods", "nope"]) == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_adapt_refuses_bad_requests_in_one_line_before_writing(
    tmp_path: Path, capsys, progress_bars_on: None
):
    source = tmp_path / "model"
    tiny_model().save_pretrained(source)
    target = tmp_path / "target"
    _write_files(target)
    output = tmp_path / "adapted"
    capsys.readouterr()  # the test's own save_pretrained progress bar
    folder = ["--dataset", "folder", *BOTH_OPTION]
    assert (
        main(["adapt", str(source), "--data_dir", str(tmp_path / "nowhere"), "--output_dir", str(output)])
        == 2
    )
    assert "nowhere" in capsys.readouterr().err and not output.exists()
    code = main(["adapt", str(source), "--data_dir", str(tmp_path), "--output_dir", str(output), *folder])
    assert code == 2 and f"no audio files (.wav, .flac) in {tmp_path}" in capsys.readouterr().err
    code = main(
        ["adapt", str(source), "--data_dir", str(target), "--output_dir", str(output), *folder,
         "--adapt_window", "1", "--adapt_hop", "1"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0 and captured.err == f"{ADAPTING}\n", captured.err
    assert "adapted" in captured.out and "on 3 recordings (9 windows)" in captured.out
    code = main(["adapt", str(source), "--data_dir", str(target), "--output_dir", str(source), *folder])
    assert code == 2 and "is MODEL itself" in capsys.readouterr().err
    fresh = tmp_path / "adapted_again"
    plain = tmp_path / "plain"  # single-label, no head_norm: the "adapted" folder was a copy of it
    tiny_model(SINGLE_LABEL, head_norm=False).save_pretrained(plain)
    capsys.readouterr()
    for command in (
        ["adapt", str(plain), "--data_dir", str(target), "--output_dir", str(fresh), *folder],
        ["predict", str(plain), *sorted(map(str, target.iterdir())), "--adapt", *BOTH_OPTION],
    ):
        assert main(command) == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith(f"respira {command[0]}: error: nothing to adapt in this model (head_norm: ")
        assert len(error.splitlines()) == 1
    assert not fresh.exists()


@pytest.mark.real_data
def test_adapt_end_to_end_on_the_real_kauh_recordings(shared_kauh: Path, tmp_path: Path, capsys):
    from respira.data import read_kauh_index

    source = tmp_path / "model"
    tiny_model().save_pretrained(source)
    output = tmp_path / "adapted"
    code = main(
        ["adapt", str(source), "--data_dir", str(shared_kauh), "--dataset", "kauh", "--output_dir",
         str(output), "--adapt_window", "4", "--adapt_hop", "4", *BOTH_OPTION]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recordings = len(read_kauh_index(shared_kauh))
    assert f"on {recordings} recordings" in printed
    _, config = load_model(output, device="cpu")
    assert config.adaptation["recordings"] == recordings
    assert config.adaptation["methods"] == ["head_norm"]
    assert config.decision_thresholds == pytest.approx([0.4, 0.6])
    assert "head_norm: statistics re-estimated" in printed and f"wrote {output}" in printed


def test_evaluate_adapt_scores_the_head_adapted_on_the_split(synthetic_corpus: Path, tmp_path: Path, capsys):
    source = tmp_path / "model"
    tiny_model().save_pretrained(source)
    capsys.readouterr()
    report_dir, cache = tmp_path / "report", tmp_path / "cache"
    code = main(
        ["evaluate", str(source), "--data_dir", str(synthetic_corpus), "--cache_dir", str(cache),
         "--output_dir", str(report_dir), "--adapt", "--adapt_window", "1", "--adapt_hop", "1", *BOTH_OPTION]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert "adapted (head_norm) on" in capsys.readouterr().out
    metrics = json.loads((report_dir / "metrics.json").read_text())
    assert metrics["thresholds"] == pytest.approx([0.4, 0.6])  # head_norm moves no threshold
    code = main(
        ["evaluate", str(source), "--data_dir", str(synthetic_corpus), "--adapt",
         "--thresholds", "0.5", "0.5"]
    )  # fmt: skip
    assert code == 2 and "--thresholds and --adapt both set the thresholds" in capsys.readouterr().err


def test_no_method_is_applied_unless_named(synthetic_corpus: Path, tmp_path: Path, capsys) -> None:
    """DEFAULT_METHODS is empty (no label-free method raised the score on every held-out site of
    leave-one-site-out): adapt, predict --adapt and evaluate --adapt refuse to guess, in one line, before
    reading audio or writing anything; the Python API alike."""
    assert DEFAULT_METHODS == ()
    assert set(MEASURED) == set(BOTH)
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"^name the adaptation to apply \(--methods head_norm\)"):
        adapt_model(model, waveforms(1), target="toy", window=1.0, hop=1.0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    source = tmp_path / "model"
    model.save_pretrained(source)
    files = _write_files(tmp_path / "audio")
    output = tmp_path / "adapted"
    capsys.readouterr()
    for command in (
        ["adapt", str(source), "--data_dir", str(tmp_path / "audio"), "--dataset", "folder", "--output_dir",
         str(output)],
        ["predict", str(source), *files, "--adapt"],
        ["evaluate", str(source), "--data_dir", str(synthetic_corpus), "--adapt", "--output_dir",
         str(output)],
    ):  # fmt: skip
        assert main(command) == 2
        error = capsys.readouterr().err.strip()
        assert (
            error.startswith(f"respira {command[0]}: error: name the adaptation to apply")
            and "\n" not in error
        )
        assert "-5.0 on KAUH" in error
    assert not output.exists()
    with pytest.warns(MeasuredHarmWarning, match=r"^head_norm changed the held-out ICBHI score by \+4\.7"):
        adapt_model(tiny_model(), waveforms(11), methods=["head_norm"], target="toy", window=1.0, hop=1.0)


def _decimals(text: str) -> list[str]:
    """The decimal numbers quoted in ``text`` (signs dropped: "lowered by 9.2" quotes a -9.21)."""
    import re

    return re.findall(r"(?<![\d.])\d+\.\d+(?![\d.])", text)


def test_every_number_the_adaptation_messages_quote_is_in_the_benchmark_sections_they_name() -> None:
    import re

    from respira.commands.adapt import EPILOG
    from respira.sites.adaptation import BENCHMARK_SECTIONS, NO_DEFAULT

    text = (Path(__file__).resolve().parents[2] / "BENCHMARKS.md").read_text(encoding="utf-8")
    sections = ""
    for heading in BENCHMARK_SECTIONS:
        start = text.index(f"\n{heading}")
        end = text.find("\n## ", start + 1)
        sections += text[start : end if end > 0 else None]
    measured = [float(value) for value in re.findall(r"(?<![\d.])\d+\.\d+", sections)]
    messages = {**MEASURED, "NO_DEFAULT": NO_DEFAULT, "adapt --help": EPILOG}
    for name, message in messages.items():
        quoted = _decimals(message)
        assert quoted, name
        for number in quoted:
            tolerance = 0.5 * 10 ** -len(number.split(".")[1]) + 1e-9
            assert any(abs(float(number) - value) <= tolerance for value in measured), (name, number)
    # the worst case and the shipped kind of head are quoted, not only the best case
    for message in (MEASURED["head_norm"], NO_DEFAULT, EPILOG):
        assert "5.0" in message  # KAUH, the worst held-out site
        assert "ICBHI alone" in message and "24.5" in message
    assert "3.8" in NO_DEFAULT and "3.8" in EPILOG
