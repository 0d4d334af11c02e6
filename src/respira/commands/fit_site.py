"""``respira fit-site [MODEL] --data_dir SAMPLE --output_dir OUT``: make a model serve a site from a few of
its labelled patients (:mod:`respira.sites.fit_site`)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from ..sites.options import fit_site_options
from .options import add_model_argument, options_of

NOT_WRITTEN = 1
"""Exit code when nothing was written (the fit is not shown to beat all-normal and the model as is out of
sample): a script that goes on to use OUT stops there."""

EPILOG = """\
The model runs once over every labelled recording (the 4-s windows every 2 s that predict cuts); then,
per label (crackle, wheeze), fit-site fits and judges the candidates: as_is (the model), thresholds
(re-tuned on the site), site_head (a regularised, class-balanced linear head on the encoder's embeddings,
Platt-scaled, its threshold cross-fitted per recording) and anchored_head (the same, starting from the
model's own head). The choice per label is made by inner cross-validation (--selection; thresholds of
the best score expected under probabilities calibrated on the site), and the whole procedure is scored by
nested patient-wise cross-validation: out-of-sample per-recording scores with patient-bootstrap
intervals beside all-normal. Units are patients (the corpus's patient column; a labelled folder without a
`patient` column makes each recording its own unit, and the output says so).

OUT (a complete model folder in Hub layout, like the shipped detector: safetensors, config with the new
thresholds, ONNX, remote code, card, site_fit.json, nested_cv.csv, learning_curve.csv/.png) is written
only when it is shown out of sample that the chosen procedure beats calling every recording normal (the
lower end of its patient-bootstrap 95 % interval lies above all-normal) and the model as is (so does
that of its paired gain over it): the rule by which the card and `predict` say it serves the site
(--site_name; default: the folder's name for --dataset labelled, else the corpus). Otherwise fit-site
prints those scores with their intervals and which part is not shown, writes nothing and exits with
code 1; --apply_anyway writes it, flagged in its card and config, with that warning. Either way it prints
the learning curve's means (the procedure fitted on growing numbers of the sample's patients, scored on
the others) and the fewest drawn patients whose mean reaches the nested cross-validation's score.
--overwrite replaces only a folder fit-site wrote, never one holding other files.
"""


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    parser = subparsers.add_parser(
        "fit-site",
        help=line,
        description="Fit a model to a site's labelled recordings (per label: as is, re-tuned thresholds or a "
        "site head), judge the choice by nested patient-wise cross-validation, and write the fitted model "
        "folder when it is shown to beat the model as is and all-normal out of sample.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        dataclass_types=[options := fit_site_options()],
    )
    add_model_argument(parser)
    parser.set_defaults(handler=run, options_type=options)


def report(result) -> int:
    """Print what the fit did; the exit code (:data:`NOT_WRITTEN` when nothing was written)."""
    if not result.written:
        print(
            f"nothing written: {result.line()}; {result.verdict_line()} (--apply_anyway writes it, flagged)",
            file=sys.stderr,
        )
        if result.curve:
            print(result.curve_line(), file=sys.stderr)
        return NOT_WRITTEN
    print(result.line())
    seconds, audio = result.record["seconds"], result.record["audio_seconds"]
    print(
        f"  {audio:.0f} s of audio embedded in {seconds['embedding']:.0f} s; the candidates fitted and "
        f"judged in {seconds['fitting']:.0f} s"
    )
    if result.record["applied_anyway"]:
        print(f"warning: written as --apply_anyway asked, flagged: {result.verdict_line()}", file=sys.stderr)
    else:
        print(f"  {result.verdict_line()}")
    if result.curve:
        print(result.curve_line())
    thresholds = ", ".join(f"{t:.3f}" for t in result.thresholds)
    print(
        f"wrote {result.output_dir} (thresholds {thresholds}; site_fit.json, nested_cv.csv, "
        "learning_curve.png)"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    from ..sites.fit_site import fit_site_folder

    options = asdict(options_of(args, args.options_type))
    return report(fit_site_folder(args.model, **options, say=lambda line: print(line, file=sys.stderr)))
