"""What ``respira bench`` makes of a name (:func:`respira.encoder_bench.models.load_model`): the official
EfficientAT mn04 checkpoint on real KAUH recordings, and a shipped detector's encoder as trained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from respira.encoder_bench.models import embed, load_model
from respira.sites.site_sample import read_site_recordings


@pytest.fixture(scope="module")
def kauh_part(shared_kauh: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four KAUH patients (12 recordings, in their three filter modes; fit-site's least), linked."""
    folder = tmp_path_factory.mktemp("kauh_part")
    patients = {"1", "11", "30", "31"}  # wheezing, crackling and normal patients
    for path in shared_kauh.glob("*.wav"):
        if path.name[2:].split("_")[0] in patients:
            (folder / path.name).symlink_to(path)
    return folder


@pytest.mark.real_data
def test_the_mn04_checkpoint_is_converted_once_and_its_embeddings_read_back(
    shared_reference: Path, kauh_part: Path, tmp_path: Path
) -> None:
    checkpoint = shared_reference / "efficientat_mn04_as_mAP_432.pt"
    model = load_model(str(checkpoint), tmp_path)
    assert model.name == "efficientat_mn04_as_mAP_432" and not model.trained_head
    assert model.detector.model.config.encoder_config.model_type == "efficientat"
    assert len(list((tmp_path / "converted").iterdir())) == 1
    again = load_model(str(checkpoint), tmp_path)
    assert again.key == model.key  # the same weights: the same cache folder
    recordings = read_site_recordings(kauh_part, "kauh").recordings
    sample = embed(model, recordings, tmp_path, progress=False)
    assert sample.hidden_size == 384  # mn04's pooled embedding
    assert len(sample.recordings) == 12 and all(r.duration for r in sample.recordings)
    cached = embed(again, recordings, tmp_path, progress=False)
    np.testing.assert_array_equal(cached.embeddings, sample.embeddings)
    np.testing.assert_array_equal(cached.recording, sample.recording)


def test_a_shipped_detector_keeps_its_trained_head(tmp_path: Path) -> None:
    model = load_model("icbhi-crackle-wheeze", tmp_path)
    assert model.trained_head and model.name == "icbhi-crackle-wheeze"


def test_a_single_label_model_is_benched_by_its_encoder_under_a_random_head(tmp_path: Path) -> None:
    import torch

    from respira.models import RespiraConfig, RespiraForAudioClassification

    config = RespiraConfig(encoder_config={"model_type": "respira_cnn"}, projector_dim=None)  # four classes
    single = RespiraForAudioClassification(config)
    single.save_pretrained(tmp_path / "single")
    model = load_model(str(tmp_path / "single"), tmp_path)
    assert not model.trained_head and model.detector.model.config.problem_type == "multi_label_classification"
    encoder = model.detector.model.respira.state_dict()
    assert all(torch.equal(encoder[k], v) for k, v in single.respira.state_dict().items())
