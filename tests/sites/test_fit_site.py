"""``respira fit-site`` and :func:`respira.fit_site` end to end (respira.sites.fit_site): one line and nothing
written when the fit does not beat the model as is and all-normal out of sample, the folder written and
flagged with --apply_anyway, bad input refused before any work."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import respira
from respira.cli import main
from respira.models.respira.decision import thresholds_of
from respira.records.site_fit import NESTED_CV_FILE, SITE_FIT_FILE, SiteFitRecord
from respira.records.site_verdict import format_gain
from respira.records.sites import sites_line
from respira.sites import SiteSample
from respira.utils.files import staged_folder
from respira.utils.tables import format_percent, format_score

from ..data.test_labelled import write_labelled
from .conftest import faint_crackle_sample
from .test_site_folder import tiny_site_model

SITE = tuple(  # 6 patients, two recordings each: a normal one and a crackle or wheeze one
    (f"p{p}_{r}.wav", "1" if r == 1 and p % 2 else "0", "1" if r == 1 and not p % 2 else "0", f"p{p}", "", "",
     1.5)
    for p in range(6)
    for r in range(2)
)  # fmt: skip


def config_site(folder: Path) -> str:
    return json.loads((folder / "config.json").read_text())["calibration"]["site_name"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_labelled(tmp_path_factory.mktemp("site"), SITE)


def stub_graph(model: object, path: Path, **_: object) -> None:
    """A placeholder graph that onnxruntime opens (one identity node), not the model's."""
    import onnx
    from onnx import TensorProto, helper

    values = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [None]) for name in ("x", "y")]
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "stub", values[:1], values[1:])
    onnx.save_model(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path)
    )


@pytest.fixture
def graph_stub(monkeypatch: pytest.MonkeyPatch) -> None:
    """A placeholder for the ONNX graph (its export is the dearest step of a fit-site run; the graph a
    fit-site writes is checked in test_the_python_entry_returns_the_result_and_what_it_wrote)."""
    import respira.hub.export

    monkeypatch.setattr(respira.hub.export, "export_onnx", stub_graph)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    tiny_site_model(folder)
    return folder


def test_nothing_is_written_unless_it_beats_the_model_and_all_normal(
    site: Path, model: Path, tmp_path: Path, graph_stub: None, capsys, caplog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from respira.sites import out_of_sample

    monkeypatch.setattr(out_of_sample.SiteFit, "applies", property(lambda self: False))
    output = tmp_path / "out"
    code = main(
        ["fit-site", str(model), "--data_dir", str(site), "--output_dir", str(output), "--outer_folds", "3"]
    )
    captured = capsys.readouterr()
    assert code == 1 and not output.exists()
    (line,) = [line for line in captured.err.splitlines() if line.startswith("nothing written")]
    assert "nested cross-validation over 6 patients" in line and "all-normal 50.0" in line
    assert "--apply_anyway" in line
    code = main(
        ["fit-site", str(model), "--data_dir", str(site), "--output_dir", str(output), "--outer_folds", "3",
         "--apply_anyway"]
    )  # fmt: skip
    written = capsys.readouterr()
    assert code == 0, written.err
    record = json.loads((output / SITE_FIT_FILE).read_text())
    assert record["applied_anyway"] and not record["applies"]
    assert (record["units"], record["recordings"], record["units_are_patients"]) == (6, 12, True)
    assert record["seconds"]["embedding"] > 0 and record["audio_seconds"] == pytest.approx(18.0)
    assert [row["candidate"] for row in record["nested_cv"]][-2:] == ["chosen", "all_normal"]
    # both runs print the scores with their patient-bootstrap intervals (the same seed: the same rows)
    # and the rule's verdict: what is not shown, as the card and predict say it
    rows = {row["candidate"]: row for row in record["nested_cv"]}
    verdict = SiteFitRecord.from_json(record).verdict()  # per label too: no label gains on its own here
    chosen = rows["chosen"]
    gain = (chosen["gain_over_as_is"], (chosen["gain_over_as_is_low"], chosen["gain_over_as_is_high"]))
    (printed,) = [said for said in written.out.splitlines() if said.startswith("out of sample on ")]
    for said in (line, printed):
        for name in ("chosen", "as_is"):
            row = rows[name]
            assert format_score(row["icbhi_score"], [row["icbhi_score_low"], row["icbhi_score_high"]]) in said
        assert "patient-bootstrap 95 % intervals" in said
        assert f"gain over the model as is {format_gain(*gain)}" in said
    assert not verdict.serves and f"not shown {' nor '.join(verdict.not_shown())}" in line
    (warning,) = [said for said in written.err.splitlines() if said.startswith("warning: written as")]
    assert warning.endswith(f"not shown {' nor '.join(verdict.not_shown())}")
    # the ONNX optimiser's note on an initializer it did not deduplicate is not the user's
    assert not [r for r in caplog.records if "deduplication" in r.getMessage()]
    # the folder is named by its site (the folder's name), never "labelled", in every sites line
    assert record["site_name"] == site.name and config_site(output) == site.name
    said_by_predict = sites_line(output)
    assert said_by_predict.startswith(
        f"serves no site it was scored on; not shown to beat calling every recording normal on {site.name} "
        "recordings (fitted here"
    )
    assert "labelled" not in said_by_predict
    assert (output / NESTED_CV_FILE).read_text().startswith("candidate,")
    # the learning curve is said, not only drawn: each size's mean of the CSV's draws, printed in both runs
    import pandas as pd

    curve = pd.read_csv(output / "learning_curve.csv")
    means = (
        curve[curve.candidate.isin(["chosen", "as_is"])].groupby(["units", "candidate"]).icbhi_score.mean()
    )
    draws = curve[curve.candidate == "chosen"].groupby("units")
    kept = draws.chosen.apply(lambda chosen: int((chosen == "as_is/as_is").sum()))
    count = draws.size()

    def kept_words(units: int) -> str:
        if not kept[units]:
            return ""
        if kept[units] == count[units]:
            return f", every one of its {count[units]} draws kept the model as is"
        return f", {kept[units]} of its {count[units]} draws kept the model as is"

    points = ", ".join(  # each draw scored on the 6 patients less those it was fitted on
        f"{units}: {100 * means[units, 'chosen']:.1f} ({100 * means[units, 'as_is']:.1f}) on "
        f"{6 - units} held-out patients{kept_words(units)}"
        for units in sorted(set(curve.units))
    )
    said = captured.err.splitlines() + written.out.splitlines()
    printed = [line for line in said if line.startswith("learning curve")]
    assert len(printed) == 2 and all(
        f"by labelled patients: {points} (if it still rises" in line for line in printed
    ), printed
    # how many patients reached the nested CV's score, read from the draws alone
    reached = [
        units for units in sorted(set(curve.units)) if means[units, "chosen"] >= rows["chosen"]["icbhi_score"]
    ]
    goal = f"the nested cross-validation's {format_percent(rows['chosen']['icbhi_score'])} on all 6 patients"
    reach = (
        f"its mean first reaches {goal} at {reached[0]} labelled patients (on {6 - reached[0]} held-out "
        "patients"
        if reached
        else f"no size drawn reaches {goal}"
    )
    assert all(reach in line for line in printed), printed
    config = json.loads((output / "config.json").read_text())
    assert config["calibration"]["applied_anyway"] is True
    assert config["decision_thresholds"] == pytest.approx(record["thresholds"])
    assert "Written with `--apply_anyway`" in (output / "README.md").read_text()
    from respira.sites.choice import SELECTION

    # the rules it fitted with are recorded and said on the card
    assert (record["selection"], record["threshold_rule"]) == (SELECTION, "expected")
    assert f"Choice rule: `{SELECTION}`" in (output / "README.md").read_text()


@pytest.fixture(scope="module")
def site_head_fit(site: Path, model: Path, tmp_path_factory: pytest.TempPathFactory) -> respira.SiteFitResult:
    """``respira.fit_site`` with the site head as candidate, its ONNX graph exported (two tests read it)."""
    output = tmp_path_factory.mktemp("site_head") / "out"
    return respira.fit_site(
        str(model), data_dir=str(site), output_dir=str(output), outer_folds=3, apply_anyway=True,
        candidates=["site_head"],
    )  # fmt: skip


def test_the_python_entry_returns_the_result_and_what_it_wrote(
    site: Path,
    model: Path,
    site_head_fit: respira.SiteFitResult,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import onnxruntime

    import respira.hub.export
    from respira.hub.onnx import ONNX_FILE, OUTPUT_NAMES

    result = site_head_fit
    assert isinstance(result, respira.SiteFitResult) and result.written
    session = onnxruntime.InferenceSession(str(result.output_dir / ONNX_FILE))  # the graph, for onnxruntime
    assert [output.name for output in session.get_outputs()][:2] == list(OUTPUT_NAMES)[:2]
    monkeypatch.setattr(respira.hub.export, "export_onnx", stub_graph)
    # the default rules, or those asked for, are the ones fitted with
    asked = respira.fit_site(
        str(model), data_dir=str(site), output_dir=str(tmp_path / "asked"), outer_folds=3, apply_anyway=True,
        candidates=["as_is", "thresholds"], selection="bonferroni",
    )  # fmt: skip
    assert asked.record.selection == "bonferroni"
    assert "Choice rule: `bonferroni`" in (tmp_path / "asked" / "README.md").read_text()
    assert asked.output_dir == tmp_path / "asked"
    assert set(result.chosen) <= {"as_is", "site_head"}  # as_is: always a candidate
    assert result.score("all_normal") == pytest.approx(0.5)
    detector = respira.Detector.from_pretrained(result.output_dir, device="cpu")
    assert thresholds_of(detector.config) == pytest.approx(result.thresholds)
    with pytest.raises(respira.api.OptionError, match="unknown_option"):
        respira.fit_site(str(model), data_dir=str(site), output_dir=str(tmp_path / "x"), unknown_option=3)


def test_a_folder_that_names_no_patient_is_refused_before_any_model_loads(
    model: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 82: recordings counted as patients made "patient-wise" intervals of recordings of one patient
    on both sides of a fold; fit-site refuses such a folder in one line that says how to name them."""
    import respira.inference.detector

    monkeypatch.setattr(
        respira.inference.detector.Detector, "from_pretrained", lambda *a, **k: pytest.fail("model loaded")
    )
    site = write_labelled(tmp_path / "site", SITE, columns="file,crackle,wheeze")
    output = tmp_path / "out"
    code = main(["fit-site", str(model), "--data_dir", str(site), "--output_dir", str(output)])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1 and not output.exists(), error
    assert "names no patient: fit-site keeps each patient's recordings in one fold" in error[0]
    assert "respira suggest --patient_pattern REGEX writes it" in error[0]
    assert "e.g. '[BDE]P(\\d+)' for KAUH's" in error[0]  # as a shell takes it: one backslash


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("occupied", "holds no record of what respira wrote in it"),  # so no "pass --overwrite"
        ("few", "fit-site needs at least 4"),
        (
            "trunk",
            "hidden layer (head_hidden_size): a site head needs a linear head on a frozen encoder; only "
            "--candidates as_is thresholds are possible",
        ),
        ("folds", "--outer_folds must be a whole number >= 2"),
        ("foreign", "out/mine.txt was not written by respira: move it away or choose another output folder"),
        ("site_name", "--site_name must be 1 to 80 printable characters without '|', got 'a|b'"),
        ("selection", "invalid choice: 'lucky'"),
    ],
)
def test_bad_input_is_refused_in_one_line_before_any_audio_is_read(
    site: Path,
    model: Path,
    tmp_path: Path,
    capsys,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
    message: str,
) -> None:
    from respira.sites import site_sample

    monkeypatch.setattr(site_sample, "embed_recordings", lambda *a, **k: pytest.fail("embedded"))
    output, data, extra = tmp_path / "out", site, []
    if change == "foreign":  # even beside what fit-site wrote: respira never deletes what it did not write
        with staged_folder(output, overwrite=False) as staging:
            (staging / SITE_FIT_FILE).write_text(json.dumps({"procedure": "fit-site"}))
        extra = ["--overwrite"]
    if change in ("occupied", "foreign"):
        output.mkdir(exist_ok=True)
        (output / "mine.txt").write_text("keep")
    if change == "site_name":
        extra = ["--site_name", "a|b"]
    if change == "few":
        data = write_labelled(tmp_path / "few", SITE[:6])
    if change == "trunk":
        tiny_site_model(tmp_path / "trunk", head_hidden_size=8)
        extra = ["--candidates", "site_head"]
    if change == "folds":
        extra = ["--outer_folds", "1"]
    if change == "selection":
        extra = ["--selection", "lucky"]
    used = tmp_path / "trunk" if change == "trunk" else model
    capsys.readouterr()
    code = main(["fit-site", str(used), "--data_dir", str(data), "--output_dir", str(output), *extra])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1 and message in error[0], error
    if change == "foreign":
        assert "mine.txt" in error[0] and (output / "mine.txt").read_text() == "keep"
    elif change == "occupied":
        assert [p.name for p in output.iterdir()] == ["mine.txt"]
    else:
        assert not output.exists()


def test_a_folder_fit_site_wrote_is_replaced_by_overwrite_and_the_model_is_named_once(
    site: Path, model: Path, tmp_path: Path, graph_stub: None, capsys
) -> None:
    first = tmp_path / "first"
    fit = [
        "--data_dir",
        str(site),
        "--outer_folds",
        "3",
        "--apply_anyway",
        "--candidates",
        "as_is",
        "thresholds",
    ]
    assert main(["fit-site", str(model), "--output_dir", str(first), *fit, "--site_name", "ward 4"]) == 0
    report = first / "evaluation_kauh"  # what respira evaluate --record writes there is respira's too
    with staged_folder(report, overwrite=True) as staging:
        (staging / "metrics.json").write_text("{}")
    capsys.readouterr()
    # a fitted folder as MODEL: its sites line names it once, and its site is the one it was fitted on
    assert main(["fit-site", str(first), "--output_dir", str(tmp_path / "second"), *fit]) == 0
    notices = [line for line in capsys.readouterr().err.splitlines() if line.startswith("model: ")]
    assert len(notices) == 1 and "ward 4 recordings (fitted here" in notices[0], notices
    code = main(["fit-site", str(model), "--output_dir", str(first), *fit, "--overwrite"])
    assert code == 0, capsys.readouterr().err
    assert json.loads((first / SITE_FIT_FILE).read_text())["site_name"] == site.name
    assert not report.exists()


def test_a_site_head_chosen_on_the_sample_is_what_the_folder_computes(
    site: Path, site_head_fit: respira.SiteFitResult
):
    result = site_head_fit
    fit = result.record.fit
    detector = respira.Detector.from_pretrained(result.output_dir, device="cpu")
    from respira.sites.site_sample import embed_recordings, read_site_recordings

    sample = embed_recordings(detector, read_site_recordings(site).recordings, progress=False)
    heads = [flag for flag, chosen in enumerate(result.chosen) if chosen == "site_head"]
    expected = sample.embeddings.astype(np.float64) @ np.array(fit["head_weight"]).T + np.array(
        fit["head_bias"]
    )
    np.testing.assert_allclose(sample.base_logits[:, heads], expected[:, heads], atol=1e-4)


def test_a_rule_fit_site_does_not_know_is_refused_from_python_before_any_work(tmp_path: Path) -> None:
    from respira.sites.fit_site import fit_site_folder

    with pytest.raises(ValueError, match=r"^--selection must be one of one_se_units, bonferroni, got 'x'$"):
        fit_site_folder("no-such-model", tmp_path / "none", tmp_path / "out", selection="x")
    assert not (tmp_path / "out").exists()


def test_it_reads_the_view_suggest_cached_beside_labels_csv_and_fits_the_same(
    model: Path, tmp_path: Path, graph_stub: None, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """fit-site on an archive ``suggest`` ran on: the model's view of its labelled recordings, unchanged
    since, is read from suggest's cache beside ``labels.csv`` (the model does not run), and the fit is the
    one embedding them gives."""
    import respira.inference.detector
    from respira.sites.suggest import CACHE_FOLDER

    archive = write_labelled(tmp_path / "archive", (*SITE, ("p6_0.wav", "", "", "p6", "", "", 1.5)))
    respira.suggest(str(model), data_dir=str(archive), budget=1, output=str(archive / "labels.csv"))
    options = {"outer_folds": 3, "apply_anyway": True, "candidates": ["thresholds"]}
    (archive / CACHE_FOLDER).rename(tmp_path / "aside")
    embedded = respira.fit_site(str(model), data_dir=str(archive), output_dir=str(tmp_path / "a"), **options)
    (tmp_path / "aside").rename(archive / CACHE_FOLDER)
    capsys.readouterr()
    monkeypatch.setattr(
        respira.inference.detector.Detector, "embed", lambda *a, **k: pytest.fail("the model ran again")
    )
    cached = respira.fit_site(str(model), data_dir=str(archive), output_dir=str(tmp_path / "b"), **options)
    said = capsys.readouterr().err
    assert (
        f"the model's view of 12 of the 12 labelled recordings read from suggest's cache, {archive}" in said
    )
    assert cached.chosen == embedded.chosen and cached.thresholds == pytest.approx(embedded.thresholds)
    assert [row["icbhi_score"] for row in cached.scores] == pytest.approx(
        [row["icbhi_score"] for row in embedded.scores]
    )
    assert cached.record.audio_seconds == pytest.approx(embedded.record.audio_seconds) == 18.0


def test_onnx_false_writes_the_folder_without_the_graph(
    site: Path, model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--onnx false`` skips the export (its dearest step): no ``model.onnx``, and the card and checksums
    do not name one; the folder loads and decides as a written one does."""
    import respira.hub.export

    monkeypatch.setattr(respira.hub.export, "export_onnx", lambda *a, **k: pytest.fail("exported"))
    output = tmp_path / "out"
    command = [
        "fit-site",
        str(model),
        "--data_dir",
        str(site),
        "--output_dir",
        str(output),
        "--outer_folds",
        "3",
    ]
    assert main([*command, "--apply_anyway", "--candidates", "thresholds", "--onnx", "false"]) == 0
    assert not (output / "model.onnx").exists()
    assert "model.onnx" not in (output / "checksums.sha256").read_text()
    assert "onnxruntime alone" not in (output / "README.md").read_text()
    fitted = respira.Detector.from_pretrained(output, device="cpu")
    assert thresholds_of(fitted.config) == pytest.approx(
        json.loads((output / SITE_FIT_FILE).read_text())["thresholds"]
    )


NO_CRACKLE = tuple(  # 6 patients, a normal and a wheeze recording each: no crackle recording
    (f"p{p}_{r}.wav", "0", "1" if r == 1 else "0", f"p{p}", "", "", 1.5) for p in range(6) for r in range(2)
)


def test_labels_without_a_crackle_recording_leave_crackle_as_the_model_has_it(
    model: Path, tmp_path: Path, graph_stub: None, capsys: pytest.CaptureFixture[str], progress_bars_on: None
) -> None:
    """Issue 73: crackle is left alone, its threshold and the model's recording rule (one for both labels)
    kept, and every place the card, the line and predict's sites line state its result says why."""
    from respira.models.respira.decision import aggregation_of

    site = write_labelled(tmp_path / "ward", NO_CRACKLE)
    base = respira.Detector.from_pretrained(model, device="cpu").config
    result = respira.fit_site(
        str(model), data_dir=str(site), output_dir=str(tmp_path / "out"), outer_folds=3, apply_anyway=True
    )
    assert "embedding the labelled recordings of 6 patients (12 recordings)" in capsys.readouterr().err
    fitted = respira.Detector.from_pretrained(result.output_dir, device="cpu").config
    assert result.chosen[0] == "as_is" and result.thresholds[0] == pytest.approx(thresholds_of(base)[0])
    assert thresholds_of(fitted)[0] == pytest.approx(thresholds_of(base)[0])
    assert aggregation_of(fitted) == aggregation_of(base)
    words = "not measurable here: no crackle recording among the labelled"
    assert result.record.not_measurable == {"crackle": words}
    assert f"crackle left as the model has it: {words}" in result.line()
    card = (result.output_dir / "README.md").read_text()
    assert f"Per label: crackle left as the base model has it (its head and threshold): {words}" in card
    (fitted_row,) = [line for line in card.splitlines() if line.startswith("| ward | fitted here")]
    assert fitted_row.endswith(f" crackle {words} |")  # the Not detected column: not "none"
    table = card[card.index("| procedure | ICBHI-style score") :].split("\n\n")[0].splitlines()[2:]
    assert table and all(row.split(" | ")[4] == words for row in table)  # each crackle AUC cell
    assert f"crackle {words} (ward)" in sites_line(result.output_dir)


def test_the_learning_curve_line_says_when_every_draw_kept_the_model_and_on_how_many_patients() -> None:
    """Issue 73: "reaches 70.8 at 8 labelled patients" where each of the 3 draws at 8 kept the model as is
    and was scored on the 2 patients left: the line says both."""
    from respira.sites.fit_site import SiteFitResult, curve_means

    choices = {4: ["site_head/as_is", "as_is/as_is", "site_head/as_is"], 8: ["as_is/as_is"] * 3}
    means = {4: (0.6, 0.5), 8: (0.708, 0.708)}
    curve = [
        {
            "units": units,
            "draw": draw,
            "candidate": name,
            "chosen": choices[units][draw],
            "icbhi_score": score,
        }
        for units in (4, 8)
        for draw in range(3)
        for name, score in zip(("chosen", "as_is"), means[units], strict=True)
    ]
    scores = [{"candidate": "chosen", "icbhi_score": 0.70}, {"candidate": "as_is", "icbhi_score": 0.69}]
    record = SimpleNamespace(units=10, units_are_patients=True)  # what the line reads of the record
    result = SiteFitResult(
        None, ("as_is", "as_is"), (0.5, 0.5), scores, False, False, record, curve_means(curve)
    )
    line = result.curve_line()
    assert "mean of up to 3 draws" in line
    assert "4: 60.0 (50.0) on 6 held-out patients, 1 of its 3 draws kept the model as is, " in line
    assert "8: 70.8 (70.8) on 2 held-out patients, every one of its 3 draws kept the model as is " in line
    assert line.endswith(
        "its mean first reaches the nested cross-validation's 70.0 on all 10 patients at 8 labelled patients "
        "(on 2 held-out patients; every draw there kept the model as is: the model's own score, not a fit's)"
    )


FAINT = faint_crackle_sample()
FAINT_SITE = tuple(
    (f"{r.recording_id}.wav", str(int(r.crackle)), str(int(r.wheeze)), r.unit, "", "", 1.5)
    for r in FAINT.recordings
)


def _faint_embedded(detector: respira.Detector, recordings: list, **_: object) -> SiteSample:
    """fit-site's embedding pass stubbed: :data:`FAINT`'s rows of ``FAINT_SITE``'s recordings, in their order
    (``_1``: a patient's second recording), at the model's thresholds."""
    from dataclasses import replace

    order = [FAINT.units.tolist().index(r.unit) + int(r.path.stem.endswith("_1")) for r in recordings]
    part = FAINT.subset(np.asarray(order))
    return replace(part, recordings=tuple(recordings), base_thresholds=thresholds_of(detector.config))


def test_a_label_is_fitted_only_where_its_own_gain_is_shown_and_every_output_says_so(
    model: Path,
    tmp_path: Path,
    graph_stub: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 82: crackle was fitted with an AUC interval reaching 50 and the page said the model serves
    the site. Here wheeze gains nothing (the model reads it right), which the choice re-tuned anyway with
    the recording rule: only crackle is fitted; wheeze keeps the base model's head row, threshold and rule
    bit for bit; fit-site, the card, model-index, predict, the page and ``detectors`` say it per label."""

    import safetensors.numpy
    import yaml

    from respira.models.respira.decision import aggregation_of, flag_order
    from respira.pretrained import shipped
    from respira.sites import site_sample

    monkeypatch.setattr(site_sample, "embed_recordings", _faint_embedded)
    site = write_labelled(tmp_path / "ward", FAINT_SITE)
    output = tmp_path / "out"
    assert main(["fit-site", str(model), "--data_dir", str(site), "--output_dir", str(output)]) == 0
    printed = capsys.readouterr().out
    record = json.loads((output / SITE_FIT_FILE).read_text())
    crackle, wheeze = record["labels"]["crackle"], record["labels"]["wheeze"]
    assert crackle["served"] and crackle["candidate"] in ("site_head", "anchored_head")
    assert crackle["gain_low"] > 0 and crackle["auc_low"] > 0.5
    assert not wheeze["served"] and wheeze["candidate"] == "as_is" and not wheeze["gain_low"] > 0
    assert record["chosen"] == [crackle["candidate"], "as_is"] and record["applies"]
    # wheeze is the base model's, bit for bit: its row of the linear layer, its threshold, the rule
    base, fitted = (safetensors.numpy.load_file(folder / "model.safetensors") for folder in (model, output))
    row = flag_order(respira.Detector.from_pretrained(model, device="cpu").config)[1]
    for name in ("classifier.1.weight", "classifier.1.bias"):
        np.testing.assert_array_equal(fitted[name][row], base[name][row])
    assert not np.array_equal(fitted["classifier.1.weight"], base["classifier.1.weight"])  # crackle's
    configs = [json.loads((folder / "config.json").read_text()) for folder in (model, output)]
    assert thresholds_of(configs[1])[1] == thresholds_of(configs[0])[1]
    assert aggregation_of(configs[1]) == aggregation_of(configs[0])
    # every output says it per label, from the one record
    words = SiteFitRecord.from_json(record).verdict().labels_words()
    assert words.startswith("crackle fitted (") and "; wheeze left as the base model has it" in words
    assert f"per label on ward: {words}" in printed
    card = (output / "README.md").read_text()
    (served_row,) = [line for line in card.splitlines() if line.startswith("| ward | fitted here")]
    assert f"per label: {words} |" in served_row and f"Per label: {words}" in card
    index = yaml.safe_load(card.split("---")[1])["model-index"][0]["results"]
    (fitted_result,) = [r for r in index if "labels_served" in r["metrics"][0].get("args", {})]
    assert fitted_result["metrics"][0]["args"]["labels_served"] == {"crackle": True, "wheeze": False}
    line = sites_line(output)
    assert "per label it serves crackle: ward recordings; wheeze: no site" in line and words in line
    wav = site / FAINT_SITE[0][0]
    assert main(["predict", str(output), str(wav), "--output", str(tmp_path / "p.csv")]) == 0
    assert f"model: {output}; it {line}" in capsys.readouterr().err
    assert main(["export", str(output), str(tmp_path / "page"), "--web"]) == 0
    assert json.loads((tmp_path / "page" / "respira-web.json").read_text())["model_line"].endswith(line)
    package = tmp_path / "pretrained"
    package.mkdir()
    (package / "ward-crackle-wheeze").symlink_to(output)
    monkeypatch.setattr(shipped, "_PACKAGE", package)
    capsys.readouterr()
    assert main(["detectors"]) == 0
    assert "crackle: ward recordings; wheeze: no site" in capsys.readouterr().out


def test_chosen_by_writes_the_study_s_procedure_on_both_labels_and_names_the_study(
    model: Path,
    tmp_path: Path,
    graph_stub: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 83: the default detector's head is chosen by a leave-one-site-out study, not by fit-site's
    within-site verdict. On the sample where fit-site alone keeps wheeze as is (the test above),
    ``--chosen_by`` writes the site head on both labels, says per label that the study chose it and
    whether its own gain is shown here, and the record names the study's file and its SHA-256."""
    import hashlib

    from respira.sites import site_sample

    monkeypatch.setattr(site_sample, "embed_recordings", _faint_embedded)
    site = write_labelled(tmp_path / "ward", FAINT_SITE)
    study = tmp_path / "choose.json"
    study.write_text(json.dumps({"rule": "leave one site out"}))
    output = tmp_path / "out"
    command = ["fit-site", str(model), "--data_dir", str(site), "--output_dir", str(output)]
    assert main([*command, "--candidates", "site_head", "--chosen_by", str(study)]) == 0
    printed = capsys.readouterr().out
    record = json.loads((output / SITE_FIT_FILE).read_text())
    digest = hashlib.sha256(study.read_bytes()).hexdigest()
    assert record["chosen_by"] == {"file": "choose.json", "sha256": digest, "procedure": "site_head"}
    assert record["chosen"] == ["site_head", "site_head"] and record["selection"] == "given"
    assert not record["applied_anyway"]
    wheeze = record["labels"]["wheeze"]
    assert wheeze["candidate"] == "site_head" and wheeze["given"] and wheeze["served"]
    words = SiteFitRecord.from_json(record).verdict().labels_words()
    assert "wheeze fitted (site head, as the study chose; here not shown: " in words
    assert "written as the study of --chosen_by choose.json chose (site_head on both labels)" in printed
    base, fitted = (
        json.loads((folder / "config.json").read_text()) for folder in (model, output)
    )  # the wheeze threshold is the site head's, not the base model's
    assert thresholds_of(fitted)[1] != thresholds_of(base)[1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--chosen_by", "STUDY"], "pass --candidates with exactly one of"),
        (["--chosen_by", "STUDY", "--candidates", "site_head", "thresholds"], "exactly one of"),
        (
            ["--chosen_by", "STUDY", "--candidates", "site_head", "--selection", "bonferroni"],
            "no --selection",
        ),
        (["--chosen_by", "MISSING", "--candidates", "site_head"], "not a readable JSON results file"),
    ],
)
def test_chosen_by_is_refused_in_one_line_before_any_audio_is_read(
    site: Path, model: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, extra, message
) -> None:
    from respira.sites import site_sample

    monkeypatch.setattr(site_sample, "embed_recordings", lambda *a, **k: pytest.fail("embedded"))
    study = tmp_path / "study.json"
    study.write_text("{}")
    extra = [{"STUDY": str(study), "MISSING": str(tmp_path / "none.json")}.get(e, e) for e in extra]
    output = tmp_path / "out"
    code = main(["fit-site", str(model), "--data_dir", str(site), "--output_dir", str(output), *extra])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1 and message in error[0], error
    assert not output.exists()


def test_several_icbhi_folders_are_one_sample_and_a_folder_named_twice_is_refused(
    shared_icbhi: Path, shared_icbhi_cycles: Path, model: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    """``fit-site --dataset icbhi --data_dir A B`` reads both folders' patients as one sample (issue 83: the
    default detector's head on all 65 ICBHI patients); one folder named twice: one line, nothing read."""
    from respira.sites import site_sample

    seen: list = []

    def embedded(detector: respira.Detector, recordings: list, **_: object) -> SiteSample:
        seen.extend(recordings)
        raise ValueError("stop here")

    monkeypatch.setattr(site_sample, "embed_recordings", embedded)
    output = tmp_path / "out"
    command = ["fit-site", str(model), "--dataset", "icbhi", "--output_dir", str(output), "--data_dir"]
    assert main([*command, str(shared_icbhi), str(shared_icbhi_cycles)]) == 2
    assert "stop here" in capsys.readouterr().err
    patients = {r.unit for r in seen}
    folders = {Path(r.path).resolve().parents[1] for r in seen}
    assert folders == {shared_icbhi.resolve(), shared_icbhi_cycles.resolve()} and len(patients) == 65
    seen.clear()
    assert main([*command, str(shared_icbhi), str(shared_icbhi)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "names the folder" in error[0] and "twice" in error[0] and not seen
