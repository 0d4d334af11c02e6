"""``load_model``'s one-line errors: a config whose label count does not fit its weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from respira.cli import main
from respira.hub.loading import ModelLoadError, load_model

from ..reports.conftest import RATE, save_tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "noise.wav"
    sf.write(path, np.random.default_rng(0).normal(0, 0.1, 5 * RATE).astype(np.float32), RATE)
    return path


@pytest.mark.parametrize("labels", [5, 300_000])
def test_a_label_count_the_weights_do_not_have_is_one_line_naming_tensor_and_sizes(
    model_dir: Path, recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], labels: int
) -> None:
    folder = Path(shutil.copytree(model_dir, tmp_path / "model"))
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {str(i): f"label_{i}" for i in range(labels)}
    config["label2id"] = {f"label_{i}": i for i in range(labels)}
    (folder / "config.json").write_text(json.dumps(config))
    expected = (
        f"{folder / 'model.safetensors'}: tensor classifier.1.bias has shape [4], but "
        f"{folder / 'config.json'} ({labels} labels) needs [{labels}]"
    )
    with pytest.raises(ModelLoadError) as error:
        load_model(folder, device="cpu")
    assert str(error.value).startswith(expected)
    capsys.readouterr()
    assert main(["predict", str(folder), str(recording)]) == 2
    message = capsys.readouterr().err
    assert len(message.strip().splitlines()) == 1, message
    assert message.startswith(f"respira predict: error: {expected}")
    assert "look at the above report" not in message


@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # huggingface_hub's LFS upload
def test_hub_weights_that_differ_from_the_repos_checksums_are_one_line_naming_repo_and_file(
    model_dir: Path,
    recording: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from huggingface_hub import HfApi, constants

    from respira.hub.checksums import CHECKSUM_FILE, write_checksums

    from .hub_server import HubServer

    folder = Path(shutil.copytree(model_dir, tmp_path / "export"))
    write_checksums(folder)  # as respira export does
    repo_id = "user/checked-model"
    with HubServer(tmp_path / "hub") as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        template = f"{hub.url}/{{repo_id}}/resolve/{{revision}}/{{filename}}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
        api = HfApi(endpoint=hub.url, token="test-token")
        api.create_repo(repo_id)
        api.upload_folder(folder_path=folder, repo_id=repo_id)
        load_model(repo_id, device="cpu")  # intact: loads
        assert any(path.endswith(f"/{CHECKSUM_FILE}") for _, path in hub.requests)

        repo = hub.state.repos[repo_id]
        blob = hub.state.blob_path(repo.commits[repo.branches["main"]].files["model.safetensors"].sha256)
        damaged = bytearray(blob.read_bytes())
        damaged[-1] ^= 0x01  # one flipped bit in a weight: same size, still a valid safetensors file
        blob.write_bytes(bytes(damaged))
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "clean_cache"))
        with pytest.raises(ModelLoadError) as error:
            load_model(repo_id, device="cpu")
        assert str(error.value).startswith(f"model.safetensors of {repo_id}: its SHA-256 is ")
        assert "altered or damaged" in str(error.value)
        capsys.readouterr()
        assert main(["predict", repo_id, str(recording)]) == 2
        message = capsys.readouterr().err.strip()
        assert message.splitlines() == [f"respira predict: error: {error.value}"]
