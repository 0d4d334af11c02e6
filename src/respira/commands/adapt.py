"""``respira adapt MODEL --data_dir TARGET --output_dir ADAPTED``: label-free adaptation to a new site."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.corpora import CORPORA, PRIMARY_CORPUS, CorpusSpec, corpus_names
from .options import add_model_argument, corpus_list, option

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


@dataclass(kw_only=True)
class AdaptationOptions:
    """The options ``adapt`` shares with ``predict --adapt`` and ``evaluate --adapt``."""

    methods: list[str] | None = field(
        default=None,
        metadata={
            "choices": ("head_norm",),
            "help": "what to re-estimate on the target; none by default: on leave-one-site-out it did not "
            "raise the score on every held-out site (BENCHMARKS.md), so name what you apply, and read its "
            "warning",
        },
    )
    adapt_window: float = field(
        default=4.0, metadata={"help": "window length in seconds over the target (default 4)"}
    )
    adapt_hop: float = field(default=2.0, metadata={"help": "hop between windows (default 2)"})


def adaptation_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of :func:`respira.sites.adaptation.adapt_model` from the shared options."""
    return {
        "methods": args.methods,
        "window": args.adapt_window,
        "hop": args.adapt_hop,
    }


def check_options(model: Any, args: argparse.Namespace) -> None:
    """Every adaptation option checked on the loaded model before any audio is read."""
    from ..inference.engine import _window_samples
    from ..sites.adaptation import check_adaptation

    check_adaptation(model, methods=args.methods)
    _window_samples(model, args.adapt_window, args.adapt_hop, 1)


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
    from ..sites.adaptation import adapt_model, target_recordings, write_adapted_model
    from ..utils.threads import apply_num_threads

    apply_num_threads()
    output_dir = Path(args.output_dir).expanduser()
    check_output(output_dir, args.model, args.overwrite)
    if args.batch_size < 1:
        raise ValueError(f"--batch_size must be at least 1, got {args.batch_size}")
    recordings = target_recordings(args.data_dir, args.dataset)
    model, config = load_model(args.model, device=args.device)
    check_options(model, args)
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


def adapt_on_split(model: Any, split: Any, args: argparse.Namespace, target: str) -> None:
    """``--adapt``: adapt ``model`` in memory to the audio of the examples it is about to score (their
    labels are not read)."""
    from ..audio.decoding import decode_audio
    from ..sites.adaptation import adapt_model

    rate = int(model.config.sampling_rate)
    audio = split.select_columns(["audio"])
    report = adapt_model(
        model,
        (decode_audio(example["audio"], rate) for example in audio),
        target=target,
        batch_size=args.batch_size,
        **adaptation_options(args),
    )
    print(f"adapted ({', '.join(report.methods) or 'nothing applied'}) on {report.windows} windows")
