"""Failure handling of the sweep: a failing run is recorded in its folder, its dependants are blocked, the command
exits non-zero listing them, and the next `run` retries only those. A wrong data path is not a run failure: the sweep
reads every data source before the first run and refuses the recipe (exit 2, nothing created).

The run failures are provoked with a learning rate so large that the loss turns NaN at step 2 (which no check of the
recipe can know beforehand)."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from nlp_underspec.cli import main
from nlp_underspec.records import read_run_record


DIVERGING_LR = 1e30


def _write_recipe(path, corpus=None, *, lr=DIVERGING_LR, evaluate=None):
    recipe = {
        "name": "broken",
        "threads": 1,
        "seeds": {"pretrain": [0], "finetune": [0, 1]},
        "world": {"n_corpus_sentences": 500, "n_sts_pairs": 100, "n_coref_examples": 100, "n_sts_templates": 4},
        "pretrain": {"corpus": str(corpus or "synthetic"), "max_steps": 2, "batch_size": 4, "vocab_size": 200,
                     "lr": lr,
                     "model": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                               "intermediate_size": 32, "max_position_embeddings": 32},
                     "max_seq_length": 32},
        "finetune": {"tasks": {"stsb": {"max_steps": 1}}},
        "evaluate": {"tests": ["sts_gender"], **(evaluate or {})},
    }
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_failed_run_is_recorded_and_dependants_blocked(tmp_path, capsys):
    recipe = _write_recipe(tmp_path / "broken.yaml")
    out = tmp_path / "exp"
    assert main(["run", str(recipe), "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "1 run(s) failed, 2 blocked; `nlp-underspec run` again retries them:" in printed
    assert ("FAILED  pretrain/p00: error: pretrain p00: the training loss became nan at step 2 of 2 (training data: "
            "corpus 'synthetic')." in printed and f"(log: {out}/pretrain/p00/log.txt)" in printed)
    assert "BLOCKED finetune/stsb/p00-f00: waits for pretrain/p00" in printed
    record = read_run_record(out / "pretrain/p00")
    assert record["status"] == "failed" and "the training loss became nan at step 2" in record["error"]
    assert "the training loss became nan at step 2" in (out / "pretrain/p00/log.txt").read_text()
    assert not (out / "finetune").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert {run["key"]: run["status"] for run in manifest["runs"]}["pretrain/p00"] == "failed"

    # The next run retries the failed run (and fails again the same way), nothing else is touched.
    assert main(["run", str(recipe), "--out", str(out)]) == 1
    assert "1 run(s) failed" in capsys.readouterr().out
    assert (out / "pretrain/p00/log.txt").read_text().count("=== ") == 2


def test_status_lists_failed_runs(tmp_path, capsys):
    recipe = _write_recipe(tmp_path / "broken.yaml")
    out = tmp_path / "exp"
    main(["run", str(recipe), "--out", str(out)])
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("broken: 3 runs · 1 failed · 2 pending\n")
    assert "  failed    pretrain/p00  error: pretrain p00: the training loss became nan at step 2" in printed
    assert "  pending   finetune/stsb/p00-f01" in printed
    assert printed.rstrip().endswith("results: none yet")


@pytest.mark.bad_input
def test_status_of_a_folder_that_is_no_experiment(tmp_path, capsys):
    assert main(["status", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"error: {tmp_path} is not an experiment folder (no manifest.json). Start one "
                                       f"with `nlp-underspec run RECIPE --out {tmp_path}`.\n")


def test_fixing_the_recipe_retries_only_the_failed_runs(tmp_path, capsys):
    """coref's learning rate diverges: its runs fail, pretraining and stsb complete. Lowering it and running again
    redoes the failed runs only (no --force-rerun needed for a failed run)."""
    recipe_path = tmp_path / "recipe.yaml"
    recipe = {
        "name": "fixable", "threads": 1, "seeds": {"pretrain": [0], "finetune": [0]},
        "world": {"n_corpus_sentences": 500, "n_sts_pairs": 100, "n_coref_examples": 100, "n_sts_templates": 4},
        "pretrain": {"max_steps": 2, "batch_size": 4, "vocab_size": 300, "max_seq_length": 48,
                     "model": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                               "intermediate_size": 32, "max_position_embeddings": 64}},
        "finetune": {"tasks": {"stsb": {"max_steps": 1},
                               "coref": {"max_steps": 2, "lr": DIVERGING_LR}}},
        "evaluate": {"tests": ["sts_gender", "winogender"], "n_boot": 20},
    }
    recipe_path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "exp"
    assert main(["run", str(recipe_path), "--out", str(out)]) == 1
    assert "FAILED  finetune/coref/p00-f00" in capsys.readouterr().out
    finished = {key: read_run_record(out / key)["finished"] for key in ("pretrain/p00", "finetune/stsb/p00-f00")}

    recipe["finetune"]["tasks"]["coref"]["lr"] = 1e-4
    recipe_path.write_text(yaml.safe_dump(recipe))
    assert main(["run", str(recipe_path), "--out", str(out)]) == 0
    assert "3 runs planned: 2 complete, 1 to do;" in capsys.readouterr().out
    assert read_run_record(out / "finetune/coref/p00-f00")["status"] == "complete"
    assert {key: read_run_record(out / key)["finished"] for key in finished} == finished  # untouched
    assert (out / "summary.json").is_file()


@pytest.mark.bad_input
@pytest.mark.parametrize("where", ["corpus", "coref", "stsb", "winogender"])
def test_a_wrong_data_path_is_refused_before_any_run(where, tmp_path, capsys):
    """Every data source is read before the first run: a missing one is one message, exit 2, and no --out at all
    (before, a wrong evaluate.stsb surfaced only after the whole grid had trained)."""
    missing = tmp_path / f"no-such-{where}"
    recipe = _write_recipe(tmp_path / "r.yaml", missing if where == "corpus" else None, lr=1e-3,
                           evaluate={where: str(missing)} if where in ("stsb", "winogender") else None)
    if where in ("coref", "winogender"):
        data = yaml.safe_load(recipe.read_text())
        data["finetune"]["tasks"]["coref"] = {"max_steps": 1, "data": str(missing) if where == "coref" else "synthetic"}
        data["evaluate"]["tests"] = ["sts_gender", "winogender"]
        recipe.write_text(yaml.safe_dump(data))
    out = tmp_path / "exp"
    assert main(["run", str(recipe), "--out", str(out)]) == 2
    assert not out.exists()
    expected = {
        "corpus": f"Corpus path {missing} does not exist. Set pretrain.corpus to 'synthetic', ",
        "coref": f"Coreference data {missing} does not exist. Pass 'synthetic', a GAP folder",
        "stsb": f"STS-B path {missing} does not exist. Pass the STS Benchmark folder",
        "winogender": f"Winogender path {missing} does not exist. Pass ",
    }[where]
    err = capsys.readouterr().err
    assert err.startswith("error: " + expected) and err.count("\n") == 1


@pytest.mark.bad_input
def test_status_of_a_file(tmp_path, capsys):
    recipe = _write_recipe(tmp_path / "r.yaml")
    assert main(["status", str(recipe)]) == 2
    assert capsys.readouterr().err == (f"error: {recipe} is a file, not an experiment folder. Pass the folder given to "
                                       "`nlp-underspec run` as --out (it holds manifest.json).\n")


@pytest.mark.bad_input
def test_status_of_a_manifest_that_is_a_list(tmp_path, capsys):
    (tmp_path / "manifest.json").write_text("[]")
    assert main(["status", str(tmp_path)]) == 2
    manifest = tmp_path / "manifest.json"
    assert capsys.readouterr().err == (f"error: {manifest} holds a JSON array, not an object. Restore it, or delete it "
                                       f"and `nlp-underspec run` the experiment's recipe with --out {tmp_path} to "
                                       "rewrite it.\n")


@pytest.mark.bad_input
def test_run_with_a_folder_as_recipe(tmp_path, capsys):
    out = tmp_path / "exp"
    assert main(["run", str(tmp_path), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (f"error: Recipe {tmp_path} is a folder, not a recipe file. Pass a YAML file, "
                                       "e.g. recipes/tiny.yaml.\n")
    assert not out.exists()


@pytest.mark.bad_input
@pytest.mark.parametrize("override, key, problem", [
    ("seeds.pretrain=[]", "seeds.pretrain", "is empty, so nothing would be pretrained. List at least one seed, "
                                            "e.g. [0, 1, 2]."),
    ("seeds.finetune=[]", "seeds.finetune", "is empty, so nothing would be fine-tuned. List at least one seed, "
                                            "e.g. [0, 1, 2]."),
    ("evaluate.tests=[]", "evaluate.tests", "is empty: a family is scored on its stress tests. Name at least one "
                                            "(e.g. [sts_gender, winogender]), or leave the key out for the default."),
])
def test_a_sweep_with_nothing_to_train_or_score_is_refused_before_writing(tmp_path, capsys, override, key, problem):
    """These used to finish with exit 0 ("Nothing to do: all 0 runs are complete") and a manifest, or to blame a
    mismatch between summary and run folders after scoring."""
    recipe = _write_recipe(tmp_path / "r.yaml", lr=1e-3)
    out = tmp_path / "exp"
    assert main(["run", str(recipe), "--out", str(out), "--set", override]) == 2
    assert capsys.readouterr().err == f"error: {recipe}: '{key}' {problem}\n"
    assert not out.exists()


@pytest.mark.bad_input
@pytest.mark.parametrize("link", ["pretrain/p00", "pretrain"])
def test_a_run_folder_that_is_a_link_is_refused_before_writing(tmp_path, capsys, link):
    """A linked run folder would take the run's log, lock and failure record wherever it points (here: into the
    folder holding it, where they looked like a stray run)."""
    recipe = _write_recipe(tmp_path / "r.yaml", lr=1e-3)
    out, target = tmp_path / "exp", tmp_path / "elsewhere"
    target.mkdir()
    (out / link).parent.mkdir(parents=True, exist_ok=True)
    (out / link).symlink_to(target, target_is_directory=True)
    assert main(["run", str(recipe), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (f"error: {out / link} is a symbolic link (to {target}), not a run folder. A "
                                       f"sweep reads and writes each run only in its own folder inside {out}: replace "
                                       "the link with a real folder.\n")
    assert list(target.iterdir()) == [] and sorted(p.name for p in out.iterdir()) == [link.split("/")[0]]


@pytest.mark.bad_input
@pytest.mark.parametrize("path", ["pretrain", "finetune/stsb/p00-f01"])
def test_a_file_where_a_run_folder_goes_is_refused_before_writing(tmp_path, capsys, path):
    recipe = _write_recipe(tmp_path / "r.yaml", lr=1e-3)
    out = tmp_path / "exp"
    (out / path).parent.mkdir(parents=True)
    (out / path).write_text("mine")
    assert main(["run", str(recipe), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (f"error: {out / path} is a file where the sweep keeps a run folder. Move it out "
                                       f"of {out}, or choose another --out.\n")
    assert (out / path).read_text() == "mine" and sorted(p.name for p in out.iterdir()) == [path.split("/")[0]]


def _complete_experiment(tmp_path, tiny_checkpoint):
    """An experiment folder whose three runs (pretrain/p00, finetune/stsb/p00-f00, -f01) are complete, each with a
    tiny checkpoint of its own, without training anything."""
    from safetensors.torch import load_file, save_file

    from nlp_underspec.config import load_recipe
    from nlp_underspec.records import RunRecord, mark_complete
    from nlp_underspec.sweep.plan import build_plan, write_manifest

    out = tmp_path / "exp"
    plan = build_plan(load_recipe(_write_recipe(tmp_path / "broken.yaml", lr=0.001)))
    write_manifest(out, plan)
    for seed, run in enumerate(plan.runs):
        folder = out / run.folder
        tiny_checkpoint("mlm" if run.kind == "pretrain" else "cross", seed=seed, name=f"ck{seed}")
        shutil.copytree(tmp_path / f"ck{seed}", folder)
        weights = folder / "model.safetensors"  # the same tensors under another header are other bytes
        save_file(load_file(weights), weights, metadata={"format": "pt", "run": run.key})
        mark_complete(folder, RunRecord(run_id=run.run_id, kind=run.kind, seeds=run.seeds, config=run.config,
                                        config_hash=run.config_hash, task=run.task))
    return out


@pytest.mark.bad_input
def test_a_complete_run_without_its_weights_is_partial_and_trained_again(tmp_path, capsys, tiny_checkpoint):
    """status said "3 complete" and run "Nothing to do" for a run folder whose model.safetensors was gone."""
    from nlp_underspec.config import load_recipe
    from nlp_underspec.sweep.plan import build_plan
    from nlp_underspec.sweep.state import run_state

    out = _complete_experiment(tmp_path, tiny_checkpoint)
    (out / "finetune/stsb/p00-f01/model.safetensors").unlink()
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("broken: 3 runs · 2 complete · 1 partial\n")
    assert ("  partial   finetune/stsb/p00-f01  run.json says complete, but the folder has no model.safetensors: the "
            "next `nlp-underspec run` trains it again\n") in printed
    plan = build_plan(load_recipe(tmp_path / "broken.yaml"))
    assert [run_state(out, run) for run in plan.runs] == ["complete", "complete", "partial"]
    (out / "pretrain/p00/config.json").unlink()
    assert run_state(out, plan.runs[0]) == "partial"


@pytest.mark.bad_input
def test_status_warns_of_two_runs_with_the_same_weights(tmp_path, capsys, tiny_checkpoint):
    out = _complete_experiment(tmp_path, tiny_checkpoint)
    shutil.copy2(out / "finetune/stsb/p00-f00/model.safetensors", out / "finetune/stsb/p00-f01/model.safetensors")
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("broken: 3 runs · 3 complete\n")
    assert captured.err == ("warning: finetune/stsb/p00-f00 and finetune/stsb/p00-f01 hold the same weights: two runs "
                            "of a seed family are never the same model, so one is a copy of the other (a push refuses "
                            "them). Delete the copy's folder and run the experiment again.\n")
