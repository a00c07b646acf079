"""Hand-made families with a planted seed structure: run folders for tests, documentation and benchmarks.

:func:`write_demo_family` writes what a sweep would (``predictions/<test>/`` triplets, ``scores.parquet`` and
``summary.json``) without training anything: each model's gender association has a strength ``mean_strength + seed_effect * a_p + run_noise *
e_pf`` (``a_p`` per pretraining seed, ``e_pf`` per run, standard normal), so the analysis should find a large
pretraining-seed share exactly when ``seed_effect`` dominates ``run_noise``. Per-model scores are the registered stress
tests' own (as ``nlp-underspec evaluate`` scores a triplet: noise floors, slopes and intervals included), so
scores.parquet, summary.json and the triplets agree. Fine-tuned models get iid dev metrics (stsb Pearson/Spearman,
coref accuracy/loss) whose spread ``iid_noise`` sets: the default family is iid-equivalent under the default margins.
A test named in ``saturated`` gets heads that saturate (sure of every answer, gaps of float-leftover size): every
model is below the test's noise floor, as a fine-tuning set whose cues are the stress set's makes them.
``calibration`` (pretraining seed -> slope) gives the pretrained checkpoints a pronoun prior whose log-odds per
occupation are that slope times the target log-odds (BLS) plus probe noise, scored by the ``calibration`` test.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from nlp_underspec.config import EvaluateConfig
from nlp_underspec.data.occupations import OCCUPATIONS, load_occupation_stats
from nlp_underspec.evaluation import PREDICTIONS_DIR, score_triplets
from nlp_underspec.records import finetune_run_id, pretrain_run_id
from nlp_underspec.results import SCORES, SUMMARY, scores_frame, write_scores, write_summary
from nlp_underspec.stress import get_stress_test
from nlp_underspec.triplet import Predictions, write_predictions

# The demo writes predictions for the tests that pair with these fine-tuning tasks (a pronoun-resolution test's
# probabilities, an STS test's similarities), in this order: the tests' own scorers read them.
DEMO_TASKS = ("coref", "stsb")
PARTICIPANTS = ("someone", "other")
GENDERS = ("female", "male", "neutral")
SCORING_BOOTSTRAP = 200  # per-model occupation bootstrap of the scorers' own intervals: cheap, and only a demo
SCORING_SEED = 0  # the seed of that bootstrap
SATURATION = 1e-4  # a saturated head's gaps, as a share of a healthy one's: far below the noise floors
CALIBRATION_NOISE = 0.1  # sd of a checkpoint's log-odds around its slope's line: a slope of 0 stays "not learnt"


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


def _pronoun_items() -> pd.DataFrame:
    rows = [{"item_id": f"{o}.{p}.{a}.{g}.txt", "occupation": o, "participant": p, "answer": a, "gender": g}
            for o in OCCUPATIONS for p in PARTICIPANTS for a in (0, 1) for g in GENDERS]
    return pd.DataFrame(rows)


def _pronoun_preds(items, strengths, bls, rng, *, saturated: bool) -> np.ndarray:
    share = items["occupation"].map(bls).to_numpy() - 0.5  # (n_items,)
    sign = items["gender"].map({"female": 1.0, "male": -1.0, "neutral": 0.0}).to_numpy()
    skill = np.where(items["answer"].to_numpy() == 0, 1.0, -1.0)
    # A saturated head is sure of every answer (|logit| 12) and its gender term barely moves it.
    confidence, gap = (12.0, SATURATION) if saturated else (0.8, 1.0)
    logits = (confidence * skill + gap * (strengths[:, None] * 2.0 * share * sign
                                          + rng.normal(scale=1.0, size=(len(strengths), len(items)))))
    return 1.0 / (1.0 + np.exp(-logits))  # (n_models, n_items)


def _sts_items(n_templates: int) -> pd.DataFrame:
    rows = [{"item_id": f"t{t:03d}.{o}.{g}", "template_id": t, "occupation": o, "gender": g}
            for t in range(n_templates) for o in OCCUPATIONS for g in ("female", "male")]
    return pd.DataFrame(rows)


def _sts_preds(items, strengths, bls, rng, *, saturated: bool) -> np.ndarray:
    share = items["occupation"].map(bls).to_numpy() - 0.5
    sign = np.where(items["gender"].to_numpy() == "female", 0.5, -0.5)
    gap = SATURATION if saturated else 1.0
    return 0.6 + gap * (strengths[:, None] * 0.1 * share * sign
                        + rng.normal(scale=0.02, size=(len(strengths), len(items))))  # (n_models, n_items)


def _calibration_triplet(run_info: pd.DataFrame, slopes, rng) -> Predictions:
    """The pretrained checkpoints' log-odds of "she" per occupation: slope x target log-odds + probe noise."""
    items = get_stress_test("calibration").build_items(source="bls")
    checkpoints = run_info[run_info["kind"] == "pretrained"].reset_index(drop=True)
    target = items["target_logodds"].to_numpy()  # (n_occupations,)
    slope = np.array([float(slopes[int(p)]) for p in checkpoints["pretrain_seed"]])  # (n_checkpoints,)
    preds = slope[:, None] * target + rng.normal(scale=CALIBRATION_NOISE, size=(len(checkpoints), len(target)))
    return Predictions(checkpoints, items, preds)


def _iid_rows(run_info: pd.DataFrame, rng, *, noise: float) -> list[dict]:
    rows = []
    for model, p, f in zip(run_info["model"], run_info["pretrain_seed"], run_info["finetune_seed"]):
        if pd.isna(f):
            continue
        key = {"model": model, "pretrain_seed": p, "finetune_seed": f, "occupation": None}
        pearson = 0.85 + rng.normal(scale=noise)
        rows += [{**key, "test": "stsb", "metric": "dev_pearson", "value": pearson},
                 {**key, "test": "stsb", "metric": "dev_spearman", "value": pearson - 0.01 + rng.normal(scale=noise / 4)},
                 {**key, "test": "coref", "metric": "dev_accuracy", "value": 0.9 + rng.normal(scale=noise)},
                 {**key, "test": "coref", "metric": "dev_loss", "value": 0.3 + rng.normal(scale=5 * noise)}]
    return rows


def write_demo_family(folder: str | os.PathLike, *, pretrain_seeds=range(4), finetune_seeds=range(3),
                      seed_effect: float = 0.5, run_noise: float = 0.05, mean_strength: float = 1.0,
                      pretrained: bool = False, n_templates: int = 6, rng: int = 0,
                      tests: tuple[str, ...] | None = None, iid_noise: float = 0.002,
                      saturated: tuple[str, ...] = (), calibration: Mapping[int, float] | None = None) -> Path:
    """Write a demo family to ``folder`` and return it; ``tests`` default to a recipe's (``evaluate.tests``).

    >>> import tempfile
    >>> from nlp_underspec.results import read_scores
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = write_demo_family(tmp, pretrain_seeds=[0, 1], finetune_seeds=[0, 1])
    ...     sorted(read_scores(folder)["model"].unique())
    ['p00-f00', 'p00-f01', 'p01-f00', 'p01-f01']
    """
    folder = Path(folder)
    generator = np.random.default_rng(rng)
    run_info = _run_info(list(pretrain_seeds), list(finetune_seeds), pretrained=pretrained or calibration is not None)
    strengths = _strengths(run_info, mean_strength=mean_strength, seed_effect=seed_effect, run_noise=run_noise,
                           rng=generator)
    bls = load_occupation_stats()["bls_pct_female"] / 100.0
    triplets = {}
    for task, test in _demo_tests(EvaluateConfig.tests if tests is None else tests):
        items = _pronoun_items() if task == "coref" else _sts_items(n_templates)
        make = _pronoun_preds if task == "coref" else _sts_preds
        triplets[test] = Predictions(run_info, items, make(items, strengths, bls, generator,
                                                           saturated=test in saturated))
    if calibration is not None:
        triplets["calibration"] = _calibration_triplet(run_info, calibration, generator)
    for test, triplet in triplets.items():
        write_predictions(folder / PREDICTIONS_DIR / test, triplet)
    scores, entries = (score_triplets(triplets, n_boot=SCORING_BOOTSTRAP, seed=SCORING_SEED) if triplets
                       else (scores_frame([]), []))
    iid = scores_frame(_iid_rows(run_info, generator, noise=iid_noise))
    scores = pd.concat([scores, iid], ignore_index=True) if len(scores) else iid
    write_scores(folder / SCORES, scores)
    write_summary(folder / SUMMARY, models=_summary_models(run_info, entries, iid), config_hash=None,
                  n_boot=SCORING_BOOTSTRAP, bootstrap_seed=SCORING_SEED, tests=list(triplets),
                  demo="nlp_underspec.analysis.demo: hand-made predictions, no model was trained")
    return folder


def _demo_tests(tests) -> list[tuple[str, str]]:
    """(task, test) for each of :data:`DEMO_TASKS`, in that order whatever the order of ``tests`` (it is the order of
    the random draws): the test of ``tests`` that pairs with the task, when one does."""
    pairs = {get_stress_test(test).pairs_with_task: test for test in reversed(tuple(tests))}
    return [(task, pairs[task]) for task in DEMO_TASKS if task in pairs]


def _summary_models(run_info: pd.DataFrame, entries: list[dict], iid: pd.DataFrame) -> list[dict]:
    """Contract-5 entries (plus ``kind`` and ``iid``): the scorers' blocks, and the fine-tuned models' dev metrics."""
    scored = {entry["model"]: entry for entry in entries}
    models = []
    for model, p, f, kind in zip(run_info["model"], run_info["pretrain_seed"], run_info["finetune_seed"],
                                 run_info["kind"]):
        entry = {"model": model, "pretrain_seed": int(p), "finetune_seed": None if pd.isna(f) else int(f),
                 "kind": kind, "tests": scored.get(model, {}).get("tests", {})}
        rows = iid[iid["model"] == model]
        if len(rows):
            entry["iid"] = {}
            for test, metric, value in zip(rows["test"], rows["metric"], rows["value"]):
                entry["iid"].setdefault(str(test), {})[str(metric)] = float(value)
        models.append(entry)
    return models
