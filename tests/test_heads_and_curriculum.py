"""The pretraining curriculum, the coref ranking head (shared with the mlm_probe resolver) and the stsb bi-encoder head,
on tiny offline models: each checked against a computation written out independently."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nlp_underspec import models
from nlp_underspec.config import load_recipe, recipe_from_dict
from nlp_underspec.data.coref import CorefExample
from nlp_underspec.errors import UsageError
from nlp_underspec.models.head_markers import BI_ENCODER_HEAD, RANKING_HEAD
from nlp_underspec.models.ranking_head import CandidateRanker, encode_ranking_examples
from nlp_underspec.training import loop
from nlp_underspec.training.pretraining import build_pretraining_data, curriculum_blocks


def _example(text: str, pronoun: str, first: str, second: str, label: int | None = 0) -> CorefExample:
    def span(word: str) -> tuple[int, int]:
        start = text.index(word)
        return start, start + len(word)

    return CorefExample(text=text, pronoun=span(pronoun), candidates=(span(first), span(second)), label=label, id=text)


# ------------------------------------------------------------------------------------------------------- curriculum


def test_curriculum_sampler_serves_the_subset_first_then_everything_with_unique_keys():
    sampler = loop.CurriculumSampler(10, subset=[2, 5, 7], curriculum_total=8, seed=3, total=28)
    order = list(sampler)
    assert len(order) == len(sampler) == 28
    assert {v % 10 for v in order[:8]} <= {2, 5, 7}
    assert sorted(v % 10 for v in order[8:18]) == list(range(10))  # then whole epochs over all ten
    assert len(set(order)) == len(order)  # a virtual index (the masking key) never repeats
    assert order == list(loop.CurriculumSampler(10, subset=[2, 5, 7], curriculum_total=8, seed=3, total=28))
    assert order != list(loop.CurriculumSampler(10, subset=[2, 5, 7], curriculum_total=8, seed=4, total=28))


def test_pretraining_data_follows_the_curriculum_of_the_synthetic_world():
    from nlp_underspec.data.sources import load_corpus_texts, synthetic_corpus_kinds
    from nlp_underspec.training.pretraining import build_blocks, build_tokenizer

    recipe = load_recipe("recipes/tiny.yaml", ["world.n_corpus_sentences=400", "pretrain.max_steps=6", "pretrain.checkpoint_steps=[]",
                                               "pretrain.curriculum_steps=2", "pretrain.batch_size=16"])
    settings = recipe.pretrain
    texts = load_corpus_texts(settings, recipe.world)
    kinds = synthetic_corpus_kinds(recipe.world)
    tokenizer = build_tokenizer(settings, texts)
    blocks, documents = build_blocks(tokenizer, texts, settings)
    subset = curriculum_blocks(settings, kinds, documents)
    assert subset and all(kinds[documents[b]] == "probe" for b in subset)
    _, sampler, _ = build_pretraining_data(tokenizer, blocks, settings, pretrain_seed=0, mask_seed=1,
                                           curriculum=subset)
    order = [v % len(blocks) for v in sampler]
    assert all(kinds[documents[b]] == "probe" for b in order[:2 * 16])  # the first 2 steps: probes only
    assert {kinds[documents[b]] for b in order[2 * 16:]} - {"probe"}  # then the whole world


@pytest.mark.bad_input
@pytest.mark.parametrize("change, message", [
    ("pretrain.curriculum_steps=1000", "recipe: 'pretrain.curriculum_steps' must lie in [0, pretrain.max_steps=1000), "
                                       "got 1000."),
    ("pretrain.curriculum_documents=[probes]", "recipe: 'pretrain.curriculum_documents' must name kinds of the "
     "synthetic world's documents (cue, probe, activity, noun, ambiguous), got ['probes']."),
    ("pretrain.pack=true", "recipe: 'pretrain.curriculum_steps' needs pretrain.pack: false (packed blocks mix "
                           "documents of every kind)."),
    ("finetune.tasks.coref.head=bi_encoder", "recipe: 'finetune.tasks.coref.head' must be one of span_pair, "
                                             "ranking, cross_encoder, substitution, got 'bi_encoder'."),
])
def test_curriculum_and_head_settings_are_checked(change, message):
    import yaml

    data = yaml.safe_load(open("recipes/tiny.yaml", encoding="utf-8"))
    data["pretrain"]["curriculum_steps"] = data["pretrain"].get("curriculum_steps") or 100
    key, value = change.split("=", 1)
    section, *rest = key.split(".")
    node = data[section]
    for part in rest[:-1]:
        node = node.setdefault(part, {})
    node[rest[-1]] = yaml.safe_load(value)
    with pytest.raises(UsageError) as err:
        recipe_from_dict(data)
    assert str(err.value) == message


@pytest.mark.bad_input
def test_a_curriculum_needs_the_synthetic_corpus(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("one line .\n")
    with pytest.raises(UsageError) as err:
        load_recipe("recipes/tiny.yaml", [f"pretrain.corpus={corpus}"])
    assert str(err.value) == ("recipes/tiny.yaml: 'pretrain.curriculum_steps' needs pretrain.corpus: synthetic (a "
                              "curriculum selects the world's documents by kind), got corpus "
                              f"'{corpus}'. Set it to 0.")


# ------------------------------------------------------------------------------------------------------ ranking head


def test_ranking_examples_share_one_text_for_single_token_candidates(tiny_checkpoint):
    tokenizer = models.load_tokenizer(str(tiny_checkpoint("mlm")))
    examples = [_example("the nurse told the patient that she could help .", "she", "nurse", "patient"),
                _example("the chef told someone that he would help .", "he", "chef", "someone", label=1)]
    batch = encode_ranking_examples(tokenizer, examples, max_length=64)
    # nurse/patient: "... She is the [MASK]." once; chef vs someone: "the [MASK]" and "[MASK]" differ
    assert batch["input_ids"].shape[0] == 3
    assert batch["candidate_text"].tolist() == [[0, 0], [1, 2]]
    texts = [tokenizer.decode(ids[mask.bool()]) for ids, mask in zip(batch["input_ids"], batch["attention_mask"])]
    assert texts[0].endswith("she is the [MASK]. [SEP]") and texts[2].endswith("he is [MASK]. [SEP]")
    vocab = tokenizer.get_vocab()
    assert batch["candidate_tokens"][:, :, 0].tolist() == [[vocab["nurse"], vocab["patient"]],
                                                          [vocab["chef"], vocab["someone"]]]
    assert batch["labels"].tolist() == [0, 1]


def test_candidate_scores_are_the_masked_log_probabilities_and_train_with_cross_entropy(tiny_checkpoint):
    folder = tiny_checkpoint("mlm", seed=2)
    tokenizer = models.load_tokenizer(str(folder))
    from transformers import BertForMaskedLM

    mlm = BertForMaskedLM.from_pretrained(folder).eval()
    examples = [_example("the nurse told the patient that she could help .", "she", "nurse", "patient", label=1)]
    batch = encode_ranking_examples(tokenizer, examples, max_length=64)
    output = CandidateRanker(mlm)(**batch)
    masked = tokenizer("the nurse told the patient that she could help . she is the [MASK] .")["input_ids"]
    with torch.no_grad():
        logits = mlm(input_ids=torch.tensor([masked])).logits[0, masked.index(tokenizer.mask_token_id)]
    logp = torch.log_softmax(logits, -1)
    vocab = tokenizer.get_vocab()
    expected = torch.stack([logp[vocab["nurse"]], logp[vocab["patient"]]])
    torch.testing.assert_close(output.logits[0].detach(), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(output.loss.detach(), -torch.log_softmax(expected, -1)[1], atol=1e-5, rtol=0)
    output.loss.backward()
    assert mlm.cls.predictions.decoder.weight.grad is not None  # the masked-LM head itself is trained


@pytest.mark.bad_input
def test_too_long_probe_is_refused(tiny_checkpoint):
    tokenizer = models.load_tokenizer(str(tiny_checkpoint("mlm")))
    sentence = "the nurse told the patient that she could help ."
    with pytest.raises(UsageError) as err:
        encode_ranking_examples(tokenizer, [_example(sentence, "she", "nurse", "patient")], max_length=12)
    assert str(err.value) == (f"The probe text '{sentence} She is the nurse.' is longer than the model's 12 tokens, "
                              "so its probe would be cut off. Use a model with more positions, or shorter sentences.")


# ------------------------------------------------------------------------------------------------- fine-tuned heads

SMALL_TASKS = ["world.n_corpus_sentences=300", "world.n_sts_pairs=80", "world.n_coref_examples=80",
               "finetune.tasks.stsb.max_steps=4", "finetune.tasks.coref.max_steps=4", "threads=1"]


def test_ranking_fine_tune_saves_a_masked_lm_that_mlm_probe_scores_the_same_way(tiny_checkpoint, tmp_path):
    import pandas as pd

    from nlp_underspec.stress import PredictOptions
    from nlp_underspec.stress.winogender.resolvers import choose_resolver, mlm_probe
    from nlp_underspec.training import finetune

    words = ("patient", "finished", "work", "early", "paid", "bill", "receipt", "lost", "customer", "someone")
    start = tiny_checkpoint("mlm", extra_words=words, max_positions=64)
    recipe = load_recipe("recipes/tiny.yaml", SMALL_TASKS + ["finetune.tasks.coref.head=ranking"])
    record = finetune(recipe, task="coref", from_checkpoint=str(start), finetune_seed=0, out=tmp_path / "coref")
    assert record.metrics["head"] == "ranking" and 0 <= record.metrics["dev_accuracy"] <= 1
    assert record.metrics["dev_loss"] > 0
    config = models.load_config(str(tmp_path / "coref"))
    assert config.architectures == ["BertForMaskedLM"] and config.nlp_underspec_head == RANKING_HEAD
    assert choose_resolver(str(tmp_path / "coref"), "auto") == "mlm_probe"
    row = {"sentence": "the nurse told the patient that she could help .", "gender": "female", "occupation": "nurse",
           "participant": "patient", "pronoun": "she", "answer": 0, "item_id": "nurse.patient.0.female.txt"}
    p = mlm_probe(str(tmp_path / "coref"), pd.DataFrame([row]), PredictOptions(device="cpu", progress=False))
    from transformers import BertForMaskedLM

    tokenizer = models.load_tokenizer(str(tmp_path / "coref"))
    ranker = CandidateRanker(BertForMaskedLM.from_pretrained(tmp_path / "coref").eval())
    batch = encode_ranking_examples(tokenizer, [_example(row["sentence"], "she", "nurse", "patient")])
    with torch.no_grad():
        expected = torch.softmax(ranker(**batch).logits, -1)[0, 0].item()
    assert p[0] == pytest.approx(expected, abs=1e-6)


@pytest.mark.bad_input
def test_ranking_needs_a_masked_lm_head(tiny_checkpoint, tmp_path):
    from nlp_underspec.training import finetune

    start = tiny_checkpoint("bi", max_positions=64)
    recipe = load_recipe("recipes/tiny.yaml", SMALL_TASKS + ["finetune.tasks.coref.head=ranking"])
    with pytest.raises(UsageError) as err:
        finetune(recipe, task="coref", from_checkpoint=str(start), finetune_seed=0, out=tmp_path / "coref")
    assert str(err.value) == (f"--from {start} has no masked-LM head (architectures: BertModel), and the coref ranking "
                              "head scores candidates with it. Use a masked-LM checkpoint, or set "
                              "finetune.tasks.coref.head: span_pair.")


def test_bi_encoder_fine_tune_is_scored_by_sts_gender_as_a_bi_encoder(tiny_checkpoint, tmp_path):
    from scipy import stats

    from nlp_underspec.data.sources import load_sts_pairs
    from nlp_underspec.stress import PredictOptions, get_stress_test
    from nlp_underspec.stress.encoding import embed_sentences
    from nlp_underspec.training import finetune

    start = tiny_checkpoint("mlm", max_positions=64)
    recipe = load_recipe("recipes/tiny.yaml", SMALL_TASKS + ["finetune.tasks.stsb.head=bi_encoder"])
    record = finetune(recipe, task="stsb", from_checkpoint=str(start), finetune_seed=0, out=tmp_path / "sts")
    folder = str(tmp_path / "sts")
    config = models.load_config(folder)
    assert config.architectures == ["BertModel"] and config.nlp_underspec_head == BI_ENCODER_HEAD
    assert get_stress_test("sts_gender").choose_scorer(folder, PredictOptions()) == "bi"
    dev = load_sts_pairs("synthetic", "dev", recipe.world)
    with models.loaded(folder, "bi", device="cpu") as (model, tokenizer):
        first = embed_sentences(model, tokenizer, dev["sentence1"].tolist(), batch_size=16, device="cpu",
                                progress=False)
        second = embed_sentences(model, tokenizer, dev["sentence2"].tolist(), batch_size=16, device="cpu",
                                 progress=False)
    cosine = np.einsum("nh,nh->n", first, second)  # the stress test's own similarity
    assert record.metrics["dev_pearson"] == pytest.approx(stats.pearsonr(cosine, dev["label"]).statistic, abs=1e-4)
    assert record.metrics["dev_loss"] == pytest.approx(float(np.mean((5 * cosine - dev["label"]) ** 2)), abs=1e-3)
