"""What more training patients buy on an unseen hospital: ``respira bench --tasks training_patients``.

    OMP_NUM_THREADS=1 python benchmarks/training_patients.py [--shared ../shared] [--model NAME]
                          [--sizes 10 20 40] [--draws 5] [--work DIR] [--output FILE] [--json FILE]

One frozen encoder (default the shipped detector's, ``icbhi-crackle-wheeze``) probed on ICBHI's 65 patients
of ``../shared`` (``icbhi/`` and ``icbhi_cycles/``, linked into one folder under ``--work``) and scored per
recording on KAUH and SPRSound, held out: the probe fitted on ``--sizes`` of ICBHI's patients (``--draws``
seeded draws each) and on all of them, the mean over draws with a patient-bootstrap 95 % interval beside
all-normal. The bench's leaderboard folder goes to ``--work``; the table printed to ``--output`` (what
the history and BENCHMARKS.md read), the figures to ``--json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from _machine import run_and_write

REPOSITORY = Path(__file__).resolve().parents[1]
RESULTS = REPOSITORY / "benchmarks" / "results"
ICBHI_PARTS = ("icbhi", "icbhi_cycles")


def icbhi_folder(shared: Path, work: Path) -> Path:
    """ICBHI's two folders of ``shared`` as one corpus: their recordings and annotations linked side by side,
    the metadata files (the same in both) of the first."""
    folder = work / "icbhi"
    audio = folder / "ICBHI_final_database"
    audio.mkdir(parents=True, exist_ok=True)
    for path in (shared / ICBHI_PARTS[0]).glob("*.txt"):
        (folder / path.name).unlink(missing_ok=True)
        (folder / path.name).symlink_to(path)
    for part in ICBHI_PARTS:
        for path in (shared / part / "ICBHI_final_database").iterdir():
            (audio / path.name).unlink(missing_ok=True)
            (audio / path.name).symlink_to(path)
    return folder


def _interval(row: dict[str, Any], key: str) -> str:
    return f"{100 * row[key]:.1f} ({100 * row[key + '_low']:.1f}–{100 * row[key + '_high']:.1f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=REPOSITORY.parent / "shared")
    parser.add_argument("--model", default="icbhi-crackle-wheeze")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 40])
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("/tmp/respira_training_patients"))
    parser.add_argument("--output", type=Path, default=RESULTS / "training_patients.md")
    parser.add_argument("--json", type=Path, default=RESULTS / "training_patients.json")
    args = parser.parse_args(argv)

    def run(say: Any) -> dict[str, Any]:
        import respira

        data = [f"icbhi={icbhi_folder(args.shared, args.work)}"]
        data += [f"{site}={args.shared / site}" for site in ("kauh", "sprsound")]
        result = respira.bench(
            args.model, data=data, output_dir=args.work / "leaderboard", overwrite=True,
            cache_dir=args.work / "cache", tasks=["training_patients"], sizes=args.sizes, draws=args.draws,
        )  # fmt: skip
        rows = [row for row in result.rows if row.get("source") == "ICBHI"]
        patients = max(row["training_patients"] for row in rows)
        say(f"`respira bench {args.model} --tasks training_patients --sizes {' '.join(map(str, args.sizes))} "
            f"--draws {args.draws}`: the probe fitted on ICBHI's patients (icbhi + icbhi_cycles, {patients} "
            "in all), scored per recording on each held-out site (the mean over draws):")  # fmt: skip
        say("")
        say("| held out | ICBHI training patients | draws | ICBHI score (95 % interval) | crackle AUC | "
            "wheeze AUC | all-normal |")  # fmt: skip
        say("| --- | --- | --- | --- | --- | --- | --- |")
        table = []
        for row in (row for row in rows if row["entry"] == "probe"):
            normal = next(r for r in rows if r["column"] == row["column"] and r["entry"] == "all_normal")
            cells = [_interval(row, key) for key in ("icbhi_score", "crackle_auc", "wheeze_auc")]
            say(f"| {row['column'].rsplit('→ ', 1)[1]} | {row['training_patients']} | {row['draws']} | "
                f"{' | '.join(cells)} | {100 * normal['icbhi_score']:.1f} |")  # fmt: skip
            table.append({key: value for key, value in row.items() if key not in ("entry", "dataset")})
        return {"model": args.model, "sizes": args.sizes, "draws": args.draws, "rows": table}

    return run_and_write(run, args.output, args.json)


if __name__ == "__main__":
    sys.exit(main())
