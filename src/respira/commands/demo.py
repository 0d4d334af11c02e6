"""``respira demo``: synthetic corpus → dataset → CNN with the ADD loss (``demo_recipe.yaml``) → test scores
→ Hub-ready export → two test recordings predicted and drawn."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models.respira.labels import MULTI_LABEL_NAMES
from ..options import flag, option
from ..utils.files import check_folder_target, check_output_folder, is_occupied, staged_folder
from ..utils.tables import format_number, format_table

RECIPE = Path(__file__).with_name("demo_recipe.yaml")
PARTS: tuple[str, ...] = ("synthetic_icbhi", "run", "export", "predictions")
"""What the demo writes in ``--output_dir`` (besides its dataset cache) and replaces with ``--overwrite``."""


@dataclass(kw_only=True)
class DemoOptions:
    output_dir: str = flag("demo_output", "folder the demo writes into")
    n_patients: int = flag(12, "patients of the synthetic corpus")
    seed: int = flag(0, "seed of the corpus and the run")
    overwrite: bool = option(
        "overwrite", "replace the corpus, run and export of an earlier demo in --output_dir"
    )


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    from ..training.recipe import DATACLASSES

    parser = subparsers.add_parser(
        "demo", dataclass_types=[DemoOptions], help=line, recipe_fields=DATACLASSES
    )
    parser.set_defaults(accepts_overrides=True)


def check_output_dir(output_dir: Path, *, overwrite: bool) -> None:
    """Refuse an ``output_dir`` holding an earlier demo unless ``overwrite``."""
    check_folder_target(output_dir)
    if output_dir.is_symlink() or (output_dir.exists() and not output_dir.is_dir()):
        raise NotADirectoryError(f"--output_dir {output_dir} is a file, not a folder")
    for part in (output_dir / name for name in PARTS[1:]):  # the corpus writer keeps to its own entries
        check_output_folder(part, overwrite=True)  # what --overwrite would refuse: said without it too
    taken = ", ".join(f"{name}/" for name in PARTS if is_occupied(output_dir / name))
    if taken and not overwrite:
        raise FileExistsError(
            f"{output_dir} already holds a demo ({taken}); pass --overwrite to replace it, "
            "or choose another --output_dir"
        )


def _checked_recipe(args: argparse.Namespace, output_dir: Path) -> tuple[Any, ...]:
    """The demo's recipe for ``output_dir``, its options and ``output_dir`` checked before any work."""
    from ..synthetic.plan import MIN_PATIENTS
    from ..training.recipe import parse_recipe
    from ..training.run_checks import validate_run

    corpus, run_dir = output_dir / PARTS[0], output_dir / PARTS[1]
    cache = output_dir / "cache"
    check_output_dir(output_dir, overwrite=args.overwrite)
    if args.n_patients < MIN_PATIENTS:
        raise ValueError(f"--n_patients {args.n_patients}: the demo needs at least {MIN_PATIENTS} patients")
    flags = ["--data_dir", str(corpus), "--output_dir", str(run_dir), "--overwrite", "true"]
    flags += ["--dataset_cache_dir", str(cache), "--seed", str(args.seed), *args.overrides]
    recipe = parse_recipe(RECIPE, flags)
    validate_run(*recipe, corpus_written_later=True)
    return recipe


def _print_test_scores(metrics: dict[str, Any], run_dir: Path) -> None:
    """The run's test ICBHI score, specificity and sensitivity, and where its evaluation lies."""
    score, specificity, sensitivity = (
        format_number(metrics[f"test_{name}"], missing="n/a")
        for name in ("icbhi_score", "specificity", "sensitivity")
    )
    print(
        f"test ICBHI score {score} (specificity {specificity}, sensitivity {sensitivity}); "
        f"confusion matrix, embedding projection and ADD properties in {run_dir / 'evaluation_test'}"
    )


def run(args: argparse.Namespace) -> None:
    import datasets

    from ..data import summarize
    from ..data.run_splits import load_splits
    from ..hub.export import export_model
    from ..inference.detector import Detector
    from ..synthetic import make_synthetic_icbhi
    from ..training.data import first_fold_record
    from ..training.run import run_training

    output_dir = Path(args.output_dir)
    corpus, run_dir, export_dir, predictions = (output_dir / name for name in PARTS)
    recipe = _checked_recipe(args, output_dir)
    datasets.disable_progress_bars()
    started = time.perf_counter()

    def stage(number: int, text: str) -> None:
        print(f"\n[{number}/6 · {time.perf_counter() - started:5.1f} s] {text}", flush=True)

    stage(1, f"writing a synthetic ICBHI-format corpus ({args.n_patients} patients) to {corpus}")
    make_synthetic_icbhi(corpus, n_patients=args.n_patients, seed=args.seed, overwrite=True)

    record = first_fold_record(recipe[0], recipe[1])
    stage(2, f"building the cycle dataset ({record.sampling_rate} Hz, {record.split_strategy} split)")
    print(summarize(load_splits(record, cache_dir=recipe[1].dataset_cache_dir)))

    stage(3, f"training the CNN with the ADD auxiliary loss (recipe {RECIPE.name})")
    metrics = run_training(*recipe).metrics  # metrics.json: an undefined score is None

    stage(4, "evaluation on the test split (never used for selection)")
    _print_test_scores(metrics, run_dir)

    stage(5, f"exporting a Hub-ready folder to {export_dir}")
    export_model(run_dir, export_dir, overwrite=True)
    print(", ".join(sorted(path.name for path in export_dir.iterdir() if not path.name.startswith("."))))

    recordings = plot_recordings(corpus)
    stage(6, f"predicting the annotated cycles of {len(recordings)} test recordings with the exported model")
    detector = Detector.from_pretrained(export_dir, device="cpu")
    with staged_folder(predictions, overwrite=True) as staging:  # an earlier demo's pictures: replaced
        _predict(detector, recordings, staging)
    print(
        f"\nplots (spectrogram, crackle and wheeze probabilities, predicted and annotated labels) in "
        f"{predictions}: {', '.join(f'{path.stem}.png' for path in recordings)}"
    )
    print(f"\ndemo finished in {time.perf_counter() - started:.0f} s; everything is in {output_dir}")
    print(f"\ntry the model in your browser:\n  respira app {export_dir}")


def _predict(detector: Any, recordings: list[Path], folder: Path) -> None:
    """Print each recording's predicted cycles and draw it in ``folder``."""
    for recording in recordings:
        annotation = recording.with_suffix(".txt")
        prediction = detector.predict_file(recording, annotations=annotation)
        rows = prediction.rows
        print(f"\n{recording.name} ({len(rows)} cycles)")
        formats = {"start": ".2f", "end": ".2f", **dict.fromkeys(MULTI_LABEL_NAMES, ".3f")}
        formats |= {"label": "", "annotated_label": ""}
        table = [[format(row[key], spec) for key, spec in formats.items()] for row in rows]
        print(format_table(table, ["start", "end", *MULTI_LABEL_NAMES, "label", "annotated"], align=">>>><<"))
        detector.plot(
            recording, folder / f"{recording.stem}.png", prediction=prediction, annotations=annotation
        )


def plot_recordings(corpus: Path, count: int = 2) -> list[Path]:
    """The ``count`` test recordings with the most adventitious cycles (crackles first), to draw."""
    from ..data.text_files import read_icbhi_index

    index = read_icbhi_index(corpus)
    flags = index[index["official_split"] == "test"].groupby("recording")[list(MULTI_LABEL_NAMES)].sum()
    ranked = sorted((-min(c, 1) - min(w, 1), -(c + w), stem) for stem, c, w in flags.itertuples())
    return [corpus / "ICBHI_final_database" / f"{stem}.wav" for *_, stem in ranked[:count]]
