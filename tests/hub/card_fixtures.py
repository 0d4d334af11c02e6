"""Card fixtures: model cards rendered from hand-written run folders, to test the card template.

Each example is the run folder ``respira train`` would write (``config.json``, ``trainer_state.json``
and the run record ``respira_run.json``), written to a temporary folder and rendered with the
template shipped in ``respira.hub``. No weights are written: the parameter count in the record comes
from building the model on PyTorch's meta device. The numbers are hand-written illustrative values for runs
on the *synthetic* corpus (``respira demo`` / ``make_synthetic_icbhi``), and every card says so.

They are test fixtures only, never shown to users as examples: a real card comes from a real run
(``respira train`` / ``respira export``; the shipped detector's from ``make detector``).
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from respira import RespiraConfig, RespiraForAudioClassification
from respira.hub import card_data_from_run_dir, render_model_card
from respira.hub.card_render import _template
from respira.hub.card_results import site_fit_context
from respira.hub.remote_code import remote_code_files
from respira.models.respira.encoders import get_encoder_spec
from respira.models.respira.labels import MULTI_LABEL
from respira.records.run import (
    DataRecord,
    MetricsRecord,
    ModelRecord,
    RunRecord,
    SeedResult,
    SplitSize,
    TrainingRecord,
)
from respira.records.site_fit import SiteFitRecord

NOTE = (
    "This card is a test fixture rendered by `tests/hub/card_fixtures.py` from a hand-written run "
    "folder. Its numbers are illustrative values for a run on the **synthetic corpus**, not results on "
    "the ICBHI 2017 database, and no weights accompany it."
)
SYNTHETIC_SPLITS = {
    "train": SplitSize(cycles=301, patients=19),
    "validation": SplitSize(cycles=74, patients=5),
    "test": SplitSize(cycles=187, patients=16),
}


def _seed_metrics(per_seed: list[dict[str, float]]) -> MetricsRecord:
    """Results of a multi-seed run: mean and (population) std of each test metric, and every seed's own."""
    results = [
        SeedResult(seed=entry["seed"], test={k: v for k, v in entry.items() if k != "seed"})
        for entry in per_seed
    ]
    names = list(results[0].test)
    test, test_std = {}, {}
    for name in names:
        values = torch.tensor([result.test[name] for result in results], dtype=torch.float64)
        test[name] = round(values.mean().item(), 4)
        test_std[name] = round(values.std(unbiased=False).item(), 4)
    return MetricsRecord(test=test, test_std=test_std, per_seed=results)


def _scores(
    seed: int, specificity: float, sensitivity: float, binary: float, patient: float
) -> dict[str, float]:
    return {
        "seed": seed,
        "icbhi_score": round((specificity + sensitivity) / 2, 4),
        "specificity": specificity,
        "sensitivity": sensitivity,
        "binary_sensitivity": binary,
        "binary_icbhi_score": round((specificity + binary) / 2, 4),
        "patient_icbhi_score": patient,
    }


SYNTHETIC_DATASET = DataRecord(
    data_dir=None,
    sampling_rate=16000,
    synthetic=True,
    split_strategy="official",
    validation_size=0.2,
    split_seed=0,
    split_sizes=SYNTHETIC_SPLITS,
)
"""What both example runs were trained on (the split their cards describe)."""


def _synthetic_run(
    recipe: str, model: ModelRecord, metrics: MetricsRecord, hyperparameters: dict[str, Any]
) -> RunRecord:
    """The run record of an example trained with ``recipes/{recipe}.yaml`` on the synthetic split, 3 seeds."""
    return RunRecord(
        recipe=recipe,
        model=model,
        data=SYNTHETIC_DATASET,
        training=TrainingRecord(hyperparameters=hyperparameters),
        seeds=[0, 1, 2],
        selected_seed=0,
        metrics=metrics,
    )


AST_CONFIG: dict[str, Any] = {
    "encoder_config": {"model_type": get_encoder_spec("ast").model_type, "max_length": 1024},
    "encoder_name_or_path": get_encoder_spec("ast").default_checkpoint,
    "problem_type": MULTI_LABEL,
    "target_seconds": 8.0,
    "pooling": "cls_distill",
    "freeze_encoder": True,
}

EXAMPLES: dict[str, dict[str, Any]] = {
    # the contrastive-embedding paper's CNN with the ADD auxiliary loss, 3 seeds
    "example_cnn_add": {
        "config": {"target_seconds": 5.12},
        "published": "respira push RUN REPO --onnx",  # shipped code (push's default) and model.onnx
        "run": _synthetic_run(
            "cnn_add",
            ModelRecord(encoder="cnn", options={"target_seconds": 5.12}),
            _seed_metrics(
                [
                    _scores(0, 0.8623, 0.6712, 0.7808, 0.7514),
                    _scores(1, 0.8417, 0.6986, 0.7945, 0.7602),
                    _scores(2, 0.8791, 0.6438, 0.7671, 0.7390),
                ]
            ),
            {
                "learning_rate": 1e-3,
                "num_train_epochs": 30,
                "per_device_train_batch_size": 32,
                "weight_decay": 1e-4,
                "lr_scheduler_type": "cosine",
                "aux_loss": "add",
                "aux_loss_weight": 0.5,
                "aux_loss_options": json.dumps({"soft": False}),  # dict options are JSON text, as in recipes
                "batch_sampler": "group_by_metadata",
                "augmentation": json.dumps(
                    {"white_noise": {"snr_db": [20, 40], "probability": 0.5}, "gain": None}
                ),
                "metric_for_best_model": "icbhi_score",
                "seed": 0,
            },
        ),
        "state": {
            "global_step": 300,
            "epoch": 30.0,
            "best_metric": 0.7402,
            "best_global_step": 230,
            "log_history": [
                {
                    "eval_icbhi_score": 0.7402,
                    "eval_specificity": 0.8511,
                    "eval_sensitivity": 0.6293,
                    "step": 230,
                }
            ],
        },
    },
    # a frozen AST with an MLP head detecting crackles and wheezes (multi-label), thresholds tuned
    "example_ast_frozen_multilabel": {
        "config": AST_CONFIG,
        "published": "respira push RUN REPO",  # shipped code (push's default), no ONNX
        "run": replace(
            _synthetic_run(
                "ast_frozen_multilabel",
                ModelRecord(
                    encoder="ast",
                    checkpoint=AST_CONFIG["encoder_name_or_path"],
                    problem_type=AST_CONFIG["problem_type"],
                    options={k: AST_CONFIG[k] for k in ("target_seconds", "pooling", "freeze_encoder")},
                ),
                _seed_metrics(
                    [
                        _scores(0, 0.9012, 0.5987, 0.7134, 0.7225),
                        _scores(1, 0.8876, 0.6178, 0.7261, 0.7312),
                        _scores(2, 0.8950, 0.6051, 0.7197, 0.7270),
                    ]
                ),
                {
                    "learning_rate": 1e-3,
                    "num_train_epochs": 20,
                    "per_device_train_batch_size": 64,
                    "cache_embeddings": True,
                    "batch_sampler": "random",
                    "metric_for_best_model": "icbhi_score",
                    "seed": 0,
                },
            ),
            thresholds=[0.41, 0.36],
            thresholds_tuned=True,
        ),
        "state": {"global_step": 100, "epoch": 20.0, "best_metric": 0.7311, "best_global_step": 85},
    },
}


def count_parameters(config: RespiraConfig) -> int | None:
    """Parameters of the model, built on the meta device (no memory, no weights)."""
    try:
        with torch.device("meta"):
            model = RespiraForAudioClassification(config)
    except Exception:  # an example without a parameter count is still a valid example
        return None
    return sum(parameter.numel() for parameter in model.parameters())


def render_example(name: str, example: dict[str, Any]) -> str:
    with tempfile.TemporaryDirectory(prefix=f"respira-{name}-") as tmp:
        run_dir = Path(tmp)
        config = RespiraConfig(**example["config"])
        config.save_pretrained(run_dir)
        record: RunRecord = example["run"]
        replace(record, model=replace(record.model, num_parameters=count_parameters(config))).save(run_dir)
        (run_dir / "trainer_state.json").write_text(json.dumps(example["state"], indent=2), encoding="utf-8")
        card_data = card_data_from_run_dir(run_dir)
        card_data.notes.append(NOTE)
        # as `respira push` publishes it: with the model's code, and model.onnx when asked for
        card_data.remote_code = True
        card_data.code_requirements = list(remote_code_files().requirements)
        card_data.onnx = "--onnx" in example["published"]
        return str(render_model_card(card_data))


def generate(output_root: Path) -> list[Path]:
    """Render every example card into ``output_root/<example>/README.md``; return the paths written."""
    written = []
    for name, example in EXAMPLES.items():
        path = output_root / name / "README.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_example(name, example), encoding="utf-8")
        written.append(path)
    return written


def site_card_section(folder: Path, *, base_folder: Path | None = None) -> str:
    """The template's ``site_fit`` block for ``folder``'s ``site_fit.json`` alone."""
    template = _template()
    context = template.new_context(site_fit_context(SiteFitRecord.load_if_present(folder), base_folder))
    return re.sub(r"\n{3,}", "\n\n", "".join(template.blocks["site_fit"](context)))
