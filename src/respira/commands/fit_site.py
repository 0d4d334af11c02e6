"""``respira fit-site [MODEL] --data_dir SAMPLE --output_dir OUT``: make a model serve a site from a few of
its labelled patients (:mod:`respira.sites.fit_site`)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

from ..data.corpora import corpus_names
from .options import SWITCH, add_model_argument, corpus_list, embedding_batch_size, option

CANDIDATE_NAMES: tuple[str, ...] = ("as_is", "thresholds", "anchored_head", "site_head")
"""``--candidates``' choices (:data:`respira.sites.fit_site.CANDIDATES`, named here so that building the
parser imports no fitting code)."""
SELECTION_NAMES: tuple[str, ...] = ("one_se_units", "bonferroni")
"""``--selection``'s choices (:data:`respira.sites.procedure.SELECTIONS`)."""
THRESHOLD_RULE_NAMES: tuple[str, ...] = ("tuned", "expected")
"""``--threshold_rule``'s choices (:data:`respira.sites.procedure.THRESHOLD_RULES`)."""
NOT_WRITTEN = 1
"""Exit code when nothing was written (the fit is not shown to beat all-normal and the model as is out of
sample): a script that goes on to use OUT stops there."""

EPILOG = """\
The model runs once over every labelled recording (the 4-s windows every 2 s that predict cuts); then,
per label (crackle, wheeze), fit-site fits and judges the candidates: as_is (the model), thresholds
(re-tuned on the site), site_head (a regularised, class-balanced linear head on the encoder's embeddings,
Platt-scaled, its threshold cross-fitted per recording) and anchored_head (the same, starting from the
model's own head). The choice per label is made by inner cross-validation (--selection; thresholds by
--threshold_rule), and the whole procedure is
scored by nested patient-wise cross-validation: out-of-sample per-recording scores with patient-bootstrap
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


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fit-site",
        help="make a model serve a site: fit it on a few labelled patients, judged out of sample",
        description="Fit a model to a site's labelled recordings (per label: as is, re-tuned thresholds or a "
        "site head), judge the choice by nested patient-wise cross-validation, and write the fitted model "
        "folder when it is shown to beat the model as is and all-normal out of sample.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        dataclass_types=[fit_site_options()],
    )
    add_model_argument(parser, optional=True)
    parser.set_defaults(handler=run)


_FOLDER = {"cycle": "layout", "recording": "folder", "event": "layout"}
"""What --data_dir holds of a corpus: its annotated layout (cycle or event labels) or a folder."""


def fit_site_options() -> type:
    """The dataclass of ``fit-site``'s options, its help naming the corpora registered when the parser is
    built."""
    sample = corpus_list(lambda spec: f"{spec.label} {_FOLDER[spec.labels]}", lambda spec: spec.scored)

    @dataclass(kw_only=True)
    class FitSiteOptions:
        data_dir: str = option("data_dir", f"the labelled sample ({sample})", required=True)
        dataset: str = field(
            default="labelled",
            metadata={
                "choices": corpus_names(),
                "help": "layout of --data_dir (default: labelled, a folder with labels.csv)",
            },
        )
        site_name: str | None = field(
            default=None,
            metadata={
                "help": "what the card and every sites line call the site (default: the folder's name for "
                "--dataset labelled, else the corpus)"
            },
        )
        output_dir: str = option("output_dir", "folder to create for the fitted model", required=True)
        overwrite: bool = option("overwrite")
        apply_anyway: bool = field(
            default=False,
            metadata={
                "help": "write the model even when it is not shown out of sample to beat the model as is "
                "and all-normal (flagged in its card and config, with a warning)",
                **SWITCH,
            },
        )
        candidates: list[str] | None = field(
            default=None,
            metadata={
                "choices": CANDIDATE_NAMES,
                "help": "procedures to choose from per label (default: all; as_is and thresholds only "
                "for a model whose head cannot take a site head)",
            },
        )
        selection: str | None = field(
            default=None,
            metadata={
                "choices": SELECTION_NAMES,
                "help": "how the inner cross-validation may replace the model as is: one_se_units (default: "
                "a gain above one standard error, never while an inner fold must lack a normal or an "
                "abnormal patient) or bonferroni (cautious: it rarely leaves the model as is)",
            },
        )
        threshold_rule: str | None = field(
            default=None,
            metadata={
                "choices": THRESHOLD_RULE_NAMES,
                "help": "how thresholds are set from the labelled recordings: expected (default: the best "
                "score expected under calibrated probabilities) or tuned (the best score of the labels)",
            },
        )
        outer_folds: int = field(default=5, metadata={"help": "outer folds of the nested CV (default 5)"})
        seed: int = field(default=0, metadata={"help": "seed of the folds and the bootstrap (default 0)"})
        batch_size: int | None = embedding_batch_size()
        device: str | None = option("device")
        threads: int | None = option("threads")

    return FitSiteOptions


def fit_from_args(args: argparse.Namespace):
    """Run the fit the parsed options describe (``MODEL`` already resolved by
    :func:`~respira.commands.options.model_or_default`, which names it) and return its
    :class:`~respira.sites.fit_site.SiteFitResult` (what :func:`respira.fit_site` returns)."""
    from ..sites.fit_site import fit_site_folder
    from ..utils.threads import apply_num_threads

    apply_num_threads(requested=args.threads)  # BENCHMARKS.md: fit-site beside other work
    return fit_site_folder(
        args.model,
        args.data_dir,
        args.output_dir,
        dataset=args.dataset,
        site_name=args.site_name,
        apply_anyway=args.apply_anyway,
        outer_folds=args.outer_folds,
        seed=args.seed,
        candidates=args.candidates,
        selection=args.selection,
        threshold_rule=args.threshold_rule,
        batch_size=args.batch_size,
        overwrite=args.overwrite,
        device=args.device,
        say=lambda line: print(line, file=sys.stderr),
    )


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
    return report(fit_from_args(args))
