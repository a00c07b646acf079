"""The tiny recipe's pretraining learns the planted statistic, and learns nothing where none is planted.

The measure is the calibration slope (the ``calibration`` stress test: least-squares slope of logit(she) - logit(he)
at "[MASK] is the <occupation>." on the log-odds of the share the model should have learnt; 1 = the table exactly).
With ``world.bias_strength`` 1 every pretraining seed of the demo must learn it (slope > 0.2, mean >= 0.5) and the
seeds must differ (two slope intervals that do not overlap); with ``bias_strength`` 0 the slope against BLS must stay
near 0 (|slope| < 0.1) for every seed. Slow: 16 pretraining runs of the tiny recipe (about 8 minutes on 2 CPU cores).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp_underspec import cli
from nlp_underspec.config import load_recipe
from nlp_underspec.stress.synthetic_sets import materialize_stress_sets
from nlp_underspec.training import pretrain

TINY = Path(__file__).resolve().parents[1] / "recipes" / "tiny.yaml"


def _calibration(tmp_path: Path, bias_strength: float) -> dict[int, dict]:
    """Each demo pretraining seed's calibration summary (slope, ci95, learned) at this bias strength."""
    recipe = load_recipe(TINY, [f"world.bias_strength={bias_strength}", "pretrain.checkpoint_steps=[]"])
    folder = tmp_path / f"bias{bias_strength}"
    models = []
    for seed in recipe.seeds.pretrain:
        pretrain(recipe, pretrain_seed=seed, out=folder / f"p{seed:02d}")
        models.append(str(folder / f"p{seed:02d}"))
    stress = materialize_stress_sets(recipe.world, folder / "stress")
    out = folder / "eval"
    assert cli.main(["evaluate", *models, "--tests", "calibration", "--data", f"calibration={stress['calibration']}",
                     "--out", str(out), "--no-progress"]) == 0
    entries = json.loads((out / "summary.json").read_text())["models"]
    return {entry["pretrain_seed"]: entry["tests"]["calibration"] for entry in entries}


@pytest.mark.slow
def test_the_planted_statistic_is_learnt_by_every_seed_and_nothing_without_it(tmp_path):
    planted = _calibration(tmp_path, 1.0)
    absent = _calibration(tmp_path, 0.0)
    for seed in sorted(planted):
        print(f"seed {seed}: slope {planted[seed]['slope']:.3f} {planted[seed]['ci95']} (bias_strength 1), "
              f"{absent[seed]['slope']:+.3f} {absent[seed]['ci95']} (0, against BLS)")
    slopes = [summary["slope"] for summary in planted.values()]
    assert min(slopes) > 0.2 and sum(slopes) / len(slopes) >= 0.5
    assert all(summary["learned"] and summary["reference"] == "planted" for summary in planted.values())
    intervals = [summary["ci95"] for summary in planted.values()]
    assert min(high for _, high in intervals) < max(low for low, _ in intervals)  # two seeds' intervals do not overlap
    assert all(abs(summary["slope"]) < 0.1 and summary["reference"] == "bls" for summary in absent.values())
