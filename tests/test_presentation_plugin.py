"""A stress test registered by a plugin (here, in this file) is presented like a built-in one: the report draws its
per-occupation figure with the labels it declares, and the cards enter it in the model-index under its title, with no
KeyError anywhere in report, figures or cards. A plugin that declares none of the presentation attributes gets the
defaults (its own name, its metric's name)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_family import build_family

from nlp_underspec import cards
from nlp_underspec.report import build_report
from nlp_underspec.experiment.family import load_family
from nlp_underspec.results import read_scores, read_summary, scores_frame, write_scores, write_summary
from nlp_underspec.stress.base import MetricInfo, StressTest
from nlp_underspec.stress.registry import register_stress_test, unregister_stress_test


class _Declared(StressTest):
    """A plugin that says how it is presented."""

    name = "toy_gap"
    metrics = {"gap_r": MetricInfo("correlation of the toy gap with BLS % female", None, (-1.0, 1.0)),
               "mean_gap": MetricInfo("mean absolute toy gap", False)}
    headline = ("gap_r",)
    per_occupation_metric = "gap"
    title = "Toy gap test (a plugin)"
    card_task_type = "fill-mask"
    metric_labels = {"gap_r": "toy gap r"}
    per_occupation_label = "toy(occ., she) − toy(occ., he)"
    per_occupation_description = "the toy gap between she and he"


class _Bare(StressTest):
    """A plugin that declares only what scoring needs."""

    name = "toy_bare"
    metrics = {"bare_r": MetricInfo("correlation of the bare gap with BLS % female", None)}
    headline = ("bare_r",)
    per_occupation_metric = "bare"


@pytest.fixture(params=[_Declared, _Bare], ids=["declared", "bare"])
def plugin_family(request, tmp_path):
    """The hand-made family with the plugin's results added for every model: summary entries and per-occupation
    rows in scores.parquet (what `evaluate --plugin` writes)."""
    plugin = request.param
    register_stress_test(plugin)
    request.addfinalizer(lambda: unregister_stress_test(plugin.name))
    root = build_family(tmp_path / "exp", None, runs=False, pretrain_seeds=(0, 1), finetune_seeds=(0,))
    (metric,), per_occupation = plugin.headline, plugin.per_occupation_metric
    summary = read_summary(root / "summary.json")
    scores = read_scores(root)
    occupations = sorted(set(scores["occupation"].dropna()))
    rows = []
    for k, model in enumerate(summary["models"]):
        gaps = np.linspace(-0.1, 0.1, len(occupations)) * (k + 1)
        model["tests"][plugin.name] = {metric: 0.1 * k, "ci95": [0.1 * k - 0.2, 0.1 * k + 0.2]}
        rows += [{"model": model["model"], "pretrain_seed": model["pretrain_seed"],
                  "finetune_seed": model["finetune_seed"], "test": plugin.name, "metric": per_occupation,
                  "value": float(v), "occupation": o} for o, v in zip(occupations, gaps)]
        rows.append({"model": model["model"], "pretrain_seed": model["pretrain_seed"],
                     "finetune_seed": model["finetune_seed"], "test": plugin.name, "metric": metric,
                     "value": 0.1 * k, "occupation": None})
    write_scores(root / "scores.parquet", pd.concat([scores, scores_frame(rows)], ignore_index=True))
    write_summary(root / "summary.json", models=summary["models"], versions=summary.get("versions") or {},
                  config_hash=summary.get("config_hash"))
    return root, plugin


def test_a_plugin_test_gets_its_per_occupation_figure_with_its_own_labels(plugin_family):
    root, plugin = plugin_family
    html = build_report(root).read_text(encoding="utf-8")
    assert (root / "report" / "figures" / f"per_occupation_{plugin.name}.png").is_file()
    what = plugin.per_occupation_description or f"its per-occupation {plugin.per_occupation_metric}"
    assert f"placed by its share of women (BLS, x) and by {what} (y)" in html


def test_a_plugin_test_is_entered_in_every_card_under_its_title(plugin_family):
    root, plugin = plugin_family
    paths = cards.write_cards(root)
    family = load_family(root)
    for path in paths:
        text = path.read_text(encoding="utf-8")
        front = text.split("---")[1]
        assert f"name: {plugin.title or plugin.name}" in front, path
        assert f"type: {plugin.card_task_type}" in front, path
    model = family.models[0]
    section = cards.stress_section(family, model, tests=list(model.tests), subject="This model")
    assert f"`{plugin.name}/{plugin.headline[0]}`" in section
    assert json.loads((root / "summary.json").read_text())["models"][0]["tests"][plugin.name]
