"""``respira fit-site [MODEL] --data_dir SAMPLE --output_dir OUT`` (:mod:`respira.sites.fit_site`)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from ..options import add_model_argument, options_of
from ..sites.options import fit_site_options

NOT_WRITTEN = 1
"""Exit code when nothing was written (the fit did not beat the model out of sample)."""

EPILOG = """\
The model runs once over every labelled recording (4-s windows every 2 s), or not at all where respira
suggest cached its view of the recording, unchanged since, beside the folder's labels.csv
(.respira_suggest/); then, per label, fit-site fits and judges the candidates: as_is, thresholds
(re-tuned on the site), site_head (a linear head on the encoder's embeddings) and anchored_head (the
same, from the model's own head). Inner cross-validation
chooses per label (--selection); nested patient-wise cross-validation scores the whole
procedure out of sample, with patient-bootstrap intervals beside all-normal.

A label is fitted (its head or threshold) only where the nested cross-validation shows its own gain: the
paired 95 % interval of the score with that label fitted minus the model as is above 0, and its AUC
interval above 50; any other label keeps the base model's head and threshold (and its recording rule), the
procedure is judged again without it, and every output says per label which it is.

OUT (a complete model folder in Hub layout with site_fit.json, nested_cv.csv and learning_curve.csv/.png)
is written only when the procedure is shown out of sample to beat all-normal and the model as is (the
lower ends of their 95 % intervals above them) with at least one label fitted; otherwise fit-site prints
the scores, writes nothing and exits with code 1 (--apply_anyway writes it, flagged). --chosen_by STUDY
writes the one procedure --candidates names on both labels whatever this sample shows, because the study
whose results file it names chose it out of sample elsewhere (e.g. leave one site out): the record names
the file and its SHA-256, and the nested cross-validation still scores it here. --overwrite replaces only a
folder fit-site wrote.
"""


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    parser = subparsers.add_parser(
        "fit-site",
        help=line,
        description="Fit a model to a site's labelled recordings (per label: as is, re-tuned thresholds or a "
        "site head), judge the choice by nested patient-wise cross-validation, and write the fitted model "
        "folder when it is shown to beat the model as is and all-normal out of sample.",
        epilog=EPILOG,
        dataclass_types=[options := fit_site_options()],
    )
    add_model_argument(parser)
    parser.set_defaults(options_type=options)


def run(args: argparse.Namespace) -> int:
    """Fit, print what the fit did; the exit code (:data:`NOT_WRITTEN` when nothing was written)."""
    from ..sites.fit_site import fit_site_folder

    result = fit_site_folder(args.model, **asdict(options_of(args, args.options_type)))
    if not result.written:
        print(
            f"nothing written: {result.line()}; {result.verdict_line()} (--apply_anyway writes it, flagged)",
            file=sys.stderr,
        )
        print(result.labels_line(), file=sys.stderr)
        if result.curve:
            print(result.curve_line(), file=sys.stderr)
        return NOT_WRITTEN
    print(result.line())
    seconds, audio = result.record.seconds, result.record.audio_seconds
    print(
        f"  {audio:.0f} s of audio embedded in {seconds['embedding']:.0f} s; the candidates fitted and "
        f"judged in {seconds['fitting']:.0f} s"
    )
    study = result.record.chosen_by
    if result.record.applied_anyway:
        print(f"warning: written as --apply_anyway asked, flagged: {result.verdict_line()}", file=sys.stderr)
    elif study:
        print(
            f"  written as the study of --chosen_by {study['file']} chose ({study['procedure']} on both "
            f"labels), whatever this sample shows; here {result.verdict_line()}"
        )
    else:
        print(f"  {result.verdict_line()}")
    print(f"  {result.labels_line()}")
    if result.curve:
        print(result.curve_line())
    thresholds = ", ".join(f"{t:.3f}" for t in result.thresholds)
    print(
        f"wrote {result.output_dir} (thresholds {thresholds}; site_fit.json, nested_cv.csv, "
        "learning_curve.png)"
    )
    return 0
