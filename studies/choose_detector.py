"""Which default detector, on how many ICBHI patients: issue 83's choice, out of sample, in minutes.

    OMP_NUM_THREADS=1 python studies/choose_detector.py --work /tmp/choose_detector [--shared ../shared]

Every recording of the three sites of ``../shared`` (ICBHI's 26 patients of ``icbhi/`` and 39 of
``icbhi_cycles/``, KAUH, SPRSound's judged recordings) is embedded once by the shipped detector's frozen
encoder as ``respira bench`` embeds it (:func:`respira.encoder_bench.models.embed`, cached in ``--work``):
4-s windows every 2 s, and ICBHI's cycles and SPRSound's events each as one window. The candidates
(:data:`CANDIDATES`; docs/history/sites.md, "Every patient we have", holds the rule, written before the
numbers) are

* ``probe``: ``respira bench``'s unseen-hospital probe, fit-site's site head fitted on whole ICBHI
  recordings (:func:`respira.sites.choice.fit_procedure`);
* ``recipe``: the flagship recipe's head on ICBHI cycles (``leave_one_site_out.py``'s head and cross-fitted
  thresholds);
* ``multi_site``: that head on ICBHI's cycles and every site not held out, worst-site thresholds;

each on the 26 patients of ``icbhi/`` and on all 65, beside today's shipped detector as it is and
all-normal. Protocols: leave one site out (KAUH, SPRSound held out) and leave one device out within ICBHI,
every recording decided as ``respira predict`` decides it (the maximum of its windows). Scores are seed
means with patient-bootstrap intervals; the tables and the rule's verdict go to ``--out`` (``.md`` and
``.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # its _machine.py

from _choice_tables import report
from _common import ROOT
from _machine import cpu_name, load_average
from leave_one_site_out import Method, train
from respira.encoder_bench.models import embed, load_model
from respira.encoder_bench.tasks import PROBE, read_sites
from respira.metrics.icbhi import icbhi_scores
from respira.metrics.recording_level import percentile_interval, resample_weights, scores_with_intervals
from respira.models.respira.labels import flags_to_classes
from respira.sites.choice import fit_procedure
from respira.sites.scores import recording_classes
from respira.sites.site_sample import SiteSample

SEEDS = (0, 1, 2)
RESAMPLES = 1000
DETECTOR = "icbhi-crackle-wheeze"
POOLS = {"26": "icbhi", "65": "icbhi+icbhi_cycles"}
"""The ICBHI patients a candidate learns from: ``../shared/icbhi`` alone, or with ``icbhi_cycles``."""
CANDIDATES = tuple(f"{name}@{pool}" for name in ("probe", "recipe", "multi_site") for pool in POOLS)
HEADS = {"recipe": Method("recipe"), "multi_site": Method("multi_site", worst_site_thresholds=True)}
SITES = ("kauh", "sprsound")
"""The sites held out of every candidate (ICBHI's place: :data:`DEVICES`)."""
DEVICES = ("AKGC417L", "LittC2SE", "Litt3200", "Meditron")


def join(samples: list[SiteSample]) -> SiteSample:
    """One sample of several (their recordings renumbered in order)."""
    offsets = np.cumsum([0, *(len(s.recordings) for s in samples[:-1])])
    return replace(
        samples[0],
        embeddings=np.concatenate([s.embeddings for s in samples]),
        recording=np.concatenate([s.recording + o for s, o in zip(samples, offsets, strict=True)]),
        recordings=tuple(r for s in samples for r in s.recordings),
        base_logits=np.concatenate([s.base_logits for s in samples]),
    )


def _events(site, shared: Path) -> list[tuple]:
    """SPRSound's events of each of ``site``'s recordings as cycles (start, end, crackle, wheeze), clipped to
    the audio; shorter than 0.1 s once clipped: left out (as ``leave_one_site_out.py``)."""
    import soundfile

    from respira.data import read_sprsound_events

    events = read_sprsound_events(shared / "sprsound")
    by_path = {Path(p).resolve(): frame for p, frame in events.groupby("path")}
    spans = []
    for recording in site.recordings.recordings:
        length = soundfile.info(str(recording.path)).duration
        frame = by_path.get(Path(recording.path).resolve())
        rows = [] if frame is None else frame.itertuples()
        kept = [(e.start, min(e.end, length), bool(e.crackle), bool(e.wheeze)) for e in rows]
        spans.append(tuple(c for c in kept if c[1] - c[0] >= 0.1))
    return spans


def embed_all(shared: Path, work: Path) -> dict[str, SiteSample]:
    """Every sample the study reads, by name: ``<folder>`` windows, ``<folder> cycles`` (ICBHI) and
    ``sprsound events``; each recording embedded once (the bench's cache in ``work``)."""
    model = load_model(DETECTOR, work / "bench_cache")
    samples = {}
    for name, folder in (
        ("icbhi", "icbhi"),
        ("icbhi_cycles", "icbhi"),
        ("kauh", "kauh"),
        ("sprsound", "sprsound"),
    ):
        (site,) = read_sites([f"{folder}={shared / name}"])
        recordings = site.recordings.recordings
        samples[name] = embed(model, recordings, work / "bench_cache", description=f"{name} windows")
        if site.cycles is not None:
            samples[f"{name} cycles"] = embed(
                model, recordings, work / "bench_cache", cycles=site.cycles, description=f"{name} cycles"
            )
        if name == "sprsound":
            events = _events(site, shared)
            keep = np.flatnonzero([len(e) > 0 for e in events])
            samples["sprsound events"] = embed(
                model, [recordings[i] for i in keep], work / "bench_cache",
                cycles=[events[i] for i in keep], description="sprsound events",
            )  # fmt: skip
    return samples


def device(recording) -> str:
    """An ICBHI recording's stethoscope: its name's last field."""
    return Path(recording.recording_id.split("#")[0]).stem.rsplit("_", 1)[-1]


def patients_of(sample: SiteSample) -> np.ndarray:
    return np.array([r.unit for r in sample.recordings])


def icbhi(samples: dict[str, SiteSample], pool: str, *, cycles: bool = False) -> SiteSample:
    """ICBHI's recordings (``cycles``: its cycles) of the folders of ``pool`` (:data:`POOLS`)."""
    suffix = " cycles" if cycles else ""
    return join([samples[f"{folder}{suffix}"] for folder in POOLS[pool].split("+")])


STETHOSCOPE = {"kauh": "Litt3200", "sprsound": "Yunting II"}


def head_rows(sample: SiteSample, site: str) -> dict[str, np.ndarray]:
    """``sample``'s windows as ``leave_one_site_out.train`` reads a pool: ICBHI cycles and SPRSound events
    one unit each, KAUH windows carrying their recording's flags, a recording counting once."""
    owner = sample.recording
    windows = site == "kauh"
    counts = np.bincount(owner, minlength=len(sample.recordings))
    steth = [STETHOSCOPE.get(site) or device(sample.recordings[i]) for i in owner]
    return {
        "x": sample.embeddings.astype(np.float32),
        "flags": sample.labels[owner],
        "weight": 1.0 / counts[owner] if windows else np.ones(owner.size),
        "site": np.full(owner.size, site),
        "stethoscope": np.asarray(steth),
        "patient": np.char.add(f"{site}_", patients_of(sample)[owner].astype(str)),
        "unit": np.char.add(f"{site}:", (owner if windows else np.arange(owner.size)).astype(str)),
    }


def without(sample: SiteSample, patients: set[str]) -> SiteSample:
    """``sample`` less the recordings (or cycles) of ``patients``."""
    return sample.subset(np.flatnonzero(~np.isin(patients_of(sample), sorted(patients))))


Run = tuple[np.ndarray, tuple[float, float]]
"""One seed's recording probabilities ``[recordings, 2]`` of a scored sample and its thresholds."""


def fit_candidate(
    name: str, samples: dict[str, SiteSample], held_site: str | None, excluded: set[str], seed: int
):
    """Candidate ``name`` (:data:`CANDIDATES`) trained without ``held_site`` and the ICBHI patients
    ``excluded``, with ``seed``: a function from a scored window sample to its :data:`Run`."""
    kind, pool = name.split("@")
    if kind == "probe":
        rule = fit_procedure(
            without(icbhi(samples, pool), excluded), seed=seed, candidates=("as_is", PROBE)
        ).rules[PROBE]
        return lambda scored: (rule.probabilities(scored), tuple(rule.thresholds))
    parts = [head_rows(without(icbhi(samples, pool, cycles=True), excluded), "icbhi")]
    if kind == "multi_site":
        parts += [
            head_rows(samples[s if s == "kauh" else "sprsound events"], s) for s in SITES if s != held_site
        ]
    rows = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    trained = train(HEADS[kind], rows, seed)

    def decide(scored: SiteSample) -> Run:
        windows = trained.predict_target({"x": scored.embeddings.astype(np.float32)})
        probabilities = np.zeros((len(scored.recordings), 2))
        np.maximum.at(probabilities, scored.recording, windows)
        return probabilities, tuple(float(t) for t in trained.thresholds)

    return decide


def today(scored: SiteSample) -> Run:
    """The shipped detector as it is: its logits, its recording rule and thresholds."""
    from respira.sites.scores import recording_probabilities

    probabilities = recording_probabilities(
        scored.base_logits, scored.recording, len(scored.recordings), scored.aggregation, scored.top_k
    )
    return probabilities, tuple(scored.base_thresholds)


def rotations(samples: dict[str, SiteSample]) -> dict[str, tuple[SiteSample, str | None, set[str]]]:
    """Each held-out set: (its scored window sample, the site held out, the ICBHI patients no candidate may
    learn from)."""
    out = {site: (samples[site], site, set()) for site in SITES}
    every = icbhi(samples, "65")
    for name in DEVICES:
        on_device = np.array([device(r) == name for r in every.recordings])
        out[f"icbhi {name}"] = (
            every.subset(np.flatnonzero(on_device)),
            None,
            set(patients_of(every)[on_device]),
        )
    return out


def evaluate(scored: SiteSample, runs: dict[str, list[Run]], pairs: list[tuple[str, str]]) -> dict:
    """Each entry's seed-mean scores with intervals (in %), its per-seed scores, and each pair's paired
    difference of seed-mean scores with its interval."""
    truth = flags_to_classes(scored.labels)
    # seed 0: every entry of a held-out set is scored on the same resamples, as scores_with_intervals draws
    weights = resample_weights(patients_of(scored), resamples=RESAMPLES, seed=0, strata=truth)
    out: dict = {
        "recordings": len(scored.recordings),
        "patients": len(set(patients_of(scored))),
        "entries": {},
    }
    resampled = {}
    for entry, seed_runs in runs.items():
        parts = [(np.ones(truth.size, bool), recording_classes(p, t), p) for p, t in seed_runs]
        scores = scores_with_intervals(scored.labels, patients_of(scored), parts, resamples=RESAMPLES, seed=0)
        per_seed = [icbhi_scores(truth, classes, weights=weights)["icbhi_score"] for _, classes, _ in parts]
        resampled[entry] = np.mean(per_seed, axis=0)
        kept = {key: 100 * value for key, value in scores.items() if not key.startswith("scored_")}
        out["entries"][entry] = kept | {"per_seed": [100 * float(s[0]) for s in per_seed]}
    out["pairs"] = {}
    for entry, reference in pairs:
        if entry in resampled and reference in resampled:
            gain = 100 * (resampled[entry] - resampled[reference])
            low, high = percentile_interval(gain[1:])
            out["pairs"][f"{entry} - {reference}"] = {"gain": float(gain[0]), "low": low, "high": high}
    return out


def run(samples: dict[str, SiteSample]) -> dict:
    """Every held-out set of :func:`rotations`, every candidate at every seed, the references."""
    fitted: dict = {}
    results = {}
    for rotation, (scored, held_site, excluded) in rotations(samples).items():
        began = time.perf_counter()
        runs: dict[str, list[Run]] = {"all_normal": [(np.zeros((len(scored.recordings), 2)), (0.5, 0.5))]}
        if held_site is not None:
            runs["today"] = [today(scored)]
        for name in CANDIDATES:
            site = held_site if name.startswith("multi_site") else None
            for seed in SEEDS:
                key = (name, site, frozenset(excluded), seed)
                if key not in fitted:
                    fitted[key] = fit_candidate(name, samples, site, excluded, seed)
                runs.setdefault(name, []).append(fitted[key](scored))
        reference = "today" if held_site is not None else "recipe@26"
        pairs = [(name, reference) for name in CANDIDATES if name != reference]
        pairs += [(f"{kind}@65", f"{kind}@26") for kind in ("probe", "recipe", "multi_site")]
        results[rotation] = evaluate(scored, runs, pairs) | {"reference": reference}
        print(f"{rotation}: {time.perf_counter() - began:.0f} s", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--work", type=Path, required=True, help="the embeddings' cache (kept)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "choose_detector")
    args = parser.parse_args()
    torch.set_num_threads(1)
    began = time.perf_counter()
    samples = embed_all(args.shared.resolve(), args.work)
    embedded = time.perf_counter() - began
    results = run(samples)
    header = (
        f"machine: {cpu_name()}, {torch.get_num_threads()} thread, load {load_average()}; "
        f"embeddings {embedded:.0f} s (cached after the first run), total {time.perf_counter() - began:.0f} s"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    text = report(results, SITES, DEVICES, CANDIDATES)
    args.out.with_suffix(".md").write_text(f"<!-- {header} -->\n\n{text}\n", encoding="utf-8")
    print(header)
    print(text)


if __name__ == "__main__":
    main()
