"""Done-means 1 and 2 of the training issue, on a tiny config: same seeds in fresh processes give bit-identical
``model.safetensors``; changing only the pretraining seed, ``init_seed`` or ``data_seed`` changes the weights; a run
killed with SIGKILL after a checkpoint and resumed ends bit-identical to an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nlp_underspec import records, seeding
from nlp_underspec.config import load_recipe, recipe_from_dict
from nlp_underspec.io import read_json
from nlp_underspec.errors import UsageError
from nlp_underspec.training import finetune, loop, pretrain, runs, state as training_state

JOBS = ("nurse", "carpenter", "doctor", "teacher", "baker", "farmer")
TEXTS = [f"the {job} told the {other} that {pronoun} would {verb} soon ."
         for job in JOBS for other in ("client", "patient") for pronoun in ("he", "she", "they")
         for verb in ("help", "leave", "call")]

RECIPE = """\
name: tiny-test
threads: 1                      # fresh processes must agree bit for bit: pin the thread count
pretrain:
  corpus: {corpus}
  vocab_size: 120
  max_seq_length: 32
  batch_size: 8
  max_steps: 120
  lr: 1e-3
  warmup_steps: 5
  save_state_every: 10          # frequent states so the kill test finds one early
  log_every: 20
  checkpoint_steps: [60]
  model: {{hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64,
          max_position_embeddings: 32}}
finetune:
  tasks:
    stsb: {{data: {sts}, batch_size: 8, max_steps: 12, lr: 1e-3, save_state_every: 5}}
"""


def _sts_rows(n: int, offset: int) -> list[str]:
    rows = ["sentence1\tsentence2\tscore"]
    for i in range(n):
        a, b = JOBS[(i + offset) % len(JOBS)], JOBS[(i * 7 + offset) % len(JOBS)]
        rows.append(f"the {a} will help soon .\tthe {b} will help soon .\t{5.0 if a == b else 1.0 + (i % 3)}")
    return rows


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("training_runs")
    (root / "corpus.txt").write_text("\n".join(TEXTS) + "\n")
    (root / "sts").mkdir()
    (root / "sts" / "train.tsv").write_text("\n".join(_sts_rows(48, 0)) + "\n")
    (root / "sts" / "dev.tsv").write_text("\n".join(_sts_rows(16, 3)) + "\n")
    (root / "tiny.yaml").write_text(RECIPE.format(corpus=root / "corpus.txt", sts=root / "sts"))
    return root


def _command(workspace: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "nlp_underspec", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "TQDM_DISABLE": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}


def _pretrain(workspace: Path, seed: int, out: Path) -> Path:
    subprocess.run(_command(workspace, "pretrain", str(workspace / "tiny.yaml"), "--pretrain-seed", str(seed),
                            "--out", str(out)), check=True, env=_env(), capture_output=True)
    return out


def _weights(folder: Path) -> bytes:
    return (folder / "model.safetensors").read_bytes()


@pytest.fixture(scope="module")
def reference(workspace) -> Path:
    """An uninterrupted pretraining run with seed 0."""
    return _pretrain(workspace, 0, workspace / "p00-a")


def test_pretraining_same_seed_is_bit_identical_and_another_seed_differs(workspace, reference):
    again = _pretrain(workspace, 0, workspace / "p00-b")
    assert _weights(reference) == _weights(again)
    pretrain(load_recipe(workspace / "tiny.yaml"), pretrain_seed=1, out=workspace / "p01")
    assert _weights(reference) != _weights(workspace / "p01")
    record = records.read_run_record(reference)
    assert record["status"] == "complete" and record["run_id"] == "p00" and record["torch_threads"] == 1
    assert record["seeds"]["pretrain_seed"] == 0 and record["seeds"]["mask_seed"] > 0
    assert record["metrics"]["steps"] == 120 and record["metrics"]["checkpoints"] == [60]
    assert not (reference / "state").exists()  # resume state is removed once the run is complete


def test_run_folder_is_a_standard_checkpoint(reference):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    for folder in (reference, reference / "step_60"):
        model = AutoModelForMaskedLM.from_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        assert type(model).__name__ == "BertForMaskedLM"
        assert model.config.vocab_size == len(tokenizer)
        assert tokenizer.mask_token == "[MASK]"
    assert _weights(reference) != _weights(reference / "step_60")


def test_sigkilled_pretraining_resumes_bit_identical(workspace, reference):
    out = workspace / "p00-killed"
    process = subprocess.Popen(_command(workspace, "pretrain", str(workspace / "tiny.yaml"), "--pretrain-seed", "0",
                                        "--out", str(out)), env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (out / "state" / "progress.json").is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = read_json(out / "state" / "progress.json")["step"]
    assert records.read_run_record(out)["status"] == "running", "the run finished before it could be killed"
    _pretrain(workspace, 0, out)
    record = records.read_run_record(out)
    assert record["status"] == "complete" and record["metrics"]["resumed_from_step"] >= killed_at > 0
    assert _weights(out) == _weights(reference)
    assert _weights(out / "step_60") == _weights(reference / "step_60")


def test_pretraining_resumed_on_another_cpu_capability_warns_and_keeps_both_scopes(tmp_path, monkeypatch, caplog):
    """In process, small: a run dies right after its first saved state and is resumed under a patched CPU capability."""
    recipe = recipe_from_dict({"threads": 1, "pretrain": {
        "vocab_size": 120, "max_seq_length": 16, "batch_size": 4, "max_steps": 8, "save_state_every": 4,
        "checkpoint_steps": [], "model": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                                          "intermediate_size": 32, "max_position_embeddings": 16}}})
    save_state = loop.save_state_atomically

    def save_and_die(accelerator, folder, step, **parts):
        save_state(accelerator, folder, step, **parts)
        raise KeyboardInterrupt("killed after the first saved state")

    monkeypatch.setattr(loop, "save_state_atomically", save_and_die)
    with pytest.raises(KeyboardInterrupt):
        pretrain(recipe, pretrain_seed=0, out=tmp_path / "run", texts=TEXTS)
    monkeypatch.setattr(loop, "save_state_atomically", save_state)
    started = records.read_run_record(tmp_path / "run")
    other = "AVX2" if started["cpu_capability"] != "AVX2" else "AVX512"
    monkeypatch.setattr(seeding, "cpu_capability", lambda: other)
    with caplog.at_level("WARNING", logger="nlp_underspec.training.runs"):
        pretrain(recipe, pretrain_seed=0, out=tmp_path / "run", texts=TEXTS)
    assert [r.getMessage() for r in caplog.records if r.name == runs.logger.name] == [runs.SCOPE_CHANGED.format(
        run_id="p00", path=tmp_path / "run", now=f"CPU capability {other}",
        then=f"CPU capability {started['cpu_capability']}")]
    record = records.read_run_record(tmp_path / "run")
    assert record["status"] == "complete" and record["metrics"]["resumed_from_step"] == 4
    assert {k: record[k] for k in seeding.SCOPE_FIELDS} == {k: started[k] for k in seeding.SCOPE_FIELDS}
    assert record["device"] == "cpu" and record["torch_threads"] == 1
    assert record["resumed_under"] == [{**{k: started[k] for k in seeding.SCOPE_FIELDS}, "cpu_capability": other}]


TINY_IN_PROCESS = {"threads": 1, "pretrain": {
    "vocab_size": 120, "max_seq_length": 16, "batch_size": 4, "max_steps": 8, "save_state_every": 4,
    "checkpoint_steps": [], "model": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                                      "intermediate_size": 32, "max_position_embeddings": 16}}}


class _Payload:
    """Unpickling this makes the folder ``marker``: any code could run in its place."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def _killed_after_first_state(monkeypatch, out: Path, settings: dict = TINY_IN_PROCESS):
    recipe = recipe_from_dict(settings)
    save_state = loop.save_state_atomically

    def save_and_die(accelerator, folder, step, **parts):
        save_state(accelerator, folder, step, **parts)
        raise KeyboardInterrupt("killed after the first saved state")

    monkeypatch.setattr(loop, "save_state_atomically", save_and_die)
    with pytest.raises(KeyboardInterrupt):
        pretrain(recipe, pretrain_seed=0, out=out, texts=TEXTS)
    monkeypatch.setattr(loop, "save_state_atomically", save_state)
    return recipe


def _refused(recipe, out: Path) -> str:
    before = (out / "run.json").read_bytes()
    with pytest.raises(UsageError) as err:
        pretrain(recipe, pretrain_seed=0, out=out, texts=TEXTS)
    assert (out / "run.json").read_bytes() == before  # refused before anything was written
    return str(err.value)


@pytest.mark.bad_input
def test_a_pickle_planted_in_the_saved_state_is_never_unpickled(tmp_path, monkeypatch):
    """accelerate's load_state would unpickle custom_checkpoint_0.pkl (weights_only=False) and run it; resume refuses
    the unknown file, reads every known name as safetensors or JSON only, and resumes once the plant is gone."""
    import torch

    out, marker = tmp_path / "run", tmp_path / "payload-ran"
    recipe = _killed_after_first_state(monkeypatch, out)
    state = out / loop.STATE_DIR
    torch.save(_Payload(marker), state / "custom_checkpoint_0.pkl")
    assert _refused(recipe, out) == training_state.STATE_UNKNOWN_FILES.format(
        folder=state, names="custom_checkpoint_0.pkl", them="it")
    (state / "custom_checkpoint_0.pkl").unlink()

    for name, reason in (("scheduler.json", training_state.NOT_JSON), ("optimizer.json", training_state.NOT_JSON),
                         ("model.safetensors", training_state.NOT_SAFETENSORS),
                         ("optimizer.safetensors", training_state.NOT_SAFETENSORS),
                         ("rng_0.safetensors", training_state.NOT_SAFETENSORS)):
        genuine = (state / name).read_bytes()
        torch.save(_Payload(marker), state / name)  # a pickle under a name resume reads
        assert _refused(recipe, out) == training_state.STATE_UNREADABLE.format(path=state / name, folder=state,
                                                                               reason=reason)
        (state / name).write_bytes(genuine)
    assert not marker.exists()

    pretrain(recipe, pretrain_seed=0, out=out, texts=TEXTS)
    assert not marker.exists()
    record = records.read_run_record(out)
    assert record["status"] == "complete" and record["metrics"]["resumed_from_step"] == 4
    pretrain(recipe, pretrain_seed=0, out=tmp_path / "uninterrupted", texts=TEXTS)
    assert _weights(out) == _weights(tmp_path / "uninterrupted")


@pytest.mark.bad_input
def test_an_earlier_versions_pickled_state_or_a_partial_one_is_refused(tmp_path, monkeypatch):
    import torch

    out, marker = tmp_path / "run", tmp_path / "payload-ran"
    recipe = _killed_after_first_state(monkeypatch, out)
    state = out / loop.STATE_DIR
    (state / "optimizer.json").unlink()
    assert _refused(recipe, out) == training_state.STATE_MISSING_FILES.format(folder=state, names="optimizer.json")
    for entry in state.iterdir():  # what accelerate's save_state wrote before this version
        entry.unlink()
    (state / "progress.json").write_text('{"step": 4}')
    torch.save(_Payload(marker), state / "random_states_0.pkl")
    assert _refused(recipe, out) == training_state.STATE_OLD_FORMAT.format(folder=state)
    assert not marker.exists()


@pytest.mark.bad_input
def test_saved_counters_and_learning_rates_the_recipe_cannot_produce_are_refused(tmp_path, monkeypatch):
    """A step beyond max_steps recorded a NaN-loss run complete and removed the state, a last_epoch of the wrong type
    ended in torch's traceback, a planted LR blew the loss up and blamed the data, and a missing key was called
    accelerate's format: each is now refused up front, naming the file and the key, the state kept."""
    out = tmp_path / "p0"
    accumulating = {**TINY_IN_PROCESS, "pretrain": {**TINY_IN_PROCESS["pretrain"], "grad_accum": 2}}
    recipe = _killed_after_first_state(monkeypatch, out, accumulating)
    state = out / loop.STATE_DIR
    progress, scheduler = state / "progress.json", state / "scheduler.json"
    genuine = {path: path.read_bytes() for path in (progress, scheduler)}
    assert json.loads(genuine[progress]) == {"format": 1, "step": 4, "accelerator_step": 8}

    def refused_with(path: Path, changes: dict) -> str:
        path.write_text(json.dumps({**json.loads(genuine[path]), **changes}))
        message = _refused(recipe, out)
        assert path.read_bytes() != genuine[path] and (state / "model.safetensors").is_file()  # nothing removed
        path.write_bytes(genuine[path])
        return message

    def bad(path: Path, key: str, value: str, why: str) -> str:
        return training_state.STATE_BAD_VALUE.format(path=path, key=key, value=value, why=why, folder=state)

    assert refused_with(progress, {"step": 999999, "accelerator_step": 999999}) == bad(
        progress, "step", "999999", training_state.WHY_BEYOND_MAX_STEPS.format(max_steps=8))
    assert refused_with(progress, {"accelerator_step": 4}) == bad(
        progress, "accelerator_step", "4",
        training_state.WHY_NOT_MICRO_STEPS.format(step=4, grad_accum=2, expected=8))
    progress.write_text("{}")
    assert _refused(recipe, out) == training_state.STATE_MISSING_KEY.format(path=progress, key="format", folder=state)
    progress.write_bytes(genuine[progress])
    assert refused_with(scheduler, {"last_epoch": "x"}) == bad(scheduler, "last_epoch", '"x"',
                                                               training_state.WHY_NOT_WHOLE)
    assert refused_with(scheduler, {"last_epoch": 5}) == bad(scheduler, "last_epoch", "5",
                                                             training_state.WHY_BEYOND_STEP.format(step=4))
    assert refused_with(scheduler, {"_is_initial": 0}) == bad(scheduler, "_is_initial", "0",
                                                              training_state.WHY_NOT_FLAG)
    peak = recipe.pretrain.lr
    assert refused_with(scheduler, {"base_lrs": [1e9, 1e9]}) == bad(
        scheduler, "base_lrs", "[1000000000.0, 1000000000.0]",
        training_state.WHY_NOT_RECIPE_LR.format(expected=peak, what=training_state.WHY_PEAK))
    assert refused_with(scheduler, {"_last_lr": [1e9, 1e9]}) == bad(
        scheduler, "_last_lr", "[1000000000.0, 1000000000.0]", training_state.WHY_NOT_RECIPE_LR.format(
            expected=peak * loop.lr_factor(4, warmup_steps=recipe.pretrain.warmup_steps, max_steps=8),
            what=training_state.WHY_AT_STEP.format(step=4)))
    scheduler.write_text(genuine[scheduler].decode().replace('"_last_lr": [', '"_last_lr": [NaN, '))
    assert _refused(recipe, out).startswith(f"Saved state file {scheduler} holds _last_lr = [NaN, ")
    scheduler.write_bytes(genuine[scheduler])

    pretrain(recipe, pretrain_seed=0, out=out, texts=TEXTS)  # the genuine state still resumes
    record = records.read_run_record(out)
    assert record["status"] == "complete" and record["metrics"]["resumed_from_step"] == 4


def test_rerunning_a_complete_run_does_nothing(workspace, reference):
    before = (reference / "run.json").read_bytes()
    record = pretrain(load_recipe(workspace / "tiny.yaml"), pretrain_seed=0, out=reference)
    assert (reference / "run.json").read_bytes() == before and record.status == "complete"


def _finetune_cli(workspace: Path, parent: Path, out: Path, *extra: str) -> Path:
    subprocess.run(_command(workspace, "finetune", str(workspace / "tiny.yaml"), "--task", "stsb", "--from",
                            str(parent), "--finetune-seed", "1", "--out", str(out), *extra),
                   check=True, env=_env(), capture_output=True)
    return out


def test_finetuning_seeds(workspace, reference):
    first = _finetune_cli(workspace, reference, workspace / "ft-a")
    record = records.read_run_record(first)
    assert record["run_id"] == "p00-f01" and record["task"] == "stsb" and record["parent"] == str(reference)
    seeds = record["seeds"]
    assert seeds["pretrain_seed"] == 0 and seeds["finetune_seed"] == 1
    assert record["config"]["parent"] == records.read_run_record(reference)["config_hash"]
    assert {"dev_pearson", "dev_spearman"} <= set(record["metrics"])
    assert record["device"] == "cpu" and record["cpu_capability"] == seeding.cpu_capability()  # its determinism scope

    recipe = load_recipe(workspace / "tiny.yaml")
    in_process = finetune(recipe, task="stsb", from_checkpoint=str(reference), finetune_seed=1,
                          out=workspace / "ft-c")
    assert _weights(workspace / "ft-c") == _weights(first)  # same seeds, another process: bit-identical
    assert in_process.seeds == seeds
    finetune(recipe, task="stsb", from_checkpoint=str(reference), finetune_seed=1, init_seed=seeds["init_seed"] + 1,
             out=workspace / "ft-init")
    finetune(recipe, task="stsb", from_checkpoint=str(reference), finetune_seed=1, data_seed=seeds["data_seed"] + 1,
             out=workspace / "ft-data")
    assert _weights(workspace / "ft-init") != _weights(first)
    assert _weights(workspace / "ft-data") != _weights(first)
    assert records.read_run_record(workspace / "ft-data")["seeds"]["init_seed"] == seeds["init_seed"]


def test_finetuning_cuts_inputs_to_the_checkpoints_positions(workspace, reference, caplog):
    """max_seq_length 128 on a 32-position checkpoint: pairs of ~60 tokens are cut to 32 instead of crashing."""
    long = " ".join(["the nurse will help soon ."] * 5)
    sts = workspace / "sts-long"
    sts.mkdir()
    for split, n in (("train", 16), ("dev", 8)):
        rows = ["sentence1\tsentence2\tscore", *(f"{long}\t{long} the baker\t{i % 5}" for i in range(n))]
        (sts / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    recipe = load_recipe(workspace / "tiny.yaml", [f"finetune.tasks.stsb.data={sts}", "finetune.tasks.stsb.max_steps=2",
                                                   "finetune.tasks.stsb.max_seq_length=128"])
    with caplog.at_level("WARNING"):
        finetune(recipe, task="stsb", from_checkpoint=str(reference), finetune_seed=0, out=workspace / "ft-long")
    assert records.read_run_record(workspace / "ft-long")["status"] == "complete"
    assert "max_seq_length 128 is more than the checkpoint's 32 positions: using 32" in caplog.text


@pytest.mark.bad_input
def test_a_complete_record_without_its_weights_is_trained_again(tmp_path, caplog):
    """A complete run.json outlived its model.safetensors: `run` said "Nothing to do" and kept a folder without a
    model."""
    from nlp_underspec.records import RunRecord, mark_complete
    from nlp_underspec.training.runs import open_run_folder

    folder = tmp_path / "p00"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (folder / name).write_text("{}")
    seeds, config = {"pretrain_seed": 0}, {"kind": "pretrain"}
    record = RunRecord.new(run_id="p00", kind="pretrain", seeds=seeds, config=config)
    mark_complete(folder, record)
    opened = open_run_folder(folder, run_id="p00", kind="pretrain", seeds=seeds, config=config)
    assert not opened.complete and opened.resuming
    assert f"{folder} says run p00 is complete, but has no model.safetensors; training it again" in caplog.text
    (folder / "model.safetensors").write_bytes(b"")  # there, but cut short: no model either
    assert not open_run_folder(folder, run_id="p00", kind="pretrain", seeds=seeds, config=config).complete
    import torch
    from safetensors.torch import save_file  # a whole (if tiny) weights file: the run is complete

    save_file({"w": torch.zeros(2)}, str(folder / "model.safetensors"))
    mark_complete(folder, record)
    assert open_run_folder(folder, run_id="p00", kind="pretrain", seeds=seeds, config=config).complete
