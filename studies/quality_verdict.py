"""How often does a quality verdict learnt on one hospital withhold the verdict, there and elsewhere?

    python studies/quality_verdict.py [--shared ../shared] [--work /tmp/respira_quality] [--max_withheld P]

The product path, as a user runs it: the flagship's frozen encoder (AudioSet EfficientAT mn04, 32 kHz,
4 kHz low-pass, 8-s input, mean pooling; converted with ``respira convert efficientat``) gets a quality
head with ``respira quality --dataset sprsound`` on SPRSound's ``train`` part (Poor Quality records
against the others; threshold out of fold over 5 patient groups), then ``respira.Detector`` predicts
every recording of the other parts and sites (4-s windows every 2 s; a recording's quality is its
windows' mean). Printed per site: recordings, how many the verdict is withheld on, and where the site
says which recordings are too poor to judge (SPRSound's test parts), the AUC of the quality probability
and the shares withheld of poor and other recordings. ICBHI and KAUH carry no such label: their share
withheld is all that can be said (each of their recordings was judged by annotators, so a withheld one
is a recording their annotators did judge).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from _common import respira
from _machine import cpu_name, load_average
from respira import Detector, RespiraForAudioClassification

RATE = 32_000


def sites(shared: Path) -> dict[str, list[tuple[Path, bool | None]]]:
    """Per held-out site or part: ``(recording, too poor to judge?)`` (``None``: the site does not say)."""
    found: dict[str, list[tuple[Path, bool | None]]] = {}
    for part in ("inter_test", "intra_test"):
        notes = sorted((shared / "sprsound" / "test_json" / f"{part}_json").glob("*.json"))
        found[f"SPRSound {part}"] = [
            (
                shared / "sprsound" / "test_wav" / f"{note.stem}.wav",
                json.loads(note.read_text())["record_annotation"] == "Poor Quality",
            )
            for note in notes
        ]
    found["ICBHI"] = [(path, None) for path in sorted((shared / "icbhi").glob("**/*.wav"))]
    found["KAUH"] = [(path, None) for path in sorted((shared / "kauh").glob("**/*.wav"))]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--work", type=Path, default=Path("/tmp/respira_quality"))
    parser.add_argument("--max_withheld", type=float, help="respira quality --max_withheld")
    args = parser.parse_args()
    start = time.perf_counter()
    torch.set_num_threads(2)
    args.work.mkdir(parents=True, exist_ok=True)
    encoder = args.work / "efficientat_mn04"
    if not (encoder / "config.json").is_file():
        checkpoint = args.shared / "reference" / "efficientat_mn04_as_mAP_432.pt"
        respira("convert", "efficientat", str(checkpoint), str(encoder))
    torch.manual_seed(0)
    model = RespiraForAudioClassification.from_encoder_pretrained(
        str(encoder),
        sampling_rate=RATE,
        target_seconds=8.0,
        pooling="mean",
        lowpass_cutoff=4000.0,
        freeze_encoder=True,
        problem_type="multi_label_classification",
    )
    model.save_pretrained(args.work / "flagship")
    command = ["quality", str(args.work / "flagship"), "--data_dir", str(args.shared / "sprsound")]
    command += ["--output_dir", str(args.work / "with_quality"), "--overwrite"]
    if args.max_withheld is not None:
        command += ["--max_withheld", str(args.max_withheld)]
    print(respira(*command).strip().splitlines()[0])
    fit = json.loads((args.work / "with_quality" / "quality.json").read_text())
    detector = Detector.from_pretrained(args.work / "with_quality", device="cpu")
    print(f"\nmachine: {cpu_name()}, load {load_average()}; command: python studies/quality_verdict.py")
    print("\n| site | recordings | withheld | poor (site's label) | AUC | withheld of poor | of others |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| SPRSound train (out of fold, the fit) | {fit['recordings']} | — | {fit['poor']} | "
        f"{fit['auc']:.1f} | {fit['withheld_poor']:.0f} % | {fit['withheld_other']:.0f} % |"
    )
    for site, recordings in sites(args.shared).items():
        predictions = [detector.predict_file(path) for path, _ in recordings]
        quality = np.array([p.quality for p in predictions])
        withheld = np.array([p.withheld for p in predictions])
        labels = [poor for _, poor in recordings]
        cells = ["—"] * 4
        if labels[0] is not None:
            poor = np.array(labels, dtype=bool)
            auc = f"{100 * roc_auc_score(poor, quality):.1f}" if 0 < poor.sum() < poor.size else "—"
            of_poor = f"{100 * withheld[poor].mean():.0f} %" if poor.any() else "—"
            cells = [str(int(poor.sum())), auc, of_poor, f"{100 * withheld[~poor].mean():.0f} %"]
        print(
            f"| {site} | {len(recordings)} | {int(withheld.sum())} ({100 * withheld.mean():.0f} %) | "
            + " | ".join(cells)
            + " |"
        )
    print(f"\ntime: {time.perf_counter() - start:.0f} s; threshold {fit['threshold']:.3f}")


if __name__ == "__main__":
    main()
