"""The coref cross_encoder head (any encoder, no masked-LM head needed) and the Winogender cross_encoder resolver that
scores its checkpoints, on tiny offline models: each checked against a computation written out independently."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from nlp_underspec import models
from nlp_underspec.config import load_recipe
from nlp_underspec.data.coref import CorefExample
from nlp_underspec.errors import UsageError
from nlp_underspec.models.cross_encoder_head import CandidateCrossEncoder, encode_pair_examples
from nlp_underspec.models.head_markers import CROSS_ENCODER_HEAD, trained_pair_statement
from nlp_underspec.models.probe_text import marked_sentence, probe_statement, substituted_sentence

SMALL = ["world.n_corpus_sentences=300", "world.n_sts_pairs=80", "world.n_coref_examples=80",
         "finetune.tasks.coref.max_steps=4", "threads=1", "finetune.tasks.coref.head=cross_encoder"]
WORDS = ("patient", "finished", "work", "early", "paid", "bill", "receipt", "lost", "customer", "someone", "*", "_")
ROW = {"sentence": "the nurse told the patient that she could help .", "gender": "female", "occupation": "nurse",
       "participant": "patient", "pronoun": "she", "answer": 0, "item_id": "nurse.patient.0.female.txt"}


def _example(text: str, pronoun: str, first: str, second: str, label: int | None = 0, **meta) -> CorefExample:
    def span(word: str) -> tuple[int, int]:
        start = text.index(word)
        return start, start + len(word)

    return CorefExample(text=text, pronoun=span(pronoun), candidates=(span(first), span(second)), label=label, id=text,
                        meta=meta)


def test_pairs_mark_the_pronoun_and_name_each_candidate_in_the_probe_statement(tiny_checkpoint):
    tokenizer = models.load_tokenizer(str(tiny_checkpoint("bi", extra_words=WORDS)))
    example = _example("the nurse told the patient that she could help .", "she", "nurse", "patient", label=1)
    batch = encode_pair_examples(tokenizer, [example])
    assert batch["input_ids"].shape[0] == 2 and batch["labels"].tolist() == [1]
    assert batch["candidate_valid"].tolist() == [[True, True]]
    decoded = [tokenizer.decode(ids, skip_special_tokens=True) for ids in batch["input_ids"]]
    assert decoded == ["the nurse told the patient that * she * could help. she is the nurse.",
                       "the nurse told the patient that * she * could help. she is the patient."]
    # the second segment (token type 1) is the statement, and only it
    second = batch["input_ids"][0][batch["token_type_ids"][0] == 1]
    assert tokenizer.decode(second, skip_special_tokens=True) == "she is the nurse."


def test_a_candidate_is_named_as_the_data_writes_it_and_a_blank_as_an_underscore(tiny_checkpoint):
    example = _example("the bill was paid because _ was early .", "_", "bill", "early",
                       candidate_text=("The bill", "early"))
    assert example.candidate_name(0) == "The bill" and example.candidate_name(1) == "early"
    assert probe_statement("_", example.candidate_name(0)) == "_ is the bill."
    assert marked_sentence(example) == "the bill was paid because *_* was early ."


def test_scores_are_the_classifier_outputs_per_pair_with_a_softmax_over_candidates(tiny_checkpoint):
    from transformers import AutoModelForSequenceClassification

    folder = tiny_checkpoint("cross", extra_words=WORDS)
    tokenizer = models.load_tokenizer(str(folder))
    classifier = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    examples = [_example("the nurse told the patient that she could help .", "she", "nurse", "patient", label=0),
                _example("the customer paid the bill .", "the", "customer", "bill", label=1)]
    batch = encode_pair_examples(tokenizer, examples)
    with torch.no_grad():
        output = CandidateCrossEncoder(classifier)(**batch)
        one_by_one = [classifier(**tokenizer(marked_sentence(e), probe_statement(
            e.span_text(e.pronoun), e.candidate_name(j)), return_tensors="pt")).logits.item()
            for e in examples for j in range(2)]
    assert output.logits.flatten().tolist() == pytest.approx(one_by_one, abs=1e-5)
    expected = torch.nn.functional.cross_entropy(torch.tensor(one_by_one).view(2, 2), torch.tensor([0, 1]))
    assert output.loss.item() == pytest.approx(expected.item(), abs=1e-5)


@pytest.mark.parametrize("kind", ["bi", "mlm"])
def test_cross_encoder_fine_tune_of_either_kind_of_checkpoint_is_scored_by_its_resolver(kind, tiny_checkpoint,
                                                                                       tmp_path):
    from transformers import AutoModelForSequenceClassification

    from nlp_underspec.stress import PredictOptions
    from nlp_underspec.stress.winogender.resolvers import choose_resolver, cross_encoder
    from nlp_underspec.training import finetune

    start = tiny_checkpoint(kind, extra_words=WORDS, max_positions=64)
    recipe = load_recipe("recipes/tiny.yaml", SMALL)
    record = finetune(recipe, task="coref", from_checkpoint=str(start), finetune_seed=0, out=tmp_path / "coref")
    assert record.metrics["head"] == "cross_encoder" and 0 <= record.metrics["dev_accuracy"] <= 1
    folder = str(tmp_path / "coref")
    config = models.load_config(folder)
    assert config.architectures == ["BertForSequenceClassification"]
    assert config.nlp_underspec_head == CROSS_ENCODER_HEAD
    caps = models.detect_capabilities(config)
    assert caps.candidate_cross_encoder and not caps.cross_encoder  # never taken for an STS cross-encoder
    assert choose_resolver(folder, "auto") == "cross_encoder"
    p = cross_encoder(folder, pd.DataFrame([ROW]), PredictOptions(device="cpu", progress=False))
    tokenizer = models.load_tokenizer(folder)
    classifier = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        logits = [classifier(**tokenizer(marked_sentence(_example(ROW["sentence"], "she", "nurse", "patient")),
                                         f"She is the {word}.", return_tensors="pt")).logits.item()
                  for word in ("nurse", "patient")]
    assert p[0] == pytest.approx(torch.softmax(torch.tensor(logits), 0)[0].item(), abs=1e-6)


def test_same_seeds_give_bit_identical_cross_encoder_weights(tiny_checkpoint, tmp_path):
    from nlp_underspec.training import finetune

    start = tiny_checkpoint("bi", extra_words=WORDS, max_positions=64)
    recipe = load_recipe("recipes/tiny.yaml", SMALL)
    for name in ("a", "b"):
        finetune(recipe, task="coref", from_checkpoint=str(start), finetune_seed=3, out=tmp_path / name)
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()


@pytest.mark.bad_input
def test_the_cross_encoder_resolver_needs_a_coref_cross_encoder(tiny_checkpoint):
    from nlp_underspec.stress.winogender.resolvers import choose_resolver

    folder = tiny_checkpoint("cross")  # an STS cross-encoder: one output, but no pronoun resolver
    with pytest.raises(UsageError) as err:
        choose_resolver(str(folder), "cross_encoder")
    assert str(err.value) == (f"Resolver 'cross_encoder' needs a coref cross-encoder head (finetune --task coref with "
                              f"head: cross_encoder or substitution), which {folder} lacks (architectures: "
                              "BertForSequenceClassification). Use --resolver auto.")


def test_substitution_pairs_replace_the_pronoun_with_each_candidate(tiny_checkpoint):
    tokenizer = models.load_tokenizer(str(tiny_checkpoint("bi", extra_words=WORDS)))
    example = _example("the nurse told the patient that she could help .", "she", "nurse", "patient")
    batch = encode_pair_examples(tokenizer, [example], statement="substitution")
    decoded = [tokenizer.decode(ids, skip_special_tokens=True) for ids in batch["input_ids"]]
    assert decoded == ["the nurse told the patient that * she * could help. the nurse told the patient that the nurse "
                       "could help.",
                       "the nurse told the patient that * she * could help. the nurse told the patient that the "
                       "patient could help."]
    blank = _example("the bill was paid because _ was early .", "_", "bill", "early", candidate_text=("The bill", "early"))
    assert substituted_sentence(blank, 0) == "the bill was paid because the bill was early ."


def test_a_substitution_fine_tune_records_its_form_and_the_resolver_pairs_as_trained(tiny_checkpoint, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from nlp_underspec.stress import PredictOptions
    from nlp_underspec.stress.winogender.resolvers import cross_encoder
    from nlp_underspec.training import finetune

    start = tiny_checkpoint("bi", extra_words=WORDS, max_positions=64)
    recipe = load_recipe("recipes/tiny.yaml", SMALL + ["finetune.tasks.coref.head=substitution"])
    assert finetune(recipe, task="coref", from_checkpoint=str(start), finetune_seed=0,
                    out=tmp_path / "coref").metrics["head"] == "substitution"
    folder = str(tmp_path / "coref")
    assert models.load_config(folder).nlp_underspec_pair_statement == "substitution"
    p = cross_encoder(folder, pd.DataFrame([ROW]), PredictOptions(device="cpu", progress=False))
    tokenizer = models.load_tokenizer(folder)
    classifier = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    marked = "the nurse told the patient that *she* could help ."
    with torch.no_grad():
        logits = [classifier(**tokenizer(marked, f"the nurse told the patient that the {word} could help .",
                                         return_tensors="pt")).logits.item() for word in ("nurse", "patient")]
    assert p[0] == pytest.approx(torch.softmax(torch.tensor(logits), 0)[0].item(), abs=1e-6)


@pytest.mark.bad_input
def test_an_unknown_recorded_pair_statement_is_refused(tiny_checkpoint):
    from transformers import BertConfig

    config = BertConfig(nlp_underspec_pair_statement="paraphrase")
    with pytest.raises(UsageError) as err:
        trained_pair_statement(config, "ckpt")
    assert str(err.value) == ("ckpt records nlp_underspec_pair_statement 'paraphrase' in its config.json; known: "
                              "probe, substitution. Re-run the fine-tuning, or fix that field.")
