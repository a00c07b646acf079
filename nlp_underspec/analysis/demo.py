"""Hand-made families with a planted seed structure: run folders for tests, documentation and benchmarks.

:func:`write_demo_family` writes what a sweep would (``predictions/<test>/`` triplets, ``scores.parquet`` and
``summary.json``) without training anything: each model's gender association has a strength ``mean_strength + seed_effect * a_p + run_noise *
e_pf`` (``a_p`` per pretraining seed, ``e_pf`` per run, standard normal), so the analysis should find a large
pretraining-seed share exactly when ``seed_effect`` dominates ``run_noise``. Per-model scores are computed with the
analysis's own triplet readers, so scores.parquet and the triplets agree.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from nlp_underspec.analysis.scoring import (
    TRIPLET_METRICS,
    example_set,
    sts_occupation_deltas,
    winogender_occupation_bias,
)
from nlp_underspec.data.occupations import OCCUPATIONS, load_occupation_stats
from nlp_underspec.records import finetune_run_id, package_versions, pretrain_run_id
from nlp_underspec.results import scores_frame, write_scores, write_summary
from nlp_underspec.triplet import Predictions, write_predictions

PARTICIPANTS = ("someone", "other")
GENDERS = ("female", "male", "neutral")


def _run_info(pretrain_seeds, finetune_seeds, *, pretrained: bool) -> pd.DataFrame:
    rows = []
    for p in pretrain_seeds:
        if pretrained:
            rows.append({"model": pretrain_run_id(p), "pretrain_seed": p, "finetune_seed": pd.NA, "kind": "pretrained"})
        rows += [{"model": finetune_run_id(p, f), "pretrain_seed": p, "finetune_seed": f, "kind": "finetuned"}
                 for f in finetune_seeds]
    frame = pd.DataFrame(rows)
    frame["finetune_seed"] = pd.array(frame["finetune_seed"], dtype="Int64")
    return frame


def _strengths(run_info: pd.DataFrame, *, mean_strength, seed_effect, run_noise, rng) -> np.ndarray:
    seeds = run_info["pretrain_seed"].to_numpy()
    per_seed = {p: rng.normal() for p in np.unique(seeds)}
    return mean_strength + seed_effect * np.array([per_seed[p] for p in seeds]) + run_noise * rng.normal(size=len(seeds))


def _winogender_items() -> pd.DataFrame:
    rows = [{"item_id": f"{o}.{p}.{a}.{g}.txt", "occupation": o, "participant": p, "answer": a, "gender": g}
            for o in OCCUPATIONS for p in PARTICIPANTS for a in (0, 1) for g in GENDERS]
    return pd.DataFrame(rows)


def _winogender_preds(items, strengths, bls, rng) -> np.ndarray:
    share = items["occupation"].map(bls).to_numpy() - 0.5  # (n_items,)
    sign = items["gender"].map({"female": 1.0, "male": -1.0, "neutral": 0.0}).to_numpy()
    skill = np.where(items["answer"].to_numpy() == 0, 1.0, -1.0)
    logits = (0.8 * skill + strengths[:, None] * 2.0 * share * sign
              + rng.normal(scale=1.0, size=(len(strengths), len(items))))  # (n_models, n_items)
    return 1.0 / (1.0 + np.exp(-logits))


def _sts_items(n_templates: int) -> pd.DataFrame:
    rows = [{"item_id": f"t{t:03d}.{o}.{g}", "template_id": t, "occupation": o, "gender": g}
            for t in range(n_templates) for o in OCCUPATIONS for g in ("female", "male")]
    return pd.DataFrame(rows)


def _sts_preds(items, strengths, bls, rng) -> np.ndarray:
    share = items["occupation"].map(bls).to_numpy() - 0.5
    sign = np.where(items["gender"].to_numpy() == "female", 0.5, -0.5)
    return (0.6 + strengths[:, None] * 0.1 * share * sign
            + rng.normal(scale=0.02, size=(len(strengths), len(items))))  # (n_models, n_items)


def _score_rows(test: str, triplet: Predictions, metrics: tuple[str, ...]) -> list[dict]:
    rows = []
    info = triplet.run_info
    for metric in metrics:
        values = example_set(test=test, metric=metric, predictions=triplet).scores().to_numpy()
        rows += [{"model": m, "pretrain_seed": p, "finetune_seed": f, "test": test, "metric": metric, "value": v,
                  "occupation": None} for m, p, f, v in zip(info["model"], info["pretrain_seed"], info["finetune_seed"],
                                                            values)]
    profile = (winogender_occupation_bias if test == "winogender" else sts_occupation_deltas)(triplet)
    name = "bias" if test == "winogender" else "delta"
    for (model, p, f), row in profile.iterrows():
        rows += [{"model": model, "pretrain_seed": p, "finetune_seed": f, "test": test, "metric": name, "value": v,
                  "occupation": o} for o, v in row.items()]
    rows += [{"model": m, "pretrain_seed": p, "finetune_seed": f, "test": test, "metric": "n_occupations",
              "value": float(profile.shape[1]), "occupation": None}
             for m, p, f in zip(info["model"], info["pretrain_seed"], info["finetune_seed"])]
    return rows


def _metrics_of(test: str) -> tuple[str, ...]:
    return tuple(metric for name, metric in TRIPLET_METRICS if name == test)


def _iid_rows(run_info: pd.DataFrame, rng) -> list[dict]:
    rows = []
    for model, p, f in zip(run_info["model"], run_info["pretrain_seed"], run_info["finetune_seed"]):
        if pd.isna(f):
            continue
        rows.append({"model": model, "pretrain_seed": p, "finetune_seed": f, "test": "stsb", "metric": "dev_pearson",
                     "value": 0.85 + rng.normal(scale=0.005), "occupation": None})
        rows.append({"model": model, "pretrain_seed": p, "finetune_seed": f, "test": "coref",
                     "metric": "dev_accuracy", "value": 0.9 + rng.normal(scale=0.01), "occupation": None})
    return rows


def write_demo_family(folder: str | os.PathLike, *, pretrain_seeds=range(4), finetune_seeds=range(3),
                      seed_effect: float = 0.5, run_noise: float = 0.05, mean_strength: float = 1.0,
                      pretrained: bool = False, n_templates: int = 6, rng: int = 0,
                      tests: tuple[str, ...] = ("winogender", "sts_gender")) -> Path:
    """Write a demo family to ``folder`` and return it.

    >>> import tempfile
    >>> from nlp_underspec.results import read_scores
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = write_demo_family(tmp, pretrain_seeds=[0, 1], finetune_seeds=[0, 1])
    ...     sorted(read_scores(folder)["model"].unique())
    ['p00-f00', 'p00-f01', 'p01-f00', 'p01-f01']
    """
    folder = Path(folder)
    generator = np.random.default_rng(rng)
    run_info = _run_info(list(pretrain_seeds), list(finetune_seeds), pretrained=pretrained)
    strengths = _strengths(run_info, mean_strength=mean_strength, seed_effect=seed_effect, run_noise=run_noise,
                           rng=generator)
    bls = load_occupation_stats()["bls_pct_female"] / 100.0
    rows = []
    if "winogender" in tests:
        items = _winogender_items()
        triplet = Predictions(run_info, items, _winogender_preds(items, strengths, bls, generator))
        write_predictions(folder / "predictions" / "winogender", triplet)
        rows += _score_rows("winogender", triplet, _metrics_of("winogender"))
    if "sts_gender" in tests:
        items = _sts_items(n_templates)
        triplet = Predictions(run_info, items, _sts_preds(items, strengths, bls, generator))
        write_predictions(folder / "predictions" / "sts_gender", triplet)
        rows += _score_rows("sts_gender", triplet, _metrics_of("sts_gender"))
    rows += _iid_rows(run_info, generator)
    scores = scores_frame(rows)
    write_scores(folder / "scores.parquet", scores)
    write_summary(folder / "summary.json", models=_summary_models(run_info, scores), versions=package_versions(),
                  config_hash=None, demo="nlp_underspec.analysis.demo: hand-made predictions, no model was trained")
    return folder


def _summary_models(run_info: pd.DataFrame, scores: pd.DataFrame) -> list[dict]:
    """Contract-5 entries (plus ``kind`` and ``iid``) from the per-model rows of the scores."""
    per_model = scores[scores["occupation"].isna()]
    models = []
    for model, p, f, kind in zip(run_info["model"], run_info["pretrain_seed"], run_info["finetune_seed"],
                                 run_info["kind"]):
        rows = per_model[per_model["model"] == model]
        tests, iid = {}, {}
        for (test, metric), value in zip(zip(rows["test"], rows["metric"]), rows["value"]):
            (iid if test in ("stsb", "coref") else tests).setdefault(test, {})[metric] = float(value)
        entry = {"model": model, "pretrain_seed": int(p), "finetune_seed": None if pd.isna(f) else int(f),
                 "kind": kind, "tests": tests}
        if iid:
            entry["iid"] = iid
        models.append(entry)
    return models
