"""The registry: lookups with "Did you mean", and users adding a stress test without touching the package
(a --plugin module, or an entry point in the group nlp_underspec.stress_tests)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nlp_underspec import triplet
from nlp_underspec.cli import main
from nlp_underspec.errors import UsageError
from nlp_underspec.stress import (ENTRY_POINT_GROUP, StressTest, available_stress_tests, get_stress_test, load_plugin,
                                  register_stress_test, unregister_stress_test)
from nlp_underspec.stress import registry

PLUGIN = """
import toy_stress_plugin
from nlp_underspec.stress import register_stress_test


@register_stress_test
class PronounSwap(toy_stress_plugin.PronounSwap):
    \"\"\"The user's plugin module registers its test class (defined here, as a plugin's own class is).\"\"\"
"""
TESTS_DIR = Path(__file__).resolve().parent  # where toy_stress_plugin.py, the plugin's class, lives


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    (tmp_path / "my_stress_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(TESTS_DIR))
    yield "my_stress_plugin"
    unregister_stress_test("pronoun_swap")


@pytest.mark.bad_input
def test_unknown_name_suggests_the_closest():
    with pytest.raises(UsageError) as err:
        get_stress_test("sts-gender")
    assert str(err.value) == ("Unknown stress test 'sts-gender'. Did you mean 'sts_gender'? Available: calibration, "
                              "sts_gender, winogender.")


def test_builtins_have_the_anatomy():
    for name in ("sts_gender", "winogender", "calibration"):
        test = get_stress_test(name)
        assert test.name == name and test.version and "@" in test.citation
        assert set(test.features()) == set(test.schema)
        assert all(metric in test.metrics for metric in test.headline)
        card = test.card_path().read_text()
        for heading in ("## Description", "## How to use", "## Inputs", "## Output values", "## Examples",
                        "## Limitations and bias", "## Citation"):
            assert heading in card, (name, heading)


def test_a_plugin_test_runs_through_evaluate_and_score(plugin_module, tiny_checkpoint, tmp_path, capsys):
    data = tmp_path / "swap.tsv"
    data.write_text("occupation\ttext\nnurse\tthe nurse said she would help\nengineer\tthe engineer said she could\n")
    model = tiny_checkpoint("bi")
    out = tmp_path / "out"
    assert main(["evaluate", str(model), "--plugin", plugin_module, "--tests", "pronoun_swap",
                 "--data", f"pronoun_swap={data}", "--out", str(out), "--no-progress"]) == 0
    assert "pronoun_swap:mean_similarity ↑" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    similarity = summary["models"][0]["tests"]["pronoun_swap"]["mean_similarity"]
    assert -1.0 <= similarity <= 1.0
    assert main(["score", "--plugin", plugin_module, "--predictions", str(out), "--out", str(tmp_path / "again")]) == 0
    assert json.loads((tmp_path / "again" / "summary.json").read_text())["models"] == summary["models"]


@pytest.mark.bad_input
def test_plugin_errors():
    with pytest.raises(UsageError) as err:
        load_plugin("no_such_plugin_module")
    assert str(err.value) == ("Cannot import plugin module 'no_such_plugin_module' (No module named "
                              "'no_such_plugin_module'). Pass an importable module path, e.g. mypkg.tests.")
    with pytest.raises(UsageError) as err:
        load_plugin("json")
    assert str(err.value) == ("Plugin module 'json' registered no stress test. Decorate a StressTest subclass in it "
                              "with @register_stress_test.")


def test_entry_point_registration(plugin_module, monkeypatch):
    from importlib.metadata import EntryPoint

    class FromEntryPoint(StressTest):
        name = "from_entry_point"

    import sys
    import types

    module = types.ModuleType("ep_module")
    module.FromEntryPoint = FromEntryPoint
    monkeypatch.setitem(sys.modules, "ep_module", module)
    points = [EntryPoint(name="from_entry_point", value="ep_module:FromEntryPoint", group=ENTRY_POINT_GROUP)]
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: points if group == ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    try:
        assert "from_entry_point" in available_stress_tests()
        assert isinstance(get_stress_test("from_entry_point"), FromEntryPoint)
    finally:
        unregister_stress_test("from_entry_point")


def test_a_name_cannot_be_taken_twice():
    class Impostor(StressTest):
        name = "winogender"

    with pytest.raises(ValueError, match="already registered"):
        register_stress_test(Impostor)
    assert type(get_stress_test("winogender")).__name__ == "Winogender"


def test_score_reads_a_multiberts_style_triplet(tmp_path, shared_data):
    """A triplet made elsewhere: label_info with only the sentids, predictions from two seeds."""
    sentences = pd.read_csv(shared_data / "winogender" / "data" / "all_sentences.tsv", sep="\t")
    run_info = pd.DataFrame({"model": ["seed_0", "seed_1"], "pretrain_seed": [0, 1]})
    label_info = pd.DataFrame({"item_id": sentences["sentid"]})
    preds = np.random.default_rng(0).uniform(size=(2, len(sentences)))
    triplet.write_predictions(tmp_path / "winogender", triplet.Predictions(run_info, label_info, preds))
    assert main(["score", "--predictions", str(tmp_path / "winogender"), "--out", str(tmp_path / "out"),
                 "--n-boot", "50"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [m["pretrain_seed"] for m in summary["models"]] == [0, 1]
    assert summary["models"][0]["tests"]["winogender"]["n_occupations"] == 60
