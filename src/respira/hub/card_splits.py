"""The model card's account of the data split: which split a run used, its sizes, and whether its
scores are comparable with published ICBHI results (the "Training data" section of the template)."""

from __future__ import annotations

from ..data import corpus
from .card_data import RespiraModelCardData

__all__ = ["split_description", "split_rows", "subset_note"]


def split_description(card: RespiraModelCardData) -> str:
    """The card's one-paragraph account of how the cycles were split and what that makes comparable."""
    validation = ""
    if card.validation_size:
        validation = (
            f" A patient-disjoint, class-stratified {card.validation_size:.0%} of the training cycles "
            "was held out as the validation split, used for model selection and early stopping only."
        )
    if card.split_strategy == "official" and card.synthetic_data:
        return (
            "The train/test split of the synthetic corpus's split file (which imitates the official "
            "ICBHI 2017 one)." + validation + " The test split was scored once, at the end."
        )
    if card.split_strategy == "official":
        official = corpus.OFFICIAL_SPLIT_CYCLES
        return (
            "The **official ICBHI 2017 train/test split** (recordings assigned by the challenge's "
            f"split file; {official['train']} train / {official['test']} test cycles on the complete "
            "database). Results are comparable with published official-split ICBHI results."
            + validation
            + " The test split was scored once, at the end."
        )
    if card.split_strategy == "patient":
        fractions = card.data_options.get("patient_split_fractions") or (0.6, 0.2, 0.2)
        shares = "/".join(f"{100 * float(f):.0f}" for f in fractions)
        tested = (
            "the test split was scored once, at the end"
            if float(fractions[-1]) > 0
            else "there is no test split (0 % of the patients)"
        )
        return (
            f"A **patient-wise train/validation/test split** ({shares} % of the patients, no patient in "
            "two splits, every class in every split), **not the official split**: results are not "
            "comparable with published official-split ICBHI scores. The validation split was used for "
            f"model selection only and {tested}."
        )
    if card.split_strategy == "patient_kfold":
        return (
            f"**Patient-wise {card.data_options.get('num_folds')}-fold cross-validation**, not the official "
            "split: every patient in one fold (folds stratified by class), every cycle tested once; each "
            "fold's validation split was carved patient-wise from its training folds."
            + validation
            + " The test results are means over folds x seeds; the weights here are those of the fold x "
            "seed with the best validation score, tested on its own fold."
        )
    if card.split_strategy == "leave_one_device_out":
        devices = card.data_options.get("fold_devices") or []
        fold = card.data_options.get("fold")
        held = (
            f" (this model's fold held out {devices[fold]})"
            if fold is not None and fold < len(devices)
            else ""
        )
        return (
            f"**Leave one device out** over {len(devices)} stethoscopes ({', '.join(devices)}), not the "
            "official split: each fold tests every recording of one device, and trains on the other "
            "devices' recordings of the patients never recorded on it (a patient recorded on the held-out "
            "device is left out of that fold's training); each fold's validation split was carved "
            f"patient-wise from its training pool{held}."
            + validation
            + " The test results are means over folds x seeds, an out-of-domain measure; the weights here "
            "are those of the fold x seed with the best validation score, tested on its own device."
        )
    return "Unknown split (no `split_strategy` was recorded for this run)." + validation


def split_rows(card: RespiraModelCardData) -> list[tuple[str, str, str]]:
    """``(split, cycles, patients)`` rows, train / validation / test first."""
    order = {"train": 0, "validation": 1, "test": 2}
    ordered = sorted(card.split_sizes.items(), key=lambda item: (order.get(item[0], 3), item[0]))
    return [
        (split, str(size.cycles), "" if size.patients is None else str(size.patients))
        for split, size in ordered
    ]


def subset_note(card: RespiraModelCardData) -> str | None:
    """A warning when the run's splits hold a subset of the complete database, else ``None``."""
    total = sum(size.cycles for size in card.split_sizes.values())
    if total and total != corpus.NUM_CYCLES and not card.synthetic_data:
        return (
            f"These splits hold {total} cycles, not the {corpus.NUM_CYCLES} of the complete database: "
            "the run used a subset, so its scores are not comparable with published results."
        )
    return None
