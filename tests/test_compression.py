"""Compression stress: int8 round trip, global magnitude pruning, the compressed family and its compression.json,
and the command's refusals with their exact messages. Offline: tiny BERTs built from a BertConfig."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from nlp_underspec import cli
from nlp_underspec.compression import (Method, compress_checkpoint, compress_state, int8_round_trip,
                                       is_linear_weight, parse_methods, prune_global)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the tests' own helpers
from cli_errors import cli_fails  # noqa: E402
from conftest import build_tiny_checkpoint  # noqa: E402


def test_int8_round_trip_moves_each_weight_by_at_most_one_step():
    torch.manual_seed(0)
    weight = torch.randn(16, 8)
    back, scale = int8_round_trip(weight)
    assert back.shape == weight.shape and back.dtype == weight.dtype
    assert float((back - weight).abs().max()) <= scale + 1e-7
    assert scale == pytest.approx(float(weight.abs().max()) / 127.5, rel=0.02)
    assert len(torch.unique(back)) <= 256  # at most 256 int8 levels
    assert not torch.equal(back, weight)


def test_pruning_zeros_the_requested_share_globally():
    torch.manual_seed(0)
    weights = {"a.weight": torch.randn(10, 10), "b.weight": 5 * torch.randn(20, 10)}
    pruned = prune_global(weights, 0.5)
    zeros = sum(int((w == 0).sum()) for w in pruned.values())
    assert zeros == 150  # half of 300, over both layers together
    # global, not per layer: the small-scale layer loses more than half of its weights
    assert int((pruned["a.weight"] == 0).sum()) > 50
    kept = torch.cat([w[w != 0].abs() for w in pruned.values()])
    cut = torch.cat([weights[n][pruned[n] == 0].abs() for n in weights])
    assert float(kept.min()) >= float(cut.max())
    assert all(torch.equal(prune_global(weights, 0.0)[n], weights[n]) for n in weights)


def test_only_linear_weights_are_compressed():
    state = {"bert.embeddings.word_embeddings.weight": torch.randn(30, 8), "enc.dense.weight": torch.randn(8, 8),
             "enc.dense.bias": torch.randn(8), "enc.LayerNorm.weight": torch.ones(8)}
    assert [n for n, t in state.items() if is_linear_weight(n, t)] == ["enc.dense.weight"]
    out, stats = compress_state(state, Method("prune", 0.5))
    assert stats == {"n_linear_weights": 64, "zero_share": 0.5}
    for name in ("bert.embeddings.word_embeddings.weight", "enc.dense.bias", "enc.LayerNorm.weight"):
        assert torch.equal(out[name], state[name])


def test_a_compressed_checkpoint_is_safetensors_and_labelled(tiny_checkpoint, tmp_path):
    from safetensors.torch import load_file

    source = tiny_checkpoint("mlm", seed=1)
    (source / "run.json").write_text(json.dumps({"run_id": "p01", "status": "complete"}))
    block = compress_checkpoint(source, tmp_path / "out", Method("int8"))
    assert block["method"] == "int8" and block["max_scale"] > 0
    assert json.loads((tmp_path / "out" / "run.json").read_text())["compression"]["name"] == "int8"
    before, after = load_file(source / "model.safetensors"), load_file(tmp_path / "out" / "model.safetensors")
    assert set(before) == set(after)
    assert (tmp_path / "out" / "config.json").is_file() and not (tmp_path / "out" / "pytorch_model.bin").exists()


@pytest.fixture(scope="module")
def family(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("family")
    checkpoints = [build_tiny_checkpoint(root / "models" / f"p0{seed}", "mlm", seed=seed) for seed in (0, 1)]
    assert cli.main(["evaluate", *map(str, checkpoints), "--tests", "winogender", "--winogender",
                     str(shared_data / "winogender" / "data"), "--out", str(root / "fam"), "--n-boot", "50",
                     "--seed-pattern", r"p(?P<pretrain_seed>\d+)"]) == 0
    return root


@pytest.fixture(scope="module")
def compressed(family):
    out = family / "compressed"
    assert cli.main(["compress", str(family / "fam"), "--method", "prune:0.0,0.5,0.7", "--out", str(out),
                     "--n-boot", "50"]) == 0
    return out


def test_compression_json_shape_and_a_zero_level_shifts_nothing(compressed):
    document = json.loads((compressed / "compression.json").read_text())
    assert list(document["levels"]) == ["prune-0", "prune-0.5", "prune-0.7"]  # several levels in one call, in order
    assert "not recomputed" in document["iid"]
    zero = document["levels"]["prune-0"]
    members = zero["groups"]["finetuned"]["members"]
    assert [m["model"] for m in members] == ["p00", "p01"]
    for member in members:
        assert set(member["stress_shift"]) == {"winogender/accuracy", "winogender/bias_r", "winogender/bias_slope"}
        assert all(s["shift"] == 0.0 for s in member["stress_shift"].values())
    assert all(item["mean_abs_delta"] == 0.0 for item in zero["groups"]["finetuned"]["exemplars"]["winogender"])
    half = document["levels"]["prune-0.5"]
    moved = half["groups"]["finetuned"]["exemplars"]["winogender"]
    assert len(moved) == 10 and moved[0]["mean_abs_delta"] > 0 and "item_id" in moved[0]
    assert moved == sorted(moved, key=lambda item: -item["mean_abs_delta"])
    assert all(block["zero_share"] == pytest.approx(0.5, abs=1e-3) for block in half["checkpoints"].values())
    assert half["wall_seconds"] >= 0
    family = half["family_shift"]["metrics"]["winogender/accuracy"]["delta"]
    assert family["low"] <= family["mean"] <= family["high"]


def test_each_level_is_a_family_folder_labelled_compressed(compressed):
    from nlp_underspec import results

    summary = results.read_summary(compressed / "prune-0.5")
    assert summary["compression"]["name"] == "prune-0.5"
    assert all(entry["compression"]["amount"] == 0.5 for entry in summary["models"])
    assert all(str(compressed / "prune-0.5") in entry["checkpoint"] for entry in summary["models"])
    assert len(results.read_scores(compressed / "prune-0.5"))


def test_output_folder_not_ours_is_refused(family, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    message = cli_fails(["compress", family / "fam", "--method", "int8", "--out", out], capsys)
    assert message == (f"Output folder {out} holds notes.txt, which is not a compression folder written by "
                       "nlp_underspec. Nothing replaces such a folder, --overwrite or not: choose another --out, or move "
                       "those files out of it first.")


def test_an_earlier_compression_is_replaced_only_with_overwrite(family, compressed, capsys):
    message = cli_fails(["compress", family / "fam", "--method", "int8", "--out", compressed], capsys)
    assert message == (f"Output folder {compressed} already holds a different run (compression.json, prune-0, "
                       "prune-0.5, prune-0.7). Choose another --out, or pass --overwrite to replace it.")


@pytest.mark.parametrize("method, expected", [
    ("prune:1.5", "Pruning level '1.5' is not a share of weights: give numbers from 0 (nothing pruned) up to, not "
                  "including, 1, e.g. --method prune:0.3,0.5,0.7."),
    ("prune:x", "Pruning level 'x' is not a share of weights: give numbers from 0 (nothing pruned) up to, not "
                "including, 1, e.g. --method prune:0.3,0.5,0.7."),
    ("prune", "--method prune needs its levels: prune:0.3,0.5,0.7 (shares of Linear weights set to 0)."),
    ("foo", "Unknown compression method 'foo'. Available: int8, prune:LEVEL[,LEVEL...]."),
    ("prun:0.5", "Unknown compression method 'prun:0.5'. Did you mean 'prune'? Available: int8, "
                 "prune:LEVEL[,LEVEL...]."),
    ("int", "Unknown compression method 'int'. Did you mean 'int8'? Available: int8, prune:LEVEL[,LEVEL...]."),
    ("prune:0.5,0.50", "Compression level 'prune-0.5' is asked for twice: each level is one folder prune-0.5/ of "
                       "--out, so give each once (e.g. --method prune:0.3,0.5,0.7)."),
])
def test_bad_methods_are_refused(method, expected, tmp_path, capsys):
    assert cli_fails(["compress", tmp_path, "--method", method, "--out", tmp_path / "out"], capsys) == expected


@pytest.mark.bad_input
def test_a_method_given_twice_across_flags_is_refused(tmp_path, capsys):
    message = cli_fails(["compress", tmp_path, "--method", "int8", "--method", "int8", "--out", tmp_path / "out"],
                        capsys)
    assert message == ("Compression level 'int8' is asked for twice: each level is one folder int8/ of --out, so give "
                       "each once (e.g. --method prune:0.3,0.5,0.7).")
    assert not (tmp_path / "out").exists()


def test_a_folder_without_members_is_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    message = cli_fails(["compress", tmp_path / "empty", "--method", "int8", "--out", tmp_path / "out"], capsys)
    assert message == (f"{tmp_path / 'empty'} holds no family members to compress: expected "
                       "predictions/<test>/run_info.tsv (and pretrained/predictions/) naming checkpoints, as "
                       "`nlp-underspec run` or `evaluate` writes them.")


def test_parse_methods_reads_levels_in_order():
    assert [m.amount for m in parse_methods("prune:0.3,0.5,0.7")] == [0.3, 0.5, 0.7]


def test_cards_label_compressed_checkpoints(compressed, tmp_path, capsys):
    from nlp_underspec import results

    entry = results.read_summary(compressed / "prune-0.5")["models"][0]
    out = tmp_path / "card"
    assert cli.main(["card", "--model", entry["checkpoint"], "--results", str(compressed / "prune-0.5"),
                     "--out", str(out)]) == 0
    text = next(out.rglob("README.md")).read_text()
    assert ("**Compressed checkpoint:** global magnitude pruning of 50% of Linear weights (`nlp-underspec compress`, "
            "method `prune-0.5`); its scores are the compressed copy's, not the original's.") in text


def test_members_get_paired_item_intervals(compressed):
    document = json.loads((compressed / "compression.json").read_text())
    shift = document["levels"]["prune-0.5"]["groups"]["finetuned"]["members"][0]["stress_shift"]["winogender/accuracy"]
    low, high = shift["ci95"]
    assert low <= shift["shift"] <= high or abs(shift["shift"] - (low + high) / 2) < 0.1
    zero = document["levels"]["prune-0"]["groups"]["finetuned"]["members"][0]["stress_shift"]["winogender/accuracy"]
    assert zero["ci95"] == [0.0, 0.0]


def test_iid_shifts_are_compressed_minus_original_and_a_family_without_recipe_says_so(compressed):
    from nlp_underspec.compression_iid import iid_shifts

    shifts = iid_shifts({"stsb": {"dev_pearson": 0.9, "dev_loss": 0.5}}, {"stsb": {"dev_pearson": 0.85}})
    assert shifts == {"stsb/dev_pearson": {"original": 0.9, "compressed": 0.85, "shift": pytest.approx(-0.05)}}
    document = json.loads((compressed / "compression.json").read_text())
    assert document["iid"] == (f"not recomputed: {compressed.parent / 'fam'} has no recipe.yaml naming the "
                               "fine-tuning tasks' dev sets")


def test_every_level_of_one_call_is_its_own_family_and_prunes_its_share(compressed):
    from nlp_underspec import results

    document = json.loads((compressed / "compression.json").read_text())
    for name, amount in (("prune-0", 0.0), ("prune-0.5", 0.5), ("prune-0.7", 0.7)):
        part = document["levels"][name]
        assert part["method"] == {"method": "prune", "amount": amount, "name": name,
                                  "description": f"global magnitude pruning of {amount:.0%} of Linear weights"}
        assert all(block["zero_share"] == pytest.approx(amount, abs=1e-3) for block in part["checkpoints"].values())
        assert results.read_summary(compressed / name)["compression"]["name"] == name
    moved = [document["levels"][name]["groups"]["finetuned"]["exemplars"]["winogender"][0]["mean_abs_delta"]
             for name in ("prune-0", "prune-0.5", "prune-0.7")]
    assert moved[0] == 0.0 < moved[1]


def test_report_of_the_compress_output_shows_every_level(compressed, capsys):
    """`report DIR` on compress's --out: the family it was made from, with one block of rows per level."""
    import re

    assert cli.main(["report", str(compressed)]) == 0
    assert capsys.readouterr().out.endswith(f"report: {compressed / 'report' / 'index.html'}\n")
    page = (compressed / "report" / "index.html").read_text(encoding="utf-8")
    part = page[page.index('<section id="compression">'):]
    levels = re.findall(r'<tr><td class="name">(prune-[0-9.]+)</td><td class="name">fine-tuned</td><td class="name">'
                        r'stress</td><td class="name">winogender/accuracy</td>', part)
    assert levels == ["prune-0", "prune-0.5", "prune-0.7"]
    assert "prune-0.7: of " in part and "global magnitude pruning of 70% of Linear weights" in part
    assert not (compressed.parent / "fam" / "report").exists()
    assert cli.main(["report", str(compressed / "prune-0.5"), "--out", str(compressed.parent / "level-report")]) == 0
    assert '<section id="compression">' in (compressed.parent / "level-report" / "index.html").read_text("utf-8")
