"""The recipe's ``intervention:`` section (issue 14, point 1): counterfactual data augmentation swaps gendered words
deterministically, keeps case and punctuation, is left out of every identity while unset, and is recorded in run.json
and the config hash of the runs it touches; its bad values fail with exact messages."""

from __future__ import annotations

import pytest

from nlp_underspec.config import (InterventionConfig, finetune_run_config, load_recipe, pretrain_run_config,
                                  recipe_from_dict)
from nlp_underspec.data import interventions as cda
from nlp_underspec.data.coref import CorefExample
from nlp_underspec.errors import UsageError
from nlp_underspec.records import config_hash, read_run_record
from nlp_underspec.seeding import SEED_MAX

TEXTS = ["He told her that his son is a man.", "She saw her papers; the book is hers.", "They left early.",
         "MR. Smith and his father met the boy.", "The nurse said she would call him, and he agreed."] * 20


def _cda(**kwargs) -> InterventionConfig:
    return InterventionConfig(**{"where": ("pretrain", "finetune"), **kwargs})


def _message(fn, *args, **kwargs) -> str:
    with pytest.raises(UsageError) as err:
        fn(*args, **kwargs)
    return str(err.value)


def test_two_sided_swap_goes_both_ways_and_keeps_case_and_punctuation():
    assert cda.swap_gendered_words("He told her that his son is a man.") == "She told him that her daughter is a woman."
    assert cda.swap_gendered_words("She saw her papers; the book is hers.") == "He saw his papers; the book is his."
    assert cda.swap_gendered_words("MR. Smith and HIS father, Boy!") == "MRS. Smith and HER mother, Girl!"
    assert cda.swap_gendered_words("the book is his.") == "the book is hers."
    assert cda.swap_gendered_words("I saw her.") == "I saw him."
    assert cda.swap_gendered_words("They left; the theme, hence") == "They left; the theme, hence"  # whole words only


def test_one_sided_swap_only_rewrites_male_words():
    assert cda.swap_gendered_words("He told her that his son is a man.", sided="one") == \
        "She told her that her daughter is a woman."
    assert cda.swap_gendered_words("She saw her papers; the book is hers.", sided="one") == \
        "She saw her papers; the book is hers."


def test_the_draw_is_deterministic_stateless_and_follows_the_probability():
    half = _cda(probability=0.5, seed=3)
    first, again = cda.intervene_texts(TEXTS, half), cda.intervene_texts(TEXTS, half)
    assert first == again
    # stateless: document i's fate does not depend on the documents before it (resume reads them all again)
    assert cda.intervene_texts(TEXTS[40:], half)[0] == (first[40] if not cda.chosen(half, "pretrain", 0) else
                                                       cda.swap_gendered_words(TEXTS[40]))
    swapped = sum(a != b for a, b in zip(first, TEXTS))
    assert 20 < swapped < 70  # 80 of the 100 documents have gendered words, about half of them swapped
    assert cda.intervene_texts(TEXTS, _cda(probability=0.5, seed=4)) != first
    assert cda.intervene_texts(TEXTS, _cda(probability=0.0)) == TEXTS
    assert cda.intervene_texts(TEXTS, None) == TEXTS
    assert cda.intervene_texts(TEXTS, _cda(where=("finetune",))) == TEXTS  # not this stage
    assert cda.intervene_texts(TEXTS, _cda(probability=1.0)) == [cda.swap_gendered_words(t) for t in TEXTS]


def test_fine_tuning_examples_are_swapped_with_their_spans():
    text = "The nurse told the pilot that he would help her."
    example = CorefExample(text=text, pronoun=(30, 32), candidates=((4, 9), (19, 24)), label=1)
    (swapped,) = cda.intervene_examples([example], _cda(probability=1.0))
    assert swapped.text == "The nurse told the pilot that she would help him."
    assert swapped.span_text(swapped.pronoun) == "she"
    assert [swapped.span_text(c) for c in swapped.candidates] == ["nurse", "pilot"] and swapped.label == 1
    pair = ("A man is cooking.", "A woman is cooking.", 3.5)
    assert cda.intervene_examples([pair], _cda(probability=1.0)) == [("A woman is cooking.", "A man is cooking.", 3.5)]
    assert cda.intervene_examples([pair], _cda(where=("pretrain",), probability=1.0)) == [pair]


def test_an_unset_intervention_keeps_the_tiny_hashes():
    from nlp_underspec.sweep.plan import recipe_hash

    recipe = load_recipe("recipes/tiny.yaml")
    assert recipe.intervention is None
    assert recipe_hash(recipe) == "c8f7e69af59dabbe"
    assert config_hash(pretrain_run_config(recipe)) == "0fe69b1fa125b090"  # /work/demo_new/runs/tiny's p00
    assert "intervention" not in pretrain_run_config(recipe)


def test_a_set_intervention_changes_the_hashes_of_the_runs_it_touches():
    from nlp_underspec.sweep.plan import recipe_hash

    tiny, cda_recipe = load_recipe("recipes/tiny.yaml"), load_recipe("recipes/tiny-cda.yaml")
    assert cda_recipe.intervention == InterventionConfig(kind="cda", where=("pretrain",), probability=0.5,
                                                         sided="two", seed=0)
    assert config_hash(pretrain_run_config(cda_recipe)) != config_hash(pretrain_run_config(tiny))
    assert recipe_hash(cda_recipe) != recipe_hash(tiny)
    assert pretrain_run_config(cda_recipe)["intervention"] == {"kind": "cda", "where": ["pretrain"],
                                                               "probability": 0.5, "sided": "two", "seed": 0}
    # pretraining only: a fine-tuning run's own config is unchanged (its parent's hash carries the change)
    assert finetune_run_config(cda_recipe, "coref", parent="p") == finetune_run_config(tiny, "coref", parent="p")
    both = load_recipe("recipes/tiny.yaml", ["intervention.where=[pretrain, finetune]"])
    assert finetune_run_config(both, "coref", parent="p")["intervention"]["where"] == ["pretrain", "finetune"]


def test_pretraining_reads_the_intervened_corpus_and_records_it(tmp_path, monkeypatch):
    from nlp_underspec.training import pretrain, pretraining

    recipe = recipe_from_dict({"name": "t", "threads": 1, "intervention": {"probability": 1.0, "sided": "one"},
                               "pretrain": {"corpus": "given", "vocab_size": 60, "max_seq_length": 16, "batch_size": 4,
                                            "max_steps": 2, "warmup_steps": 0, "log_every": 1,
                                            "model": {"hidden_size": 16, "num_hidden_layers": 1,
                                                      "num_attention_heads": 2, "intermediate_size": 32,
                                                      "max_position_embeddings": 16}}}, where="r")
    seen = []
    build = pretraining.build_tokenizer
    monkeypatch.setattr(pretraining, "build_tokenizer", lambda s, texts, **kw: seen.append(list(texts)) or
                        build(s, texts, **kw))
    pretrain(recipe, pretrain_seed=0, out=tmp_path / "run", texts=TEXTS[:5])
    assert seen == [[cda.swap_gendered_words(t, "one") for t in TEXTS[:5]]]
    record = read_run_record(tmp_path / "run")
    assert record["config"]["intervention"] == {"kind": "cda", "where": ["pretrain"], "probability": 1.0,
                                                "sided": "one", "seed": 0}
    assert record["config_hash"] == config_hash(pretrain_run_config(recipe))


@pytest.mark.bad_input
@pytest.mark.parametrize("section, expected", [
    ({"kind": "cad"}, "r: 'intervention.kind' is unknown: 'cad'. Did you mean 'cda'? Available: cda."),
    ({"kind": "dropout"}, "r: 'intervention.kind' is unknown: 'dropout'. Available: cda."),
    ({"probability": 1.5}, "r: 'intervention.probability' must be in [0, 1], got 1.5."),
    ({"probability": -0.1}, "r: 'intervention.probability' must be in [0, 1], got -0.1."),
    ({"where": ["pretraining"]},
     "r: 'intervention.where' must list one or both of pretrain, finetune (each once), got ['pretraining']."),
    ({"where": []}, "r: 'intervention.where' must list one or both of pretrain, finetune (each once), got []."),
    ({"where": ["finetune", "finetune"]},
     "r: 'intervention.where' must list one or both of pretrain, finetune (each once), got ['finetune', 'finetune']."),
    ({"where": "pretrain"}, "r: 'intervention.where' must be a list of strings, got 'pretrain'."),
    ({"sided": "both"}, "r: 'intervention.sided' must be 'two' or 'one', got 'both'."),
    ({"seed": -1}, f"r: 'intervention.seed' must be an integer in [0, {SEED_MAX}], got -1."),
    ({"probabilty": 0.5}, "r: unknown key 'intervention.probabilty'. Did you mean 'intervention.probability'? "
                          "Valid keys in 'intervention': kind, where, probability, sided, seed."),
])
def test_bad_intervention_values_fail_with_exact_messages(section, expected):
    data = {"name": "t", "pretrain": {"max_steps": 10}, "intervention": section}
    assert _message(recipe_from_dict, data, where="r") == expected


@pytest.mark.bad_input
def test_an_intervention_on_pretraining_needs_a_pretrain_section():
    data = {"name": "t", "finetune": {"from_checkpoints": ["x"], "tasks": {"stsb": {}}}, "intervention": {}}
    assert _message(recipe_from_dict, data, where="r") == (
        "r: 'intervention.where' names pretrain, but this recipe has no 'pretrain' section.")


def test_every_compared_metric_is_one_row_with_metric_delta_and_p_value(tmp_path):
    """What `nlp-underspec compare BASE CDA --paired --out JSON` writes per metric (hand-made families, no training)."""
    from nlp_underspec.analysis.compare import compare_families
    from nlp_underspec.analysis.demo import write_demo_family

    base = write_demo_family(tmp_path / "base", pretrain_seeds=range(4), finetune_seeds=range(2), tests=("winogender",))
    expt = write_demo_family(tmp_path / "expt", pretrain_seeds=range(4), finetune_seeds=range(2), tests=("winogender",),
                             mean_strength=0.2, rng=1)
    comparison = compare_families(base, expt, nboot=200, paired=True)
    rows = comparison["comparisons"]
    assert len({row["metric"] for row in rows}) == len(rows) and "winogender/bias_r" in {row["metric"] for row in rows}
    for row in rows:
        assert {"metric", "delta", "p_value", "p_value_two_sided", "alternative"} <= set(row)
        assert row["p_value"] == row["delta"]["p"] and row["alternative"] == "delta > 0"
        assert row["delta"]["low"] <= row["delta"]["mean"] <= row["delta"]["high"]
        assert 1 / 200 <= row["p_value_two_sided"] <= 1
    bias = next(row for row in rows if row["metric"] == "winogender/bias_r")
    assert bias["delta"]["mean"] < 0 and bias["p_value"] > 0.9 and bias["p_value_two_sided"] < 0.2
