"""The synthetic world: determinism, the planted statistic, gender-free gold labels, and files the evaluators read."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pandas as pd
import pytest

from nlp_underspec import synthetic
from nlp_underspec.config import DOCUMENT_MIX, MAX_STS_TEMPLATES, WorldConfig
from nlp_underspec.data.coref import read_candidate_jsonl
from nlp_underspec.data.occupations import OCCUPATIONS
from nlp_underspec.data.stsb import load_stsb
from nlp_underspec.errors import UsageError
from nlp_underspec.io import OUT_HOLDS_CWD, OUT_NOT_OURS
from nlp_underspec.stress import synthetic_sets
from nlp_underspec.stress.synthetic_sets import write_full_world, write_stress_sets
from nlp_underspec.stress.winogender import synthetic as winogender_set
from nlp_underspec.synthetic import coref as world_coref
from nlp_underspec.synthetic import vocabulary as words

SMALL = WorldConfig(seed=3, n_corpus_sentences=3000, n_sts_pairs=600, n_coref_examples=600, n_sts_templates=25)
TEMPLATES = winogender_set.world_templates(SMALL.seed)
GENDER_SWAP = {"she": "he", "he": "she", "her": "his", "his": "her", "him": "her", "man": "woman", "woman": "man",
               "they": "she", "their": "his", "them": "him", "were": "was", "are": "is"}


def _swap_gender_words(text: str) -> str:
    def swap(match: re.Match) -> str:
        word = match.group(0)
        swapped = GENDER_SWAP.get(word.lower(), word.lower())
        return swapped.capitalize() if word[0].isupper() else swapped

    return re.sub(r"[A-Za-z]+", swap, text)


@pytest.fixture(scope="module")
def small_world():
    return synthetic.build_world(SMALL)


@pytest.fixture(scope="module")
def default_worlds():
    """Full-size worlds (the defaults: 60k documents) at bias_strength 1 and 0, same seed."""
    return {b: synthetic.build_world(WorldConfig(bias_strength=b)) for b in (1.0, 0.0)}


# ------------------------------------------------------------------------------------------------------- determinism


def test_same_config_same_world_and_cached(small_world):
    synthetic.world._generate.cache_clear()
    winogender_set.world_templates.cache_clear()
    again = synthetic.build_world(SMALL)
    assert again is not small_world  # really regenerated, not the cached object
    assert again.corpus == small_world.corpus
    assert again.sts == small_world.sts
    assert again.coref == small_world.coref
    assert again.stress_sts == small_world.stress_sts
    assert winogender_set.world_templates(SMALL.seed) == TEMPLATES
    assert synthetic.build_world(SMALL) is again  # cached per config


def test_different_seed_different_world(small_world):
    other = synthetic.build_world(dataclasses.replace(SMALL, seed=4))
    assert other.corpus != small_world.corpus
    assert other.sts["train"] != small_world.sts["train"]
    assert other.coref["train"] != small_world.coref["train"]
    assert winogender_set.world_templates(other.config.seed) != TEMPLATES


def test_bias_strength_changes_only_pronouns(small_world):
    """Worlds that differ only in bias_strength are the same sentences with different pronouns (a controlled pair)."""
    unbiased = synthetic.build_world(dataclasses.replace(SMALL, bias_strength=0.0))
    erase = re.compile(r"\b(she|he|they|her|his|their|him|them|is|are|was|were|woman|man|person|a|an)\b", re.I)
    differ = sum(a != b for a, b in zip(small_world.corpus, unbiased.corpus))
    assert differ > 100  # pronouns did change
    assert [erase.sub("_", d) for d in small_world.corpus] == [erase.sub("_", d) for d in unbiased.corpus]


def test_sizes_follow_config(small_world):
    assert len(small_world.corpus) == SMALL.n_corpus_sentences
    assert {s: len(v) for s, v in small_world.sts.items()} == {"train": 480, "dev": 60, "test": 60}
    assert {s: len(v) for s, v in small_world.coref.items()} == {"train": 480, "dev": 60, "test": 60}
    assert len(TEMPLATES) == 180  # per occupation: two held-out cues and one no-cue


def test_default_corpus_size_is_sane(default_worlds):
    corpus = default_worlds[1.0].corpus
    words = np.array([len(d.split()) for d in corpus])
    assert len(corpus) == 60000
    assert 8 <= words.mean() <= 25 and words.max() <= 40  # short documents that pack into 128-token blocks
    assert len(set(corpus)) > 30000  # varied, not a handful of repeated lines


# ---------------------------------------------------------------------------------------------- the planted statistic


def test_planted_table_formula():
    table = synthetic.planted_table(0.5).set_index("occupation")
    assert list(table.index) == list(OCCUPATIONS)
    assert table.loc["nurse", "p_she"] == pytest.approx(0.5 + 0.5 * (0.8958 - 0.5))
    assert (synthetic.planted_table(0.0)["p_she"] == 0.5).all()


def test_corpus_share_of_she_matches_planted_at_full_strength(default_worlds):
    world = default_worlds[1.0]
    measured = synthetic.measure_pronoun_shares(world.corpus)
    planted = pd.Series(world.planted).loc[measured.index]
    n = measured["n_she"] + measured["n_he"]
    assert n.min() >= 200  # enough probes per occupation to measure
    z = (measured["share_she"] - planted) / np.sqrt(planted * (1 - planted) / n)
    assert z.abs().max() < 4.5  # every occupation within sampling error
    assert abs(z.mean()) < 4.5 / math.sqrt(len(z))  # and no overall drift
    assert np.corrcoef(measured["share_she"], planted)[0, 1] > 0.98
    they = measured["n_they"].sum() / (n.sum() + measured["n_they"].sum())
    assert they == pytest.approx(world.config.neutral_share, abs=0.02)


def test_corpus_share_of_she_is_even_without_bias(default_worlds):
    measured = synthetic.measure_pronoun_shares(default_worlds[0.0].corpus)
    n = measured["n_she"] + measured["n_he"]
    z = (measured["share_she"] - 0.5) / np.sqrt(0.25 / n)
    assert z.abs().max() < 4.5
    bls = pd.Series(dict(zip(*synthetic.planted_table(1.0)[["occupation", "bls_pct_female"]].to_numpy().T)))
    assert abs(np.corrcoef(measured["share_she"], bls.loc[measured.index].astype(float))[0, 1]) < 0.35


def test_corpus_holds_the_mlm_probe_statements(default_worlds):
    """Every candidate of the world's Winogender set is named in a probe statement of the (default-size) corpus."""
    world = default_worlds[1.0]
    probes = set(re.findall(r"(?:She|He|They) (?:is|are) (the \w+|someone)\.", " ".join(world.corpus)))
    named = {f"the {t.occupation}" for t in winogender_set.world_templates(world.config.seed)} | \
        {f"the {t.participant}" for t in winogender_set.world_templates(world.config.seed)} | {"someone"}
    assert named <= probes


# ---------------------------------------------------------------------------------------- gold labels ignore gender


def test_sts_gold_is_recomputed_from_text_and_ignores_gender(small_world):
    labels = []
    for split in synthetic.SPLITS:
        for s1, s2, label in small_world.sts[split]:
            assert synthetic.sts_gold_from_text(s1, s2) == label
            assert synthetic.sts_gold_from_text(_swap_gender_words(s1), s2) == label
            assert synthetic.sts_gold_from_text(_swap_gender_words(s1), _swap_gender_words(s2)) == label
            labels.append(label)
    assert min(labels) == 0.0 and max(labels) == 5.0
    assert len(set(labels)) >= 10  # a graded scale, not a binary one


def test_man_and_woman_are_the_same_subject():
    man = synthetic.parse_sts_sentence("A man is reading a book in the park.")
    woman = synthetic.parse_sts_sentence("A woman is reading a novel in the city park.")
    nurse = synthetic.parse_sts_sentence("A nurse is reading a book in the park.")
    assert synthetic.sts_gold(man, woman) == 5.0
    assert synthetic.sts_gold(nurse, man) == synthetic.sts_gold(nurse, woman) == 4.0


def test_coref_gold_comes_from_the_clause_not_the_pronoun(small_world):
    for split in synthetic.SPLITS:
        for example in small_world.coref[split]:
            example.validate(example.id)
            assert example.span_text(example.candidates[0]).lower() == example.meta["occupation"]
            assert example.span_text(example.candidates[1]).lower() == example.meta["participant"]
            assert synthetic.coref_gold_from_text(example.text) == example.label
            form = example.meta["pronoun_form"]
            for gender, forms in words.PRONOUN_FORMS.items():
                start, end = example.pronoun
                swapped = example.text[:start] + forms[form] + example.text[end:]
                assert synthetic.coref_gold_from_text(swapped) == example.label, (example.text, gender)


def test_coref_labels_are_balanced_and_pronoun_spans_exact(small_world):
    examples = small_world.coref_examples("train")
    assert 0.4 < np.mean([e.label for e in examples]) < 0.6
    pronouns = {e.span_text(e.pronoun) for e in examples}
    assert pronouns <= {"she", "he", "they", "her", "his", "their", "him", "them"}


def _clause_of(text: str) -> str | None:
    """The cue or neutral clause template a rendered sentence uses (gender words normalised), or None."""
    normalized = f" {world_coref.normalize_gender(text)} "
    for clause in words.PROVIDER_CLAUSES + words.CLIENT_CLAUSES + words.NEUTRAL_CLAUSES:
        if f" {world_coref.normalize_gender(words.fill_clause(clause, 'female'))} " in normalized:
            return clause
    return None


def test_fine_tuning_never_sees_a_held_out_cue_and_winogender_only_those(small_world):
    held_out = set(words.HELD_OUT_PROVIDER_CLAUSES + words.HELD_OUT_CLIENT_CLAUSES)
    used = {_clause_of(e.text) for split in synthetic.SPLITS for e in small_world.coref[split]}
    assert None not in used and not used & held_out
    assert used == set(words.FINETUNE_PROVIDER_CLAUSES + words.FINETUNE_CLIENT_CLAUSES)
    stress = {t.answer: set() for t in TEMPLATES}
    for template in TEMPLATES:
        stress[template.answer].add(_clause_of(winogender_set.render_winogender_sentence(template, "x", "female")))
    assert stress[0] <= set(words.HELD_OUT_PROVIDER_CLAUSES) and stress[1] <= set(words.HELD_OUT_CLIENT_CLAUSES)
    assert stress[winogender_set.NO_CUE] <= set(winogender_set.NO_CUE_CLAUSES)
    corpus_clauses = {_clause_of(d) for d, kind in zip(small_world.corpus, small_world.corpus_kinds) if kind == "cue"}
    assert held_out <= corpus_clauses  # pretraining is where the held-out cues are learnt


def test_cue_frames_say_nothing_about_the_answer():
    """Clause k of each class shares its frame, and the held-out clauses are the same k in both lists: a resolver
    cannot read the answer off a frame in fine-tuning or in the stress set."""
    def frame(clause: str) -> tuple[str, ...]:
        words = clause.split()
        if "{acc}" in clause:
            return ("{acc}",)
        return (words[0],) if words[0] == "{poss}" else tuple(words[:2])

    assert len(words.PROVIDER_CLAUSES) == len(words.CLIENT_CLAUSES)
    for provider, client in zip(words.PROVIDER_CLAUSES, words.CLIENT_CLAUSES):
        assert frame(provider) == frame(client) or {provider, client} == {
            "the office had asked {acc} to stay late", "nobody had given {acc} an answer"}, (provider, client)
    held_out_p = [words.PROVIDER_CLAUSES.index(c) for c in words.HELD_OUT_PROVIDER_CLAUSES]
    held_out_c = [words.CLIENT_CLAUSES.index(c) for c in words.HELD_OUT_CLIENT_CLAUSES]
    assert held_out_p == held_out_c


def test_fine_tuning_pronouns_are_independent_of_the_answer(default_worlds):
    """The audit's check: for male-majority occupations P(answer = occupation | she) was 0.31 vs 0.62 for he."""
    world = default_worlds[1.0]
    examples = [e for split in synthetic.SPLITS for e in world.coref[split]]
    male_majority = {o for o, p in world.planted.items() if p < 0.5}
    for group in (male_majority, set(OCCUPATIONS) - male_majority):
        rates = {}
        for gender in ("female", "male"):
            labels = [e.label for e in examples if e.meta["occupation"] in group and e.meta["gender"] == gender]
            rates[gender] = 1 - np.mean(labels)  # P(answer = occupation | gender)
            assert len(labels) > 300
        assert abs(rates["female"] - rates["male"]) < 0.08, rates


def test_corpus_kinds_follow_the_mix_and_probes_are_bare(small_world):
    kinds = pd.Series(small_world.corpus_kinds).value_counts(normalize=True)
    for kind, share in DOCUMENT_MIX:
        assert kinds[kind] == pytest.approx(share, abs=0.03), kind
    probes = small_world.corpus_texts(kinds=["probe"])
    assert len(probes) == (pd.Series(small_world.corpus_kinds) == "probe").sum()
    assert all(re.fullmatch(r"(She is|He is|They are) the [a-z]+\.", text) for text in probes)


def test_vocabulary_hygiene():
    """Participants are not occupations, clauses name neither, cue clauses never contain one another, and the STS
    vocabulary has no gendered word (template remainders must be gender-free)."""
    assert set(words.PARTICIPANTS) == set(OCCUPATIONS)
    assert not set(words.PARTICIPANTS.values()) & set(OCCUPATIONS)
    people = set(OCCUPATIONS) | set(words.PARTICIPANTS.values())
    clauses = words.PROVIDER_CLAUSES + words.CLIENT_CLAUSES + words.NEUTRAL_CLAUSES
    for clause in clauses:
        assert not people & set(re.findall(r"[a-z]+", clause)), clause
    keys = [key for key, _ in world_coref.clause_keys()]
    assert all(a == b or f" {a} " not in f" {b} " for a in keys for b in keys)
    sts_words = " ".join([s for surfaces, _ in words.ACTIONS.values() for s in surfaces]
                         + [s for objects in words.OBJECTS.values() for pair in objects.values() for s in pair]
                         + [s for pair in words.PLACES.values() for s in pair])
    assert not words.GENDERED_WORDS & set(re.findall(r"[a-z]+", sts_words))


def test_recipe_bound_on_sts_templates_is_the_vocabulary_size():
    """config.MAX_STS_TEMPLATES (checked when a recipe is read) counts the world's (action, object, place) meanings."""
    meanings = sum(len(words.OBJECTS[category]) for _surfaces, category in words.ACTIONS.values()) * len(words.PLACES)
    assert MAX_STS_TEMPLATES == meanings


# ------------------------------------------------------------------------------------------------------ stress sets


def test_stress_sts_file_loads_and_has_the_templates(small_world, tmp_path):
    from nlp_underspec.stress.sts_gender import build_sts_gender_items

    paths = write_stress_sets(small_world, tmp_path / "stress")
    frame = load_stsb(paths["stsb"])
    assert list(frame.columns[:3]) == ["sentence1", "sentence2", "label"] and len(frame) == 2 * SMALL.n_sts_templates
    starts = [s for s in pd.concat([frame.sentence1, frame.sentence2]) if re.match(r"A (man|woman) ", s)]
    remainders = {re.sub(r"^A (man|woman)", "", s) for s in starts}
    assert len(remainders) == len(starts) == SMALL.n_sts_templates
    assert all(not words.GENDERED_WORDS & set(re.findall(r"[a-z]+", r.lower())) for r in remainders)
    items = build_sts_gender_items(frame)  # the evaluator's own template derivation
    assert items["template_id"].nunique() == SMALL.n_sts_templates
    assert frame["label"].between(0, 5).all()


def test_winogender_folder_has_the_original_layout(small_world, tmp_path, shared_data):
    from nlp_underspec.stress.winogender.data import load_winogender

    folder = write_stress_sets(small_world, tmp_path / "stress")["winogender"]
    original = shared_data / "winogender" / "data"
    for name in ("templates.tsv", "all_sentences.tsv", "occupations-stats.tsv"):
        ours = (folder / name).read_text(encoding="utf-8").splitlines()
        theirs = (original / name).read_text(encoding="utf-8").splitlines()
        assert ours[0] == theirs[0], name  # same header, column for column
        # three templates per occupation where the original has two (the third has no cue): 180, 1080, 60
        assert len(ours) - 1 == {"templates.tsv": 180, "all_sentences.tsv": 1080}.get(name, len(theirs) - 1), name
    stats = pd.read_csv(folder / "occupations-stats.tsv", sep="\t")
    real = pd.read_csv(original / "occupations-stats.tsv", sep="\t")
    pd.testing.assert_frame_equal(stats.set_index("occupation").sort_index(), real.set_index("occupation").sort_index())
    data = load_winogender(folder)  # the evaluator's loader accepts it as is
    sentences = data.sentences
    assert data.stats is not None and len(data.stats) == 60
    assert len(sentences) == 1080
    assert sorted(sentences["gender"].value_counts().tolist()) == [360, 360, 360]
    assert sentences["answer"].value_counts().to_dict() == {0: 360, 1: 360, -1: 360}  # -1: no cue, no gold
    assert (sentences["participant"] == "someone").sum() == 540


def test_winogender_sentences_render_templates():
    template = winogender_set.WinogenderTemplate("nurse", "patient", 1,
                                            "The $PARTICIPANT told the $OCCUPATION that $NOM_PRONOUN had paid the bill.")
    assert winogender_set.render_winogender_sentence(template, "patient", "female") == \
        "The patient told the nurse that she had paid the bill."
    assert winogender_set.render_winogender_sentence(template, "someone", "neutral") == \
        "Someone told the nurse that they had paid the bill."


def test_write_world_layout_reads_back(small_world, tmp_path):
    folder = write_full_world(small_world, tmp_path / "world")
    assert (folder / "corpus.txt").read_text(encoding="utf-8").splitlines() == list(small_world.corpus)
    for split in synthetic.SPLITS:
        sts = load_stsb(folder / "sts", split)
        expected = small_world.sts_frame(split)
        assert sts["sentence1"].tolist() == expected["sentence1"].tolist()
        np.testing.assert_allclose(sts["label"], expected["label"])
        assert read_candidate_jsonl(folder / "coref" / f"{split}.jsonl") == small_world.coref_examples(split)
    planted = pd.read_csv(folder / "planted.tsv", sep="\t")
    assert list(planted.columns) == ["occupation", "bls_pct_female", "p_she"] and len(planted) == 60
    manifest = __import__("json").loads((folder / "world.json").read_text())
    assert manifest["config"]["seed"] == SMALL.seed and manifest["sizes"]["corpus"] == SMALL.n_corpus_sentences
    write_full_world(small_world, folder)  # an earlier world is replaced without --overwrite


@pytest.mark.bad_input
def test_write_world_refuses_a_folder_holding_something_else(small_world, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    for overwrite in (False, True):  # --overwrite replaces only a world of ours
        with pytest.raises(UsageError) as err:
            write_full_world(small_world, out, overwrite=overwrite)
        assert str(err.value) == OUT_NOT_OURS.format(path=out, what="notes.txt", kind="synthetic world folder")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]  # nothing half-written
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".busy")]
    write_full_world(small_world, tmp_path / "world")
    (tmp_path / "world" / "my-analysis.ipynb").write_text("{}")  # a world of ours the user added to: kept
    with pytest.raises(UsageError) as err:
        write_full_world(small_world, tmp_path / "world", overwrite=True)
    assert str(err.value) == OUT_NOT_OURS.format(path=tmp_path / "world", what="my-analysis.ipynb",
                                                 kind="synthetic world folder")


@pytest.mark.bad_input
def test_module_command_overwrite_never_deletes_a_folder_not_ours(tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    assert synthetic_sets.main([str(home), "--overwrite", "--set", "world.n_corpus_sentences=50"]) == 2
    expected = OUT_NOT_OURS.format(path=home, what="thesis.tex", kind="synthetic world folder")
    assert capsys.readouterr().err == f"error: {expected}\n"
    monkeypatch.chdir(home)
    assert synthetic_sets.main([".", "--overwrite", "--set", "world.n_corpus_sentences=50"]) == 2
    assert capsys.readouterr().err == f"error: {OUT_HOLDS_CWD.format(path='.')}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"] and (home / "thesis.tex").is_file()


def test_write_stress_sets_is_idempotent(small_world, tmp_path):
    paths = write_stress_sets(small_world, tmp_path / "s")
    before = paths["stsb"].stat().st_mtime_ns
    assert write_stress_sets(small_world, tmp_path / "s") == paths
    assert paths["stsb"].stat().st_mtime_ns == before  # left as it was
    other = synthetic.build_world(dataclasses.replace(SMALL, seed=9))
    write_stress_sets(other, tmp_path / "s")  # a different world's stress sets replace the old ones
    assert load_stsb(paths["stsb"])["sentence1"].tolist() == other.stress_sts_frame()["sentence1"].tolist()


def test_a_plugin_tests_synthetic_set_is_written_with_the_others(small_world, tmp_path):
    """The world names no test: any registered test that offers a synthetic set gets it written and listed."""
    from nlp_underspec.stress import StressTest, register_stress_test, unregister_stress_test

    def write(world, path):
        path.write_text(str(len(world.corpus)), encoding="utf-8")

    class Toy(StressTest):
        name = "toy_synthetic"
        synthetic_set = synthetic.SyntheticSet(entry="toy.txt", description="a toy set", write=write,
                                               sizes=lambda world: {"toy": 1})

    register_stress_test(Toy)
    try:
        paths = write_stress_sets(small_world, tmp_path / "s")
    finally:
        unregister_stress_test("toy_synthetic")
    assert set(paths) == {"stsb", "winogender", "calibration", "toy_synthetic"}
    assert paths["toy_synthetic"].read_text(encoding="utf-8") == str(SMALL.n_corpus_sentences)
    manifest = __import__("json").loads((tmp_path / "s" / "world.json").read_text())
    assert manifest["layout"]["toy.txt"] == "a toy set" and manifest["sizes"]["toy"] == 1


# ----------------------------------------------------------------------------------------------------- bad configs


@pytest.mark.bad_input
@pytest.mark.parametrize("change, message", [
    ({"bias_strength": 1.5}, "world.bias_strength must be in [0, 1], got 1.5."),
    ({"neutral_share": 1.0}, "world.neutral_share must be in [0, 1), got 1.0."),
    ({"n_corpus_sentences": 0}, "world.n_corpus_sentences must be at least 1, got 0."),
    ({"n_sts_pairs": 5}, "world.n_sts_pairs must be at least 10 (train, dev and test each need examples), got 5."),
    ({"n_coref_examples": 9},
     "world.n_coref_examples must be at least 10 (train, dev and test each need examples), got 9."),
    ({"n_sts_templates": 0}, f"world.n_sts_templates must be between 1 and {MAX_STS_TEMPLATES}, got 0."),
])
def test_bad_world_values(change, message):
    with pytest.raises(UsageError) as err:
        synthetic.build_world(dataclasses.replace(SMALL, **change))
    assert str(err.value) == message


@pytest.mark.bad_input
def test_unknown_split(small_world):
    with pytest.raises(UsageError) as err:
        small_world.sts_frame("validation")
    assert str(err.value) == "Unknown synthetic split 'validation'. Available: train, dev, test."


@pytest.mark.bad_input
def test_module_command_writes_a_world_and_rejects_bad_keys(tmp_path, capsys):
    out = tmp_path / "w"
    assert synthetic_sets.main([str(out), "--seed", "2", "--bias-strength", "0", "--set", "world.n_corpus_sentences=50",
                           "--set", "world.n_sts_pairs=20", "--set", "world.n_coref_examples=20"]) == 0
    assert len((out / "corpus.txt").read_text(encoding="utf-8").splitlines()) == 50
    assert synthetic_sets.main([str(out), "--set", "world.n_corpus=5"]) == 2
    assert capsys.readouterr().err == (
        "error: command line override 'world.n_corpus=5': unknown key 'world.n_corpus'. Did you mean "
        "'world.n_corpus_sentences'? Valid keys in 'world': seed, bias_strength, n_corpus_sentences, n_sts_pairs, "
        "n_coref_examples, n_sts_templates, neutral_share.\n")
