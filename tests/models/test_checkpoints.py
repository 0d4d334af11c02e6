"""Original checkpoints are read safely, and refused in one line that says why."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from respira.cli import main
from respira.models.checkpoints import load_original_checkpoint, summarise_keys


class _Unpicklable:
    pass


def test_a_torch_save_file_of_tensors_loads(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.arange(3.0)}, path)
    assert torch.equal(load_original_checkpoint(path, "a checkpoint")["w"], torch.arange(3.0))
    with pytest.raises(FileNotFoundError, match=r"^a BEATs checkpoint not found: .*missing\.pt$"):
        load_original_checkpoint(tmp_path / "missing.pt", "a BEATs checkpoint")


@pytest.mark.parametrize(
    ("write", "reason"),
    [
        (lambda path: path.write_text("not a checkpoint\n"), "it is neither a torch.save file nor a pickle"),
        (
            lambda path: path.write_bytes(pickle.dumps({"w": [1.0]}, protocol=4)),
            r"torch\.load\(weights_only=True\) refuses what it holds \(Unsupported operand \d+\)",
        ),
        (
            lambda path: torch.save({"model": _Unpicklable()}, path),
            r"torch\.load\(weights_only=True\) refuses what it holds \(Unsupported global: "
            r"GLOBAL [\w.]+\._Unpicklable was not an allowed global by default\)",
        ),
    ],
    ids=["text", "plain-pickle", "arbitrary-object"],
)
def test_what_does_not_load_safely_is_refused_in_one_short_line(tmp_path: Path, write, reason: str) -> None:
    path = tmp_path / "file.pt"
    write(path)
    with pytest.raises(ValueError, match=rf"^{path} is not an EfficientAT checkpoint: {reason}$") as caught:
        load_original_checkpoint(path, "an EfficientAT checkpoint")
    assert "\n" not in str(caught.value) and len(str(caught.value)) - len(str(path)) < 200


def test_summarise_keys_keeps_a_long_list_to_one_line() -> None:
    assert summarise_keys(["b", "a"]) == "a, b"
    keys = [f"layer.{index:03d}" for index in range(300)]
    assert summarise_keys(keys, limit=2) == "layer.000, layer.001, … (298 more)"


def test_convert_with_the_wrong_family_says_which_one_to_use(tmp_path: Path, capsys) -> None:
    efficientat_like = tmp_path / "mn.pt"
    torch.save({f"features.{index}.0.weight": torch.zeros(1) for index in range(300)}, efficientat_like)
    beats_like = tmp_path / "beats.pt"
    torch.save({"cfg": {}, "model": {"patch_embedding.weight": torch.zeros(1)}}, beats_like)
    assert main(["convert", "beats", str(efficientat_like), str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert "found 300 keys:" in error and "… (288 more)" in error and len(error) < 700
    assert error.endswith("an EfficientAT state dict? use respira convert efficientat")
    assert main(["convert", "efficientat", str(beats_like), str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip().endswith("a BEATs checkpoint? use respira convert beats")
    assert not (tmp_path / "out").exists()
