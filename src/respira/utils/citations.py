"""BibTeX of works that more than one part of respira cites.

The contrastive-embedding paper (Song et al., 2021) is the source of both the small CNN encoder
(:mod:`respira.models.encoders`) and the contrastive-tuple loss and batches
(:mod:`respira.losses.contrastive_tuple`); model cards cite it for either. Other citations live
with the one thing they describe (an encoder's spec, a loss class).
"""

from __future__ import annotations

__all__ = ["CONTRASTIVE_TUPLE_CITATION"]

CONTRASTIVE_TUPLE_CITATION = """@inproceedings{song2021contrastive,
  title     = {Contrastive Embedding Learning Method for Respiratory Sound Classification},
  author    = {Song, Wenjie and Han, Jiqing and Song, Hongwei},
  booktitle = {IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
  pages     = {1275--1279},
  year      = {2021}
}"""
