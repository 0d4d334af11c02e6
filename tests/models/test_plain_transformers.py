"""respira models used the plain transformers way: tuples, ``Trainer``, checkpointing, ``pipeline``.

The tutorial test follows the Hugging Face audio-classification tutorial step by step (feature
extractor in ``Dataset.map`` with ``max_length`` + ``truncation``, a plain ``Trainer`` with the
feature extractor as ``processing_class`` so it batches with ``DataCollatorWithPadding``, and
``compute_metrics`` with ``np.argmax(predictions, axis=1)``), on a saved respira model.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import datasets
import numpy as np
import pytest
import soxr
import torch
import transformers
from transformers import (
    ASTConfig,
    ASTFeatureExtractor,
    ASTForAudioClassification,
    AutoFeatureExtractor,
    AutoModelForAudioClassification,
    Trainer,
    TrainingArguments,
)

from respira.inference.embeddings import embed_waveforms
from respira.models import RespiraConfig, RespiraFeatureExtractor, RespiraForAudioClassification, RespiraModel
from respira.models.respira import RespiraAudioClassificationPipeline

from .encoder_tester import CASES

RATE = 16000


def tiny_model(name: str, **kwargs) -> RespiraForAudioClassification:
    """The encoder tester's tiny model of family ``name`` (batch-norm statistics moved, eval mode)."""
    return CASES[name].model(**kwargs)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cnn_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("respira_cnn")
    tiny_model("cnn", target_seconds=1.0).save_pretrained(folder)
    RespiraFeatureExtractor().save_pretrained(folder)
    return folder


# ---------------------------------------------------------------------------------------------- tuples


def test_return_dict_false_gives_tuples() -> None:
    model = tiny_model("cnn", target_seconds=1.0)
    waves = 0.1 * torch.randn(2, RATE, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 2])
    with torch.no_grad():
        output = model(waves, labels=labels)
        as_tuple = model(waves, labels=labels, return_dict=False)
        base = model.respira(waves, return_dict=False)
        encoder = model.respira.encoder(torch.randn(2, 63, 64), return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 4  # loss, logits, embeddings, projections
    fields = (output.loss, output.logits, output.embeddings, output.projections)
    for value, expected in zip(as_tuple, fields, strict=True):
        torch.testing.assert_close(value, expected)
    assert isinstance(base, tuple) and isinstance(encoder, tuple)
    model.config.return_dict = False  # the config's default works too, and internals are unaffected
    with torch.no_grad():
        assert isinstance(model(waves), tuple)
        assert embed_waveforms(model, waves.numpy()).shape == tuple(output.embeddings.shape)


# ---------------------------------------------------------------------------------------------- Trainer


def _audio_dataset(count: int, seed: int) -> datasets.Dataset:
    """Cycles of 0.5 to 1.5 s at 8 kHz in a ``datasets.Audio`` column cast to 16 kHz, as in the tutorial."""
    rng = np.random.default_rng(seed)
    audio = [
        {
            "array": (0.1 * rng.standard_normal(int(rng.integers(4000, 12000)))).astype(np.float32),
            "sampling_rate": 8000,
        }
        for _ in range(count)
    ]
    labels = [int(label) for label in rng.integers(0, 4, count)]
    dataset = datasets.Dataset.from_dict({"audio": audio, "label": labels})
    return dataset.cast_column("audio", datasets.Audio(sampling_rate=RATE))


def test_the_audio_classification_tutorial_flow(cnn_folder: Path, tmp_path: Path) -> None:
    feature_extractor = AutoFeatureExtractor.from_pretrained(cnn_folder)
    splits = {"train": _audio_dataset(12, seed=0), "test": _audio_dataset(6, seed=1)}
    label2id = {"normal": 0, "crackle": 1, "wheeze": 2, "both": 3}
    id2label = {index: label for label, index in label2id.items()}

    def preprocess_function(examples):
        audio_arrays = [x["array"] for x in examples["audio"]]
        return feature_extractor(
            audio_arrays, sampling_rate=feature_extractor.sampling_rate, max_length=RATE, truncation=True
        )

    encoded = {
        name: split.map(preprocess_function, remove_columns="audio", batched=True)
        for name, split in splits.items()
    }

    def compute_metrics(eval_pred):
        predictions = np.argmax(eval_pred.predictions, axis=1)
        return {"accuracy": float((predictions == eval_pred.label_ids).mean())}

    model = AutoModelForAudioClassification.from_pretrained(
        cnn_folder, num_labels=4, label2id=label2id, id2label=id2label
    )
    assert isinstance(model, RespiraForAudioClassification)
    args = TrainingArguments(
        output_dir=str(tmp_path / "run"),
        eval_strategy="epoch",
        save_strategy="epoch",
        learning_rate=3e-4,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        num_train_epochs=2,
        warmup_steps=0.1,
        logging_steps=1,
        load_best_model_at_end=True,
        metric_for_best_model="accuracy",
        report_to=[],
        use_cpu=True,
        dataloader_num_workers=0,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=encoded["train"],
        eval_dataset=encoded["test"],
        processing_class=feature_extractor,
        compute_metrics=compute_metrics,
    )
    assert isinstance(trainer.data_collator, transformers.DataCollatorWithPadding)
    trainer.train()
    metrics = trainer.evaluate()
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0 and np.isfinite(metrics["eval_loss"])
    prediction = trainer.predict(encoded["test"])
    assert isinstance(prediction.predictions, np.ndarray)  # logits only: keys_to_ignore_at_inference
    assert prediction.predictions.shape == (6, 4)
    # the collator kept each cycle's own length: predictions equal the model run one cycle at a time
    model.eval()
    for row, example in zip(prediction.predictions, encoded["test"], strict=True):
        waveform = torch.tensor(example["input_values"])[: int(np.sum(example["attention_mask"]))]
        with torch.no_grad():
            expected = model(waveform[None].to(model.device)).logits[0].cpu().numpy()
        np.testing.assert_allclose(row, expected, atol=1e-5)


def test_trainer_predict_returns_logits_only_for_every_family() -> None:
    dataset = datasets.Dataset.from_dict(
        {"input_values": [np.zeros(RATE, np.float32) + 0.01 * i for i in range(3)], "labels": [0, 1, 2]}
    )
    for name in CASES:
        model = tiny_model(name, target_seconds=1.0)
        args = TrainingArguments(
            output_dir="unused", report_to=[], use_cpu=True, per_device_eval_batch_size=3
        )
        prediction = Trainer(model=model, args=args).predict(dataset)
        assert isinstance(prediction.predictions, np.ndarray), name
        assert prediction.predictions.shape == (3, 4), name


# ---------------------------------------------------------------------------------------------- checkpointing


NO_DROPOUT = {
    "ast": {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0},
    "beats": {"hidden_dropout": 0.0, "attention_dropout": 0.0},
}


@pytest.mark.filterwarnings("ignore:.*gradient_checkpointing.*:FutureWarning")
@pytest.mark.parametrize("name", ["ast", "beats"])
def test_gradient_checkpointing_gives_the_same_gradients(name: str) -> None:
    """In training mode (without dropout, so both runs compute the same function), with and without
    checkpointing, and the checkpointed layers really are recomputed."""
    waves = 0.1 * torch.randn(2, RATE, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([1, 3])
    encoder_config = {**CASES[name].encoder_config().to_dict(), **NO_DROPOUT[name]}
    gradients = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        config = RespiraConfig(encoder_config=encoder_config, target_seconds=1.0, head_dropout=0.0)
        model = RespiraForAudioClassification(config).train()
        assert model.supports_gradient_checkpointing
        calls = []

        def counted(function, *args, **kwargs):
            calls.append(1)  # noqa: B023 (used within this iteration only)
            return function(*args, **kwargs)

        if checkpointing:
            model.gradient_checkpointing_enable()
            assert model.is_gradient_checkpointing
            for module in model.modules():
                if getattr(module, "gradient_checkpointing", False):
                    module._gradient_checkpointing_func = partial(
                        counted, module._gradient_checkpointing_func
                    )
        model(waves, labels=labels).loss.backward()
        assert bool(calls) == checkpointing
        gradients.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert gradients[0].keys() == gradients[1].keys()
    for key, value in gradients[0].items():
        torch.testing.assert_close(gradients[1][key], value, rtol=1e-4, atol=1e-6, msg=key)


@pytest.mark.filterwarnings("ignore:.*gradient_checkpointing.*:FutureWarning")
@pytest.mark.parametrize("name", ["cnn", "efficientat"])
def test_batch_norm_encoders_declare_no_gradient_checkpointing(name: str) -> None:
    model = tiny_model(name, target_seconds=1.0)
    assert not model.supports_gradient_checkpointing
    assert not model.respira.encoder.supports_gradient_checkpointing
    with pytest.raises(ValueError, match="does not support activation checkpointing"):
        model.gradient_checkpointing_enable()


# ------------------------------------------------------------------------------------- pipeline rates


def test_pipeline_resamples_audio_dicts_without_torchaudio(cnn_folder: Path) -> None:
    assert "torchaudio" not in sys.modules
    folder, respira_class = str(cnn_folder), RespiraAudioClassificationPipeline
    classify = transformers.pipeline("audio-classification", model=folder, pipeline_class=respira_class)
    assert isinstance(classify, RespiraAudioClassificationPipeline)
    model = classify.model
    audio = (0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32)
    expected = model(torch.from_numpy(soxr.resample(audio, 8000, RATE, quality="HQ"))[None]).logits
    expected = expected.softmax(-1)[0].detach()
    for key, value in (("raw", audio), ("array", torch.from_numpy(audio))):
        result = classify({key: value, "sampling_rate": 8000})
        assert result[0]["label"] == model.config.id2label[int(expected.argmax())]
        assert abs(result[0]["score"] - float(expected.max())) < 1e-5
    same_rate = classify({"raw": soxr.resample(audio, 8000, RATE, quality="HQ"), "sampling_rate": RATE})
    assert abs(same_rate[0]["score"] - float(expected.max())) < 1e-5


def test_pipeline_is_unchanged_for_other_models(tmp_path: Path) -> None:
    config = ASTConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, max_length=100
    )
    ASTForAudioClassification(config).save_pretrained(tmp_path)
    ASTFeatureExtractor(max_length=100).save_pretrained(tmp_path)
    classify = transformers.pipeline("audio-classification", model=str(tmp_path))
    audio = np.zeros(8000, dtype=np.float32)
    assert len(classify(audio)) == 2
    if "torchaudio" not in sys.modules and not transformers.utils.is_torchaudio_available():
        with pytest.raises(ImportError, match="torchaudio"):  # transformers' own behaviour
            classify({"raw": audio, "sampling_rate": 8000})


def test_feature_extractor_keeps_other_columns_and_each_rows_length() -> None:
    extractor = RespiraFeatureExtractor()
    rows = [np.full(3, 0.5, np.float32), np.full(6, 0.25, np.float32)]
    mapped = extractor(rows, max_length=5, truncation=True)  # a map() batch: padded to its longest
    assert [len(row) for row in mapped["input_values"]] == [5, 5]
    features = [
        {"input_values": values, "attention_mask": mask, "label": label}
        for values, mask, label in zip(mapped["input_values"], mapped["attention_mask"], (1, 2), strict=True)
    ]
    batch = extractor.pad(features, return_tensors="pt")
    assert batch["label"].tolist() == [1, 2]
    assert batch["attention_mask"].sum(dim=1).tolist() == [3, 5]
    unpadded = extractor(rows, padding=False)
    assert [len(row) for row in unpadded["input_values"]] == [3, 6]
    assert extractor(rows, pad_to_multiple_of=4, return_tensors="np")["input_values"].shape == (2, 8)


def test_respira_model_forward_tuple_matches() -> None:
    model = tiny_model("ast", target_seconds=1.0)
    assert isinstance(model.respira, RespiraModel)
    waves = 0.1 * torch.randn(1, RATE, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        embeddings, tokens, token_mask = model.respira(waves, return_dict=False)[:3]
    assert (
        embeddings.shape == (1, CASES["ast"].encoder_config().hidden_size)
        and tokens.dim() == 3
        and token_mask.dim() == 2
    )
