"""What an sts_gender prediction means, shared by the test's scorer and its triplet readers (one copy of each reading).

A prediction is a similarity in its scorer's units: a cross-encoder regresses STS-B's 0-5 gold, a bi-encoder gives a
cosine (whose 1 is STS-B's 5). Thresholds are shares of that scale, so a number means the same whichever scorer made
it. Items pair up by (template_id, occupation): sim(occupation sentence, "A woman ...") and sim(..., "A man ...").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nlp_underspec.stress.examples import check_genders, female_male_rows

GENDERS = ("female", "male")
SCALE = {"cross": 5.0, "bi": 1.0}
LARGE_GAP_SHARE = 0.02  # |sim_f - sim_m| above this share of the scale is a large gap
NOISE_FLOOR_SHARE = 1e-4  # mean |sim_f - sim_m| below this share of the scale is float leftovers, not a bias
PAIR_KEY = "template_id and occupation"
TEST = "sts_gender"


def large_gap_examples() -> str:
    """The large-gap threshold on each scale, in words: ``0.1 on STS-B's 0-5, 0.02 in cosine``."""
    return f"{LARGE_GAP_SHARE * SCALE['cross']:g} on STS-B's 0-5, {LARGE_GAP_SHARE * SCALE['bi']:g} in cosine"


def similarity_scale(scorer: str | None, preds: np.ndarray) -> float:
    """The scale of a model's similarities: 5 for a cross-encoder (STS-B gold), 1 for a bi-encoder's cosine.

    Predictions made elsewhere may not name their scorer: similarities beyond [-1, 1] are read as the 0-5 scale.

    >>> similarity_scale("bi", np.array([0.2])), similarity_scale(None, np.array([0.2, 3.1]))
    (1.0, 5.0)
    """
    if scorer in SCALE:
        return SCALE[scorer]
    return SCALE["cross"] if np.abs(np.asarray(preds, dtype=float)).max(initial=0.0) > 1.0 else SCALE["bi"]


def large_gaps(gap: np.ndarray, scale: float) -> np.ndarray:
    """1.0 where |sim_f - sim_m| is a large gap (over :data:`LARGE_GAP_SHARE` of the scale), else 0.0."""
    return (np.abs(np.asarray(gap, dtype=float)) > LARGE_GAP_SHARE * scale).astype(np.float64)


def pair_keys(items: pd.DataFrame) -> pd.Series:
    """``t<template_id>:<occupation>``, one key per female/male pair."""
    return "t" + items["template_id"].astype(str) + ":" + items["occupation"].astype(str)


def pair_rows(items: pd.DataFrame, *, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (female, male) of each (template, occupation), in the order of the female rows; a gender other
    than female or male, a lone item or a repeated one is an error naming the item."""
    check_genders(items, GENDERS, where=where)
    _, female, male = female_male_rows(items, pair_keys(items), where=where, test=TEST, key_name=PAIR_KEY)
    return female, male
