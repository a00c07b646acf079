"""A stress test written outside the package, to the base class alone, flows through evaluate, score, analyze, report
and card: every step asks the registry about it, and none names it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nlp_underspec import stress
from nlp_underspec.cli import main
from nlp_underspec.data.occupations import OCCUPATIONS
from nlp_underspec.results import read_scores
from nlp_underspec.stress import ExampleSet, register_stress_test
from nlp_underspec.stress.examples import MeanScore, model_index

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the tests' own helpers
from conftest import build_tiny_checkpoint  # noqa: E402
from toy_stress_plugin import PronounSwap  # noqa: E402

NAME = "toy_swap"
SEEDS = (0, 1, 2, 3)


def _identity(y_true, y_pred):
    del y_true  # a label-free per-item value: the score is its mean
    return np.asarray(y_pred, dtype=float)


mean_similarity = MeanScore(_identity, "mean_similarity")


def _similarity_examples(predictions, occupation_stats) -> ExampleSet:
    items = predictions.label_info
    return ExampleSet(np.ascontiguousarray(predictions.preds), np.zeros(len(items)), mean_similarity, "item",
                      model_index(predictions.run_info), pd.Index(items["item_id"].astype(str), name="item"))


def _occupation_profile(predictions) -> pd.DataFrame:
    occupation = predictions.label_info["occupation"].astype(str).to_numpy()
    frame = pd.DataFrame(predictions.preds, index=model_index(predictions.run_info))
    profile = frame.T.groupby(occupation, sort=False).mean().T
    profile.columns.name = "occupation"
    return profile


class ToySwap(PronounSwap):
    """The registry tests' pronoun-swap plugin (its items and predictions), with its own readers and presentation:
    the cosine of a sentence and its pronoun-swapped copy, per occupation (1: the swap changes nothing)."""

    name = NAME
    description = "cosine of a sentence and its pronoun-swapped copy"
    citation = "@misc{toy, title = {A toy plugin}}"
    schema = {"item_id": "string", "occupation": "string", "text": "string"}
    title = "Toy pronoun swap"
    card_task_type = "sentence-similarity"
    metric_labels = {"mean_similarity": "toy swap similarity"}
    metric_readings = {"mean_similarity": "the swap changes the sentence less"}
    per_occupation_label = "cos(she, he)"
    per_occupation_description = "the cosine of the she and he versions"
    triplet_metrics = {"mean_similarity": _similarity_examples}
    occupation_profile = staticmethod(_occupation_profile)

    def score(self, *, preds, label_info, occupation_stats=None, n_boot=1000, seed=0, model_info=None,
              where="label_info.tsv"):
        items = self.check_label_info(label_info, where=where)
        per_occupation = pd.Series(preds, index=items["occupation"]).groupby(level=0, sort=False).mean()
        return stress.TestScore({"mean_similarity": float(mean_similarity(None, preds))}, per_occupation)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """An `evaluate` folder, analysed: four tiny models (pretraining seeds 0-3) scored on the toy test, registered
    for this module's tests only."""
    register_stress_test(ToySwap)
    folder = tmp_path_factory.mktemp("plugin")
    occupations = OCCUPATIONS[:12]
    data = folder / "swap.tsv"
    data.write_text("occupation\ttext\n" + "".join(f"{o}\tthe {o} said she would help\n"
                                                    f"{o}\tthe {o} said she could\n" for o in occupations))
    models = [str(build_tiny_checkpoint(folder / f"bi-seed_{seed}", "bi", seed=seed)) for seed in SEEDS]
    out = folder / "out"
    assert main(["evaluate", *models, "--tests", NAME, "--data", f"{NAME}={data}", "--out", str(out),
                 "--seed-pattern", r"seed_(?P<pretrain_seed>\d+)", "--no-progress"]) == 0
    assert main(["analyze", str(out), "--nboot", "50"]) == 0
    yield out
    stress.unregister_stress_test(NAME)


def test_evaluate_and_score_write_the_plugin_rows(evaluated, tmp_path):
    scores = read_scores(evaluated)
    rows = scores[scores["test"] == NAME]
    assert set(rows.loc[rows["occupation"].isna(), "metric"]) == {"mean_similarity"}
    assert rows["model"].nunique() == len(SEEDS)
    assert rows["occupation"].dropna().nunique() == 12  # one per-occupation row per model and occupation
    again = tmp_path / "again"
    assert main(["score", "--predictions", str(evaluated), "--out", str(again)]) == 0
    rescored = read_scores(again)
    np.testing.assert_array_equal(rescored[rescored["test"] == NAME]["value"].to_numpy(), rows["value"].to_numpy())


def test_analyze_reads_the_plugin_through_its_triplet_readers(evaluated):
    analysis = json.loads((evaluated / "analysis.json").read_text())
    entry = analysis["metrics"][f"{NAME}/mean_similarity"]
    assert entry["test"] == NAME and entry["metric"] == "mean_similarity"
    assert "multibootstrap" in json.dumps(entry)  # resampled from the plugin's own readers


def test_report_and_cards_name_the_plugin(evaluated, tmp_path):
    assert main(["report", str(evaluated), "--out", str(tmp_path / "report")]) == 0
    assert NAME in (tmp_path / "report" / "index.html").read_text()
    assert main(["card", str(evaluated), "--out", str(tmp_path / "cards")]) == 0
    cards = list((tmp_path / "cards").rglob("README.md"))
    assert len(cards) == len(SEEDS) + 1 and all(NAME in card.read_text() for card in cards)


def test_report_captions_use_the_plugin_words(evaluated, tmp_path):
    assert main(["report", str(evaluated), "--out", str(tmp_path / "report")]) == 0
    assert ToySwap.per_occupation_description in (tmp_path / "report" / "index.html").read_text()


def test_cards_name_the_plugin_by_its_title(evaluated, tmp_path):
    assert main(["card", str(evaluated), "--out", str(tmp_path / "cards")]) == 0
    cards = list((tmp_path / "cards").rglob("README.md"))
    assert cards and all(ToySwap.title in card.read_text() for card in cards)
