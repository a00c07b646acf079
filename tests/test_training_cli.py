"""Bad input to ``nlp-underspec pretrain`` / ``finetune``: one exact message each, exit code 2, nothing written."""

from __future__ import annotations

import json

import pytest

from nlp_underspec import cli, records
from nlp_underspec.config import load_recipe, pretrain_run_config
from nlp_underspec.data import corpus
from nlp_underspec.io import OUT_HOLDS_INPUT, OUT_LOCKED, OUT_NOT_OURS
from nlp_underspec.training import runs, tokenizer as tok
from nlp_underspec.training.starting_point import FROM_NOT_CHECKPOINT, FROM_NOT_FOUND

RECIPE = """\
threads: 1
pretrain:
  corpus: {corpus}
  vocab_size: 60
  max_seq_length: 16
  batch_size: 4
  max_steps: 3
  model: {{hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32,
          max_position_embeddings: 16}}
finetune:
  tasks:
    stsb: {{data: {tmp}/sts, max_steps: 2, batch_size: 4}}
"""


@pytest.fixture
def recipe(tmp_path):
    (tmp_path / "corpus.txt").write_text("the nurse said that she would help .\nthe baker left early .\n" * 20)
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.format(corpus=tmp_path / "corpus.txt", tmp=tmp_path))
    return path


def _fails(capsys, *argv: str) -> str:
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    return err[len("error: "):-1]


def _pretrain(recipe, out, *extra):
    return ("pretrain", recipe, "--pretrain-seed", "0", "--out", out, *extra)


@pytest.mark.bad_input
def test_unknown_recipe_key(capsys, recipe, tmp_path):
    message = _fails(capsys, *_pretrain(recipe, tmp_path / "out", "--set", "pretrain.max_step=5"))
    assert message.startswith("command line override 'pretrain.max_step=5': unknown key 'pretrain.max_step'. "
                              "Did you mean 'pretrain.max_steps'?")
    assert not (tmp_path / "out").exists()


@pytest.mark.bad_input
def test_wrong_type(capsys, recipe, tmp_path):
    message = _fails(capsys, *_pretrain(recipe, tmp_path / "out", "--set", "pretrain.batch_size=many"))
    assert message == f"{recipe}: 'pretrain.batch_size' must be an integer, got 'many'."
    assert not (tmp_path / "out").exists()


@pytest.mark.bad_input
def test_missing_corpus_path(capsys, recipe, tmp_path):
    missing = tmp_path / "nowhere" / "corpus.txt"
    message = _fails(capsys, *_pretrain(recipe, tmp_path / "out", "--set", f"pretrain.corpus={missing}"))
    assert message == corpus.CORPUS_NOT_FOUND.format(path=missing)
    assert not (tmp_path / "out").exists()


@pytest.mark.bad_input
def test_empty_corpus(capsys, recipe, tmp_path):
    (tmp_path / "empty.txt").write_text("\n   \n\n")
    message = _fails(capsys, *_pretrain(recipe, tmp_path / "out", "--set", f"pretrain.corpus={tmp_path / 'empty.txt'}"))
    assert message == corpus.EMPTY_CORPUS.format(source=tmp_path / "empty.txt")
    assert not (tmp_path / "out").exists()


@pytest.mark.bad_input
def test_corpus_smaller_than_one_block(capsys, recipe, tmp_path):
    (tmp_path / "small.txt").write_text("a nurse .\n")
    message = _fails(capsys, *_pretrain(recipe, tmp_path / "out", "--set", f"pretrain.corpus={tmp_path / 'small.txt'}",
                                        "--set", "pretrain.vocab_size=null"))
    assert message == (f"Corpus '{tmp_path / 'small.txt'}' has 7 tokens, fewer than one block of "
                       "pretrain.max_seq_length=16 tokens. Use a larger corpus or a smaller pretrain.max_seq_length.")
    assert not (tmp_path / "out").exists()


@pytest.mark.bad_input
def test_tokenizer_and_recipe_vocabulary_mismatch(capsys, recipe, tmp_path, tiny_checkpoint):
    checkpoint = tiny_checkpoint("mlm")
    size = len(tok.load_training_tokenizer(str(checkpoint)))
    message = _fails(capsys, *_pretrain(recipe, tmp_path / "out", "--set", f"pretrain.tokenizer={checkpoint}"))
    assert message == tok.RECIPE_VOCAB_MISMATCH.format(where=recipe, recipe_size=60, name=checkpoint,
                                                       tokenizer_size=size)
    assert not (tmp_path / "out").exists()


@pytest.mark.bad_input
@pytest.mark.parametrize("change, reason", [
    ({"vocab_size": 0}, "config.json gives vocab_size = 0, but it must be a positive integer (a model of that size "
                        "has nothing to compute with)"),
    ({"num_hidden_layers": "two"}, "its config.json cannot describe a model (Validation error for field "
                                   "'num_hidden_layers': TypeError: Field 'num_hidden_layers' expected int, got str "
                                   "(value: 'two'))")])
def test_from_a_checkpoint_whose_config_cannot_build_a_model(capsys, recipe, tmp_path, tiny_checkpoint, change,
                                                             reason):
    """The same check as evaluate's (models.check_config_sizes), before any step."""
    checkpoint = tiny_checkpoint("mlm")
    config = json.loads((checkpoint / "config.json").read_text())
    (checkpoint / "config.json").write_text(json.dumps({**config, **change}))
    capsys.readouterr()  # the builder's progress bar
    message = _fails(capsys, "finetune", recipe, "--task", "stsb", "--from", checkpoint, "--finetune-seed", "0",
                     "--out", tmp_path / "out")
    assert message == (f"{checkpoint}: {reason}. Restore the config.json that was saved with the weights, or pass "
                       "another checkpoint.")


@pytest.mark.bad_input
def test_tokenizer_larger_than_model_vocabulary(capsys, recipe, tmp_path, tiny_checkpoint):
    checkpoint = tiny_checkpoint("mlm")
    config = json.loads((checkpoint / "config.json").read_text())
    size = len(tok.load_training_tokenizer(str(checkpoint)))
    config["vocab_size"] = size - 10
    (checkpoint / "config.json").write_text(json.dumps(config))
    message = _fails(capsys, "finetune", recipe, "--task", "stsb", "--from", checkpoint, "--finetune-seed", "0",
                     "--out", tmp_path / "out")
    assert message == tok.MODEL_VOCAB_MISMATCH.format(name=checkpoint, tokenizer_size=size, model_size=size - 10)
    assert not (tmp_path / "out").exists()


@pytest.mark.bad_input
@pytest.mark.parametrize("make", ["missing", "not_checkpoint"])
def test_from_that_is_not_a_checkpoint(capsys, recipe, tmp_path, make):
    source = tmp_path / "missing" if make == "missing" else tmp_path
    message = _fails(capsys, "finetune", recipe, "--task", "stsb", "--from", source, "--finetune-seed", "0",
                     "--out", tmp_path / "out")
    expected = FROM_NOT_FOUND if make == "missing" else FROM_NOT_CHECKPOINT
    assert message == expected.format(path=source)
    assert not (tmp_path / "out").exists()


@pytest.mark.bad_input
def test_from_a_hub_id_that_cannot_be_reached_says_what_evaluate_says(capsys, recipe, tmp_path, monkeypatch):
    """Offline, --from nope/dir talked of connecting to huggingface.co; now it is the message evaluate gives (not a
    local folder, not in the cache, what to do), and a/b/c, which cannot be a Hub id, does not exist."""
    from nlp_underspec.models.checkpoint import HUB_MODEL_UNAVAILABLE

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    message = _fails(capsys, "finetune", recipe, "--task", "stsb", "--from", "nope/dir", "--finetune-seed", "0",
                     "--out", tmp_path / "out")
    assert message.startswith("Model 'nope/dir' is not a local folder and could not be loaded from the Hugging Face "
                              "Hub (")
    assert message.endswith(HUB_MODEL_UNAVAILABLE.split("({reason})")[1].format(checkpoint="nope/dir"))
    assert _fails(capsys, "evaluate", "nope/dir", "--tests", "calibration", "--out", tmp_path / "ev").startswith(
        message.split(" (")[0])
    assert _fails(capsys, "finetune", recipe, "--task", "stsb", "--from", "nope/dir/deeper", "--finetune-seed", "0",
                  "--out", tmp_path / "out2") == FROM_NOT_FOUND.format(path="nope/dir/deeper")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["corpus.txt", "r.yaml"]


@pytest.mark.bad_input
def test_unknown_task(capsys, recipe, tmp_path, tiny_checkpoint):
    message = _fails(capsys, "finetune", recipe, "--task", "stbs", "--from", tiny_checkpoint("mlm"),
                     "--finetune-seed", "0", "--out", tmp_path / "out")
    assert message == "Unknown task 'stbs'. Did you mean 'stsb'? Available: coref, stsb."
    message = _fails(capsys, "finetune", recipe, "--task", "coref", "--from", tiny_checkpoint("mlm"),
                     "--finetune-seed", "0", "--out", tmp_path / "out")
    assert message == "finetune: unknown task 'coref'. Available: stsb."
    assert not (tmp_path / "out").exists()


@pytest.mark.bad_input
def test_resume_into_a_folder_made_with_another_config(capsys, recipe, tmp_path):
    out = tmp_path / "out"
    old_config = pretrain_run_config(load_recipe(recipe, ["pretrain.lr=0.5", "pretrain.max_steps=9"]))
    record = records.RunRecord.new(run_id="p00", kind="pretrain", seeds={"pretrain_seed": 0}, config=old_config)
    out.mkdir()
    records.write_run_record(out, record)
    before = (out / "run.json").read_bytes()
    message = _fails(capsys, *_pretrain(recipe, out))
    new_hash = records.config_hash(pretrain_run_config(load_recipe(recipe)))
    assert message == runs.CONFIG_CHANGED.format(path=out, run_id="p00", old_hash=record.config_hash, new_hash=new_hash,
                                                 keys="pretrain.lr, pretrain.max_steps")
    assert (out / "run.json").read_bytes() == before and sorted(p.name for p in out.iterdir()) == ["run.json"]


@pytest.mark.bad_input
def test_negative_seed_and_missing_flags(capsys, recipe, tmp_path):
    """Every seed flag has one type (evaluate's and score's --seed too), checked before the recipe is read."""
    for argv in (_pretrain(recipe, tmp_path / "out", "--pretrain-seed", "-1"),
                 *[("finetune", recipe, "--task", "stsb", "--from", tmp_path, "--finetune-seed", "0", "--out",
                    tmp_path / "out", flag, "-1") for flag in ("--finetune-seed", "--init-seed", "--data-seed",
                                                               "--pretrain-seed")]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([str(a) for a in argv])
        assert exit_info.value.code == 2
        flag = argv[-2]
        assert capsys.readouterr().err.endswith(
            f"error: argument {flag}: {flag} must be a non-negative integer (at most 2147483647), got '-1'.\n")
    with pytest.raises(SystemExit) as exit_info:  # argparse's own errors exit 2 as well
        cli.main(["pretrain", str(recipe), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "the following arguments are required: --pretrain-seed" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _run_of_ours(folder, *, kind="pretrain", complete=False):
    folder.mkdir(parents=True, exist_ok=True)
    record = records.RunRecord.new(run_id="p00", kind=kind, seeds={"pretrain_seed": 0}, config={"a": 1})
    records.write_run_record(folder, record)
    if complete:
        records.mark_complete(folder, record)
    return folder


@pytest.mark.bad_input
def test_overwrite_starts_again_only_a_run_folder_of_ours(capsys, recipe, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("years of work")
    for extra in ((), ("--overwrite",)):
        assert _fails(capsys, *_pretrain(recipe, mine, *extra)) == OUT_NOT_OURS.format(
            path=mine, what="notes.txt", kind="run folder")
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


@pytest.mark.bad_input
def test_overwrite_never_deletes_the_recipe_checkpoint_or_data_it_reads(capsys, recipe, tmp_path, tiny_checkpoint):
    run = _run_of_ours(tmp_path / "run")
    (run / "r.yaml").write_text(recipe.read_text())
    assert _fails(capsys, *_pretrain(run / "r.yaml", run, "--overwrite")) == OUT_HOLDS_INPUT.format(
        path=run, relation="holds", input=run / "r.yaml")
    assert _fails(capsys, *_pretrain(recipe, tmp_path, "--overwrite")) == OUT_HOLDS_INPUT.format(
        path=tmp_path, relation="holds", input=tmp_path / "corpus.txt")  # the recipe's corpus
    parent = _run_of_ours(tiny_checkpoint("mlm"), complete=True)
    before = sorted(p.name for p in parent.iterdir())
    message = _fails(capsys, "finetune", recipe, "--task", "stsb", "--from", parent, "--finetune-seed", "0",
                     "--out", parent, "--overwrite")
    assert message == OUT_HOLDS_INPUT.format(path=parent, relation="is", input=parent)
    assert sorted(p.name for p in parent.iterdir()) == before and (run / "r.yaml").is_file()


@pytest.mark.bad_input
def test_overwrite_never_clears_a_run_a_sweep_is_running(capsys, recipe, tmp_path):
    import os
    import socket

    run = _run_of_ours(tmp_path / "run")
    lock = run / ".running"
    lock.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname()}))
    assert _fails(capsys, *_pretrain(recipe, run, "--overwrite")) == OUT_LOCKED.format(
        path=run, pid=os.getppid(), host=socket.gethostname(), lock=lock)
    assert sorted(p.name for p in run.iterdir()) == [".running", "run.json"]
