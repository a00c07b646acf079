"""Training building blocks: stateless masking, the masked-position MLM head, data order, tokenizers, run folders."""

from __future__ import annotations

import json
import logging
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nlp_underspec import records, seeding
from nlp_underspec.config import pretrain_run_config, recipe_from_dict
from nlp_underspec.errors import UsageError
from nlp_underspec.io import OUT_NOT_OURS
from nlp_underspec.training import loop, mlm, runs, state as training_state, tokenizer as tok
from nlp_underspec.training.finetune_tasks import get_task
from nlp_underspec.training.starting_point import (FROM_NOT_CHECKPOINT, FROM_NOT_FOUND, FROM_UNFINISHED,
                                                   resolve_starting_point)
from nlp_underspec.training.task_data import subsample

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the tests' own helpers
from stand_ins import write_model_stand_ins  # noqa: E402

TEXTS = [f"the {job} said that {pronoun} would help the {other} today ."
         for job in ("nurse", "carpenter", "doctor", "teacher", "baker")
         for pronoun in ("he", "she", "they") for other in ("client", "patient", "customer")]


def _tiny_mlm(vocab_size=50, seed=0):
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64)
    return BertForMaskedLM(config).eval()


# ----------------------------------------------------------------------------------------------------------- masking


def _mask(ids, keys, probability=0.15):
    ids = ids.reshape(len(keys), -1)
    special = torch.isin(ids, torch.tensor([0, 1, 2, 3]))
    return mlm.mask_tokens(ids, keys=np.asarray(keys, dtype=np.uint64), probability=probability, mask_id=4,
                           vocab_size=50, special=special)


def test_masking_is_a_pure_function_of_each_rows_key():
    ids = torch.randint(5, 50, (2, 2000))
    first, second = _mask(ids, [7, 9]), _mask(ids[1:], [9])
    assert torch.equal(first[1][1], second[1][0])  # row 2 masks the same alone or beside another row
    assert torch.equal(first[0][0], _mask(ids[:1], [7])[0][0])
    assert not torch.equal(_mask(ids[:1], [7])[1], _mask(ids[:1], [8])[1])


def test_masking_follows_bert_proportions_and_spares_special_tokens():
    ids = torch.randint(5, 50, (1, 20000))
    ids[0, ::10] = 3  # [SEP]s must never become targets
    inputs, labels = _mask(ids, [0])
    targets = labels != mlm.IGNORE_INDEX
    assert not targets[0, ::10].any()
    assert 0.14 < targets.float().mean() / 0.9 < 0.16  # 15% of the non-special tokens
    assert torch.equal(labels[targets], ids[targets])
    replaced_by_mask = (inputs[targets] == 4).float().mean()
    assert 0.77 < replaced_by_mask < 0.83
    kept = (inputs[targets] == ids[targets]).float().mean()
    assert 0.07 < kept < 0.14  # 10% kept, plus random replacements that drew the same token
    assert torch.equal(inputs[~targets], ids[~targets])


def _blocks_dataset(blocks, **kwargs):
    return mlm.MaskedBlocks(blocks, mask_seed=3, probability=0.3, mask_id=4, vocab_size=50, special_ids=[0, 1, 2, 3],
                            **kwargs)


def test_masked_blocks_depend_on_seed_epoch_and_index_only():
    blocks = np.random.default_rng(0).integers(5, 50, size=(6, 16))
    dataset = _blocks_dataset(blocks)
    alone = dataset.collate([dataset[8]])["labels"][0]  # epoch 1, block 2
    among = _blocks_dataset(blocks).collate([dataset[3], dataset[8]])["labels"][1]
    assert torch.equal(alone, among)  # same in any instance and any batch
    assert not torch.equal(alone, dataset.collate([dataset[2]])["labels"][0])  # block 2 is masked afresh in epoch 1
    assert torch.equal(alone[alone >= 0], torch.as_tensor(blocks[2])[alone >= 0])
    other_seed = mlm.MaskedBlocks(blocks, mask_seed=4, probability=0.3, mask_id=4, vocab_size=50, special_ids=[0, 1, 2, 3])
    assert not torch.equal(alone, other_seed.collate([other_seed[8]])["labels"][0])


def test_pack_blocks_and_sentence_blocks():
    ids = [[5, 6, 7], [8], [9, 10, 11, 12]]
    packed = mlm.pack_blocks(ids, block_size=5, cls_id=2, sep_id=3)
    assert packed.tolist() == [[2, 5, 6, 7, 3], [2, 8, 3, 9, 10]]
    single = mlm.sentence_blocks(ids, block_size=4, cls_id=2, sep_id=3)
    assert [b.tolist() for b in single] == [[2, 5, 6, 3], [2, 8, 3], [2, 9, 10, 3]]


def test_collate_pads_only_ragged_batches():
    even = _blocks_dataset(np.full((2, 4), 7))
    assert set(even.collate([even[0], even[1]])) == {"input_ids", "labels"}
    ragged = _blocks_dataset([np.full(2, 7), np.full(4, 7)])
    batch = ragged.collate([ragged[0], ragged[1]])
    assert batch["attention_mask"].tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]
    assert batch["input_ids"][0, 2:].tolist() == [0, 0] and (batch["labels"][0, 2:] == mlm.IGNORE_INDEX).all()


# ------------------------------------------------------------------------------------------------ masked-position head


def test_masked_position_head_gives_the_full_heads_loss_and_gradients():
    model = _tiny_mlm()
    ids = torch.randint(5, 50, (4, 24))
    labels = torch.where(torch.rand(4, 24, generator=torch.Generator().manual_seed(1)) < 0.2, ids,
                         torch.full_like(ids, mlm.IGNORE_INDEX))
    full = model(input_ids=ids, labels=labels).loss
    full.backward()
    full_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    ours = mlm.MaskedPositionsMLM(model)(input_ids=ids, labels=labels)
    ours.loss.backward()
    assert torch.allclose(full, ours.loss, atol=1e-6)
    assert ours.logits.shape == (int((labels >= 0).sum()), 50)
    for name, param in model.named_parameters():
        if name in full_grads:
            assert torch.allclose(full_grads[name], param.grad, atol=1e-6), name


def test_masked_position_head_without_targets_is_zero():
    model = mlm.MaskedPositionsMLM(_tiny_mlm())
    ids = torch.randint(5, 50, (2, 8))
    assert model(input_ids=ids, labels=torch.full_like(ids, mlm.IGNORE_INDEX)).loss.item() == 0.0


# ----------------------------------------------------------------------------------------------------- data order


def test_epoch_shuffle_sampler_permutes_each_epoch_and_is_stateless():
    sampler = loop.EpochShuffleSampler(10, seed=4, total=25)
    order = list(sampler)
    assert len(order) == 25
    assert sorted(v % 10 for v in order[:10]) == list(range(10))
    assert sorted(v % 10 for v in order[10:20]) == list(range(10))
    assert [v // 10 for v in order] == [0] * 10 + [1] * 10 + [2] * 5
    assert order == list(loop.EpochShuffleSampler(10, seed=4, total=25))
    assert order != list(loop.EpochShuffleSampler(10, seed=5, total=25))
    assert order[:10] != order[10:20]


def test_length_grouping_fills_batches_with_similar_lengths():
    lengths = torch.randint(5, 40, (1000,), generator=torch.Generator().manual_seed(0))
    grouped = loop.EpochShuffleSampler(1000, seed=2, total=1000, lengths=lengths, batch_size=10)
    plain = loop.EpochShuffleSampler(1000, seed=2, total=1000)
    order = list(grouped)
    assert sorted(order) == list(range(1000)) and order == list(grouped)

    def padded(indices):
        batches = torch.as_tensor(indices).reshape(-1, 10)
        return int(lengths[batches].max(dim=1).values.sum() * 10)

    assert padded(order) < 0.75 * padded(list(plain))  # far less padding than a plain shuffle
    assert order != list(loop.EpochShuffleSampler(1000, seed=3, total=1000, lengths=lengths, batch_size=10))


def test_scheduler_warms_up_then_decays_to_zero():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = loop.build_scheduler(optimizer, warmup_steps=2, max_steps=6)
    rates = []
    for _ in range(6):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert rates == [0.5, 1.0, 1.0, 0.75, 0.5, 0.25]


def test_optimizer_skips_weight_decay_on_biases_and_layer_norms():
    optimizer = loop.build_optimizer(_tiny_mlm(), lr=1e-3, weight_decay=0.1)
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decayed["params"]) and all(p.ndim == 1 for p in plain["params"])


def test_subsample_is_seeded_by_the_data_seed():
    items = list(range(100))
    assert subsample(items, limit=10, data_seed=1) == subsample(items, limit=10, data_seed=1)
    assert subsample(items, limit=10, data_seed=1) != subsample(items, limit=10, data_seed=2)
    assert subsample(items, limit=None, data_seed=1) == items


@pytest.mark.bad_input
def test_unknown_tracker_and_task_names():
    with pytest.raises(UsageError) as err:
        loop.check_trackers(["tensorbord"])
    assert str(err.value).startswith("Unknown tracker 'tensorbord'. Available: aim, tensorboard,")
    with pytest.raises(UsageError) as err:
        get_task("stbs")
    assert str(err.value) == "Unknown task 'stbs'. Did you mean 'stsb'? Available: coref, stsb."


# ------------------------------------------------------------------------------------------------------- tokenizers

_TRAIN_IN_SUBPROCESS = """
import json, sys
from nlp_underspec.training.tokenizer import train_wordpiece
texts = json.loads(sys.stdin.read())
print(json.dumps(train_wordpiece(texts, vocab_size=80).get_vocab()))
"""


def test_wordpiece_training_is_deterministic_across_processes():
    ours = tok.train_wordpiece(TEXTS, vocab_size=80).get_vocab()
    theirs = [json.loads(subprocess.run([sys.executable, "-c", _TRAIN_IN_SUBPROCESS], input=json.dumps(TEXTS),
                                        capture_output=True, text=True, check=True).stdout) for _ in range(2)]
    assert theirs[0] == ours and theirs[1] == ours


def test_trained_tokenizer_is_a_standard_bert_tokenizer(tmp_path):
    from transformers import AutoTokenizer

    trained = tok.train_wordpiece(TEXTS, vocab_size=80)
    assert [trained.convert_ids_to_tokens(i) for i in range(5)] == list(tok.SPECIAL_TOKENS)
    assert any(t.startswith("##") for t in trained.get_vocab())
    trained.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded("The Nurse said.")["input_ids"] == trained("the nurse said.")["input_ids"]
    assert loaded.convert_ids_to_tokens(loaded("the")["input_ids"]) == ["[CLS]", "the", "[SEP]"]


@pytest.mark.bad_input
def test_recipe_vocab_size_must_match_a_given_tokenizer(tiny_checkpoint):
    given = tok.load_training_tokenizer(str(tiny_checkpoint("mlm")))
    with pytest.raises(UsageError) as err:
        tok.check_recipe_vocab_size(given, vocab_size=999, name="ckpt", where="r.yaml")
    assert str(err.value) == (f"r.yaml: pretrain.vocab_size is 999 but tokenizer 'ckpt' has {len(given)} tokens. "
                              f"Remove pretrain.vocab_size or set it to {len(given)}.")
    tok.check_recipe_vocab_size(given, vocab_size=None, name="ckpt", where="r.yaml")


@pytest.mark.bad_input
def test_tokenizer_larger_than_the_model_vocabulary_is_refused(tiny_checkpoint):
    given = tok.load_training_tokenizer(str(tiny_checkpoint("mlm")))
    with pytest.raises(UsageError) as err:
        tok.check_tokenizer_fits_model(given, model_vocab_size=len(given) - 1, name="ckpt")
    assert str(err.value) == (f"Tokenizer of 'ckpt' has {len(given)} tokens but the model's vocabulary "
                              f"(config.vocab_size) has {len(given) - 1}: token ids would index past the embedding "
                              "table. Use the tokenizer the model was trained with.")


@pytest.mark.bad_input
def test_a_tokenizer_whose_ids_pass_the_model_is_refused_for_fine_tuning(tiny_checkpoint):
    """As many tokens as the model has embeddings, but one id far past them: an IndexError at the first batch."""
    folder = tiny_checkpoint("mlm")
    data = json.loads((folder / "tokenizer.json").read_text())
    data["model"]["vocab"]["the"] = 500000
    (folder / "tokenizer.json").write_text(json.dumps(data))
    given = tok.load_training_tokenizer(str(folder))
    size = json.loads((folder / "config.json").read_text())["vocab_size"]
    with pytest.raises(UsageError) as err:
        tok.check_tokenizer_fits_model(given, model_vocab_size=size, name=str(folder))
    assert str(err.value) == (f"The tokenizer of {folder} gives the token 'the' the id 500000, but the model has only "
                              f"{size} token embeddings (vocab_size in config.json), so it would index past the "
                              "embedding table. Pass the tokenizer the model was trained with, or a checkpoint whose "
                              "config.json covers its ids.")


@pytest.mark.bad_input
def test_unloadable_tokenizer(tmp_path):
    with pytest.raises(UsageError) as err:
        tok.load_training_tokenizer(str(tmp_path))
    assert str(err.value).startswith(f"Could not load a tokenizer from '{tmp_path}' (")


@pytest.mark.bad_input
def test_a_given_tokenizer_with_its_own_code_or_without_a_vocabulary_is_refused(tiny_checkpoint):
    """pretrain.tokenizer (and --from): transformers would load a plain BertTokenizer, or make up 5 tokens."""
    folder = tiny_checkpoint("mlm")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "auto_map": {"AutoTokenizer": ["x.Tok", None]}}))
    with pytest.raises(UsageError) as err:
        tok.load_training_tokenizer(str(folder))
    assert str(err.value) == (f"Tokenizer '{folder}' ships its own Python code (auto_map in tokenizer_config.json), "
                              "which training never runs: loaded without it, it would be another tokenizer than its "
                              "author's. Use a tokenizer without custom code, or pretrain.tokenizer: train.")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    with pytest.raises(UsageError) as err:
        tok.load_training_tokenizer(str(folder))
    assert str(err.value).startswith(f"{folder} has no tokenizer vocabulary (none of tokenizer.json, vocab.txt, ")


# ------------------------------------------------------------------------------------------------------ run folders

RECIPE = recipe_from_dict({"pretrain": {"max_steps": 5}})


def _open(out, config=None, seeds=None):
    return runs.open_run_folder(out, run_id="p00", kind="pretrain", seeds=seeds or {"pretrain_seed": 0, "mask_seed": 1},
                                config=config or {"pretrain": {"lr": 1.0}})


def test_new_folder_is_not_written_until_start(tmp_path):
    run = _open(tmp_path / "run")
    assert not run.resuming and not run.complete and not (tmp_path / "run").exists()
    run.start()
    assert records.read_run_record(tmp_path / "run")["status"] == "running"


def test_unfinished_run_resumes_and_finished_run_is_skipped(tmp_path):
    run = _open(tmp_path / "run")
    record = run.start()
    assert _open(tmp_path / "run").resuming
    write_model_stand_ins(tmp_path / "run")  # what a finished run holds beside its record
    records.mark_complete(tmp_path / "run", record, {"steps": 5})
    again = _open(tmp_path / "run")
    assert again.complete and again.record.metrics == {"steps": 5}


@pytest.mark.bad_input
def test_resume_with_a_different_config_names_the_changed_keys(tmp_path):
    _open(tmp_path / "run").start()
    with pytest.raises(UsageError) as err:
        _open(tmp_path / "run", config={"pretrain": {"lr": 2.0}})
    old, new = records.config_hash({"pretrain": {"lr": 1.0}}), records.config_hash({"pretrain": {"lr": 2.0}})
    assert str(err.value) == (f"{tmp_path / 'run'} holds run p00 made with a different config (hash {old}, now {new}; "
                              "changed: pretrain.lr). Resume it with the recipe it was made with, choose another --out, "
                              "or pass --overwrite to start it again.")


@pytest.mark.bad_input
def test_resume_with_other_seeds_is_refused(tmp_path):
    _open(tmp_path / "run").start()
    with pytest.raises(UsageError) as err:
        _open(tmp_path / "run", seeds={"pretrain_seed": 0, "mask_seed": 2})
    assert str(err.value) == (f"{tmp_path / 'run'} holds run p00 with seeds {{'pretrain_seed': 0, 'mask_seed': 1}}, not "
                              "{'pretrain_seed': 0, 'mask_seed': 2}. Choose another --out, or pass --overwrite to "
                              "replace it.")


@pytest.mark.bad_input
def test_folder_with_other_content_is_refused_but_sweep_sidecars_are_not(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "log.txt").write_text("sweep log\n")
    assert not _open(tmp_path / "run").resuming  # only the sweep's log: a fresh start
    (tmp_path / "run" / "notes.md").write_text("mine")
    with pytest.raises(UsageError) as err:
        _open(tmp_path / "run")
    assert str(err.value) == OUT_NOT_OURS.format(path=tmp_path / "run", what="notes.md", kind="run folder")


def _dropout_model(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))
    optimizer = loop.build_optimizer(model, lr=1e-2, weight_decay=0.1)
    return model, optimizer, loop.build_scheduler(optimizer, warmup_steps=2, max_steps=8)


def _train_steps(model, optimizer, scheduler, n: int) -> list[float]:
    losses = []
    for step in range(n):
        loss = model(torch.arange(8.0).reshape(2, 4) / (step + 1)).pow(2).mean()  # dropout draws torch's global RNG
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def _save_a_state(folder, step: int = 3):
    """A real saved state of a tiny model with dropout after ``step`` steps, as the loop writes it."""
    accelerator = loop.build_accelerator(grad_accum=1)
    parts = dict(zip(("model", "optimizer", "scheduler"), _dropout_model(0)))
    _train_steps(*parts.values(), step)
    loop.save_state_atomically(accelerator, folder, step, **parts)
    return accelerator, parts


def test_saved_state_is_safetensors_and_json_and_resumes_bit_identical(tmp_path):
    """Model, optimizer, schedule and dropout draws come back exactly, from files no unpickler reads."""
    accelerator, parts = _save_a_state(tmp_path, step=3)
    expected_losses = _train_steps(*parts.values(), 4)
    folder = tmp_path / loop.STATE_DIR
    assert sorted(p.name for p in folder.iterdir()) == ["model.safetensors", "optimizer.json", "optimizer.safetensors",
                                                        "progress.json", "rng_0.safetensors", "scheduler.json"]
    assert not any(p.read_bytes()[:1] == b"\x80" or p.read_bytes()[:2] == b"PK" for p in folder.iterdir())  # no pickle
    model, optimizer, scheduler = _dropout_model(seed=99)  # other weights and RNG: all must come from the state
    step = training_state.load_training_state(accelerator, folder, model=model, optimizer=optimizer,
                                              scheduler=scheduler)
    assert step == 3
    assert _train_steps(model, optimizer, scheduler, 4) == expected_losses
    for ours, theirs in zip(model.state_dict().values(), parts["model"].state_dict().values()):
        assert torch.equal(ours, theirs)
    assert scheduler.state_dict() == parts["scheduler"].state_dict()
    assert isinstance(optimizer.param_groups[0]["betas"], tuple)


def _started_with_saved_state(out):
    """An unfinished run folder, as a kill after the first saved state leaves it."""
    run = _open(out)
    run.record_scope("cpu")
    run.start()
    _save_a_state(out)


def test_run_record_holds_the_determinism_scope(tmp_path):
    run = _open(tmp_path / "run")
    run.record_scope(torch.device("cpu"))
    run.start()
    record = records.read_run_record(tmp_path / "run")
    assert {key: record[key] for key in seeding.SCOPE_FIELDS} == {
        "torch_threads": torch.get_num_threads(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(), "device": "cpu"}
    assert record["resumed_under"] == []


def test_resuming_saved_work_on_another_cpu_capability_warns(tmp_path, monkeypatch, caplog):
    _started_with_saved_state(tmp_path / "run")
    started = records.read_run_record(tmp_path / "run")["cpu_capability"]
    other = "AVX2" if started != "AVX2" else "AVX512"
    monkeypatch.setattr(seeding, "cpu_capability", lambda: other)
    run = _open(tmp_path / "run")
    with caplog.at_level(logging.WARNING, logger="nlp_underspec.training.runs"):
        run.record_scope("cpu")
    assert [r.getMessage() for r in caplog.records if r.name == runs.logger.name] == [
        f"Resuming run p00 in {tmp_path / 'run'} with CPU capability {other}, but it was started with CPU capability "
        f"{started}. The result is a valid run but will not be bit-identical to an uninterrupted run: the same seeds "
        "give the same weights only on the same CPU capability, architecture, device and torch thread count."]
    run.start()
    record = records.read_run_record(tmp_path / "run")
    assert record["cpu_capability"] == started  # the record keeps the scope the run started under ...
    assert [scope["cpu_capability"] for scope in record["resumed_under"]] == [other]  # ... and names the other one


def test_resuming_on_the_same_scope_or_without_saved_work_does_not_warn(tmp_path, monkeypatch, caplog):
    _started_with_saved_state(tmp_path / "same")
    _open(tmp_path / "fresh").start()  # killed before its first saved state: resuming starts it over
    monkeypatch.setattr(seeding, "cpu_capability", lambda: "SOME_OTHER_ISA")
    with caplog.at_level(logging.WARNING, logger="nlp_underspec.training.runs"):
        again = _open(tmp_path / "fresh")
        again.record_scope("cpu")
        monkeypatch.undo()
        _open(tmp_path / "same").record_scope("cpu")
    assert [r for r in caplog.records if r.name == runs.logger.name] == []
    assert again.record.cpu_capability == "SOME_OTHER_ISA" and again.record.resumed_under == []


@pytest.mark.bad_input
def test_resuming_with_another_thread_count_is_a_config_change(tmp_path):
    """``threads`` is a recipe choice in the run config: a resume with another count is refused, not warned about."""
    out = tmp_path / "run"
    runs.open_run_folder(out, run_id="p00", kind="pretrain", seeds={"pretrain_seed": 0}, config=pretrain_run_config(
        recipe_from_dict({"threads": 2, "pretrain": {"max_steps": 5}}))).start()
    with pytest.raises(UsageError, match=r"changed: threads\)\. Resume it with the recipe it was made with"):
        runs.open_run_folder(out, run_id="p00", kind="pretrain", seeds={"pretrain_seed": 0}, config=pretrain_run_config(
            recipe_from_dict({"threads": 1, "pretrain": {"max_steps": 5}})))


# ------------------------------------------------------------------------------------------------- starting points


@pytest.mark.bad_input
def test_from_must_be_a_checkpoint(tmp_path):
    with pytest.raises(UsageError) as err:
        resolve_starting_point(tmp_path / "nope", RECIPE)
    assert str(err.value) == FROM_NOT_FOUND.format(path=tmp_path / "nope")
    with pytest.raises(UsageError) as err:
        resolve_starting_point(tmp_path, RECIPE)
    assert str(err.value) == FROM_NOT_CHECKPOINT.format(path=tmp_path)


@pytest.mark.bad_input
def test_from_an_unfinished_pretraining_run_is_refused(tiny_checkpoint):
    folder = tiny_checkpoint("mlm")
    record = records.RunRecord.new(run_id="p03", kind="pretrain", seeds={"pretrain_seed": 3}, config={"a": 1})
    records.write_run_record(folder, record)
    with pytest.raises(UsageError) as err:
        resolve_starting_point(folder, RECIPE)
    assert str(err.value) == FROM_UNFINISHED.format(path=folder, status="running")
    records.mark_complete(folder, record)
    start = resolve_starting_point(folder, RECIPE)
    assert (start.identity, start.pretrain_seed) == (record.config_hash, 3)  # identified by config hash, as the sweep
    assert resolve_starting_point(folder, RECIPE, pretrain_seed=3).pretrain_seed == 3  # agreeing: fine
    with pytest.raises(UsageError) as err:  # contradicting the run's own record used to be dropped without a word
        resolve_starting_point(folder, RECIPE, pretrain_seed=5)
    assert str(err.value) == (f"--pretrain-seed 5 contradicts --from {folder}, whose run.json records pretraining "
                              "seed 3. Leave --pretrain-seed out (a run folder's own seed is used), or pass the run "
                              "of seed 5.")


def test_outside_checkpoint_is_identified_by_its_path(tiny_checkpoint):
    folder = tiny_checkpoint("mlm")
    start = resolve_starting_point(str(folder), RECIPE, pretrain_seed=2)
    assert (start.identity, start.pretrain_seed) == (str(folder), 2)


# ---------------------------------------------------------------------------------- broken starting points and data

SMALL_TASKS = ["world.n_corpus_sentences=300", "world.n_sts_pairs=80", "world.n_coref_examples=80",
               "finetune.tasks.stsb.max_steps=4", "finetune.tasks.coref.max_steps=4", "threads=1"]


def _small_recipe(*overrides):
    from nlp_underspec.config import load_recipe

    return load_recipe("recipes/tiny.yaml", [*SMALL_TASKS, *overrides])


def _edit_json(path, **changes) -> None:
    content = json.loads(path.read_text())
    content.update(changes)
    path.write_text(json.dumps(content))


def _finetune_error(start, out, *overrides, task="stsb", **kwargs) -> str:
    from nlp_underspec.training import finetune

    with pytest.raises(UsageError) as err:
        finetune(_small_recipe(*overrides), task=task, from_checkpoint=str(start), finetune_seed=0, out=out, **kwargs)
    return str(err.value)


@pytest.mark.bad_input
def test_new_heads_are_built_on_purpose_but_a_random_encoder_is_refused(tiny_checkpoint, tmp_path):
    """Fine-tuning initialises its head freshly (that is the point); the encoder under it must load whole."""
    from nlp_underspec.training import finetune_tasks

    start = str(tiny_checkpoint("mlm"))
    for build in (finetune_tasks._build_sts_model, finetune_tasks._build_bi_encoder, finetune_tasks._build_coref_model,
                  finetune_tasks._build_ranker):
        assert isinstance(build(start), torch.nn.Module)
    deeper = tiny_checkpoint("mlm", name="deeper", max_positions=64)
    _edit_json(deeper / "config.json", num_hidden_layers=3)
    message = _finetune_error(deeper, tmp_path / "run", "finetune.tasks.stsb.head=cross_encoder")
    assert message.startswith(f"{deeper}: 37 of the 53 weights of the BertForSequenceClassification that config.json "
                              "describes (model_type 'bert') are in model.safetensors (missing: "
                              "bert.encoder.layer.2.attention.output.LayerNorm.bias, ")
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == records.STATUS_FAILED
    ranker_without_head = tiny_checkpoint("bi", name="fake-mlm", max_positions=64)
    _edit_json(ranker_without_head / "config.json", architectures=["BertForMaskedLM"])
    assert _finetune_error(ranker_without_head, tmp_path / "coref", "finetune.tasks.coref.head=ranking",
                           task="coref").startswith(
        f"{ranker_without_head}: config.json declares BertForMaskedLM, but model.safetensors has no weights for its "
        "head (missing: cls.predictions.bias, ")


@pytest.mark.bad_input
def test_from_with_its_own_code_is_refused(tiny_checkpoint, tmp_path):
    start = tiny_checkpoint("mlm", max_positions=64)
    _edit_json(start / "config.json", auto_map={"AutoModelForMaskedLM": "custom.MyModel"})
    assert _finetune_error(start, tmp_path / "run") == (
        f"--from {start} ships its own Python code (auto_map in config.json), which fine-tuning never runs: loaded "
        "as a plain 'bert' it would be another model than its author's. Fine-tune a checkpoint without custom code.")
    assert not (tmp_path / "run").exists()


@pytest.mark.bad_input
def test_from_without_a_usable_tokenizer_is_refused(tiny_checkpoint, tmp_path):
    from transformers import AutoTokenizer

    from nlp_underspec.models.tokenizer_checks import NO_PAD_TOKEN

    start = tiny_checkpoint("mlm", max_positions=64)
    tokenizer = AutoTokenizer.from_pretrained(str(start))
    tokenizer.pad_token = None
    tokenizer.save_pretrained(str(start))
    assert _finetune_error(start, tmp_path / "run") == NO_PAD_TOKEN.format(checkpoint=start,
                                                                                   what="fine-tuning")
    for path in start.iterdir():
        if path.name.startswith(("tokenizer", "special_tokens", "vocab")):
            path.unlink()
    assert _finetune_error(start, tmp_path / "run").startswith(f"{start} has no tokenizer vocabulary (none of ")
    assert not (tmp_path / "run").exists()


@pytest.mark.bad_input
def test_a_non_finite_loss_fails_the_run(tiny_checkpoint, tmp_path):
    """An absurd learning rate turns the weights into NaN at step 1; the run used to be recorded complete."""
    start = tiny_checkpoint("mlm", max_positions=64)
    message = _finetune_error(start, tmp_path / "run", "finetune.tasks.stsb.lr=1e30",
                              "finetune.tasks.stsb.warmup_ratio=0")
    assert message == (f"stsb f00: the training loss became nan at step 2 of 4 (training data: 'synthetic', train "
                       "split). A NaN or infinite loss turns every weight into NaN, so the run fails here instead of "
                       "being recorded complete. Check that data for extreme or non-numeric labels, or lower the "
                       "learning rate.")
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == records.STATUS_FAILED and not (tmp_path / "run" / "model.safetensors").exists()


@pytest.mark.bad_input
def test_weights_made_non_finite_by_the_last_step_fail_the_run():
    model = torch.nn.Linear(2, 1)
    settings = loop.LoopSettings(max_steps=3, batch_size=1, grad_accum=1, lr=1.0, weight_decay=0.0, warmup_steps=0,
                                 max_grad_norm=0.0, save_state_every=10, log_every=1, description="stsb p00-f00",
                                 data="'data.tsv', train split")
    loop.check_finite_weights(model, 3, settings)
    with torch.no_grad():
        model.bias.fill_(float("inf"))
    with pytest.raises(UsageError) as err:
        loop.check_finite_weights(model, 3, settings)
    assert str(err.value) == ("stsb p00-f00: after step 3 of 3 the weights hold NaN or infinite values (bias; training "
                              "data: 'data.tsv', train split), so the run fails here instead of being recorded "
                              "complete. Check that data for extreme labels, or lower the learning rate.")


@pytest.mark.bad_input
def test_labels_outside_the_tasks_range_are_refused_before_training(tiny_checkpoint, tmp_path):
    """A gold of 1e39 is inf in float32: the model trained to NaN and was recorded complete."""
    from nlp_underspec.data.coref import CorefExample

    start = tiny_checkpoint("mlm", max_positions=64)
    data = tmp_path / "sts.tsv"
    data.write_text("sentence1\tsentence2\tlabel\n" + "a man is walking .\ta woman is walking .\t4.2\n" * 3 +
                    "a man is cooking .\ta man is eating .\t1e39\n")
    assert _finetune_error(start, tmp_path / "run", f"finetune.tasks.stsb.data={data}") == (
        f"{data}, line 5: similarity score '1e39' is not a finite number from 0 to 5 (the STS-B scale). Fix the "
        "score, or leave the field empty for a pair without gold.")
    given = [("a man is walking .", "a woman is walking .", 4.0), ("a man .", "a woman .", float("nan"))]
    assert _finetune_error(start, tmp_path / "run", train=given) == (
        "Task 'stsb': given train example 1: gold similarity nan is not a finite number from 0 to 5 (the STS-B "
        "scale).")
    text = "the nurse told the patient that she would help ."
    example = CorefExample(text=text, pronoun=(32, 35), candidates=((4, 9), (19, 26)), label=2)
    assert _finetune_error(start, tmp_path / "run", task="coref", dev=[example]) == (
        "Task 'coref': given dev example 0: label 2 is not an index into its 2 candidates (an integer from 0 to 1).")
    assert not (tmp_path / "run").exists()
