"""Per-recording (instance) standardisation: label-free normalisations that use one example's own values.

A new stethoscope or room changes every recording it makes in the same way: a gain, and a frequency
response (a per-band gain). On log-mel features both are additive: a gain ``g`` adds ``2 log g`` to
every bin, a fixed filter adds its log response to each band. Statistics of the recording itself
remove them without any statistics of the corpus (``config.instance_norm``):

* ``"features"`` (:func:`subtract_band_means`): every band of the encoder's features minus its mean
  over the example's real frames (cepstral mean normalisation). Invariant to any per-band offset of
  the features: an audio gain, or a stationary filter, as long as the signal stays above the
  featurizer's log floor.
* ``"embeddings"`` (:func:`standardize_embeddings`): each pooled embedding minus its mean over
  features, divided by its standard deviation (a layer norm without parameters). Invariant to a
  gain and offset of the embedding.

The model applies them in ``forward`` (:class:`~respira.models.respira.RespiraForAudioClassification`),
so training, evaluation, ``respira predict``, the pipeline and the ONNX export all get them.
"""

from __future__ import annotations

import torch

from ...utils.shipping import shipped_when

__all__ = ["INSTANCE_NORMS", "standardize_embeddings", "subtract_band_means"]

INSTANCE_NORMS: tuple[str, ...] = ("features", "embeddings")
"""The values of ``config.instance_norm`` (``None``: off)."""
EPSILON = 1e-5


@shipped_when("instance_norm_features")
def subtract_band_means(features: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
    """``[batch, frames, bins]`` features minus each example's per-bin mean over its real frames
    (``frame_mask`` ``[batch, frames]``, ``True`` for real signal); masked frames are left at 0 after it."""
    weights = frame_mask.to(features.dtype).unsqueeze(-1)
    means = (features * weights).sum(dim=1, keepdim=True) / weights.sum(dim=1, keepdim=True).clamp_min(1.0)
    return (features - means) * weights


@shipped_when("instance_norm_embeddings")
def standardize_embeddings(embeddings: torch.Tensor) -> torch.Tensor:
    """``[batch, hidden]`` embeddings, each standardised over its own features (mean 0, variance 1)."""
    return torch.nn.functional.layer_norm(embeddings, embeddings.shape[-1:], eps=EPSILON)
