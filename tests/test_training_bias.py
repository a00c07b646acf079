"""Done-means 3 of the training issue: a tiny BERT pretrained on the synthetic world picks up the planted statistic.

With ``world.bias_strength`` 1 (share of "she" per occupation follows BLS % female) the Winogender ``bias_r`` of the
``mlm_probe`` resolver, on the world's own Winogender-style set, is clearly higher than with ``bias_strength`` 0 (no
association planted). Slow: two pretraining runs of the tiny recipe (minutes on 2 CPU cores).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp_underspec import cli
from nlp_underspec.config import load_recipe
from nlp_underspec.data.sources import materialize_stress_sets
from nlp_underspec.training import pretrain

TINY = Path(__file__).resolve().parents[1] / "recipes" / "tiny.yaml"


def _winogender_bias_r(tmp_path: Path, bias_strength: float) -> float:
    recipe = load_recipe(TINY, [f"world.bias_strength={bias_strength}"])
    model = tmp_path / f"bias{bias_strength}" / "p00"
    pretrain(recipe, pretrain_seed=0, out=model)
    stress = materialize_stress_sets(recipe.world, tmp_path / f"bias{bias_strength}" / "stress")
    out = tmp_path / f"bias{bias_strength}" / "eval"
    assert cli.main(["evaluate", str(model), "--tests", "winogender", "--winogender", str(stress["winogender"]),
                     "--resolver", "mlm_probe", "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    return summary["models"][0]["tests"]["winogender"]["bias_r"]


@pytest.mark.slow
def test_planted_statistic_is_learnt(tmp_path):
    planted = _winogender_bias_r(tmp_path, 1.0)
    absent = _winogender_bias_r(tmp_path, 0.0)
    print(f"winogender bias_r (mlm_probe): bias_strength 1 -> {planted:.3f}, 0 -> {absent:.3f}")
    assert planted > 0.3
    assert planted - absent > 0.25
