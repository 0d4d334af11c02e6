"""The seed CNN encoder (contrastive-embedding paper): config and model, registered with the Auto classes."""

from ..registration import register_model_type
from .configuration_cnn import RespiraCNNConfig
from .modeling_cnn import RespiraCNNModel

register_model_type(RespiraCNNConfig, RespiraCNNModel)

__all__ = ["RespiraCNNConfig", "RespiraCNNModel"]
