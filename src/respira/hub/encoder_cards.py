"""What a model card says of each encoder family: its tag, its description and its citation (BibTeX).

The model folder's :class:`~respira.models.respira.encoders.EncoderSpec` names a family; its card words
live here, with the card code, so the code shipped with a model carries none.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..losses.contrastive_tuple import CONTRASTIVE_TUPLE_CITATION
from ..models.respira.encoders import EncoderSpec


@dataclass(frozen=True)
class EncoderCard:
    """A family's card words: its tag, its description and its citation (what it is cited as, BibTeX)."""

    tag: str
    description: str
    citation_key: str
    citation: str


_AST_CITATION = """@inproceedings{gong2021ast,
  title     = {{AST}: Audio Spectrogram Transformer},
  author    = {Gong, Yuan and Chung, Yu-An and Glass, James},
  booktitle = {Proceedings of Interspeech 2021},
  pages     = {571--575},
  year      = {2021}
}"""

_BEATS_CITATION = """@inproceedings{chen2023beats,
  title     = {{BEATs}: Audio Pre-Training with Acoustic Tokenizers},
  author    = {Chen, Sanyuan and Wu, Yu and Wang, Chengyi and Liu, Shujie and Tompkins, Daniel and
               Chen, Zhuo and Che, Wanxiang and Yu, Xiangzhan and Wei, Furu},
  booktitle = {Proceedings of the 40th International Conference on Machine Learning (ICML)},
  year      = {2023}
}"""

_EFFICIENTAT_CITATION = """@inproceedings{schmid2023efficientat,
  title     = {Efficient Large-Scale Audio Tagging Via Transformer-to-{CNN} Knowledge Distillation},
  author    = {Schmid, Florian and Koutini, Khaled and Widmer, Gerhard},
  booktitle = {IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
  year      = {2023}
}"""


def _bibtex(key: str, title: str, author: str, venue: str, year: int) -> str:
    kind, field = ("article", "journal") if venue.startswith("IEEE") else ("inproceedings", "booktitle")
    return (
        f"@{kind}{{{key},\n  title     = {{{title}}},\n  author    = {{{author}}},\n"
        f"  {field:<9} = {{{venue}}},\n  year      = {{{year}}}\n}}"
    )


_HUB_CITATIONS: dict[str, str] = {  # model type → BibTeX
    "wav2vec2": _bibtex(
        "baevski2020wav2vec",
        "wav2vec 2.0: A Framework for Self-Supervised Learning of Speech Representations",
        "Baevski, Alexei and Zhou, Henry and Mohamed, Abdelrahman and Auli, Michael",
        "Advances in Neural Information Processing Systems (NeurIPS)", 2020),
    "hubert": _bibtex(
        "hsu2021hubert",
        "HuBERT: Self-Supervised Speech Representation Learning by Masked Prediction of Hidden Units",
        "Hsu, Wei-Ning and others", "IEEE/ACM Transactions on Audio, Speech, and Language Processing", 2021),
    "wavlm": _bibtex(
        "chen2022wavlm", "WavLM: Large-Scale Self-Supervised Pre-Training for Full Stack Speech Processing",
        "Chen, Sanyuan and others", "IEEE Journal of Selected Topics in Signal Processing", 2022),
    "data2vec-audio": _bibtex(
        "baevski2022data2vec",
        "data2vec: A General Framework for Self-supervised Learning in Speech, Vision and Language",
        "Baevski, Alexei and others", "International Conference on Machine Learning (ICML)", 2022),
    "unispeech": _bibtex(
        "wang2021unispeech",
        "UniSpeech: Unified Speech Representation Learning with Labeled and Unlabeled Data",
        "Wang, Chengyi and others", "International Conference on Machine Learning (ICML)", 2021),
    "unispeech-sat": _bibtex(
        "chen2022unispeechsat",
        "UniSpeech-SAT: Universal Speech Representation Learning with Speaker Aware Pre-Training",
        "Chen, Sanyuan and others", "ICASSP", 2022),
    "sew": _bibtex(
        "wu2022sew", "Performance-Efficiency Trade-offs in Unsupervised Pre-training for Speech Recognition",
        "Wu, Felix and others", "ICASSP", 2022),
    "whisper": _bibtex(
        "radford2023whisper", "Robust Speech Recognition via Large-Scale Weak Supervision",
        "Radford, Alec and others", "International Conference on Machine Learning (ICML)", 2023),
    "clap_audio_model": _bibtex(
        "wu2023clap",
        "Large-Scale Contrastive Language-Audio Pretraining with Feature Fusion and Keyword-to-Caption "
        "Augmentation", "Wu, Yusong and others", "ICASSP", 2023),
}  # fmt: skip


_CARDS: dict[str, EncoderCard] = {  # model type → card words (a family of the Hub: from its display name)
    "respira_cnn": EncoderCard(
        "cnn",
        "the 4-block CNN of the contrastive-embedding paper (Song et al., 2021)",
        "CNN (contrastive-embedding paper)",
        CONTRASTIVE_TUPLE_CITATION,
    ),
    "audio-spectrogram-transformer": EncoderCard(
        "audio-spectrogram-transformer",
        "the Audio Spectrogram Transformer (AST; Gong et al., 2021)",
        "AST",
        _AST_CITATION,
    ),
    "beats": EncoderCard(
        "beats",
        "BEATs, audio pre-training with acoustic tokenizers (Chen et al., 2023)",
        "BEATs",
        _BEATS_CITATION,
    ),
    "efficientat": EncoderCard(
        "efficientat",
        "an EfficientAT MobileNetV3, distilled from transformers (Schmid et al., 2023)",
        "EfficientAT",
        _EFFICIENTAT_CITATION,
    ),
}


def encoder_card(spec: EncoderSpec) -> EncoderCard:
    """The card words of ``spec``'s family."""
    if spec.model_type in _CARDS:
        return _CARDS[spec.model_type]
    name, model_type = spec.display_name, spec.model_type
    description = f"a pretrained {name} encoder (transformers' {model_type})"
    return EncoderCard(model_type, description, name, _HUB_CITATIONS[model_type])
