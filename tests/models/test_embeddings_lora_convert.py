"""Cached embeddings for frozen heads, the LoRA helper, and `respira convert` on the real checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import ASTConfig, AutoModel

import respira
from respira.cli import main
from respira.data import load_icbhi
from respira.inference.embeddings import compute_embeddings, embed_waveforms, with_embeddings
from respira.models.lora import add_lora, has_adapter, lora_base_model, save_adapter


@pytest.fixture(scope="module")
def cnn_model() -> respira.RespiraForAudioClassification:
    torch.manual_seed(0)
    config = respira.RespiraConfig(
        encoder_config={"model_type": "respira_cnn", "channels": [4, 8, 8, 16]}, target_seconds=2.0
    )
    return respira.RespiraForAudioClassification(config).eval()


def test_cached_embeddings_train_the_same_head(cnn_model, synthetic_corpus: Path, tmp_path: Path) -> None:
    test_split = load_icbhi(synthetic_corpus, cache_dir=tmp_path)["test"].select(range(10))
    cached = compute_embeddings(cnn_model, test_split, batch_size=4)
    assert "audio" not in cached.column_names
    assert cached["label"] == test_split["label"]
    embeddings = torch.from_numpy(cached[:]["embeddings"])  # the whole column as one [rows, dim] array
    assert embeddings.shape == (10, 16)
    waveform = test_split[7]["audio"].get_all_samples().data
    torch.testing.assert_close(
        torch.from_numpy(embed_waveforms(cnn_model, waveform.numpy()))[0], embeddings[7], atol=1e-5, rtol=1e-5
    )
    from_cache = cnn_model(embeddings=embeddings[7:8]).logits
    from_audio = cnn_model(waveform).logits
    torch.testing.assert_close(from_cache, from_audio, atol=1e-5, rtol=1e-5)


def test_cached_embeddings_come_out_of_arrow_as_arrays() -> None:
    import datasets

    embeddings = np.arange(12, dtype=np.float64).reshape(3, 4)
    cached = with_embeddings(
        datasets.Dataset.from_dict({"label": [0, 2, 1], "patient_id": ["101", "102", "103"]}), embeddings
    )
    assert cached.features["embeddings"] == datasets.List(datasets.Value("float32"), length=4)
    row = cached[1]
    assert isinstance(row["embeddings"], np.ndarray) and row["embeddings"].dtype == np.float32
    np.testing.assert_array_equal(row["embeddings"], [4, 5, 6, 7])
    assert row["label"] == 2 and isinstance(row["label"], int) and row["patient_id"] == "102"
    rows = cached.__getitems__([2, 0])  # what the Trainer's DataLoader fetches per step
    np.testing.assert_array_equal(np.stack([r["embeddings"] for r in rows]), embeddings[[2, 0]])
    with pytest.raises(ValueError, match=r"shape \[3, dim\]"):
        with_embeddings(cached.remove_columns("embeddings"), embeddings[:2])


def test_compute_embeddings_needs_an_audio_column(cnn_model, synthetic_corpus: Path, tmp_path: Path) -> None:
    part = load_icbhi(synthetic_corpus, cache_dir=tmp_path)["test"]
    with pytest.raises(ValueError, match=r"not datasets\.Audio"):
        compute_embeddings(cnn_model, part, audio_column="recording")


def test_lora_adapts_attention_and_keeps_the_head_trainable() -> None:
    ast = ASTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_length=100
    )
    model = respira.RespiraForAudioClassification(
        respira.RespiraConfig(encoder_config=ast.to_dict(), target_seconds=1.0, ast_length_policy="adapt")
    )
    peft_model = add_lora(model, r=4, alpha=8)
    trainable = {name for name, p in peft_model.named_parameters() if p.requires_grad}
    assert any("lora_A" in name and "q_proj" in name for name in trainable)
    assert any("lora_B" in name and "v_proj" in name for name in trainable)
    assert not any("k_proj" in name or "fc1" in name for name in trainable)
    assert any("classifier" in name for name in trainable) and any("projector" in name for name in trainable)
    output = peft_model(torch.randn(2, 16000) * 0.1, labels=torch.tensor([0, 3]))
    output.loss.backward()
    lora_grads = [p.grad for name, p in peft_model.named_parameters() if "lora_B" in name]
    assert lora_grads and all(g is not None for g in lora_grads)


def _tiny_ast_checkpoint(folder: Path) -> Path:
    torch.manual_seed(1)
    ast = ASTConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, max_length=100
    )
    AutoModel.from_config(ast).save_pretrained(folder)
    return folder


def test_a_saved_lora_adapter_loads_with_peft_onto_the_base_and_equals_the_merged_model(
    tmp_path: Path,
) -> None:
    from peft import PeftModel

    source = _tiny_ast_checkpoint(tmp_path / "encoder")
    model = respira.RespiraForAudioClassification.from_encoder_pretrained(
        str(source), target_seconds=1.0, ast_length_policy="adapt", head_norm=True
    )
    peft_model = add_lora(model, r=2, alpha=4)
    torch.manual_seed(2)
    with torch.no_grad():  # a trained adapter: non-zero LoRA matrices, heads and running statistics moved
        for parameter in peft_model.parameters():
            if parameter.requires_grad:
                parameter.add_(torch.randn_like(parameter) * 0.2)
    peft_model.train()(torch.randn(4, 16000) * 0.1)  # head_norm's running statistics move too
    folder = save_adapter(peft_model, tmp_path / "run")
    assert folder == tmp_path / "run" / "adapter" and has_adapter(tmp_path / "run")
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {path.name for path in folder.iterdir()}
    readme = (folder / "README.md").read_text()  # PEFT's metadata, without an empty base model
    metadata = readme.split("---")[1]
    assert "library_name: peft" in metadata and "base_model" not in metadata and "lora_base_model(" in readme
    merged = peft_model.merge_and_unload().eval()
    merged.save_pretrained(tmp_path / "run")

    config = respira.RespiraConfig.from_pretrained(tmp_path / "run")
    adapted = PeftModel.from_pretrained(lora_base_model(config), str(tmp_path / "run"), subfolder="adapter")
    reloaded = respira.RespiraForAudioClassification.from_pretrained(tmp_path / "run").eval()
    waveforms = torch.randn(3, 16000) * 0.1
    with torch.no_grad():
        expected = reloaded(waveforms).logits
        torch.testing.assert_close(adapted.eval()(waveforms).logits, expected, atol=1e-5, rtol=1e-5)
        plain = lora_base_model(config)(waveforms).logits  # without the adapter: another model
    assert not torch.allclose(plain, expected, atol=1e-3)


def test_no_adapter_without_a_pretrained_encoder(tmp_path: Path) -> None:
    ast = ASTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    model = respira.RespiraForAudioClassification(
        respira.RespiraConfig(encoder_config=ast.to_dict(), target_seconds=1.0, ast_length_policy="adapt")
    )
    assert save_adapter(add_lora(model, r=2), tmp_path) is None and not has_adapter(tmp_path)
    with pytest.raises(ValueError, match="not initialised from a checkpoint"):
        lora_base_model(model.config)


def test_lora_refuses_encoders_without_attention(cnn_model) -> None:
    with pytest.raises(ValueError, match="no \\['q_proj', 'query', 'v_proj', 'value'\\] modules"):
        add_lora(cnn_model)


def test_convert_commands_write_loadable_folders(shared_reference: Path, tmp_path: Path, capsys) -> None:
    assert (
        main(
            [
                "convert",
                "efficientat",
                str(shared_reference / "efficientat_mn04_as_mAP_432.pt"),
                str(tmp_path / "mn"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "convert",
                "beats",
                str(shared_reference / "beats_tiny_official_format.pt"),
                str(tmp_path / "beats"),
            ]
        )
        == 0
    )
    assert type(AutoModel.from_pretrained(tmp_path / "mn")).__name__ == "EfficientATModel"
    assert type(AutoModel.from_pretrained(tmp_path / "beats")).__name__ == "BeatsModel"
    assert "converted" in capsys.readouterr().out
    assert main(["convert", "beats", str(shared_reference / "beats_tiny_io.pt"), str(tmp_path / "bad")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("respira convert: error:") and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()
