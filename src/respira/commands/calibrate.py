"""``respira calibrate MODEL --data_dir LABELLED_SAMPLE --output_dir OUT``: few-shot threshold calibration."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data.corpora import corpus_names, scored_corpus
from .options import add_device_option, add_model_argument, corpus_list

EPILOG = """\
The multi-label model scores every labelled example of --data_dir once (ICBHI layout: annotated cycles;
{windowed}: recordings, 4 s windows every 2 s aggregated by their maximum); its (crackle, wheeze) thresholds
are re-tuned on them for the ICBHI score. OUT is the calibrated model folder (config.json carries the
thresholds, README.md a section on the calibration) with calibration.json (scores before/after with
patient-bootstrap intervals), learning_curve.csv and learning_curve.png (held-out ICBHI score against
the number of labelled patients used, mean ± sd over random patient subsets). Nothing is written when
the thresholds to be written do not beat calling every example normal on patients left out of the
tuning one at a time (--apply_anyway writes them, flagged).
"""
"""The epilog, with ``{windowed}`` the recording-labelled corpora (read when the parser is made)."""
_FOLDER = {"cycle": "layout", "recording": "folder", "event": "layout"}
"""What --data_dir holds of a corpus: its annotated layout (cycle labels) or a folder of recordings."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        help="re-tune a model's thresholds on a few labelled recordings of a new site",
        description="Re-tune a multi-label model's decision thresholds on a small labelled sample of a new "
        "site, with a patient-bootstrap interval and a learning curve.",
        epilog=EPILOG.format(windowed=corpus_list(keep=lambda spec: spec.labels != "cycle")),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_argument(parser)
    sample = corpus_list(lambda spec: f"{spec.label} {_FOLDER[spec.labels]}", lambda spec: spec.scored)
    parser.add_argument("--data_dir", required=True, help=f"the labelled sample ({sample})")
    parser.add_argument("--output_dir", required=True, help="folder to create for the calibrated model")
    parser.add_argument(
        "--dataset", choices=corpus_names(), default="icbhi", help="layout of --data_dir (default: icbhi)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument(
        "--bootstrap", type=int, default=1000, help="patient-level bootstrap resamples (default: 1000)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=20,
        help="random patient subsets per learning-curve point (default: 20)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the bootstrap and the subsets (default: 0)"
    )
    parser.add_argument(
        "--apply_anyway",
        action="store_true",
        help="write the re-tuned thresholds even when, one patient left out at a time, they do not beat the "
        "model's (by default the model's are kept then), and write the model even when what is written does "
        "not beat calling every example normal out of sample (by default refused)",
    )
    parser.add_argument("--batch_size", type=int, default=32, help="examples per forward pass")
    add_device_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    from ..decision import is_multi_label, thresholds_of, validate_thresholds
    from ..sites.adaptation import write_derived_model
    from ..hub.loading import load_model
    from ..metrics.baselines import BelowBaseline
    from ..sites.calibration import (
        calibrate,
        calibration_card_section,
        labelled_sample,
        largest_scored_point,
        write_report,
    )
    from ..utils.threads import apply_num_threads
    from .adapt import check_output

    apply_num_threads()
    scored_corpus(args.dataset)
    output_dir = Path(args.output_dir).expanduser()
    check_output(output_dir, args.model, args.overwrite)
    for name in ("bootstrap", "repeats", "batch_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if not Path(args.data_dir).expanduser().is_dir():
        raise FileNotFoundError(f"--data_dir {args.data_dir} does not exist or is not a folder")
    model, config = load_model(args.model, device=args.device)
    if not is_multi_label(config):
        raise ValueError(
            f"{args.model} is a single-label model: it decides by argmax and has no thresholds to calibrate"
        )
    before = thresholds_of(config)
    sample = labelled_sample(model, args.data_dir, args.dataset, batch_size=args.batch_size)
    report = calibrate(
        sample,
        before,
        resamples=args.bootstrap,
        repeats=args.repeats,
        seed=args.seed,
        apply_anyway=args.apply_anyway,
    )
    below = [BelowBaseline.from_dict(entry) for entry in report["below_baseline"]]
    if below and not args.apply_anyway:
        raise ValueError(
            f"nothing written: on {args.data_dir}, {below[0].line()}; a model no better than that is refused "
            "(--apply_anyway writes it, flagged)"
        )
    config.decision_thresholds = list(validate_thresholds(report["thresholds"]))
    config.calibration = {
        k: report[k] for k in ("unit", "examples", "patients", "thresholds_before", "thresholds", "applied")
    }
    config.calibration["data_dir"] = str(args.data_dir)
    write_derived_model(
        model,
        args.model,
        output_dir,
        card_section=calibration_card_section(report, str(args.data_dir)),
        extra=lambda staging: write_report(report, staging),
        overwrite=args.overwrite,
    )
    scores, tuned, held_out = report["icbhi_score"], report["tuned_thresholds"], report["cross_validated"]
    verb = "calibrated" if report["applied"] else "kept the thresholds of"
    print(
        f"{verb} {args.model} on {report['examples']} {report['unit']}s of {report['patients']} patients: "
        f"crackle {before[0]:.3f} → {tuned[0]:.3f}, wheeze {before[1]:.3f} → {tuned[1]:.3f} "
        f"(each patient left out: {held_out['calibrated']:.3f} re-tuned, {held_out['model']:.3f} previous)"
    )
    if not report["applied"]:
        print(
            "  the re-tuned thresholds did not beat the previous ones out of sample "
            "(--apply_anyway writes them)"
        )
    for entry in below:
        print(f"  {entry.flag()}: {entry.line()} (written as --apply_anyway asked)")
    for name, label in (("model", "previous thresholds"), ("calibrated", "calibrated (in sample)")):
        low, high = scores[name]["ci"]
        print(f"  ICBHI score, {label}: {scores[name]['value']:.3f} (95% CI {low:.3f}-{high:.3f})")
    last = largest_scored_point(report["learning_curve"])
    if last is not None:
        print(
            f"  held out, thresholds from {last['patients']} patients: {last['calibrated_mean']:.3f} "
            f"(previous thresholds {last['model_mean']:.3f})"
        )
    print(f"wrote {output_dir} (calibration.json, learning_curve.csv, learning_curve.png)")
