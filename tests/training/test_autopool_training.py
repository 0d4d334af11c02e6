"""``pooling: autopool`` trains the head on the encoder's time steps: a run that cannot give it time steps
is refused in one line before any work."""

from __future__ import annotations

from pathlib import Path

import yaml

from respira.cli import main

from .conftest import TINY_RECIPE


def test_autopool_with_cached_embeddings_is_refused_in_one_line_before_any_work(
    synthetic_corpus: Path, tmp_path: Path, capsys
) -> None:
    recipe = tmp_path / "recipe.yaml"
    options = {"pooling": "autopool", "freeze_encoder": True, "cache_embeddings": True}
    recipe.write_text(yaml.safe_dump({**TINY_RECIPE, "projector_dim": None, **options}))
    code = main(
        ["train", str(recipe), "--data_dir", str(synthetic_corpus), "--output_dir", str(tmp_path / "run"),
         "--dataset_cache_dir", str(tmp_path / "cache")]
    )  # fmt: skip
    error = capsys.readouterr().err
    assert code == 2
    message = "pooling=autopool pools the head's logits on the encoder's time steps, which cached embeddings"
    assert message in error and len(error.strip().splitlines()) == 1, error
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()
