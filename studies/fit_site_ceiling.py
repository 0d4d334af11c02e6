"""At k labelled patients of a site, does ``fit-site`` lose its score in the ranking or in the thresholds?

    python studies/fit_site_ceiling.py [--cache DIR] [--sites kauh sprsound icbhi] [--sizes 20] [--draws 10]
                                       [--features embedding blocks] [--output FILE] [--json FILE]

For each site of ``../shared`` and each of ``--draws`` draws of ``k`` labelled patients (the draws of
:func:`respira.sites.fitting.learning_curve`, the same as ``benchmarks/fit_site.py``'s), the default
procedure (:func:`respira.sites.procedure.fit_procedure`) is fitted on the drawn patients and every
candidate it fits (the model as is, re-tuned thresholds, the anchored head, the site head, the chosen
procedure) is read on the site's other patients three ways: each label's AUC, the per-recording
ICBHI-style score at the thresholds the procedure set, and the **ceiling**, the best score any pair of
thresholds reaches on those held-out patients (thresholds chosen on the very recordings scored: an upper
bound that no rule of choosing thresholds from the labelled patients can beat).

``--features``: what the heads read. ``embedding``: the shipped detector's window embedding (what
``fit-site`` uses; ``benchmarks/fit_site.py``'s cached samples). ``blocks``: that embedding and, beside it,
every EfficientAT block's output pooled per channel (mean over frequency and time, maximum over both, the
maximum over time of the frequency mean): the richest linear read-out of the same encoder, to tell a
representation limit from a head limit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "benchmarks"))
CANDIDATE_ORDER = ("as_is", "thresholds", "anchored_head", "site_head", "chosen")


def block_sample(site: str, shared: Path, cache: Path, detector: Any) -> Any:
    """The site's sample with every block's pooled outputs after the embedding (cached); the model's
    head reads the embedding part only (zero weights on the rest), so the anchored head is the same."""
    import dataclasses

    import torch

    import fit_site as bench
    from respira.sites import SiteSample
    from respira.sites.embedding import embed_recordings

    stored = cache / f"{site}_blocks.npz"
    if stored.is_file():
        return SiteSample.load(stored)
    model = detector.model

    class Blocks(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config = model.config

        def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None) -> Any:
            output = model(
                input_values=input_values, attention_mask=attention_mask, output_hidden_states=True
            )
            parts = [output.embeddings]
            for hidden in output.hidden_states:
                parts += [hidden.mean(dim=(2, 3)), hidden.amax(dim=(2, 3)), hidden.mean(dim=2).amax(dim=-1)]
            return types.SimpleNamespace(embeddings=torch.cat(parts, 1), logits=output.logits)

    blocks = Blocks()
    width = model.config.hidden_size
    original = SiteSample.__post_init__
    SiteSample.__post_init__ = lambda self: None  # the head's shape is checked against the wider sample below
    try:
        type(detector).inference_model = property(lambda self: blocks)
        wide = embed_recordings(detector, bench.READERS[site](shared / site), progress=False)
    finally:
        SiteSample.__post_init__ = original
    weight, bias = wide.base_head
    padded = np.zeros((2, wide.embeddings.shape[1]))
    padded[:, :width] = weight
    sample = dataclasses.replace(wide, base_head=(padded, bias))
    cache.mkdir(parents=True, exist_ok=True)
    sample.save(stored)
    return sample


def best_pair(truth: np.ndarray, probabilities: np.ndarray, points: int = 60) -> tuple[float, float]:
    """The (crackle, wheeze) thresholds of best ICBHI-style score on these recordings (both parts
    present: a normal and an abnormal recording), searched between the recordings' probabilities."""
    from respira.labels import flags_to_classes

    grids = []
    for label in range(2):
        values = np.unique(probabilities[:, label])
        mids = (values[1:] + values[:-1]) / 2 if values.size > 1 else values
        if mids.size > points:
            mids = np.quantile(mids, np.linspace(0, 1, points))
        grids.append(np.unique(np.r_[0.0, mids, 1.0]))  # 0: every recording flagged; 1: (almost) none
    crackle = probabilities[None, :, 0] >= grids[0][:, None]  # [A, recordings]
    wheeze = probabilities[None, :, 1] >= grids[1][:, None]  # [B, recordings]
    flags = np.stack(np.broadcast_arrays(crackle[:, None], wheeze[None, :]), axis=-1)  # [A, B, recordings, 2]
    right = flags_to_classes(flags.reshape(-1, 2)).reshape(flags.shape[:3]) == truth
    normal = truth == 0
    score = (right[..., normal].mean(axis=-1) + right[..., ~normal].mean(axis=-1)) / 2
    a, b = np.unravel_index(int(np.argmax(score)), score.shape)
    return float(grids[0][a]), float(grids[1][b])


def ceiling(truth: np.ndarray, probabilities: np.ndarray) -> float:
    """The best ICBHI-style score of any (crackle, wheeze) threshold pair on these recordings."""
    from respira.sites.scores import icbhi_score, recording_classes

    return icbhi_score(truth, recording_classes(probabilities, best_pair(truth, probabilities)))


def halves(
    truth: np.ndarray, probabilities: np.ndarray, units: np.ndarray, seed: int, splits: int = 5
) -> float:
    """Thresholds of best score on half the patients, scored on the other half (both ways, ``splits``
    random halvings): what thresholds set on as many more patients of the site could reach, the
    ceiling's optimism (thresholds chosen on the recordings scored) taken out."""
    from respira.sites.scores import icbhi_score, recording_classes

    names = np.array(sorted(set(units.tolist())), dtype=object)
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(splits):
        first = set(rng.permutation(names)[: len(names) // 2].tolist())
        part = np.array([unit in first for unit in units])
        for a, b in ((part, ~part), (~part, part)):
            if not (truth[a] == 0).any() or not (truth[a] != 0).any():
                continue
            pair = best_pair(truth[a], probabilities[a])
            scores.append(icbhi_score(truth[b], recording_classes(probabilities[b], pair)))
    return float(np.mean(scores)) if scores else float("nan")


def measure(sample: Any, size: int, draws: int, seed: int) -> dict[str, dict[str, float]]:
    """Per candidate, the mean over draws of each label's AUC, the score at its thresholds and the ceiling."""
    from respira.metrics.multilabel import roc_auc
    from respira.sites.fitting import _draw
    from respira.sites.procedure import fit_procedure
    from respira.sites.scores import icbhi_score, recording_classes

    rows: dict[str, list[list[float]]] = {}
    for draw in range(draws):
        inside = _draw(sample, size, np.random.default_rng([seed, size, draw]))
        if inside is None:
            continue
        procedure = fit_procedure(sample, np.flatnonzero(inside), inner_folds=4, seed=seed)
        held = sample.subset(np.flatnonzero(~inside))
        truth, labels = held.classes, held.labels
        for name, rule in procedure.rules.items():
            probabilities = rule.probabilities(held)
            rows.setdefault(name, []).append(
                [
                    roc_auc(labels[:, 0], probabilities[:, 0]),
                    roc_auc(labels[:, 1], probabilities[:, 1]),
                    icbhi_score(truth, recording_classes(probabilities, rule.thresholds)),
                    ceiling(truth, probabilities),
                    halves(truth, probabilities, held.units, seed),
                ]
            )
    keys = ("crackle_auc", "wheeze_auc", "score", "ceiling", "halves")
    return {
        name: {"draws": len(values)}
        | dict(zip(keys, np.nanmean(np.array(values), axis=0).tolist(), strict=True))
        for name, values in rows.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPOSITORY.parent / "shared")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/respira_fit_site"))
    parser.add_argument("--sites", nargs="+", default=["kauh", "sprsound", "icbhi"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[20])
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--features", nargs="+", choices=["embedding", "blocks"], default=["embedding", "blocks"]
    )
    parser.add_argument("--output", type=Path, default=REPOSITORY / "benchmarks/results/fit_site_ceiling.md")
    parser.add_argument("--json", type=Path, default=REPOSITORY / "benchmarks/results/fit_site_ceiling.json")
    args = parser.parse_args(argv)
    for site in args.sites:
        if not (args.shared / site).is_dir():
            parser.error(f"--shared {args.shared} has no {site} folder")

    import fit_site as bench
    import respira

    detector = respira.Detector.from_pretrained()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results: list[dict[str, Any]] = []
    for site in args.sites:
        for features in args.features:
            if features == "embedding":
                sample = bench.embedded(site, args.shared / site, args.cache, detector)[0]
            else:
                sample = block_sample(site, args.shared, args.cache, detector)
            for size in args.sizes:
                measured = measure(sample, size, args.draws, args.seed)
                for name in CANDIDATE_ORDER:
                    if name in measured:
                        results.append(
                            {"site": site, "features": features, "width": sample.hidden_size, "units": size}
                            | {"candidate": name}
                            | measured[name]
                        )
    lines = [
        f"<!-- {started}; seed {args.seed}; draws of the learning curve; default fit-site rules -->",
        "",
        "Mean over draws, on each site's other patients: each label's AUC, the per-recording ICBHI-style "
        "score (%) at the thresholds fit-site set; the ceiling, the best score any threshold pair reaches "
        "on those patients; and 'halves', thresholds of best score on half of them scored on the other half:",
        "",
        "| site | features (width) | labelled patients | candidate | crackle AUC | wheeze AUC | score "
        "| ceiling | halves |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in results:
        lines.append(
            f"| {bench.NAMES[row['site']]} | {row['features']} ({row['width']}) | {row['units']} "
            f"({row['draws']} draws) | {row['candidate']} | {row['crackle_auc']:.2f} "
            f"| {row['wheeze_auc']:.2f} | {100 * row['score']:.1f} | {100 * row['ceiling']:.1f} "
            f"| {100 * row['halves']:.1f} |"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
