"""`respira prepare --push_to_hub`: a dataset repo on the local test Hub that `datasets.load_dataset(REPO)`
loads exactly as the prepared folder, with the card that was written; push errors before any work."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import DatasetCard

from respira.cli import main
from respira.hub.push import check_push_target, push_dataset_folder

from .hub_server import HubServer, pushing_to

REPO_ID = "user/icbhi-synthetic"


def _describe(dataset: Any) -> dict[str, Any]:
    """What a load of the repo or the folder must agree on, split by split."""
    return {
        split: {
            "rows": len(part),
            "features": part.features.to_dict(),
            "labels": list(part["label"]),
            "cycles": [f"{r}:{c}" for r, c in zip(part["recording"], part["cycle_index"], strict=True)],
            "first_audio": part[0]["audio"].get_all_samples().data.sum().item(),
            "sampling_rate": part.features["audio"].sampling_rate,
        }
        for split, part in dataset.items()
    }


@contextmanager
def _datasets_reading(hub: HubServer, cache: Path) -> Iterator[None]:
    """datasets in this process loading from ``hub`` into the empty ``cache`` (what it read from
    ``HF_ENDPOINT``, the offline flags and ``HF_DATASETS_CACHE`` as it was imported), with the token."""
    import datasets

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets.config, "HF_ENDPOINT", hub.url)
        patch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
        patch.setattr(datasets.config, "HF_DATASETS_OFFLINE", False)
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
        patch.setenv("HF_DATASETS_CACHE", str(cache))
        patch.setenv("HF_TOKEN", "test-token")
        yield


@dataclass
class Pushed:
    """One `prepare --push_to_hub`, then a load of the repo (on a clean cache) and of the folder, all in this
    process: the folder it wrote, the Hub it pushed to (still serving), what prepare printed, each load
    described (:func:`_describe`)."""

    folder: Path
    hub: HubServer
    stdout: str
    loaded: dict[str, Any]
    requests: list[tuple[str, str]]
    """The Hub's requests until then (the module's other tests download from it too)."""


@pytest.fixture(scope="module")
def pushed(synthetic_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushed]:
    """One push shared by the tests that read it (a prepare run is the slow part), loaded back."""
    import warnings

    import datasets

    root = tmp_path_factory.mktemp("pushed")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Use 'content=<...>'", DeprecationWarning)
        with HubServer(root / "hub") as hub:
            prepare = ["prepare", "--data_dir", str(synthetic_corpus), "--validation_size", "0.25",
                       "--sampling_rate", "4000", "--cache_dir", str(root / "cache"), "--output_dir",
                       str(root / "prepared"), "--push_to_hub", REPO_ID, "--private", "--token",
                       "test-token"]  # fmt: skip
            with pushing_to(hub, root / "hub_cache"), redirect_stdout(io.StringIO()) as printed:
                assert main(prepare) == 0
            with pushing_to(hub, root / "hf_home"), _datasets_reading(hub, root / "datasets_cache"):
                loaded = {
                    "hub": _describe(datasets.load_dataset(REPO_ID)),
                    "folder": _describe(datasets.load_dataset(str(root / "prepared"))),
                }
            yield Pushed(root / "prepared", hub, printed.getvalue(), loaded, list(hub.requests))


@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
def test_pushed_dataset_loads_like_the_prepared_folder(pushed: Pushed, synthetic_corpus: Path) -> None:
    folder, hub = pushed.folder, pushed.hub
    assert f"pushed to the Hub: {hub.url}/datasets/{REPO_ID}" in pushed.stdout

    repo = hub.state.dataset_repos[REPO_ID]
    assert repo.private and REPO_ID not in hub.state.repos  # a dataset repo, not a model repo
    parquet = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.parquet"))
    assert parquet == [f"cycles/{s}-00000-of-00001.parquet" for s in ("test", "train", "validation")]
    head = repo.commits[repo.branches["main"]]
    assert sorted(head.files) == sorted([".gitattributes", "README.md", *parquet])
    assert sorted(hub.committed_lfs) == parquet  # the data went through LFS, the card as a regular file
    # the card on the Hub is the card that was written, its YAML included
    card_text = hub.state.text(repo, "README.md")
    assert card_text == (folder / "README.md").read_text(encoding="utf-8")
    assert f'load_dataset("{REPO_ID}")' in card_text
    assert hub.unhandled == []
    # the data files came from the Hub (the push itself reads only the card)
    resolved = [path for _, path in pushed.requests if path.startswith(f"/datasets/{REPO_ID}/resolve/")]
    assert any(".parquet" in path for path in resolved), resolved

    output = pushed.loaded
    assert output["hub"] == output["folder"]
    hub_splits = output["hub"]
    assert list(hub_splits) == ["train", "validation", "test"]
    card = DatasetCard(card_text).data
    assert {s["name"]: s["num_examples"] for s in card["dataset_info"]["splits"]} == {
        split: entry["rows"] for split, entry in hub_splits.items()
    }
    assert card["respira"]["cycles"]["validation_size"] == 0.25
    assert {entry["sampling_rate"] for entry in hub_splits.values()} == {4000}
    total = sum(
        len((p).read_text().splitlines()) for p in (synthetic_corpus / "ICBHI_final_database").glob("*.txt")
    )
    assert sum(entry["rows"] for entry in hub_splits.values()) == total


def _folder(root: Path, shard: str) -> Path:
    (root / "cycles").mkdir(parents=True)
    (root / "cycles" / shard).write_bytes(b"not really parquet: the server stores bytes")
    (root / "README.md").write_text(f"---\nlicense: other\n---\n# {shard}\n")
    return root


@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
def test_a_new_push_replaces_the_data_files_of_the_previous_one(tmp_path: Path) -> None:
    with HubServer(tmp_path / "hub") as hub, pushing_to(hub, tmp_path / "hub_cache"):
        first = _folder(tmp_path / "a", "train-00000-of-00002.parquet")
        (first / "cycles" / "train-00001-of-00002.parquet").write_bytes(b"second shard")
        url = push_dataset_folder(first, REPO_ID, token="test-token")
        assert url == f"{hub.url}/datasets/{REPO_ID}"
        push_dataset_folder(
            _folder(tmp_path / "b", "train-00000-of-00001.parquet"), REPO_ID, token="test-token"
        )
        repo = hub.state.dataset_repos[REPO_ID]
        files = sorted(repo.commits[repo.branches["main"]].files)
        assert files == [".gitattributes", "README.md", "cycles/train-00000-of-00001.parquet"]
        assert hub.state.text(repo, "README.md").endswith("# train-00000-of-00001.parquet\n")


def test_push_targets_are_checked_before_any_work(tmp_path: Path, monkeypatch) -> None:
    from huggingface_hub import constants

    with pytest.raises(ValueError, match="give the repository as owner/name"):
        check_push_target("just-a-name", token="test-token")
    with pytest.raises(ValueError, match="is not a Hub repository id"):
        check_push_target("user/not a name", token="test-token")
    with HubServer(tmp_path / "hub") as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        with pytest.raises(PermissionError, match=f"the Hub at {hub.url} refused the token"):
            check_push_target(REPO_ID, token="wrong-token")
        check_push_target(REPO_ID, token="test-token")
        assert hub.state.dataset_repos == {}  # checking creates nothing


def test_prepare_refuses_to_push_offline_before_building(
    synthetic_corpus: Path, tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    code = main(
        ["prepare", "--data_dir", str(synthetic_corpus), "--push_to_hub", REPO_ID, "--token", "test-token",
         "--cache_dir", str(tmp_path / "cache")]
    )  # fmt: skip
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "cannot reach the Hugging Face Hub" in error and "offline mode is enabled" in error
    assert not (tmp_path / "cache").exists()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
def test_train_and_evaluate_from_the_pushed_dataset_equal_the_corpus_runs(
    pushed: Pushed, synthetic_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's done-when: prepare --push_to_hub, then on a clean cache train --dataset_name REPO and
    evaluate --dataset_name REPO, equal to the runs on the corpus folder (all in this process: datasets
    and huggingface_hub read the local Hub, the clean caches through :func:`_datasets_reading`)."""
    import yaml

    # torch's last bits depend on its thread count, which respira otherwise picks from the machine's
    # load: the corpus runs and the Hub runs must use the same count.
    monkeypatch.setenv("RESPIRA_NUM_THREADS", "1")

    from ..training.test_data import RECIPE, compare_runs

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    raw = tmp_path / "raw"
    cache = ["--dataset_cache_dir", str(tmp_path / "cache")]
    assert (
        main(["train", str(recipe), "--data_dir", str(synthetic_corpus), "--output_dir", str(raw), *cache])
        == 0
    )
    assert (
        main(["evaluate", str(raw), "--split", "validation", "--output_dir", str(tmp_path / "raw_eval")]) == 0
    )
    hub = pushed.hub
    before = len(hub.requests)
    clean_cache = tmp_path / "clean_cache"
    hub_run = tmp_path / "hub_run"
    commands = [
        ["train", str(recipe), "--dataset_name", REPO_ID, "--output_dir", str(hub_run)],
        ["evaluate", str(raw), "--dataset_name", REPO_ID, "--split", "validation", "--output_dir",
         str(tmp_path / "hub_eval")],
    ]  # fmt: skip
    with pushing_to(hub, tmp_path / "clean_home"), _datasets_reading(hub, clean_cache):
        for command in commands:  # on a clean cache: nothing of the corpus runs' cache is reused
            assert main(command) == 0
    assert any(path.startswith(f"/datasets/{REPO_ID}/resolve/") for _, path in hub.requests[before:])
    assert any(clean_cache.iterdir())  # the data came through the clean cache
    compare_runs(raw, hub_run)
    record = json.loads((hub_run / "respira_run.json").read_text())
    assert record["data"]["dataset_name"] == REPO_ID and record["data"]["data_dir"] is None
    scores = [json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("raw_eval", "hub_eval")]
    assert scores[0] == scores[1]


@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
def test_pushing_a_second_config_keeps_the_first(
    synthetic_corpus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The two pushes (the second reads the first card back), then both configs loaded from the Hub on a
    clean cache, in this process."""
    import datasets

    with HubServer(tmp_path / "hub") as hub, pushing_to(hub, tmp_path / "hub_cache"):
        base = ["prepare", "--data_dir", str(synthetic_corpus), "--sampling_rate", "4000", "--cache_dir",
                str(tmp_path / "cache"), "--push_to_hub", REPO_ID, "--token", "test-token"]  # fmt: skip
        for extra in ([], ["--config", "recordings", "--validation_size", "0.25"]):
            assert main([*base, *extra]) == 0, capsys.readouterr().err[-3000:]
        assert "datasets.load_dataset('user/icbhi-synthetic', 'recordings')" in capsys.readouterr().out
        repo = hub.state.dataset_repos[REPO_ID]
        files = sorted(repo.commits[repo.branches["main"]].files)
        assert [f for f in files if f.endswith(".parquet")] == [
            "cycles/test-00000-of-00001.parquet", "cycles/train-00000-of-00001.parquet",
            "recordings/test-00000-of-00001.parquet", "recordings/train-00000-of-00001.parquet",
            "recordings/validation-00000-of-00001.parquet",
        ]  # fmt: skip
        card = DatasetCard(hub.state.text(repo, "README.md")).data
        assert [c["config_name"] for c in card["configs"]] == ["cycles", "recordings"]
        assert sorted(card["respira"]) == ["cycles", "recordings"]
        with pushing_to(hub, tmp_path / "hf_home"), _datasets_reading(hub, tmp_path / "datasets_cache"):
            rows = [
                len(datasets.load_dataset(REPO_ID)["train"]),
                len(datasets.load_dataset(REPO_ID, "recordings")["validation"]),
            ]
    assert rows[0] > 0 and rows[1] > 0
