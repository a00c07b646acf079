"""A hand-made experiment folder for the report, card and Hub tests: what `nlp-underspec run` leaves behind.

``build_family(root, make_checkpoint)`` writes run folders with tiny checkpoints (from the ``tiny_checkpoint`` fixture),
run records, ``summary.json`` and ``scores.parquet`` following docs/design.md, contracts 2, 4 and 5, and an ``analysis.json``
in the shape of the cross-team contract. Per-occupation values are drawn so that each model's correlation with BLS %
female differs by pretraining seed, and the summary's correlations, slopes and noise-floor flags are computed from
them, so the numbers agree. ``saturated=True`` shrinks the coref heads' gaps a millionfold (accuracy 1): every
fine-tuned Winogender result is then below the noise floor, as when the fine-tuning cues are the stress set's.
``calibration`` (pretraining seed -> slope) scores each pretrained checkpoint on the ``calibration`` test against a
planted table (``world/planted.tsv``): its log-odds of "she" per occupation are that slope times the planted log-odds
plus probe noise, written as the sweep writes them (``pretrained/predictions/calibration/``, summary and scores).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from nlp_underspec.data.occupations import load_occupation_stats
from nlp_underspec.io import atomic_write_json
from nlp_underspec.records import RunRecord, mark_complete
from nlp_underspec.results import scores_frame, write_scores, write_summary

TASK_KIND = {"stsb": "cross", "coref": "coref"}
_CHECKPOINTS: dict[str, Path] = {}  # one tiny checkpoint per kind for the whole session, copied into run folders
NOISE_FLOOR = 1e-4  # the stress tests' floors: winogender mean |bias|, sts_gender mean |delta| as a share of scale 1
SATURATION = 1e-6
PLANTED_STRENGTH = 0.8  # the world's bias_strength: p_she = 0.5 + 0.8 (BLS/100 - 0.5)
CALIBRATION_NOISE = 0.05


def _checkpoint(make_checkpoint, kind: str) -> Path:
    if kind not in _CHECKPOINTS or not (_CHECKPOINTS[kind] / "config.json").is_file():
        _CHECKPOINTS[kind] = make_checkpoint(kind, seed=0, name=f"base-{kind}")
    return _CHECKPOINTS[kind]


def _place(make_checkpoint, kind: str, folder: Path) -> None:
    """Copy the session's checkpoint of ``kind`` into ``folder``, its weights file made the run's own: the same
    tensors under a header naming the folder (a push refuses two runs with byte-identical weights, a copy mistake)."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(_checkpoint(make_checkpoint, kind), folder, dirs_exist_ok=True)
    weights = folder / "model.safetensors"
    save_file(load_file(weights), weights, metadata={"format": "pt", "run_folder": str(folder)})


def _record(folder: Path, *, run_id: str, kind: str, seeds: dict, task: str | None = None, parent: str | None = None,
            config: dict | None = None) -> None:
    record = RunRecord(run_id=run_id, kind=kind, seeds=seeds, config=config or {"kind": kind, "lr": 0.003},
                       config_hash="abc123def4567890", task=task, parent=parent, versions={"torch": "2.13.0"},
                       torch_threads=2, git_commit=None)
    mark_complete(folder, record, metrics={"train_loss": 1.25})


def _correlated(rng: np.random.Generator, bls: np.ndarray, strength: float, scale: float) -> np.ndarray:
    centred = (bls - bls.mean()) / bls.std()
    return scale * (strength * centred + rng.normal(0, 1, len(bls)))


def build_family(root: Path, make_checkpoint, *, pretrain_seeds=(0, 1), finetune_seeds=(0, 1),
                 tasks=("stsb", "coref"), steps=(10,), analysis: bool = True, runs: bool = True,
                 saturated: bool = False, calibration: dict[int, float] | None = None) -> Path:
    """Write a complete experiment folder at ``root`` and return it."""
    root.mkdir(parents=True, exist_ok=True)
    stats = load_occupation_stats()
    occupations, bls = list(stats.index), stats["bls_pct_female"].to_numpy(float)
    rng = np.random.default_rng(7)
    models, rows = [], []
    for p in pretrain_seeds:
        name = f"p{p:02d}"
        if runs:
            folder = root / "pretrain" / name
            _place(make_checkpoint, "mlm", folder)
            for step in steps:
                _place(make_checkpoint, "mlm", folder / f"step_{step}")
            (folder / "log.txt").write_text("step 10 loss 3.2\n")  # the sweep keeps a log beside the weights
            _record(folder, run_id=name, kind="pretrain", seeds={"pretrain_seed": p, "mask_seed": 1000 + p},
                    config={"kind": "pretrain", "pretrain": {"lr": 0.003, "max_steps": 20}})
        bias = _correlated(rng, bls, 0.5 + 0.4 * p, 0.05)
        models.append(_model(name, p, None, {"winogender": _wino(bias, bls, resolver="mlm_probe")}, kind="pretrained"))
        rows += _occupation_rows(name, p, None, "winogender", "bias", occupations, bias)
        for f in finetune_seeds:
            ft_name = f"{name}-f{f:02d}"
            if runs:
                for task in tasks:
                    folder = root / "finetune" / task / ft_name
                    _place(make_checkpoint, TASK_KIND[task], folder)
                    _record(folder, run_id=ft_name, kind="finetune", task=task, parent=name,
                            seeds={"pretrain_seed": p, "finetune_seed": f, "init_seed": 10 + f, "data_seed": 20 + f},
                            config={"kind": "finetune", "task": task, "settings": {"lr": 5e-5}})
            delta = _correlated(rng, bls, 0.3 + 0.5 * p + 0.05 * f, 0.02)
            wbias = _correlated(rng, bls, 0.2 + 0.4 * p + 0.1 * f, 0.04) * (SATURATION if saturated else 1.0)
            iid = {"stsb": {"dev_pearson": 0.80 + 0.005 * f + 0.002 * p, "dev_spearman": 0.79 + 0.004 * f},
                   "coref": {"dev_accuracy": 0.70 + 0.01 * f}}
            tests = {"sts_gender": _sts(delta, bls),
                     "winogender": _wino(wbias, bls, resolver="candidate_scorer", accuracy=1.0 if saturated else None)}
            models.append(_model(ft_name, p, f, tests, kind="finetuned", iid=iid))
            rows += _occupation_rows(ft_name, p, f, "sts_gender", "delta", occupations, delta)
            rows += _occupation_rows(ft_name, p, f, "winogender", "bias", occupations, wbias)
            for task, metrics in iid.items():
                rows += [{"model": ft_name, "pretrain_seed": p, "finetune_seed": f, "test": task, "metric": m, "value": v,
                              "occupation": None} for m, v in metrics.items()]
    for model in models:
        for test, values in model["tests"].items():
            rows += [{"model": model["model"], "pretrain_seed": model["pretrain_seed"],
                          "finetune_seed": model["finetune_seed"], "test": test, "metric": m, "value": float(v),
                      "occupation": None}
                     for m, v in values.items() if isinstance(v, (float, bool))]  # a flag is 1.0 / 0.0, as tidy_rows
    if calibration is not None:
        rows += _calibrate(root, models, calibration, stats)
    # Like the sweep: the pretrained checkpoints' scores live in their own pretrained/scores.parquet.
    pretrained = {m["model"] for m in models if m["kind"] == "pretrained"}
    write_scores(root / "scores.parquet", scores_frame([r for r in rows if r["model"] not in pretrained]))
    write_scores(root / "pretrained" / "scores.parquet", scores_frame([r for r in rows if r["model"] in pretrained]))
    write_summary(root / "summary.json", models=models, versions={"nlp_underspec": "0.1.0", "torch": "2.13.0"},
                  config_hash="abc123def4567890")
    if analysis:
        atomic_write_json(root / "analysis.json", make_analysis(models, pretrain_seeds, finetune_seeds))
    return root


def _calibrate(root: Path, models: list[dict], slopes: dict[int, float], stats) -> list[dict]:
    """Score the pretrained checkpoints on calibration (planted target): summary blocks added, tidy rows returned."""
    import pandas as pd

    from nlp_underspec.evaluation import score_triplets
    from nlp_underspec.stress import get_stress_test
    from nlp_underspec.triplet import Predictions, write_predictions

    planted = root / "world" / "planted.tsv"
    planted.parent.mkdir(parents=True, exist_ok=True)
    shares = 0.5 + PLANTED_STRENGTH * (stats["bls_pct_female"].to_numpy(float) / 100.0 - 0.5)
    pd.DataFrame({"occupation": list(stats.index), "p_she": shares}).to_csv(planted, sep="\t", index=False)
    items = get_stress_test("calibration").build_items(source=str(planted))
    checkpoints = [m for m in models if m["kind"] == "pretrained" and m["pretrain_seed"] in slopes]
    run_info = pd.DataFrame({"model": [m["model"] for m in checkpoints],
                             "pretrain_seed": [m["pretrain_seed"] for m in checkpoints],
                             "finetune_seed": pd.array([None] * len(checkpoints), dtype="Int64"), "kind": "pretrained"})
    rng = np.random.default_rng(11)
    target = items["target_logodds"].to_numpy()
    preds = np.stack([slopes[m["pretrain_seed"]] * target + rng.normal(0, CALIBRATION_NOISE, len(target))
                      for m in checkpoints])  # (n_checkpoints, n_occupations)
    triplet = Predictions(run_info, items, preds)
    write_predictions(root / "pretrained" / "predictions" / "calibration", triplet)
    scores, entries = score_triplets({"calibration": triplet}, n_boot=200)
    for model, entry in zip(checkpoints, entries):
        model["tests"]["calibration"] = entry["tests"]["calibration"]
    tidy = scores[scores["occupation"].isna()]  # per-occupation log-odds stay in the triplet the figure reads
    return [{**row, "finetune_seed": None, "occupation": None} for row in tidy.to_dict("records")]


def _model(name, p, f, tests, *, kind, iid=None) -> dict:
    entry = {"model": name, "pretrain_seed": p, "finetune_seed": f, "tests": tests, "kind": kind}
    if iid:
        entry["iid"] = iid
    return entry


def _r(x, y) -> float:
    return float(np.corrcoef(x, y)[0, 1])


def _slope(bls, values) -> float:
    return float(np.polyfit(bls / 100.0, values, 1)[0])


def _sts(delta, bls) -> dict:
    r = _r(delta, bls)
    mean_abs = float(np.abs(delta).mean())
    return {"pearson_bls": r, "spearman_bls": r - 0.01, "ci95": [r - 0.2, min(r + 0.2, 1.0)], "n_occupations": 60,
            "n_templates": 40, "mean_abs_delta": mean_abs, "delta_slope": _slope(bls, delta), "scale": 1.0,
            "noise_floor": NOISE_FLOOR, "below_noise_floor": mean_abs < NOISE_FLOOR}


def _wino(bias, bls, *, resolver, accuracy=None) -> dict:
    r = _r(bias, bls)
    mean_abs = float(np.abs(bias).mean())
    return {"accuracy": round(0.6 + 0.1 * mean_abs, 4) if accuracy is None else accuracy, "bias_r": r,
            "ci95": [r - 0.25, min(r + 0.25, 1.0)], "n_sentences": 720, "resolver": resolver,
            "mean_abs_bias": mean_abs, "bias_slope": _slope(bls, bias), "noise_floor": NOISE_FLOOR,
            "below_noise_floor": mean_abs < NOISE_FLOOR}


def _occupation_rows(name, p, f, test, metric, occupations, values) -> list[dict]:
    return [{"model": name, "pretrain_seed": p, "finetune_seed": f, "test": test, "metric": metric, "value": float(v), "occupation": o}
            for o, v in zip(occupations, values)]


def make_analysis(models, pretrain_seeds, finetune_seeds) -> dict:
    """An analysis.json in the contract's shape, over the fine-tuned models, with round numbers."""
    finetuned = [m for m in models if m["finetune_seed"] is not None]
    metrics = {}
    for test, metric in (("sts_gender", "pearson_bls"), ("winogender", "bias_r")):
        values = [m["tests"][test][metric] for m in finetuned]
        metrics[f"{test}/{metric}"] = {
            "test": test, "metric": metric, "kind": "stress",
            "spread": {"n": len(values), "mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                       "min": float(min(values)), "max": float(max(values))},
            "seed_share": {"n_seeds": len(pretrain_seeds), "between_var": 0.01, "within_var": 0.002, "icc": 0.8,
                           "icc_ci95": [0.4, 0.95], "regroup": {"observed_std": 0.1, "null_mean": 0.05,
                                                                "null_ci95": [0.03, 0.08], "p_value": 0.01}},
            "multibootstrap": {"mean": float(np.mean(values)), "ci95": [float(min(values)), float(max(values))],
                               "nboot": 1000}}
    names = [m["model"] for m in finetuned]
    return {"version": 1, "n_models": len(finetuned), "pretrain_seeds": list(pretrain_seeds),
            "finetune_seeds": list(finetune_seeds), "metrics": metrics,
            "spread_ratio": [{"stress": "sts_gender/pearson_bls", "iid": "stsb/dev_pearson", "ratio": 4.2}],
            "iid_vs_stress": [{"iid": "stsb/dev_pearson", "stress": "sts_gender/pearson_bls", "spearman": 0.1,
                               "ci95": [-0.5, 0.6], "n": len(finetuned)}],
            "pca": {"sts_gender": {"explained_variance_ratio": [0.5, 0.2],
                                   "top_items": [{"component": 1, "item": "nurse", "loading": 0.3}],
                                   "model_coords": {n: [0.1 * i, -0.2 + 0.05 * i] for i, n in enumerate(names)}}},
            "clustering": {"sts_gender": {"n_clusters": len(pretrain_seeds), "ari": 0.6, "null_mean": 0.0,
                                          "p_value": 0.01, "labels": {n: i % 2 for i, n in enumerate(names)}}}}
