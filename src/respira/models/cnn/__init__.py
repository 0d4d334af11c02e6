"""The seed CNN encoder (contrastive-embedding paper): config and model, registered with the Auto classes."""

from transformers import AutoConfig, AutoModel

from .configuration_cnn import RespiraCNNConfig
from .modeling_cnn import RespiraCNNModel, RespiraCNNPreTrainedModel

AutoConfig.register(RespiraCNNConfig.model_type, RespiraCNNConfig, exist_ok=True)
AutoModel.register(RespiraCNNConfig, RespiraCNNModel, exist_ok=True)

__all__ = ["RespiraCNNConfig", "RespiraCNNModel", "RespiraCNNPreTrainedModel"]
