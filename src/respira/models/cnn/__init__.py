"""The seed CNN encoder (contrastive-embedding paper): config and model, registered with the Auto classes."""

from ..respira.configuration_cnn import RespiraCNNConfig
from ..respira.modeling_cnn import RespiraCNNModel
from ..respira.registration import register_model_type

register_model_type(RespiraCNNConfig, RespiraCNNModel)

__all__ = ["RespiraCNNConfig", "RespiraCNNModel"]
