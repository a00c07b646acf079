"""A task's ``data`` as a list of sources (examples pooled) and ``dev_data`` (named sources scored one by one into
run.json), on tiny offline models and small candidate files written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp_underspec.config import finetune_run_config, load_recipe, task_sources
from nlp_underspec.errors import UsageError
from nlp_underspec.sweep.pipeline import iid_metric_names
from nlp_underspec.training.task_data import source_names

SMALL = ["world.n_corpus_sentences=300", "world.n_sts_pairs=80", "world.n_coref_examples=80",
         "finetune.tasks.coref.max_steps=3", "threads=1", "finetune.tasks.coref.head=ranking"]
WORDS = ("patient", "customer", "paid", "bill", "lost", "receipt", "finished", "work", "early", "someone")


def _write_candidates(path: Path, n: int) -> Path:
    """``n`` copies of one two-candidate sentence, alternating the gold so both labels occur."""
    text = "the nurse told the patient that she paid the bill ."
    pronoun, nurse, patient = [text.index(w) for w in (" she ", "nurse", "patient")]
    rows = [{"id": f"{path.stem}{i}", "text": text, "pronoun": [pronoun + 1, pronoun + 4],
             "candidates": [[nurse, nurse + 5], [patient, patient + 7]], "label": i % 2} for i in range(n)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_data_list_pools_training_examples_and_dev_data_is_scored_per_source(tiny_checkpoint, tmp_path):
    from nlp_underspec.training import finetune

    first, second = _write_candidates(tmp_path / "first.jsonl", 6), _write_candidates(tmp_path / "second.jsonl", 4)
    start = tiny_checkpoint("mlm", extra_words=WORDS, max_positions=64)
    recipe = load_recipe("recipes/tiny.yaml", SMALL + [f"finetune.tasks.coref.data=[{first}, {second}]",
                                                       f"finetune.tasks.coref.dev_data={{one: {first}, two: {second}}}"])
    assert task_sources(recipe.finetune.tasks["coref"]) == (str(first), str(second))
    metrics = finetune(recipe, task="coref", from_checkpoint=str(start), finetune_seed=0,
                       out=tmp_path / "coref").metrics
    assert metrics["n_train"] == 10 and metrics["n_dev"] == 10
    assert metrics["dev_sources"] == ["one", "two"]
    assert (metrics["n_dev_one"], metrics["n_dev_two"]) == (6, 4)
    # the pooled accuracy is the example-weighted mean of the per-source ones
    pooled = (6 * metrics["dev_accuracy_one"] + 4 * metrics["dev_accuracy_two"]) / 10
    assert metrics["dev_accuracy"] == pytest.approx(pooled)
    assert iid_metric_names("coref", metrics) == ["dev_accuracy", "dev_loss", "dev_accuracy_one", "dev_loss_one",
                                                  "dev_accuracy_two", "dev_loss_two"]


def test_a_single_source_without_dev_data_records_what_it_always_did(tiny_checkpoint, tmp_path):
    from nlp_underspec.training import finetune

    only = _write_candidates(tmp_path / "only.jsonl", 4)
    start = tiny_checkpoint("mlm", extra_words=WORDS, max_positions=64)
    recipe = load_recipe("recipes/tiny.yaml", SMALL + [f"finetune.tasks.coref.data={only}"])
    metrics = finetune(recipe, task="coref", from_checkpoint=str(start), finetune_seed=0,
                       out=tmp_path / "coref").metrics
    assert "dev_sources" not in metrics and not any(key.startswith("dev_accuracy_") for key in metrics)
    assert iid_metric_names("coref", metrics) == ["dev_accuracy", "dev_loss"]


def test_an_unset_dev_data_leaves_the_run_and_experiment_identities_as_they_were():
    """The hashes recipes/tiny.yaml and recipes/minilm-stsb.yaml had before dev_data existed (measured at that
    commit): their runs and experiments are neither re-run nor re-scored after the upgrade."""
    from nlp_underspec.records import config_hash
    from nlp_underspec.sweep.plan import recipe_hash

    before = {"recipes/tiny.yaml": ("c8f7e69af59dabbe", "034f54ecebcf8585", "2aab52d14c2e381c"),
              "recipes/minilm-stsb.yaml": ("353b79f0eef39d60", "f68d70225745e7b7", "35da716ef5b6684a")}
    for path, (experiment, stsb, coref) in before.items():
        recipe = load_recipe(path)
        assert recipe_hash(recipe) == experiment
        assert config_hash(finetune_run_config(recipe, "stsb", parent="p")) == stsb
        assert config_hash(finetune_run_config(recipe, "coref", parent="p")) == coref
    recipe = load_recipe("recipes/tiny.yaml")
    settings = finetune_run_config(recipe, "coref", parent="p")["settings"]
    assert "dev_data" not in settings and settings["data"] == "synthetic"
    named = load_recipe("recipes/tiny.yaml", ["finetune.tasks.coref.dev_data={extra: synthetic}"])
    assert finetune_run_config(named, "coref", parent="p")["settings"]["dev_data"] == {"extra": "synthetic"}


def test_source_names_are_metric_safe_and_distinct():
    assert source_names(["a/dpr/train.c.txt", "b/winogrande/train_l.jsonl", "c/gap", "synthetic"]) == [
        "dpr_train_c", "winogrande_train_l", "gap", "synthetic"]
    assert source_names(["x/2019.jsonl", "y/x/2019.jsonl"]) == ["x_2019", "x_2019_1"]


@pytest.mark.bad_input
@pytest.mark.parametrize("override, message", [
    ("finetune.tasks.coref.data=[]", "'finetune.tasks.coref.data' must name at least one source, none of them empty, "
                                     "got []."),
    ("finetune.tasks.coref.data=[a.jsonl, a.jsonl]", "'finetune.tasks.coref.data' names a source twice "
                                                     "(['a.jsonl', 'a.jsonl']): its examples would count double."),
    ("finetune.tasks.coref.data=5", "'finetune.tasks.coref.data' must be a string or a list of strings, got 5."),
    ("finetune.tasks.coref.data=[a.jsonl, 5]", "'finetune.tasks.coref.data' must be a string or a list of strings, "
                                               "got ['a.jsonl', 5]."),
    ("finetune.tasks.coref.dev_data={}", "'finetune.tasks.coref.dev_data' is empty. Name at least one source (name: "
                                         "path), or leave dev_data out."),
    ("finetune.tasks.coref.dev_data={DPR-test: a.jsonl}", "'finetune.tasks.coref.dev_data.DPR-test' is not a usable "
     "name: it becomes a metric name, so lowercase letters, digits and _ only, starting with a letter, at most 40 "
     "characters (e.g. dpr_test)."),
    ("finetune.tasks.coref.dev_data={dpr: ''}", "'finetune.tasks.coref.dev_data.dpr' is empty. Give the path of the "
                                                "source to score."),
])
def test_data_lists_and_dev_data_are_checked(override, message):
    with pytest.raises(UsageError) as err:
        load_recipe("recipes/tiny.yaml", [override])
    assert str(err.value) == f"recipes/tiny.yaml: {message}"


@pytest.mark.bad_input
def test_a_dev_set_that_is_a_training_file_is_named_in_a_warning(tiny_checkpoint, tmp_path, caplog):
    from nlp_underspec.training import finetune

    only = _write_candidates(tmp_path / "only.jsonl", 4)
    start = tiny_checkpoint("mlm", extra_words=WORDS, max_positions=64)
    recipe = load_recipe("recipes/tiny.yaml", SMALL + [f"finetune.tasks.coref.data={only}"])
    with caplog.at_level("WARNING", logger="nlp_underspec.training.task_data"):
        finetune(recipe, task="coref", from_checkpoint=str(start), finetune_seed=0, out=tmp_path / "coref")
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"Task 'coref': dev set '{source_names([str(only)])[0]}' is the training file {only} (one file is its own every split), so its dev "
        "metrics are measured on training examples, not held-out ones. Name a held-out file in dev_data."]
