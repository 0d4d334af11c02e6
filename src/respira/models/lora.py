"""LoRA adapters (peft) on the attention projections of AST/BEATs encoders inside a respira classifier."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peft import PeftModel

    from .respira import RespiraForAudioClassification

DEFAULT_TARGETS: tuple[str, ...] = ("q_proj", "v_proj")
"""Query and value projections: the attention linears of transformers 5's AST and of respira's BEATs."""


def add_lora(
    model: RespiraForAudioClassification,
    *,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.1,
    target_modules: Sequence[str] = DEFAULT_TARGETS,
) -> PeftModel:
    """Wrap ``model`` with LoRA on the encoder's ``target_modules``; head and projector stay trainable.

    Needs ``pip install respira[lora]`` (peft). Raises ``ValueError`` when the encoder has no such
    modules (e.g. the CNN or EfficientAT, which have no attention).
    """
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as error:
        raise ImportError("LoRA needs peft: pip install 'respira[lora]'") from error
    names = {name.rsplit(".", 1)[-1] for name, _ in model.respira.encoder.named_modules()}
    missing = [target for target in target_modules if target not in names]
    if missing:
        raise ValueError(
            f"the {model.config.encoder_config.model_type} encoder has no {missing} modules to adapt; "
            "LoRA applies to attention encoders (AST, BEATs)"
        )
    trainable = ["classifier"] + (["projector"] if model.projector is not None else [])
    if model.respira.attention_pooling is not None:
        trainable.append("attention_pooling")
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(target_modules),
        modules_to_save=trainable,
    )
    return get_peft_model(model, config)
