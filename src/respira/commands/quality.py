"""``respira quality MODEL --dataset sprsound --data_dir D --output_dir OUT``: learn a quality verdict."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..data.corpora import corpus_names, get_corpus
from ..options import option
from .options import add_model_argument

EPILOG = """\
The recordings of --split (default train) of a corpus whose recordings carry a poor-quality flag
(SPRSound: record label Poor Quality) are cut into 4-s windows every 2 s; a logistic regression on the
model's pooled embeddings of the windows learns which recordings are too poor to judge
(respira.sites.quality), its threshold chosen out of fold over patient groups. OUT is the model with a
quality head: respira predict,
Detector, evaluate and the ONNX export then give each window a quality probability and withhold the verdict
(label poor_quality) on a recording whose windows' mean reaches the threshold. OUT/quality.json holds the
fit: threshold, out-of-fold AUC, shares of poor and other recordings withheld; the model card gains a
section.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "quality",
        help="learn when a recording is too poor to judge (a quality head)",
        description="Fit a quality head on recordings labelled too poor to judge, so the model withholds its "
        "verdict on them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        dataclass_types=[quality_options()],
    )
    add_model_argument(parser)
    parser.add_argument(  # repeatable: appended, not a dataclass list (whose values one flag replaces)
        "--measure_on",
        action="append",
        default=[],
        metavar="CORPUS=FOLDER",
        help="also measure how often the verdict is withheld on the recordings of another site (a corpus "
        "folder: icbhi=DIR, kauh=DIR, or folder=DIR for audio files directly in DIR); repeatable; the card "
        "and quality.json report it",
    )
    parser.set_defaults(handler=run)


def quality_options() -> type:
    """The dataclass of ``respira quality``'s options (``--dataset``: the corpora registered now)."""

    @dataclass(kw_only=True)
    class QualityOptions:
        dataset: str = field(
            default="sprsound", metadata={"choices": corpus_names(), "help": "default: sprsound"}
        )
        data_dir: str = option("data_dir", required=True)
        split: str = field(default="train", metadata={"help": "its split to learn from (default: train)"})
        output_dir: str = option("output_dir", "folder to create for the model with the head", required=True)
        overwrite: bool = option("overwrite")
        max_withheld: float | None = field(
            default=None,
            metadata={
                "help": "the threshold withholding at most this percentage of the recordings not too poor "
                "to judge (out of fold) instead of the one with the best Youden's J"
            },
        )
        seed: int = field(default=0, metadata={"help": "seed of the patient folds (default: 0)"})
        batch_size: int = option("batch_size")
        cache_dir: str | None = field(default=None, metadata={"help": "datasets cache folder"})
        device: str | None = option("device")

    return QualityOptions


def run(args: argparse.Namespace) -> None:
    from ..audio.decoding import decode_audio
    from ..hub.loading import load_model
    from ..scoring.external import chosen_splits, load_splits
    from ..sites.quality import fit_quality, measure_elsewhere, quality_card_section, write_derived_model
    from ..utils.progress import progress
    from ..utils.threads import apply_num_threads

    apply_num_threads()
    spec = get_corpus(args.dataset)
    if spec.quality_label is None:
        with_label = [name for name in corpus_names() if get_corpus(name).quality_label is not None]
        raise ValueError(
            f"--dataset {spec.name}: its recordings carry no label of quality "
            f"(--dataset {' or '.join(with_label)})"
        )
    splits = chosen_splits(spec, args.split)
    output_dir = Path(args.output_dir).expanduser()
    check_output(output_dir, args.model, args.overwrite)
    if args.batch_size < 1:
        raise ValueError(f"--batch_size must be at least 1, got {args.batch_size}")
    if args.max_withheld is not None and not 0 <= args.max_withheld <= 100:
        raise ValueError(f"--max_withheld is a percentage in [0, 100], got {args.max_withheld}")
    if not Path(args.data_dir).expanduser().is_dir():
        raise FileNotFoundError(f"--data_dir {args.data_dir} does not exist or is not a folder")
    sites = _sites(args.measure_on)  # read before any work: a bad folder is refused at once
    model, config = load_model(args.model, device=args.device)
    rate = int(config.sampling_rate)
    recordings, poor, patients = [], [], []
    dataset = load_splits(spec, args, config, "recordings", splits)  # as evaluate builds them
    for example in progress(dataset, "quality: reading the recordings", unit="recording"):
        recordings.append(decode_audio(example["audio"], rate))
        poor.append(bool(example[spec.quality_label]))
        patients.append(example[spec.group_by])
    fit = fit_quality(
        model,
        recordings,
        poor,
        patients,
        fitted_on=f"{spec.title} ({', '.join(splits)})",
        seed=args.seed,
        batch_size=args.batch_size,
        max_withheld_other=args.max_withheld,
    )
    if sites:
        fit = measure_elsewhere(model, fit, sites, batch_size=args.batch_size)
    write_derived_model(
        model,
        args.model,
        output_dir,
        card_section=quality_card_section(fit),
        extra=lambda staging: (staging / "quality.json").write_text(
            json.dumps(fit.to_config(), indent=2) + "\n", encoding="utf-8"
        ),
        overwrite=args.overwrite,
    )
    print(
        f"quality head for {args.model} from {fit.recordings} recordings of {fit.patients} patients "
        f"({fit.poor} too poor to judge): threshold {fit.threshold:.3f}; out of fold AUC {fit.auc:.1f} %, "
        f"withheld on {fit.withheld_poor:.0f} % of poor and {fit.withheld_other:.0f} % of other recordings"
    )
    for name, values in fit.elsewhere.items():
        print(f"  withheld on {values['withheld']:.0f} % of {values['recordings']} recordings of {name}")
    print(f"wrote {output_dir} (quality.json)")


def _sites(specs: list[str]) -> dict[str, list[Path]]:
    """``--measure_on CORPUS=FOLDER`` values as ``{"CORPUS (FOLDER)": audio files}``."""
    from ..sites.quality import target_recordings

    sites = {}
    for spec in specs:
        corpus, separator, folder = spec.partition("=")
        if not separator or not corpus or not folder:
            raise ValueError(f"--measure_on {spec!r}: expected CORPUS=FOLDER (e.g. kauh=~/data/KAUH)")
        sites[f"{corpus} ({folder})"] = list(target_recordings(folder, corpus).values())
    return sites


def check_output(output_dir: Path, model: str, overwrite: bool) -> None:
    """Refuse, before any work, an output folder that is MODEL itself or is occupied (without overwrite)."""
    from ..pretrained import check_not_shipped
    from ..utils.files import is_occupied

    check_not_shipped(output_dir, "write a model in it: give another --output_dir")
    source = Path(model).expanduser()
    if source.is_dir() and output_dir.resolve() == source.resolve():
        raise ValueError(f"--output_dir {output_dir} is MODEL itself; the new model needs a new folder")
    if output_dir.exists() and not output_dir.is_dir() and not overwrite:
        raise FileExistsError(f"{output_dir} exists and is not a folder; pass --overwrite to replace it")
    if is_occupied(output_dir) and not overwrite:
        raise FileExistsError(
            f"output folder {output_dir} exists and is not empty; pass --overwrite to replace it"
        )
