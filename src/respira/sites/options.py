"""The options of ``respira fit-site`` and ``respira suggest``, and fit-site's candidates and selection
rules: here so that building the parser imports no fitting code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.corpora import corpus_names
from ..options import FOLDERS, SWITCH, corpus_list, embedding_batch_size, flag, option

CANDIDATES: tuple[str, ...] = ("as_is", "thresholds", "anchored_head", "site_head")
"""Per label, simplest first: the model as is, its thresholds re-tuned, a head anchored on its logit, a site
head on the embeddings alone."""
HEAD_CANDIDATES: tuple[str, ...] = ("anchored_head", "site_head")
"""The candidates that fit a head (the others read the model's own logit)."""
SELECTIONS: tuple[str, ...] = ("one_se_units", "bonferroni")
"""How the inner scores choose against the model as is: ``one_se_units`` (the default) takes the best
option whose gain exceeds one standard error, unless an inner fold must lack a normal or an abnormal unit;
``bonferroni`` the best that beats it in :data:`respira.sites.choice.EVIDENCE` of the paired resamples."""
GIVEN = "given"
"""The selection of ``--chosen_by`` (not offered by ``--selection``): the procedure was chosen elsewhere,
so the inner scores choose only its recording rule, never the model as is, and no label is kept."""

_FOLDER = {"cycle": "layout", "recording": "folder", "event": "layout"}


_ONNX_HELP = (
    "write model.onnx beside the weights (default: true); false leaves it out, and the export, the slowest "
    "step of writing the folder (respira export OUT NEW --onnx adds it later)"
)


def fit_site_options() -> type:
    """The dataclass of ``fit-site``'s options (its help names the corpora registered now)."""
    sample = corpus_list(lambda spec: f"{spec.label} {_FOLDER[spec.labels]}", lambda spec: spec.scored)

    @dataclass(kw_only=True)
    class FitSiteOptions:
        data_dir: str = option(
            "data_dir",
            f"the labelled sample ({sample}), or several folders of one corpus",
            required=True,
            **FOLDERS,
        )
        dataset: str = flag(
            "labelled",
            "layout of --data_dir (default: labelled, a folder with labels.csv)",
            choices=corpus_names(),
        )
        site_name: str | None = flag(
            None,
            "what the card and every sites line call the site (default: the folder's name for --dataset "
            "labelled, else the corpus)",
        )
        output_dir: str = option("output_dir", "folder to create for the fitted model", required=True)
        overwrite: bool = option("overwrite")
        apply_anyway: bool = flag(
            False,
            "write the model even when it is not shown out of sample to beat the model as is and all-normal "
            "(flagged in its card and config, with a warning)",
            **SWITCH,
        )
        candidates: list[str] | None = flag(  # noqa: RUF009 (a field, as every flag() is)
            None,
            "procedures to choose from per label (default: all; as_is and thresholds only "
            "for a model whose head cannot take a site head)",
            choices=CANDIDATES,
        )
        selection: str | None = flag(
            None,
            "how the inner cross-validation may replace the model as is: one_se_units (default: a gain above "
            "one standard error, never while an inner fold must lack a normal or an abnormal patient) or "
            "bonferroni (cautious: it rarely leaves the model as is)",
            choices=SELECTIONS,
        )
        chosen_by: str | None = flag(
            None,
            "the JSON results file of the study that chose the procedure out of sample elsewhere (leave one "
            "site out): the one procedure --candidates names besides as_is is written on both labels "
            "whatever this sample's nested cross-validation shows (its scores still reported), and the "
            "record names the file and its SHA-256",
        )
        onnx: bool | None = flag(None, _ONNX_HELP, **SWITCH)
        outer_folds: int = flag(5, "outer folds of the nested CV (default 5)")
        seed: int = flag(0, "seed of the folds and the bootstrap (default 0)")
        batch_size: int | None = embedding_batch_size()
        device: str | None = option("device")
        threads: int | None = option("threads")

    return FitSiteOptions


@dataclass(kw_only=True)
class SuggestOptions:
    data_dir: str = option(
        "data_dir",
        "the archive: a folder of recordings, optionally with a labels.csv; or several folders (give MODEL "
        "before them), the first holding the labels.csv",
        required=True,
        **FOLDERS,
    )
    budget: int = flag(
        help="how many patients (--unit recording: recordings) to suggest (0: list every recording, and "
        "name its patient, without running the model)"
    )
    output: str = flag(help="the labels.csv to write (ARCHIVE/labels.csv is rewritten only when named here)")
    unit: str | None = flag(
        None,
        "what --budget counts (default: patient when the patients are named, else recording)",
        choices=("patient", "recording"),
    )
    patient_pattern: str | None = flag(
        None,
        "a regular expression on each file name whose first group is its patient, written into the "
        "patient column (e.g. '[BDE]P(\\d+)' for KAUH's BP12_...wav); without it and without a patient "
        "column each recording counts as its own patient, and fit-site refuses the folder",
    )
    overwrite: bool = option("overwrite", "replace an existing --output")
    batch_size: int | None = embedding_batch_size()
    device: str | None = option("device")
    threads: int | None = option("threads")


def check_site_name(site_name: str | None, data_dir: Any, dataset: str) -> str:
    """``--site_name``, else the name a fit's card gives the site (a labelled folder's name, else the
    corpus), checked: 1 to 80 printable characters without ``|``."""
    from ..data.corpus_files import data_dirs  # not at import: building the parser reads no folder

    name = site_name
    if name is None:  # a labelled folder's layout names no site: its folder's name does
        first = data_dirs(data_dir)[0] if data_dirs(data_dir) else ""
        name = Path(first).expanduser().resolve().name if dataset == "labelled" else dataset
    if not name.strip() or not name.isprintable() or "|" in name or len(name) > 80:
        raise ValueError(
            f"--site_name must be 1 to 80 printable characters without '|', got {name!r}"
            + ("" if site_name is not None else " (the folder's name; pass --site_name)")
        )
    return name.strip()
