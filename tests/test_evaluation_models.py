"""Checkpoint loading and detection (nlp_underspec.models) and the fast encoding paths (nlp_underspec.stress.encoding)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nlp_underspec import models
from nlp_underspec.errors import UsageError
from nlp_underspec.evaluation import model_refs


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


def test_bad_seed_patterns():
    with pytest.raises(UsageError) as err:
        models.compile_seed_pattern("seed_(")
    assert str(err.value).startswith("--seed-pattern 'seed_(' is not a valid regular expression (")
    with pytest.raises(UsageError) as err:
        models.compile_seed_pattern(r"seed_(\d+)")
    assert str(err.value) == (r"--seed-pattern 'seed_(\\d+)' has no named group pretrain_seed or finetune_seed, e.g. "
                              r"'seed_(?P<pretrain_seed>\d+)'.")


def test_two_models_with_one_name(tiny_checkpoint, tmp_path):
    first = tiny_checkpoint("bi", name="a/model")
    second = tiny_checkpoint("bi", name="b/model")
    with pytest.raises(UsageError) as err:
        model_refs([str(first), str(second)])
    assert str(err.value) == (f"Two models are both named 'model' ({first} and {second}). Give them different folder "
                              "names, or evaluate them in separate --out folders.")


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
