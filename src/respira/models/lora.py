"""LoRA adapters (peft) on the attention projections of AST/BEATs encoders inside a respira classifier."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .encoders import encoder_specs, get_encoder_spec

if TYPE_CHECKING:
    from peft import PeftModel

    from .respira import RespiraForAudioClassification


def add_lora(
    model: RespiraForAudioClassification,
    *,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.1,
    target_modules: Sequence[str] | None = None,
) -> PeftModel:
    """Wrap ``model`` with LoRA on the encoder's ``target_modules``; head and projector stay trainable.

    ``target_modules`` defaults to the encoder family's
    :attr:`~respira.models.encoders.EncoderSpec.lora_targets` (the attention query and value
    projections of AST and BEATs). Needs ``pip install respira[lora]``
    (peft). Raises ``ValueError`` when the encoder has no such modules (e.g. the CNN or EfficientAT,
    which have no attention).
    """
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as error:
        raise ImportError("LoRA needs peft: pip install 'respira[lora]'") from error
    model_type = model.config.encoder_config.model_type
    if target_modules is None:
        target_modules = get_encoder_spec(model_type).lora_targets
    names = {name.rsplit(".", 1)[-1] for name, _ in model.respira.encoder.named_modules()}
    missing = [target for target in target_modules if target not in names]
    if missing or not target_modules:
        with_lora = [spec for spec in encoder_specs() if spec.lora_targets]
        wanted = missing or sorted({target for spec in with_lora for target in spec.lora_targets})
        raise ValueError(
            f"the {model_type} encoder has no {wanted} modules to adapt; LoRA applies to attention "
            f"encoders ({', '.join(spec.display_name for spec in with_lora)})"
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
