"""A LoRA run saves its PEFT adapter beside the merged model, and its export ships it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from transformers import ASTConfig, AutoModel

import respira
from respira.cli import main
from respira.hub.checksums import read_checksums
from respira.models.lora import lora_base_model
from respira.utils.files import sha256_of

from .conftest import TINY_RECIPE


def test_a_lora_run_saves_its_adapter_and_the_export_ships_it(
    synthetic_corpus: Path, dataset_cache: Path, tmp_path: Path, capsys
) -> None:
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    encoder = tmp_path / "tiny_ast"
    ast = ASTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    AutoModel.from_config(ast).save_pretrained(encoder)
    recipe = {**TINY_RECIPE, "encoder": "ast", "ast_length_policy": "adapt", "lora_r": 2}
    del recipe["encoder_config"]
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    run = tmp_path / "run"
    code = main(
        ["train", str(tmp_path / "recipe.yaml"), "--encoder_name_or_path", str(encoder),
         "--data_dir", str(synthetic_corpus), "--output_dir", str(run),
         "--dataset_cache_dir", str(dataset_cache), "--learning_rate", "0.05"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {
        p.name for p in (run / "adapter").iterdir()
    }
    assert not (run / "adapter_config.json").exists()  # the root stays a plain (merged) model folder
    card = (run / "README.md").read_text()
    assert "LoRA adapter (PEFT) is included in `adapter/`" in card
    assert 'PeftModel.from_pretrained(lora_base_model(config), "' in card

    merged = respira.RespiraForAudioClassification.from_pretrained(run).eval()
    base = lora_base_model(respira.RespiraConfig.from_pretrained(run))
    adapted = peft.PeftModel.from_pretrained(base, str(run / "adapter")).eval()
    waveforms = torch.randn(3, 16000) * 0.1
    with torch.no_grad():
        torch.testing.assert_close(adapted(waveforms).logits, merged(waveforms).logits, atol=1e-5, rtol=1e-5)

    export = tmp_path / "export"
    assert main(["export", str(run), str(export)]) == 0, capsys.readouterr().err
    weights = export / "adapter" / "adapter_model.safetensors"
    assert weights.is_file() and (export / "adapter" / "adapter_config.json").is_file()
    assert read_checksums(export)["adapter/adapter_model.safetensors"] == sha256_of(weights)
    assert "As a LoRA adapter (PEFT)" in (export / "README.md").read_text()
