"""LoRA adapters (peft) on the attention projections of AST/BEATs encoders inside a respira classifier."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .respira.encoders import encoder_specs, get_encoder_spec

if TYPE_CHECKING:
    from peft import PeftModel

    from .respira import RespiraConfig, RespiraForAudioClassification

ADAPTER_FOLDER = "adapter"
_ADAPTER_README = """\
---
library_name: peft
---
# LoRA adapter

The PEFT LoRA adapter this model was trained with (rank {r}, on {targets} of the encoder; the heads are
saved whole). The folder above holds the same model with the adapter merged into the encoder's weights.
Load the adapter onto its base model (the encoder `{source}`) with:

```python
from peft import PeftModel
from respira import RespiraConfig
from respira.models.lora import lora_base_model

config = RespiraConfig.from_pretrained("MODEL")  # the folder (or Hub id) above this one
model = PeftModel.from_pretrained(lora_base_model(config), "MODEL", subfolder="adapter")
```
"""


def add_lora(
    model: RespiraForAudioClassification,
    *,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.1,
    target_modules: Sequence[str] | None = None,
) -> PeftModel:
    """Wrap ``model`` with LoRA on the encoder's ``target_modules``; head and projector stay trainable."""
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
    if model.head_norm is not None:  # its running statistics change in training: the adapter keeps them
        trainable.append("head_norm")
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(target_modules),
        modules_to_save=trainable,
    )
    return get_peft_model(model, config)


def lora_base_model(config: RespiraConfig) -> RespiraForAudioClassification:
    """The model a LoRA run's adapter applies to: the run's classifier, its encoder's weights pretrained."""
    from .respira import RespiraForAudioClassification

    source = config.encoder_name_or_path
    if not source:
        raise ValueError(
            "the model's encoder was not initialised from a checkpoint (no encoder_name_or_path), so "
            "there is no base model for a LoRA adapter; load the merged model instead"
        )
    pretrained = RespiraForAudioClassification.from_encoder_pretrained(
        source,
        featurizer=config.featurizer,
        sampling_rate=config.sampling_rate,
        target_seconds=config.target_seconds,
        ast_length_policy=config.ast_length_policy,
    )  # the encoder as the run started from it (AST positions fitted to the same frames)
    base = RespiraForAudioClassification(copy.deepcopy(config))
    base.respira.encoder.load_state_dict(pretrained.respira.encoder.state_dict())
    return base.eval()


def has_adapter(folder: str | Path) -> bool:
    """Whether a run or model folder holds a saved LoRA adapter."""
    return (Path(folder) / ADAPTER_FOLDER / "adapter_config.json").is_file()


def save_adapter(model: PeftModel, folder: str | Path) -> Path | None:
    """Save ``model``'s LoRA adapter in ``folder``/adapter, with a README saying how to load it."""
    config = model.get_base_model().config
    if not config.encoder_name_or_path:
        return None
    target = Path(folder) / ADAPTER_FOLDER
    target.mkdir(parents=True, exist_ok=True)
    lora = model.peft_config[model.active_adapter]
    lora.base_model_name_or_path = config.encoder_name_or_path  # provenance, as the card's encoder source
    targets = " and ".join(f"`{name}`" for name in sorted(lora.target_modules))
    text = _ADAPTER_README.format(r=lora.r, targets=targets, source=config.encoder_name_or_path)
    (target / "README.md").write_text(text, encoding="utf-8")  # PEFT adds its metadata to it
    model.save_pretrained(str(target))
    # the card's base model: the encoder's Hub id (none for a local folder), not PEFT's choice
    from huggingface_hub import ModelCard

    source, card = config.encoder_name_or_path, ModelCard.load(target / "README.md")
    hub_id = source if source.count("/") == 1 and not Path(source).expanduser().exists() else None
    tags = [tag for tag in card.data.get("tags") or [] if not tag.startswith("base_model:")]
    card.data["tags"] = tags + ([f"base_model:adapter:{hub_id}"] if hub_id else [])
    card.data["base_model"] = hub_id
    card.save(target / "README.md")
    return target
