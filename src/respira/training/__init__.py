"""Training: ``RespiraTrainer`` (task loss + λ·auxiliary loss), its arguments, samplers and collator."""

from .arguments import RespiraTrainingArguments
from .collator import AudioCollator
from .samplers import (
    ClassBalancedSampler,
    ContrastiveTupleBatchSampler,
    FlattenedBatchSampler,
    GroupedBatchSampler,
    RandomOrderSampler,
)
from .trainer import RespiraTrainer

__all__ = [
    "AudioCollator",
    "ClassBalancedSampler",
    "ContrastiveTupleBatchSampler",
    "FlattenedBatchSampler",
    "GroupedBatchSampler",
    "RandomOrderSampler",
    "RespiraTrainer",
    "RespiraTrainingArguments",
]
