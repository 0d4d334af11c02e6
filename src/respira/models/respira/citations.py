"""BibTeX of works that more than one part of respira cites."""

from __future__ import annotations

CONTRASTIVE_TUPLE_CITATION = """@inproceedings{song2021contrastive,
  title     = {Contrastive Embedding Learning Method for Respiratory Sound Classification},
  author    = {Song, Wenjie and Han, Jiqing and Song, Hongwei},
  booktitle = {IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
  pages     = {1275--1279},
  year      = {2021}
}"""
