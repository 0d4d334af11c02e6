"""The trainer's log as one line per ``Trainer.log`` call (:func:`compact_line`), printed or written above the
progress bar."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transformers import PrinterCallback, ProgressCallback, Trainer

from ..models.respira.labels import MULTI_LABEL_NAMES
from ..utils.tables import format_percent


def use_compact_logs(trainer: Trainer) -> None:
    """Replace ``trainer``'s printer and progress callbacks by their compact forms."""
    from ..utils.progress import on_terminal  # looked up at each call: tests stand in for it

    progress = CompactProgressCallback if on_terminal() else CompactPrinterCallback
    for plain, compact in ((PrinterCallback, CompactPrinterCallback), (ProgressCallback, progress)):
        if any(type(callback) is plain for callback in trainer.callback_handler.callbacks):
            trainer.remove_callback(plain)
            trainer.add_callback(compact)


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _evaluation(logs: Mapping[str, Any], prefix: str) -> list[str]:
    def get(name: str) -> Any:
        return logs.get(f"{prefix}_{name}")

    parts = [f"{prefix} loss {_number(get('loss'))}"] if get("loss") is not None else []
    if get("icbhi_score") is not None:
        score = f"ICBHI {format_percent(get('icbhi_score'))}"
        if get("specificity") is not None and get("sensitivity") is not None:
            score += f" (Sp {format_percent(get('specificity'))}, Se {format_percent(get('sensitivity'))})"
        parts.append(score)
    aucs = [
        f"{name} {format_percent(get(f'auc_{name}'))}"
        for name in MULTI_LABEL_NAMES
        if get(f"auc_{name}") is not None
    ]
    if aucs:
        parts.append("AUC " + ", ".join(aucs))
    if get("patient_icbhi_score") is not None:
        parts.append(f"per patient {format_percent(get('patient_icbhi_score'))}")
    return parts


def compact_line(logs: Mapping[str, Any]) -> str:
    """A one-line summary of a ``Trainer.log`` dictionary (training step, evaluation or the end)."""
    parts = [f"epoch {logs['epoch']:.3g}"] if isinstance(logs.get("epoch"), (int, float)) else []
    prefix = next((p for p in ("eval", "test") if any(key.startswith(f"{p}_") for key in logs)), None)
    if prefix is not None:
        parts += _evaluation(logs, prefix)
    elif "train_runtime" in logs:
        parts.append(f"training done in {logs['train_runtime']:.1f} s")
        if "train_loss" in logs:
            parts.append(f"mean loss {_number(logs['train_loss'])}")
    else:
        for key, label in (
            ("loss", "loss"),
            ("task_loss", "task"),
            ("aux_loss", "aux"),
            ("mil_loss", "bags"),
            ("learning_rate", "lr"),
        ):
            if key in logs:
                parts.append(f"{label} {_number(logs[key])}")
    if len(parts) <= 1:  # nothing known: the dictionary's own keys, still one line
        parts += [
            f"{key} {_number(value)}" for key, value in logs.items() if key not in ("epoch", "total_flos")
        ]
    return " · ".join(parts)


class CompactPrinterCallback(PrinterCallback):
    """``PrinterCallback`` (``disable_tqdm``) that prints :func:`compact_line`."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_local_process_zero and logs:
            print(compact_line(logs))


class CompactProgressCallback(ProgressCallback):
    """``ProgressCallback`` (the progress bars) that writes :func:`compact_line` above the bar."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and self.training_bar is not None and logs:
            self.training_bar.write(compact_line(logs))
