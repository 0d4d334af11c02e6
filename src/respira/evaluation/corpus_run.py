"""``respira evaluate MODEL --dataset kauh|sprsound``: a corpus scored at the model's own thresholds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..data.corpora import CorpusSpec
from ..models.respira.decision import aggregation_of
from ..models.respira.windows import DEFAULT_HOP_SECONDS, DEFAULT_WINDOW_SECONDS
from ..options import aggregation_options

WINDOW_DEFAULTS: dict[str, Any] = {
    "window": DEFAULT_WINDOW_SECONDS,
    "hop": DEFAULT_HOP_SECONDS,
    "aggregation": None,  # the model's own rule (aggregation_of, once the model is loaded)
    "bootstrap": 1000,
}
"""The options of recording-labelled corpora and their defaults; an ICBHI evaluation refuses them."""


def default_output_dir(args: Any, name: str, prefix: str = "evaluation") -> Path:
    """Where an evaluation's report goes (``--output_dir``, else ``./<prefix>_<name>``), checked first."""
    from ..pretrained import check_not_shipped
    from ..records.sites import BUILD_RECORD
    from ..utils.files import check_output_folder

    if getattr(args, "record", False):
        if args.output_dir:
            raise ValueError(
                f"--record writes MODEL/{prefix}_{name}; --output_dir {args.output_dir} writes elsewhere: "
                "give one of them"
            )
        folder = Path(args.model).expanduser()
        if not folder.is_dir():
            raise ValueError(f"--record writes into a local model folder; {args.model} is none")
        check_not_shipped(folder, "record an evaluation in it: write the report")
        if (folder / BUILD_RECORD).is_file():
            raise ValueError(
                f"--record: {folder} was built by make detector (or make site-detectors) and claims only "
                f"the evaluations its {BUILD_RECORD} lists; write the report elsewhere (--output_dir)"
            )
        return check_output_folder(folder / f"{prefix}_{name}", overwrite=True)
    output = Path(args.output_dir) if args.output_dir else Path(f"{prefix}_{name}")
    check_not_shipped(output, "write a report in it: write it")
    return check_output_folder(output, overwrite=True)


def _check_external_options(args: Any, spec: CorpusSpec) -> None:
    if args.thresholds is not None:
        raise ValueError(
            f"--thresholds does not apply to --dataset {spec.name}: external validation decides at the "
            "model's own thresholds (config.decision_thresholds, else 0.5), never at values chosen on the "
            "validation corpus"
        )
    if not args.data_dir or args.dataset_name:
        raise ValueError(
            f"--dataset {spec.name} reads a folder of the {spec.label} recordings: pass --data_dir <folder>"
        )
    if args.validation_size is not None or args.split_strategy is not None:
        raise ValueError(
            f"--validation_size and --split_strategy make ICBHI splits; {spec.label} is scored on its own "
            "splits"
        )
    for name, default in WINDOW_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)


def chosen_splits(spec: CorpusSpec, split: str) -> list[str]:
    """The builder splits ``--split`` names: one of the spec's, ``all``, or ``test`` (each ``*test``)."""
    if split == "all":
        return list(spec.split_roles)
    if split in spec.split_roles:
        return [split]
    tests = [role for role in spec.split_roles if role.endswith("test")]
    if split == "test" and tests:
        return tests
    roles = ", ".join(repr(role) for role in (*spec.split_roles, "all"))
    raise ValueError(f"--split {split!r}: {spec.label}'s splits are {roles}")


def run_external(args: Any, spec: CorpusSpec) -> Path:
    """``--dataset`` a corpus other than ICBHI's cycles: checked, scored; returns the report folder."""
    from ..data.corpus_files import shown_dirs
    from ..hub.loading import load_model
    from ..records.sites import scored_model
    from .event_corpus import evaluate_event_corpus
    from .external_validation import evaluate_recordings
    from .recording_report import (
        never_called_lines,
        print_event_corpus,
        recording_level_table,
        unmeasurable_line,
    )

    _check_external_options(args, spec)
    splits = chosen_splits(spec, args.split)
    args.aggregation, top_k = aggregation_options(args)
    output_dir = default_output_dir(args, spec.name)
    spec.check_folder(args.data_dir, splits)
    model, config = load_model(args.model, device=args.device)
    if args.aggregation is None:  # the model's own rule
        args.aggregation, top_k = aggregation_of(config)
    options = {name: getattr(args, name) for name in ("window", "hop", "aggregation", "batch_size")}
    options |= {"output_dir": output_dir, "top_k": top_k, "resamples": args.bootstrap, "seed": args.seed or 0}
    options |= {"group_column": spec.group_column, "scored_model": scored_model(args.model)}
    options |= _site_claim(args, spec, top_k)
    if spec.labels == "recording":
        dataset = load_splits(spec, args, config, spec.configs[0], splits)
        metrics = evaluate_recordings(model, dataset, **options)
        thresholds = metrics["thresholds"]
        print(
            f"{args.model} on {spec.label} ({metrics['num_recordings']} recordings, "
            f"{metrics['num_patients']} patients), {metrics['aggregation']['description']}; thresholds "
            f"crackle {thresholds['crackle']:.2f}, wheeze {thresholds['wheeze']:.2f} "
            f"({thresholds['source']}):"
        )
        print(recording_level_table(metrics))
        for line in never_called_lines(metrics):
            print(line)
        lacking = unmeasurable_line(metrics, f"--data_dir {shown_dirs(args.data_dir)} ({spec.label})")
        if lacking is not None:
            print(lacking)
    else:
        events = load_splits(spec, args, config, "events", splits)
        recordings = load_splits(spec, args, config, "recordings", splits)
        metrics = evaluate_event_corpus(model, events, recordings, **options)
        print_event_corpus(args.model, spec, splits, metrics)
    if "site_claim" in metrics:  # a fitted site detector's score beside its card's claim
        from ..records.site_claim import claim_line

        print(claim_line(metrics["site_claim"], options["claim"]))
    print(f"wrote {', '.join(metrics['files'])} to {output_dir}")
    return output_dir


def load_splits(spec: CorpusSpec, args: Any, config: Any, config_name: str, splits: list[str]):
    """``spec``'s ``config_name`` built as the model's training recordings were, as one dataset."""
    from datasets import concatenate_datasets

    from ..models.respira.audio_decoding import input_preprocessing

    whole = spec.labels == "recording" or config_name == "recordings"  # evaluate_recordings filters them
    options = {"sampling_rate": int(config.sampling_rate)} if whole else input_preprocessing(config)
    options |= {
        name: getattr(args, name) for name in spec.split_options if getattr(args, name, None) is not None
    }
    options |= {"parts": splits} if spec.split_parts else {}
    built = spec.load()(args.data_dir, config_name=config_name, cache_dir=args.cache_dir, **options)
    parts = [built[name] for name in splits]
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


def _site_claim(args: Any, spec: CorpusSpec, top_k: int | None) -> dict[str, Any]:
    """What a fit-site model's card claims of its site, and why these recordings cannot be compared."""
    from ..hub.loading import local_model_folder
    from ..models.respira.windows import describe_aggregation
    from ..records.sites import site_claim

    claim = site_claim(local_model_folder(args.model))
    if claim is None:
        return {}
    blocker = ""
    if spec.name != claim.dataset:
        blocker = f"these recordings are read as {spec.name}; the fit read its site as {claim.dataset}"
    elif (args.aggregation, top_k) != claim.aggregation:
        blocker = (
            f"{describe_aggregation(args.aggregation, top_k)} is not the fit's recording rule "
            f"({describe_aggregation(*claim.aggregation)})"
        )
    return {"claim": claim, "claim_blocker": blocker}
