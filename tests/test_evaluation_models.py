"""Checkpoint loading and detection (the nlp_underspec.models package) and the fast encoding paths (nlp_underspec.stress.encoding)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nlp_underspec import models
from nlp_underspec.errors import UsageError
from nlp_underspec.evaluation import model_refs
from nlp_underspec.models.tokenizer_checks import NO_PAD_TOKEN


@pytest.mark.parametrize("kind, expected", [
    ("mlm", {"mlm": True, "cross_encoder": False, "candidate_scorer": False}),
    ("cross", {"mlm": False, "cross_encoder": True, "candidate_scorer": False}),
    ("bi", {"mlm": False, "cross_encoder": False, "candidate_scorer": False}),
    ("coref", {"mlm": False, "cross_encoder": False, "candidate_scorer": True}),
])
def test_detect_capabilities(tiny_checkpoint, kind, expected):
    caps = models.detect_capabilities(models.load_config(str(tiny_checkpoint(kind))))
    assert {key: getattr(caps, key) for key in expected} == expected
    assert caps.encoder


@pytest.mark.bad_input
def test_remote_code_needs_the_explicit_flag(tiny_checkpoint):
    folder = tiny_checkpoint("bi")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "custom.MyConfig", "AutoModel": "custom.MyModel"}
    config["model_type"] = "my-custom-bert"
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "custom.py").write_text("raise SystemExit('this code must not run')\n")
    with pytest.raises(UsageError) as err:
        models.load_config(str(folder))
    assert str(err.value) == (f"{folder} needs its own Python code to load (auto_map in config.json). Running a "
                              "checkpoint's code is running its author's program: pass --trust-remote-code only if "
                              "you trust it.")


@pytest.mark.bad_input
def test_a_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"x")
    with pytest.raises(UsageError) as err:
        models.check_checkpoint(str(path))
    assert str(err.value) == (f"{path} is not a transformers checkpoint: it is a file, not a folder. Pass a folder "
                              "written by save_pretrained (config.json and weights) or a Hugging Face Hub model id.")


def test_seeds_from_card_metadata_then_pattern(tiny_checkpoint):
    folder = tiny_checkpoint("mlm", name="family-seed_7")
    assert models.checkpoint_origin(str(folder), seed_pattern=r"seed_(?P<pretrain_seed>\d+)").pretrain_seed == 7
    (folder / "README.md").write_text("---\nlicense: apache-2.0\npretrain_seed: 2\nfinetune_seed: 4\n---\n# card\n")
    origin = models.checkpoint_origin(str(folder), seed_pattern=r"seed_(?P<pretrain_seed>\d+)")
    assert (origin.pretrain_seed, origin.finetune_seed, origin.seeds_from) == (2, 4, "model card")
    assert models.checkpoint_origin("google/bert-base-uncased").pretrain_seed is None


@pytest.mark.bad_input
def test_bad_seed_patterns():
    with pytest.raises(UsageError) as err:
        models.compile_seed_pattern("seed_(")
    assert str(err.value).startswith("--seed-pattern 'seed_(' is not a valid regular expression (")
    with pytest.raises(UsageError) as err:
        models.compile_seed_pattern(r"seed_(\d+)")
    assert str(err.value) == (r"--seed-pattern 'seed_(\\d+)' has no named group pretrain_seed or finetune_seed, e.g. "
                              r"'seed_(?P<pretrain_seed>\d+)'.")


@pytest.mark.bad_input
def test_two_models_with_one_name(tiny_checkpoint, tmp_path):
    first = tiny_checkpoint("bi", name="a/model")
    second = tiny_checkpoint("bi", name="b/model")
    with pytest.raises(UsageError) as err:
        model_refs([str(first), str(second)])
    assert str(err.value) == (f"Two models are both named 'model' ({first} and {second}). Give them different folder "
                              "names, or evaluate them in separate --out folders.")


@pytest.mark.bad_input
def test_two_runs_with_one_run_id(tiny_checkpoint):
    """Run folders are named by the run id in their run.json, so renaming the folders would not help: say so."""
    import json

    folders = [tiny_checkpoint("bi", name=name) for name in ("exp1/p00-f00", "exp2/p00-f00-copy")]
    for folder in folders:
        (folder / "run.json").write_text(json.dumps(
            {"run_id": "p00-f00", "kind": "finetune", "seeds": {"pretrain_seed": 0, "finetune_seed": 0}}))
    with pytest.raises(UsageError) as err:
        model_refs([str(folder) for folder in folders])
    assert str(err.value) == (f"Two models are both run 'p00-f00' by their run.json ({folders[0]} and {folders[1]}): "
                              "runs of different experiments. Evaluate them in separate --out folders.")


def test_fast_paths_match_a_plain_per_input_loop(tiny_checkpoint):
    """Dedup + length sorting + padding give the same numbers as encoding each input alone."""
    import torch

    from nlp_underspec.stress.encoding import embed_sentences, score_pairs

    sentences = ["a nurse is walking .", "a man is cooking with the chef .", "a nurse is walking .", "she is"]
    with models.loaded(str(tiny_checkpoint("bi")), "bi", device="cpu") as (model, tokenizer):
        fast = embed_sentences(model, tokenizer, sentences, batch_size=2, device="cpu", progress=False)
        with torch.no_grad():
            for sentence, vector in zip(sentences, fast):
                hidden = model(**tokenizer(sentence, return_tensors="pt")).last_hidden_state[0]  # (T, H)
                alone = torch.nn.functional.normalize(hidden.mean(0), dim=0).numpy()
                np.testing.assert_allclose(vector, alone, atol=1e-5)
    with models.loaded(str(tiny_checkpoint("cross")), "cross", device="cpu") as (model, tokenizer):
        fast = score_pairs(model, tokenizer, sentences[:2], sentences[2:], batch_size=1, device="cpu", progress=False)
        with torch.no_grad():
            for (first, second), value in zip(zip(sentences[:2], sentences[2:]), fast):
                alone = model(**tokenizer(first, second, return_tensors="pt")).logits[0, 0].item()
                assert value == pytest.approx(alone, abs=1e-5)


def test_mlm_probe_matches_the_definition(tiny_checkpoint):
    """P(occupation) = softmax over the candidates of the mean log-probability of the candidate's own tokens, masked
    all at once in the appended probe ("... She is the [MASK]."); the rest of the probe is not scored."""
    import torch

    import pandas as pd

    from nlp_underspec.stress import PredictOptions
    from nlp_underspec.stress.winogender.resolvers import mlm_probe

    folder = tiny_checkpoint("mlm", seed=4)
    items = pd.DataFrame([{"sentence": "the nurse told the patient that she could help .", "gender": "female",
                           "occupation": "nurse", "participant": "patient"},
                          {"sentence": "the chef told someone that he would cook .", "gender": "male",
                           "occupation": "chef", "participant": "someone"}])
    fast = mlm_probe(str(folder), items, PredictOptions(batch_size=3, device="cpu", progress=False))
    with models.loaded(str(folder), "mlm", device="cpu") as (model, tokenizer), torch.no_grad():
        for row, value in zip(items.to_dict("records"), fast):
            pronoun = "She is" if row["gender"] == "female" else "He is"
            scores = []
            for word in (row["occupation"], row["participant"]):
                lead = f"{row['sentence']} {pronoun} " + ("" if word == "someone" else "the ")
                before = tokenizer(lead)["input_ids"][:-1]  # [CLS] ... without [SEP]
                target = tokenizer(word, add_special_tokens=False)["input_ids"]
                after = tokenizer(".", add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id]
                masked = before + [tokenizer.mask_token_id] * len(target) + after
                logits = model(input_ids=torch.tensor([masked])).logits[0]
                logps = [torch.log_softmax(logits[len(before) + k], -1)[t].item() for k, t in enumerate(target)]
                scores.append(sum(logps) / len(logps))
            expected = float(np.exp(scores[0]) / (np.exp(scores[0]) + np.exp(scores[1])))
            assert value == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("kind", ["bi", "cross", "coref"])
def test_inputs_longer_than_the_models_positions_are_cut_to_fit(tiny_checkpoint, kind):
    """A 12-position model (its tokenizer allows 512) still scores 20-token inputs: they are cut to 12 tokens."""
    import pandas as pd

    from nlp_underspec.stress import PredictOptions
    from nlp_underspec.stress.encoding import embed_sentences, score_pairs
    from nlp_underspec.stress.winogender.resolvers import coref_head

    long = "a nurse is walking with the chef and the nurse and the chef and the man is cooking ."
    folder = str(tiny_checkpoint(kind, max_positions=12))
    if kind == "coref":
        items = pd.DataFrame([{"sentence": f"the nurse told the patient that she could help . {long}",
                               "gender": "female", "pronoun": "she", "occupation": "nurse", "item_id": "x", "answer": 0,
                               "participant": "patient"}])
        assert np.isfinite(coref_head(folder, items, PredictOptions(device="cpu", progress=False))).all()
        return
    with models.loaded(folder, kind, device="cpu") as (model, tokenizer):
        assert models.max_tokens(model, tokenizer) == 12
        if kind == "bi":
            values = embed_sentences(model, tokenizer, [long, "a man"], batch_size=2, device="cpu", progress=False)
        else:
            values = score_pairs(model, tokenizer, [long], [long], batch_size=2, device="cpu", progress=False)
    assert np.isfinite(values).all()


@pytest.mark.bad_input
def test_an_mlm_probe_cut_by_the_models_length_is_refused(tiny_checkpoint):
    import pandas as pd

    from nlp_underspec.stress import PredictOptions
    from nlp_underspec.stress.winogender.resolvers import mlm_probe

    folder = tiny_checkpoint("mlm", max_positions=12)
    sentence = "the nurse told the patient that she could help the chef ."
    items = pd.DataFrame([{"sentence": sentence, "gender": "female", "occupation": "nurse", "participant": "patient"}])
    with pytest.raises(UsageError) as err:
        mlm_probe(str(folder), items, PredictOptions(device="cpu", progress=False))
    assert str(err.value) == (f"The probe text '{sentence} She is the nurse.' is longer than the model's 12 tokens, "
                              "so its probe would be cut off. Use a model with more positions, or shorter sentences.")


# ------------------------------------------------------------------------------------------ checkpoints that lie


def _edit_config(folder, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def _error(call, *args, **kwargs) -> str:
    with pytest.raises(UsageError) as err:
        call(*args, **kwargs)
    return str(err.value)


@pytest.mark.bad_input
def test_a_checkpoint_without_tokenizer_files_is_refused(tiny_checkpoint):
    """transformers would make up a 5-token vocabulary: every sentence one embedding, every similarity 1.0."""
    folder = tiny_checkpoint("bi")
    for path in folder.iterdir():
        if path.name not in ("config.json", "model.safetensors"):
            path.unlink()
    assert _error(models.load_tokenizer, str(folder)) == (
        f"{folder} has no tokenizer vocabulary (none of tokenizer.json, vocab.txt, vocab.json, merges.txt, "
        "spiece.model, sentencepiece.bpe.model, tokenizer.model, tokenizer_config.json, special_tokens_map.json is "
        "in the folder): transformers would make up a vocabulary of its 5 special tokens, and every sentence would "
        "encode the same. Save the tokenizer the model was trained with into the checkpoint "
        "(tokenizer.save_pretrained), or pass a checkpoint that has one.")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer"}))
    assert _error(models.load_tokenizer, str(folder)).startswith(
        f"{folder} has no tokenizer vocabulary (its tokenizer_config.json holds only special tokens): ")


@pytest.mark.bad_input
def test_a_tokenizer_without_a_pad_token_is_refused(tiny_checkpoint):
    from transformers import AutoTokenizer

    folder = tiny_checkpoint("bi")
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokenizer.pad_token = None
    tokenizer.save_pretrained(str(folder))
    assert _error(models.load_tokenizer, str(folder)) == NO_PAD_TOKEN.format(checkpoint=folder, what="scoring")
    assert NO_PAD_TOKEN.format(checkpoint="X", what="scoring") == (
        "The tokenizer of X has no pad token, which scoring needs to batch inputs of different lengths. Set one and "
        "save it (e.g. tokenizer.pad_token = tokenizer.sep_token or eos_token: padded positions are masked out; then "
        "tokenizer.save_pretrained), or pass a checkpoint whose tokenizer has one.")


@pytest.mark.bad_input
def test_a_config_of_another_model_over_bert_weights_is_refused(tiny_checkpoint):
    """A GPT-2 config beside BERT weights: none of GPT-2's 28 tensors is in the file, so a random model would score."""
    folder = tiny_checkpoint("bi")
    (folder / "config.json").write_text(json.dumps({
        "model_type": "gpt2", "architectures": ["GPT2ForSequenceClassification"], "num_labels": 1, "n_embd": 32,
        "n_layer": 2, "n_head": 4, "vocab_size": 120, "n_positions": 128, "pad_token_id": 0}))
    assert _error(models.load_model, str(folder), "cross") == (
        f"{folder}: 0 of the 28 weights of the GPT2ForSequenceClassification that config.json describes (model_type "
        "'gpt2') are in model.safetensors (missing: transformer.h.0.attn.c_attn.bias, "
        "transformer.h.0.attn.c_attn.weight, transformer.h.0.attn.c_proj.bias and 25 more), so it would run with "
        "random weights. Restore the config.json that was saved with these weights, or pass another checkpoint.")


@pytest.mark.bad_input
@pytest.mark.parametrize("kind, head, config, missing, what, hint", [
    ("bi", "cross", {"architectures": ["BertForSequenceClassification"], "num_labels": 1},
     "classifier.bias, classifier.weight", "a cross-encoder (sequence classification, 1 label)",
     "Score it as a bi-encoder with --sts-scorer bi, or pass a model fine-tuned with this head."),
    ("mlm", "cross", {"architectures": ["BertForSequenceClassification"], "num_labels": 1},
     "bert.pooler.dense.bias, bert.pooler.dense.weight, classifier.bias and 1 more",
     "a cross-encoder (sequence classification, 1 label)",
     "Score it as a bi-encoder with --sts-scorer bi, or pass a model fine-tuned with this head."),
    ("bi", "mlm", {"architectures": ["BertForMaskedLM"]},
     "cls.predictions.bias, cls.predictions.decoder.bias, cls.predictions.transform.LayerNorm.bias and 3 more",
     "a masked language model",
     "Pass a checkpoint saved with its masked-LM head (BertForMaskedLM or BertForPreTraining)."),
    ("mlm", "coref", {"architectures": ["BertForCandidateScoring"], "nlp_underspec_head": "candidate_scoring"},
     "scorer.0.bias, scorer.0.weight, scorer.2.bias and 1 more", "a candidate-scoring pronoun resolver",
     "Pass a model fine-tuned with `nlp-underspec finetune --task coref` (span_pair head)."),
])
def test_a_declared_head_without_its_weights_is_refused(tiny_checkpoint, kind, head, config, missing, what, hint):
    """The config says the head is there; the weights file says otherwise: a random head would be scored."""
    folder = tiny_checkpoint(kind)
    _edit_config(folder, **config)
    assert _error(models.load_model, str(folder), head) == (
        f"{folder}: config.json declares {config['architectures'][0]}, but model.safetensors has no weights for its "
        f"head (missing: {missing}), so {what} would be freshly initialised (random) and score nothing. {hint}")


@pytest.mark.bad_input
def test_weights_beyond_or_unlike_the_config_are_refused(tiny_checkpoint):
    deeper = tiny_checkpoint("mlm", layers=3)
    _edit_config(deeper, num_hidden_layers=2)
    assert _error(models.load_model, str(deeper), "bi") == (
        f"{deeper}: model.safetensors holds 16 weight(s) that the BertModel described by config.json has no place for "
        "(bert.encoder.layer.2.attention.output.LayerNorm.bias, bert.encoder.layer.2.attention.output.LayerNorm.weight, "
        "bert.encoder.layer.2.attention.output.dense.bias and 13 more): config.json does not describe these weights "
        "(e.g. fewer layers than were saved). Restore the config.json that was saved with these weights, or pass "
        "another checkpoint.")
    shallower = tiny_checkpoint("mlm", layers=2, name="shallow")
    _edit_config(shallower, num_hidden_layers=3)
    assert _error(models.load_model, str(shallower), "mlm").startswith(
        f"{shallower}: 37 of the 53 weights of the BertForMaskedLM that config.json describes (model_type 'bert') are "
        "in model.safetensors (missing: bert.encoder.layer.2.attention.output.LayerNorm.bias, ")
    reshaped = tiny_checkpoint("bi")
    _edit_config(reshaped, intermediate_size=48)
    assert _error(models.load_model, str(reshaped), "bi") == (
        f"{reshaped}: 6 weight(s) in model.safetensors have another shape than config.json gives them "
        "(encoder.layer.0.intermediate.dense.bias: [64] saved, [48] in config.json), so they would be random. "
        "Restore the config.json that was saved with these weights, or pass another checkpoint.")


def test_legitimate_gaps_load(tiny_checkpoint, tmp_path):
    """What a head may drop or lack: an MLM or classifier head under an encoder, the pooler where nothing reads it,
    a pretraining checkpoint's next-sentence head under a masked LM."""
    import torch
    from transformers import BertConfig, BertForPreTraining, BertModel

    for kind, heads in {"mlm": ("mlm", "bi"), "cross": ("cross", "bi"), "bi": ("bi",), "coref": ("coref", "bi")}.items():
        folder = str(tiny_checkpoint(kind))
        for head in heads:
            models.free(models.load_model(folder, head))
    encoder = tiny_checkpoint("bi", name="no-pooler")
    config = BertConfig.from_pretrained(encoder)
    BertModel(config, add_pooling_layer=False).save_pretrained(encoder)  # what the stsb bi_encoder head saves
    models.free(models.load_model(str(encoder), "bi"))
    pretraining = tiny_checkpoint("mlm", name="pretraining")
    torch.manual_seed(0)
    BertForPreTraining(BertConfig.from_pretrained(pretraining)).save_pretrained(pretraining)  # MultiBERTs' layout
    models.free(models.load_model(str(pretraining), "mlm"))


@pytest.mark.bad_input
def test_a_causal_lm_is_no_bi_encoder(tmp_path):
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from nlp_underspec.stress import PredictOptions, get_stress_test

    folder = tmp_path / "gpt2"
    GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=4, vocab_size=120, n_positions=64)).save_pretrained(folder)
    caps = models.detect_capabilities(models.load_config(str(folder)))
    assert (caps.encoder, caps.cross_encoder, caps.mlm) == (False, False, False)
    expected = (f"{folder} is a causal (left-to-right) language model (architectures: GPT2LMHeadModel): each token "
                "sees only the tokens before it, so its mean-pooled states are no sentence embedding and it cannot "
                "serve as a bi-encoder. Pass an encoder (BERT-style) checkpoint.")
    assert _error(get_stress_test("sts_gender").choose_scorer, str(folder), PredictOptions()) == expected
    assert _error(models.load_model, str(folder), "bi") == expected


@pytest.mark.bad_input
@pytest.mark.parametrize("file", ["config.json", "tokenizer_config.json"])
def test_auto_map_on_a_known_model_type_needs_the_flag(tiny_checkpoint, file):
    """transformers would ignore the auto_map and load plain BERT: not the model its author meant."""
    folder = tiny_checkpoint("bi")
    content = json.loads((folder / file).read_text())
    content["auto_map"] = {"AutoModel": "custom.MyModel"} if file == "config.json" else \
        {"AutoTokenizer": ["custom.MyTokenizer", None]}
    (folder / file).write_text(json.dumps(content))
    (folder / "custom.py").write_text("raise SystemExit('this code must not run')\n")
    expected = (f"{folder} needs its own Python code to load (auto_map in {file}). Running a checkpoint's code is "
                "running its author's program: pass --trust-remote-code only if you trust it.")
    assert _error(models.load_config, str(folder)) == expected
    assert _error(models.load_tokenizer, str(folder)) == expected
    assert models.load_config(str(folder), trust_remote_code=True).model_type == "bert"


@pytest.mark.bad_input
@pytest.mark.parametrize("field, value", [("vocab_size", 0), ("hidden_size", -32), ("num_hidden_layers", 0),
                                          ("num_attention_heads", 0), ("intermediate_size", 0),
                                          ("max_position_embeddings", 0)])
def test_a_config_with_a_size_that_is_not_positive_is_refused(tiny_checkpoint, field, value):
    """vocab_size 0 built an empty embedding table that failed with an IndexError at the first sentence."""
    folder = tiny_checkpoint("mlm")
    _edit_config(folder, **{field: value})
    assert _error(models.load_config, str(folder)) == (
        f"{folder}: config.json gives {field} = {value}, but it must be a positive integer (a model of that size has "
        "nothing to compute with). Restore the config.json that was saved with the weights, or pass another "
        "checkpoint.")
    assert _error(models.load_model, str(folder), "mlm") == _error(models.load_config, str(folder))


@pytest.mark.bad_input
def test_a_config_field_of_the_wrong_type_is_one_message(tiny_checkpoint):
    """transformers' strict config validation raised its own exception class, with a traceback."""
    folder = tiny_checkpoint("mlm")
    _edit_config(folder, num_hidden_layers="two")
    assert _error(models.load_config, str(folder)) == (
        f"{folder}: its config.json cannot describe a model (Validation error for field 'num_hidden_layers': "
        "TypeError: Field 'num_hidden_layers' expected int, got str (value: 'two')). Restore the config.json that "
        "was saved with the weights, or pass another checkpoint.")


@pytest.mark.bad_input
def test_weights_stored_as_integers_are_refused(tiny_checkpoint):
    """transformers cast int64 weights to float without a word, and the model scored 0.500 accuracy."""
    from safetensors.torch import load_file, save_file

    folder = tiny_checkpoint("mlm")
    weights = load_file(folder / "model.safetensors")
    save_file({key: value.round().long() for key, value in weights.items()}, folder / "model.safetensors",
              metadata={"format": "pt"})
    expected = (f"{folder}: its weights file {folder / 'model.safetensors'} stores {len(weights)} parameter(s) as I64 "
                "(e.g. bert.embeddings.LayerNorm.bias), not as floating-point numbers: transformers would cast them "
                "and score whatever they became. Save the checkpoint again with save_pretrained from a floating-point "
                "model, or pass another checkpoint.")
    assert _error(models.load_model, str(folder), "mlm") == expected
    assert _error(models.check_weight_dtypes, str(folder)) == expected
    # an integer buffer beside float weights (older checkpoints save position_ids) is no parameter
    weights["bert.embeddings.position_ids"] = np.arange(128)[None].repeat(1, 0).astype(np.int64)
    import torch

    save_file({key: torch.as_tensor(value) for key, value in weights.items()}, folder / "model.safetensors",
              metadata={"format": "pt"})
    models.check_weight_dtypes(str(folder))


@pytest.mark.bad_input
def test_a_tokenizer_without_the_probes_words_is_refused(tiny_checkpoint, forget_words):
    """she/he as [UNK]: calibration read a slope of 0 and winogender's probe 0.483, as if they were findings."""
    from nlp_underspec.stress import PredictOptions, get_stress_test

    folder = tiny_checkpoint("mlm")
    forget_words(folder, ["she", "he", "nurse"])
    assert _error(get_stress_test("calibration").check_model, checkpoint=str(folder), options=PredictOptions()) == (
        f"The tokenizer of {folder} maps 'she', 'he' to its unknown token [UNK], so calibration would read that token "
        "instead of the words it compares, and measure nothing. Pass a checkpoint whose tokenizer knows these words.")
    assert _error(get_stress_test("winogender").check_model, checkpoint=str(folder), options=PredictOptions()) == (
        f"The tokenizer of {folder} maps 'She', 'He', 'nurse' to its unknown token [UNK], so the mlm_probe resolver "
        "would read that token instead of the words it compares, and measure nothing. Pass a checkpoint whose "
        "tokenizer knows these words.")


@pytest.mark.bad_input
@pytest.mark.parametrize("name, pattern, detail", [
    ("family-seed_7", r"zzz_(?P<pretrain_seed>\d+)", "it does not match"),
    ("family-seed_7", r"(?P<pretrain_seed>\d*)", "pretrain_seed captures ''"),
    ("family-seed_x", r"seed_(?P<pretrain_seed>\w+)$", "pretrain_seed captures 'x'"),
    ("family-seed_7", r"family(?P<pretrain_seed>\d+)?", "no seed group takes part in the match"),
])
def test_a_seed_pattern_that_reads_no_seed_is_refused(tiny_checkpoint, name, pattern, detail):
    """It used to leave the seeds None silently, and the analysis then lacked them."""
    folder = tiny_checkpoint("mlm", name=name)
    assert _error(models.checkpoint_origin, str(folder), seed_pattern=pattern) == (
        f"--seed-pattern {pattern!r} gives no integer seed for model {folder} ({detail}). Fix the pattern, or leave "
        "out --seed-pattern when the model names hold no seeds.")


@pytest.mark.bad_input
def test_a_seed_pattern_reads_the_model_as_given_not_its_resolved_parents(tmp_path, monkeypatch, tiny_checkpoint):
    """A parent folder the user never typed (here 'seed_7/') must not lend its seed to a model named without one."""
    from nlp_underspec.evaluation import model_refs

    folder = tiny_checkpoint("mlm", name="seed_7/plain-model")
    monkeypatch.chdir(folder.parent)
    assert _error(model_refs, ["plain-model"], seed_pattern=r"seed_(?P<pretrain_seed>\d+)") == (
        r"--seed-pattern 'seed_(?P<pretrain_seed>\\d+)' gives no integer seed for model plain-model (it does not "
        "match). Fix the pattern, or leave out --seed-pattern when the model names hold no seeds.")
    monkeypatch.chdir(tmp_path)
    assert model_refs(["seed_7/plain-model"], seed_pattern=r"seed_(?P<pretrain_seed>\d+)")[0].pretrain_seed == 7


def test_a_seed_pattern_with_an_optional_group(tiny_checkpoint):
    """A group that does not take part (a pretrained model under a pattern for fine-tuned ones too) is no error."""
    pattern = r"seed_(?P<pretrain_seed>\d+)(-f(?P<finetune_seed>\d+))?"
    origin = models.checkpoint_origin(str(tiny_checkpoint("mlm", name="m-seed_3")), seed_pattern=pattern)
    assert (origin.pretrain_seed, origin.finetune_seed, origin.seeds_from) == (3, None, "--seed-pattern")
    origin = models.checkpoint_origin(str(tiny_checkpoint("mlm", name="m-seed_3-f2")), seed_pattern=pattern)
    assert (origin.pretrain_seed, origin.finetune_seed) == (3, 2)


@pytest.mark.bad_input
def test_the_mlm_probe_refuses_an_occupation_and_participant_with_one_id(tiny_checkpoint):
    """The probe weighs a sentence's occupation against its participant: one id for both would weigh a word against
    itself."""
    from nlp_underspec import models
    from nlp_underspec.stress.winogender.resolvers import check_probe_vocabulary

    folder = tiny_checkpoint("mlm")
    path = folder / "tokenizer.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["model"]["vocab"]["doctor"] = data["model"]["vocab"]["nurse"]
    path.write_text(json.dumps(data), encoding="utf-8")
    tokenizer = models.load_tokenizer(str(folder))
    check_probe_vocabulary(tokenizer, str(folder), ["nurse"], [("nurse", "patient")])  # distinct: accepted
    assert _error(check_probe_vocabulary, tokenizer, str(folder), ["nurse"], [("nurse", "doctor")]) == (
        f"The tokenizer of {folder} encodes 'nurse' and 'doctor' as the same token id(s) "
        f"[{data['model']['vocab']['nurse']}], so the mlm_probe resolver would compare a word with itself and measure "
        "nothing. Pass a checkpoint whose tokenizer tells these words apart.")


@pytest.mark.bad_input
def test_the_probes_refuse_a_tokenizer_without_a_mask_token(tiny_checkpoint):
    from nlp_underspec import models
    from nlp_underspec.stress.calibration import pronoun_ids
    from nlp_underspec.stress.winogender.resolvers import check_probe_vocabulary

    folder = tiny_checkpoint("mlm")
    tokenizer = models.load_tokenizer(str(folder))
    tokenizer.mask_token = None
    for call, what in ((pronoun_ids, "calibration"), (check_probe_vocabulary, "the mlm_probe resolver")):
        assert _error(call, tokenizer, str(folder)) == (
            f"The tokenizer of {folder} has no mask token, which {what} needs: it reads the model's prediction at the "
            "mask. Set mask_token in tokenizer_config.json to the mask token the model was trained with, or pass a "
            "masked-LM checkpoint whose tokenizer has one.")


@pytest.mark.bad_input
def test_a_seed_pattern_reading_a_seed_no_generator_takes_is_refused(tiny_checkpoint):
    """A 20-digit seed from a name passed until after the model had run, then an OverflowError."""
    folder = tiny_checkpoint("mlm", name="m-seed_99999999999999999999")
    assert _error(models.checkpoint_origin, str(folder), seed_pattern=r"seed_(?P<pretrain_seed>\d+)") == (
        r"--seed-pattern 'seed_(?P<pretrain_seed>\\d+)' gives no integer seed for model "
        f"{folder} (pretrain_seed captures 99999999999999999999, more than 2147483647). Fix the pattern, or leave "
        "out --seed-pattern when the model names hold no seeds.")
