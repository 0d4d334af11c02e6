"""``respira adapt MODEL --data_dir TARGET --output_dir ADAPTED``: label-free adaptation to a new site."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from ..data.corpora import CORPORA, PRIMARY_CORPUS, CorpusSpec, corpus_names
from ..options import corpus_list, option
from ..sites.options import AdaptationOptions
from .options import add_model_argument

EPILOG = """\
Only the target's audio is read (annotations and the labels in KAUH file names are ignored). --methods
head_norm: the model's head_norm statistics become those of the target's window embeddings. It is not
applied by default: on leave-one-site-out (studies/leave_one_site_out.py, heads trained on two sites) it
raised the held-out score by 4.7 points on average but lowered it by 5.0 on KAUH; on a head trained on
ICBHI alone, as shipped, it lowered KAUH's score from 44.9 to 24.5 (BENCHMARKS.md, "respira adapt"); it warns
so when named. With labels of 5 of the site's patients, respira
calibrate raised a two-site head's score by 9.1 but lowered one trained on ICBHI alone by 3.8 (by 1.2 with
the out-of-sample check it applies by default).
The new folder's config.json carries the thresholds and config.adaptation; its README.md says what it was
adapted on.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "adapt",
        help="adapt a model to a new site's unlabelled recordings (head statistics; opt-in)",
        description="Adapt a model to a new site without labels and write it as a new model folder.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        dataclass_types=[adapt_options(), AdaptationOptions],
    )
    add_model_argument(parser)
    parser.set_defaults(handler=run)


def adapt_options() -> type:
    """The dataclass of ``respira adapt``'s own options (the corpora registered now)."""

    @dataclass(kw_only=True)
    class AdaptOptions:
        data_dir: str = option(
            "data_dir", f"the target site's recordings ({corpus_list()} folder)", required=True
        )
        output_dir: str = option("output_dir", "folder to create for the adapted model", required=True)
        dataset: str = option(
            "dataset",
            f"layout of --data_dir: {', '.join(map(_layout, CORPORA.values()))}, or any folder of "
            ".wav/.flac files (default: icbhi)",
            choices=(*corpus_names(), "folder"),
        )
        overwrite: bool = option("overwrite")
        batch_size: int = option("batch_size")
        device: str | None = option("device")

    return AdaptOptions


def _layout(spec: CorpusSpec) -> str:
    """``an ICBHI download``, ``a KAUH folder``: a corpus's folder as --dataset's help names it."""
    article = "an" if spec.label[:1] in "AEIOU" else "a"
    return f"{article} {spec.label} {'download' if spec.name == PRIMARY_CORPUS else 'folder'}"


def check_output(output_dir: Path, model: str, overwrite: bool) -> None:
    """Refuse, before any work, an output folder that is MODEL itself or is occupied (without overwrite)."""
    from ..utils.files import is_occupied

    source = Path(model).expanduser()
    from ..pretrained import check_not_shipped

    check_not_shipped(output_dir, "write a model in it: give another --output_dir")
    if source.is_dir() and output_dir.resolve() == source.resolve():
        raise ValueError(f"--output_dir {output_dir} is MODEL itself; the adapted model needs a new folder")
    if output_dir.exists() and not output_dir.is_dir() and not overwrite:
        raise FileExistsError(f"{output_dir} exists and is not a folder; pass --overwrite to replace it")
    if is_occupied(output_dir) and not overwrite:
        raise FileExistsError(
            f"output folder {output_dir} exists and is not empty; pass --overwrite to replace it"
        )


def run(args: argparse.Namespace) -> None:
    from ..audio.decoding import read_audio
    from ..hub.loading import load_model
    from ..sites.adaptation import (
        adapt_model,
        adaptation_options,
        check_adaptation_options,
        target_recordings,
        write_adapted_model,
    )
    from ..utils.threads import apply_num_threads

    apply_num_threads()
    output_dir = Path(args.output_dir).expanduser()
    check_output(output_dir, args.model, args.overwrite)
    if args.batch_size < 1:
        raise ValueError(f"--batch_size must be at least 1, got {args.batch_size}")
    recordings = target_recordings(args.data_dir, args.dataset)
    model, config = load_model(args.model, device=args.device)
    check_adaptation_options(model, args)
    rate = int(config.sampling_rate)
    waveforms = (read_audio(path, rate) for _, path in sorted(recordings.items()))
    report = adapt_model(
        model, waveforms, target=str(args.data_dir), batch_size=args.batch_size, **adaptation_options(args)
    )
    write_adapted_model(model, report, args.model, output_dir, overwrite=args.overwrite)
    print(
        f"adapted {args.model} on {report.recordings} recordings ({report.windows} windows) "
        f"of {args.data_dir}"
    )
    for method, reason in report.skipped.items():
        print(f"  {method}: not applied ({reason})")
    if "head_norm" in report.methods:
        print("  head_norm: statistics re-estimated on the target's window embeddings")
    print(f"wrote {output_dir}")
