"""``respira train``: build the data and the model from a recipe, train one run per seed, report.

The output directory gets the kept model (``config.json``, ``model.safetensors``,
``preprocessor_config.json``), ``trainer_state.json``, ``metrics.json`` (test metrics, mean ± std over
seeds), ``respira_run.json`` (the :class:`~respira.run_record.RunRecord`: model, data and split,
seeds, thresholds, hyper-parameters and results), plots, the test split's evaluation report, a model
card and one ``seed_<n>/`` folder per seed with its checkpoints. Among seeds, the model kept at the root
is the one with the best *validation* score; the test split is only ever scored, never used to choose.

The steps live in their own modules: :mod:`~respira.training.datasets` (splits),
:mod:`~respira.training.model_factory`, :mod:`~respira.training.schedules`,
:mod:`~respira.training.seeds` and :mod:`~respira.training.run_folder` (what is written).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..audio import DEFAULT_SAMPLING_RATE
from .arguments import RespiraTrainingArguments
from .datasets import data_record, load_splits, split_sizes
from .recipe import DataArguments, ModelArguments, RunArguments, parse_seeds
from .run_folder import build_run_record, save_kept_model, write_model_card, write_reports
from .seeds import SeedOutcome, results_table, run_seed, select_seed, summarize_seeds


def prepare_output_dir(output_dir: Path, overwrite: bool) -> None:
    """Refuse a folder that already holds a run, unless ``overwrite``."""
    if output_dir.exists() and any(output_dir.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"output_dir {str(output_dir)!r} already holds a run; pass --overwrite to replace it "
                "or choose another --output_dir"
            )
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)


def run_training(
    model_args: ModelArguments,
    data_args: DataArguments,
    run_args: RunArguments,
    args: RespiraTrainingArguments,
    *,
    log=print,
) -> dict[str, Any]:
    """Train every seed of a parsed recipe and write the run folder; return the metrics summary.

    Under ``accelerate launch`` / ``torchrun`` every process trains; only the main process prepares
    the folder, writes files and prints.
    """
    from accelerate import PartialState

    state = PartialState()
    main = state.is_main_process
    log = log if main else (lambda *_: None)
    if args.disable_tqdm:  # also transformers' own bars, e.g. "Writing model shards" at each checkpoint
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    output_dir = Path(args.output_dir)
    seeds = parse_seeds(run_args.seeds, args.seed)
    data = data_record(data_args, DEFAULT_SAMPLING_RATE)  # every model a recipe builds has this rate
    with state.main_process_first():  # one process builds the dataset cache, the others reuse it
        splits = load_splits(data, cache_dir=data_args.dataset_cache_dir, num_proc=data_args.num_proc)
    if args.eval_strategy != "no" and "validation" not in splits:
        raise ValueError(
            "evaluation during training needs a validation split: set validation_size > 0 (official split) "
            "or use split_strategy=patient; the test split is never used for model selection"
        )
    if main:
        prepare_output_dir(output_dir, run_args.overwrite)
    state.wait_for_everyone()
    outcomes: dict[int, SeedOutcome] = {}
    for seed in seeds:
        log(f"== seed {seed}: training ({args.num_train_epochs:g} epochs) ==")
        outcomes[seed] = run_seed(
            model_args, data_args, run_args, args, splits, seed, output_dir / f"seed_{seed}"
        )
    selected = select_seed(outcomes)
    per_seed = {seed: outcome.test for seed, outcome in outcomes.items()}
    summary = summarize_seeds(per_seed)
    summary["selected_seed"] = selected
    if not main:
        state.wait_for_everyone()
        return summary
    kept = outcomes[selected].trainer
    save_kept_model(kept, output_dir, summary)
    record = build_run_record(
        model_args,
        replace(data, split_sizes=split_sizes(splits)),
        run_args,
        args,
        outcomes,
        selected,
        kept.model,
    )
    record.save(output_dir)
    write_reports(kept, splits, output_dir)
    write_model_card(kept, record, output_dir)
    log(results_table(per_seed, {seed: outcome.validation_score for seed, outcome in outcomes.items()}))
    log(f"run written to {output_dir} (model from seed {selected}, chosen on validation)")
    state.wait_for_everyone()
    return summary
