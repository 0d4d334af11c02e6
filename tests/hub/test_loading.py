"""``load_model``'s one-line errors: a config whose label count does not fit its weights."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from respira.cli import main
from respira.hub.loading import ModelLoadError, load_model

from ..conftest import RATE, save_tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "noise.wav"
    sf.write(path, np.random.default_rng(0).normal(0, 0.1, 5 * RATE).astype(np.float32), RATE)
    return path


@pytest.mark.parametrize("labels", [5, 3_000])
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


@pytest.mark.parametrize("kept", [0, 3, 0.5], ids=["empty", "header-cut", "half"])
def test_damaged_safetensors_are_one_error_naming_the_file(
    model_dir: Path, tmp_path: Path, kept: float
) -> None:
    folder = Path(shutil.copytree(model_dir, tmp_path / "model"))
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: int(kept * len(data)) if isinstance(kept, float) else kept])
    (folder / "checksums.sha256").unlink(missing_ok=True)  # the file itself, not its checksum, is read
    with pytest.raises(ModelLoadError) as error:
        load_model(folder, device="cpu")
    assert str(error.value).startswith(f"{weights}: not a readable safetensors file, truncated or damaged (")


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


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Hub may be asked (as for a user online); nothing here may reach it: its address is unroutable."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")


@pytest.mark.parametrize("name", ["runs/nonexistent", "./nonexistent", "runs/a/b/c", "notes.txt"])
def test_a_name_that_looks_like_a_path_and_is_no_folder_is_one_line_before_any_work(
    name: str, recording: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, online, capsys
) -> None:
    from respira import Detector
    from respira.hub.loading import resolve_model_name

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "notes.txt").write_text("not a model")
    expected = (
        "notes.txt is a file; pass the model folder (config.json + weights)"
        if name == "notes.txt"
        else f"model folder not found: {name} (looked for the folder {(tmp_path / name).absolute()}"
    )
    with pytest.raises(ModelLoadError) as error:
        resolve_model_name(name)
    assert str(error.value).startswith(expected)
    for load in (lambda: load_model(name, device="cpu"), lambda: Detector.from_pretrained(name)):
        with pytest.raises(ModelLoadError, match=re.escape(expected)):
            load()
    capsys.readouterr()
    for command in (
        ["predict", name, str(recording)],
        ["evaluate", name, "--data_dir", str(tmp_path)],
        ["app", name],
    ):
        assert main(command) == 2
        message = capsys.readouterr().err.strip()
        assert message.splitlines() == [f"respira {command[0]}: error: {error.value}"]
    if name != "notes.txt":
        assert main(["export", name, str(tmp_path / "export")]) == 2
        message = capsys.readouterr().err.strip()
        assert len(message.splitlines()) == 1
        assert message.startswith(
            f"respira export: error: model folder not found: {Path(name)} (looked for the folder "
            f"{(tmp_path / name).absolute()}"
        )
        assert not (tmp_path / "export").exists()


def test_deep_path_names_the_folder_that_lacks_the_next_part(tmp_path: Path, monkeypatch, online) -> None:
    from respira.hub.loading import resolve_model_name

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(ModelLoadError) as error:
        resolve_model_name("runs/detector/checkpoint-9")
    assert str(error.value) == (
        f"model folder not found: runs/detector/checkpoint-9 (looked for the folder "
        f"{tmp_path / 'runs/detector/checkpoint-9'}; {tmp_path / 'runs'} has no detector)"
    )


@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # huggingface_hub's LFS upload
def test_a_hub_id_is_left_to_the_hub_online_and_read_from_the_cache_offline(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import HfApi, constants

    from respira import Detector
    from respira.hub.loading import resolve_model_name

    from .hub_server import HubServer

    monkeypatch.chdir(tmp_path)
    repo_id = "user/cached-model"
    with HubServer(tmp_path / "hub") as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        template = f"{hub.url}/{{repo_id}}/resolve/{{revision}}/{{filename}}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
        api = HfApi(endpoint=hub.url, token="test-token")
        api.create_repo(repo_id)
        api.upload_folder(folder_path=model_dir, repo_id=repo_id)
        assert resolve_model_name("MIT/ast-finetuned-audioset-10-10-0.4593") is None  # online: the Hub's
        assert resolve_model_name(repo_id) is None
        load_model(repo_id, device="cpu")  # downloaded into the cache
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # the server is gone: the cache alone
    assert resolve_model_name(repo_id) is None
    load_model(repo_id, device="cpu")
    assert Detector.from_pretrained(repo_id, device="cpu").name == repo_id
    with pytest.raises(ModelLoadError) as error:
        resolve_model_name("user/never-downloaded")
    assert str(error.value) == (
        f"user/never-downloaded is neither a local folder ({tmp_path / 'user/never-downloaded'}) nor a model "
        f"in the Hugging Face cache ({tmp_path / 'cache'}), and HF_HUB_OFFLINE is set: pass a model folder, "
        "or unset HF_HUB_OFFLINE to download it"
    )
