"""``respira prepare``: build a corpus's dataset from a local folder, print a summary, and save it (Parquet +
dataset card) or push it to a Hub dataset repo."""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.corpora import CORPORA, CorpusSpec, corpus_names, get_corpus
from ..models.respira.audio_decoding import DEFAULT_SAMPLING_RATE
from ..options import FOLDERS, SWITCH, corpus_list, flag, option

SPLIT_OPTIONS = ("validation_size", "split_strategy", "patient_split_fractions", "seed")


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    parser = subparsers.add_parser(
        "prepare",
        help=line,
        description="Build the dataset from a local copy of the corpus and print what it holds. "
        "--output_dir writes a folder that datasets.load_dataset(folder) loads (Parquet per split + a "
        "README.md dataset card); --push_to_hub uploads the same folder to a Hub dataset repo.",
        dataclass_types=[prepare_options()],
    )
    parser.add_argument(  # parsed by the builder's own rule (a dataclass field's type is a plain type)
        "--patient_split_fractions",
        type=_fractions,
        metavar="TRAIN,VALIDATION,TEST",
        help=f"{_takes('patient_split_fractions')}, split_strategy patient: the shares of the data (default "
        "0.6,0.2,0.2; a 0 leaves that split out)",
    )


def prepare_options() -> type:
    """``respira prepare``'s options dataclass, for the corpora registered now."""
    configs = tuple(dict.fromkeys(config for spec in CORPORA.values() for config in spec.configs))
    config_help = "; ".join(
        f"{spec.label}: {spec.configs[0]} (default) or {' or '.join(spec.configs[1:])}"
        for spec in CORPORA.values()
        if len(spec.configs) > 1
    )
    stored = ", ".join(f"{spec.stored_name or 'the --config'} for {spec.label}" for spec in CORPORA.values())

    @dataclass(kw_only=True)
    class PrepareOptions:
        data_dir: str = option(
            "data_dir",
            "folder of the corpus download, or several folders read as one corpus",
            required=True,
            **FOLDERS,
        )
        dataset: str = option("dataset", choices=corpus_names())
        output_dir: str | None = option(
            "output_dir", "write the dataset here (Parquet shards + README.md card)"
        )
        overwrite: bool = option("overwrite", "replace a non-empty --output_dir")
        push_to_hub: str | None = flag(None, "upload the dataset to this Hub dataset repo", metavar="REPO")
        private: bool = flag(False, "create the Hub repo private", **SWITCH)
        token: str | None = flag(None, "Hugging Face token (default: the logged-in one)")
        config: str | None = flag(None, config_help, choices=configs)
        config_name: str | None = flag(
            None,
            f"the config's name in the folder / Hub repo, which keep their other configs (default: {stored})",
        )
        sampling_rate: int = flag(
            DEFAULT_SAMPLING_RATE,
            f"rate (Hz) the recordings are resampled to (default {DEFAULT_SAMPLING_RATE})",
        )
        validation_size: float | None = flag(
            None, f"{_takes('validation_size')}, official split: share of train"
        )
        split_strategy: str | None = flag(
            None,
            f"{_takes('split_strategy')}: the official split (default) or a patient-wise one",
            choices=("official", "patient"),
        )
        lowpass_cutoff: float | None = flag(None, "Butterworth low-pass cutoff in Hz")
        lowpass_order: int | None = flag(None, "order of that low-pass (default 4)")
        seed: int | None = flag(None, f"{_takes('seed')}: seed of the validation / patient split (default 0)")
        num_proc: int | None = flag(None, "decode recordings in this many processes")
        cache_dir: str | None = flag(None, "datasets cache folder")

    return PrepareOptions


def _takes(option: str) -> str:
    """The corpora whose builders take split ``option`` (``ICBHI or SPRSOUND``), for its help."""
    return corpus_list(keep=lambda spec: option in spec.split_options)


def _fractions(text: str) -> tuple[float, ...]:
    from ..data.splits import parse_split_fractions

    try:
        return parse_split_fractions(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _builder_options(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The config name and every builder option, validated by the builder's config."""
    from ..data.loaders import builder_options

    spec = get_corpus(args.dataset)
    given = {"sampling_rate": args.sampling_rate}
    if args.lowpass_cutoff:
        given["lowpass_cutoff"] = args.lowpass_cutoff
    if args.lowpass_order is not None:
        given["lowpass_order"] = args.lowpass_order
    misplaced = [
        (f"--{name}", [other for other in CORPORA.values() if name in other.split_options])
        for name in SPLIT_OPTIONS
        if getattr(args, name) is not None and name not in spec.split_options
    ]
    if args.config not in (None, *spec.configs):
        misplaced.append(
            (f"--config {args.config}", [other for other in CORPORA.values() if args.config in other.configs])
        )
    if misplaced:
        owners = ", ".join(dict.fromkeys(other.name for _, others in misplaced for other in others))
        raise ValueError(
            f"{', '.join(flag for flag, _ in misplaced)}: only for --dataset {owners} ({_what(spec)})"
        )
    given.update(
        {name: getattr(args, name) for name in spec.split_options if getattr(args, name) is not None}
    )
    config_name = args.config or spec.configs[0]
    return config_name, builder_options(spec.config_class, config_name, **given)


def _what(spec: CorpusSpec) -> str:
    splits = "/".join(spec.split_roles)
    if len(spec.configs) == 1:
        return f"{spec.label} is one {splits} split of {spec.configs[0]}"
    return f"{spec.label} makes {splits} splits of {' or '.join(spec.configs)}"


def run(args: argparse.Namespace) -> None:
    from ..data.corpus_files import is_synthetic_corpus
    from ..data.dataset_folder import card_configs, check_output_folder, save_dataset_folder, summarize
    from ..hub.push import check_push_target, push_dataset_folder, remote_dataset_card

    config_name, options = _builder_options(args)
    stored_name = args.config_name or get_corpus(args.dataset).stored_name or config_name
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", stored_name):
        raise ValueError(
            f"--config_name {stored_name!r}: use letters, digits, '_', '-' and '.' (a folder name)"
        )
    if args.output_dir:
        check_output_folder(args.output_dir, overwrite=args.overwrite, config_name=stored_name)
    if args.push_to_hub:
        check_push_target(args.push_to_hub, token=args.token)
    started = time.perf_counter()
    build = get_corpus(args.dataset).load()
    dataset = build(
        args.data_dir, config_name=config_name, **options, cache_dir=args.cache_dir, num_proc=args.num_proc
    )
    print(f"{args.dataset.upper()} '{config_name}' dataset ready in {time.perf_counter() - started:.1f} s")
    print(summarize(dataset, args.dataset))
    if not args.output_dir and not args.push_to_hub:
        return
    common = {
        "corpus": args.dataset,
        "config_name": stored_name,
        "builder_config": config_name,
        "options": options,
        "synthetic": is_synthetic_corpus(args.data_dir),
        "repo_id": args.push_to_hub,
    }
    load = repr(args.push_to_hub or str(args.output_dir)) + (
        "" if stored_name == "cycles" else f", {stored_name!r}"
    )
    if args.output_dir:
        folder = Path(args.output_dir).expanduser()
        card = save_dataset_folder(dataset, folder, overwrite=args.overwrite, **common)
        kept = [name for name in card_configs(card.data.to_dict()) if name != stored_name]
        print(f"wrote {folder} (README.md dataset card, Parquet per split"
              + (f"; other configs kept: {', '.join(kept)}" if kept else "")
              + f"); load it with datasets.load_dataset({load})")  # fmt: skip
    if args.push_to_hub:  # this config alone, with a card that keeps the repo's other configs
        with tempfile.TemporaryDirectory(prefix="respira-prepare-") as scratch:
            folder = Path(scratch) / "dataset"
            existing = remote_dataset_card(args.push_to_hub, token=args.token)
            save_dataset_folder(dataset, folder, existing=existing, **common)
            url = push_dataset_folder(folder, args.push_to_hub, private=args.private, token=args.token)
        print(f"pushed to the Hub: {url} (datasets.load_dataset({load}))")
