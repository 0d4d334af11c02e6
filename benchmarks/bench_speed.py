"""``respira bench``'s speed: its embedding pass against real time, and a second run against the first.

    python benchmarks/bench_speed.py [--shared ../shared] [--model PATH_OR_NAME] [--sites kauh ...]
                                     [--work DIR] [--output FILE] [--json FILE]

One encoder (default EfficientAT mn04, the official checkpoint in ``../shared/reference``) benched twice on
the sites of ``../shared`` (default KAUH and the ICBHI sample: their recordings' windows, and ICBHI's
cycles), with a fresh embedding cache (``--work``, emptied first): the first run embeds every recording,
the second reads the cache. Reported: the audio embedded, the embedding pass's wall seconds and × real
time (the recordings' audio seconds per wall second of their windows' pass; ICBHI's cycles, embedded once
more each as its own item, timed apart; respira's thread choice, ``apply_num_threads``), and each run's wall
time with the second's share of the first (issue 75's goals: ≥ 200× real time for mn04 on 2 cores; a
second run ≤ 10 % of the first). Everything printed goes to ``--output`` (what BENCHMARKS.md pastes) and
the figures to ``--json``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from _machine import run_and_write

REPOSITORY = Path(__file__).resolve().parents[1]
RESULTS = REPOSITORY / "benchmarks" / "results"


def bench_once(model: str, data: list[str], work: Path, name: str) -> tuple[Any, float]:
    import respira

    started = time.perf_counter()
    tasks = ["in_domain", "site_labels"]
    result = respira.bench(
        model, data=data, output_dir=work / name, cache_dir=work / "cache", tasks=tasks, sizes=[20], draws=3
    )
    return result, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=REPOSITORY.parent / "shared")
    parser.add_argument("--model", default=None, help="default: ../shared's EfficientAT mn04 checkpoint")
    parser.add_argument("--sites", nargs="+", default=["kauh", "icbhi"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/respira_bench_speed"))
    parser.add_argument("--output", type=Path, default=RESULTS / "bench_speed.md")
    parser.add_argument("--json", type=Path, default=RESULTS / "bench_speed.json")
    args = parser.parse_args(argv)
    model = args.model or str(args.shared / "reference" / "efficientat_mn04_as_mAP_432.pt")
    data = [f"{site}={args.shared / site}" for site in args.sites]
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)

    def run(say: Any) -> dict[str, Any]:
        first, first_wall = bench_once(model, data, args.work, "first")
        second, second_wall = bench_once(model, data, args.work, "second")
        audio = first.audio_seconds
        embedding = first.seconds["embedding"]
        sites = " ".join(args.sites)
        say(f"`respira bench {Path(model).name} --data {sites}` (in_domain, site_labels at 20):")
        say("")
        say("| run | audio | embedding (windows) | × real time (windows) | ICBHI's cycles | scoring | wall |")
        say("| --- | --- | --- | --- | --- | --- | --- |")
        for label, result, wall in (("first", first, first_wall), ("second (cached)", second, second_wall)):
            seconds = result.seconds
            speed = audio / seconds["embedding"] if seconds["embedding"] > 0 else float("inf")
            say(
                f"| {label} | {audio / 60:.1f} min | {seconds['embedding']:.1f} s | {speed:.0f} | "
                f"{seconds['cycles']:.1f} s | {seconds['scoring']:.1f} s | {wall:.1f} s |"
            )
        say("")
        say(f"second run / first: {second_wall / first_wall:.3f} of the wall time")
        return {
            "model": Path(model).name,
            "sites": args.sites,
            "audio_seconds": audio,
            "first": {"wall": first_wall, **first.seconds},
            "second": {"wall": second_wall, **second.seconds},
            "real_time_factor": audio / embedding,
            "second_over_first": second_wall / first_wall,
        }

    return run_and_write(run, args.output, args.json)


if __name__ == "__main__":
    sys.exit(main())
