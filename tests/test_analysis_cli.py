"""`nlp-underspec analyze` and `nlp-underspec compare` on run folders: the analysis.json schema, skips with reasons,
a hand-written triplet folder, families of two models, and one clear error (exit 2, nothing written) per bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from nlp_underspec import cli, io, results, triplet
from nlp_underspec.analysis import bootstrap, family, statements, variance
from nlp_underspec.analysis import compare as compare_module
from nlp_underspec.analysis.demo import write_demo_family
from nlp_underspec.commands import compare as compare_command


@pytest.fixture(scope="module")
def demo_family(tmp_path_factory):
    """4 pretraining seeds x 3 fine-tuning seeds, plus the 4 pretrained checkpoints."""
    return write_demo_family(tmp_path_factory.mktemp("family"), pretrain_seeds=range(4), finetune_seeds=range(3),
                             pretrained=True)


def _run(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err.strip()


# ------------------------------------------------------------------------------------ analyze
def test_analyze_writes_the_documented_schema(demo_family, capsys):
    code, out, _ = _run(["analyze", str(demo_family), "--nboot", "200"], capsys)
    assert code == 0
    analysis = json.loads((demo_family / "analysis.json").read_text())
    assert analysis["version"] == 1 and analysis["n_models"] == 16
    assert analysis["pretrain_seeds"] == [0, 1, 2, 3] and analysis["finetune_seeds"] == [0, 1, 2]
    bias = analysis["metrics"]["winogender/bias_r"]
    assert (bias["test"], bias["metric"], bias["kind"], bias["population"]) == ("winogender", "bias_r", "stress",
                                                                               "finetuned")
    assert set(bias["spread"]) >= {"n", "mean", "std", "min", "max", "std_ci95"} and bias["spread"]["n"] == 12
    share = bias["seed_share"]
    assert set(share) >= {"n_seeds", "between_var", "within_var", "icc", "icc_ci95", "regroup"}
    assert set(share["regroup"]) >= {"observed_std", "null_mean", "null_ci95", "p_value"}
    boot = bias["multibootstrap"]
    assert boot["nboot"] == 200 and boot["ci95"][0] <= boot["mean"] <= boot["ci95"][1]
    assert boot["resampled"] == ["pretrain_seed", "occupation"]
    assert analysis["metrics"]["winogender/accuracy"]["multibootstrap"]["resampled"] == ["pretrain_seed", "sentence"]
    dev = analysis["metrics"]["stsb/dev_pearson"]
    assert dev["kind"] == "iid" and dev["multibootstrap"]["resampled"] == ["pretrain_seed"] and "note" in dev["multibootstrap"]
    ratio = next(r for r in analysis["spread_ratio"] if (r["stress"], r["iid"]) == ("sts_gender/pearson_bls",
                                                                                   "stsb/dev_pearson"))
    assert ratio["ratio"] > 0 and len(ratio["ci95"]) == 2 and ratio["n"] == 12
    corr = next(c for c in analysis["iid_vs_stress"] if c["stress"] == "winogender/bias_r")
    assert -1 <= corr["spearman"] <= 1 and corr["n"] == 12
    pca = analysis["pca"]["sts_gender"]
    assert pca["source"] == "predictions/sts_gender" and len(pca["model_coords"]) == 12
    assert pca["top_items"][0]["component"] == 1 and ":" in pca["top_items"][0]["item"]
    cluster = analysis["clustering"]["winogender"]
    assert cluster["n_clusters"] == 4 and set(cluster["labels"]) == {f"p0{p}-f0{f}" for p in range(4) for f in range(3)}
    assert "seed ICC" in out and "winogender/bias_r" in out and "wrote" in out


def test_pretrained_checkpoints_are_analysed_apart_and_skips_carry_reasons(demo_family, capsys):
    statements.analyze(demo_family, nboot=50)
    analysis = json.loads((demo_family / "analysis.json").read_text())
    pretrained = analysis["metrics"]["winogender/bias_r@pretrained"]
    assert pretrained["population"] == "pretrained" and pretrained["spread"]["n"] == 4
    reason = variance.NO_REPLICATES.format(what="winogender/bias_r@pretrained")
    assert pretrained["seed_share"] == {"skipped": reason}
    assert {"statement": "seed_share", "subject": "winogender/bias_r@pretrained", "reason": reason} in analysis["skipped"]
    assert analysis["needs"]["seed_share"] == statements.NEEDS["seed_share"]


def _hand_made_folder(root):
    """Two models, written the way another tool would: TSVs typed by hand, a .npy, and a tidy scores table."""
    folder = root / "predictions" / "winogender"
    folder.mkdir(parents=True)
    (folder / "run_info.tsv").write_text("model\tpretrain_seed\tfinetune_seed\np00-f00\t0\t0\np01-f00\t1\t0\n")
    lines = ["item_id\toccupation\tparticipant\tanswer\tgender"]
    occupations = ["nurse", "carpenter", "secretary", "engineer"]
    for occupation in occupations:
        for answer in (0, 1):
            for gender in ("female", "male"):
                lines.append(f"{occupation}.someone.{answer}.{gender}.txt\t{occupation}\tsomeone\t{answer}\t{gender}")
    (folder / "label_info.tsv").write_text("\n".join(lines) + "\n")
    rng = np.random.default_rng(5)
    np.save(folder / "preds.npy", rng.random((2, len(lines) - 1)))
    rows = []
    loaded = triplet.read_predictions(folder)
    from nlp_underspec.analysis import example_set

    for metric in ("accuracy", "bias_r"):
        values = example_set(test="winogender", metric=metric, predictions=loaded).scores()
        rows += [{"model": m, "pretrain_seed": p, "finetune_seed": f, "test": "winogender", "metric": metric,
                  "value": v, "occupation": None} for (m, p, f), v in values.items()]
    results.write_scores(root / "scores.parquet", results.scores_frame(rows))
    return root


def test_analyze_a_hand_made_folder_of_two_models(tmp_path, capsys):
    root = _hand_made_folder(tmp_path)
    code, out, _ = _run(["analyze", str(root), "--nboot", "100"], capsys)
    assert code == 0
    analysis = json.loads((root / "analysis.json").read_text())
    bias = analysis["metrics"]["winogender/bias_r"]
    assert bias["spread"]["n"] == 2 and bias["multibootstrap"]["resampled"] == ["pretrain_seed", "occupation"]
    assert bias["seed_share"] == {"skipped": variance.NO_REPLICATES.format(what="winogender/bias_r")}
    assert analysis["pca"]["winogender"]["n_models"] == 2 and len(analysis["pca"]["winogender"]["explained_variance_ratio"]) == 1
    assert "skipped" in analysis["clustering"]["winogender"]
    assert analysis["iid_vs_stress"] == [] and any(s["statement"] == "iid_vs_stress" for s in analysis["skipped"])
    assert "Skipped" in out and "seed_share needs >= 2 pretraining seeds" in out


@pytest.mark.bad_input
def test_explicit_statement_that_cannot_be_made_is_an_error(tmp_path, capsys):
    root = _hand_made_folder(tmp_path)
    code, _, err = _run(["analyze", str(root), "--only", "spread,seed_share"], capsys)
    assert code == 2
    assert err == "error: " + variance.NO_REPLICATES.format(what="winogender/accuracy")
    assert not (root / "analysis.json").exists()  # nothing half-written


@pytest.mark.bad_input
def test_analyze_bad_inputs(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert _run(["analyze", str(missing)], capsys)[1:] == ("", "error: " + family.NOT_A_RUNDIR.format(path=missing))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run(["analyze", str(empty)], capsys)[2] == "error: " + results.NO_RESULTS.format(path=empty,
                                                                                           name="scores.parquet")
    code, _, err = _run(["analyze", str(empty), "--only", "spread,pca,wat"], capsys)
    assert (code, err) == (2, "error: " + statements.UNKNOWN_STATEMENT.format(
        name="wat", available=", ".join(statements.STATEMENTS)))


@pytest.mark.bad_input
@pytest.mark.parametrize("command", ["analyze", "compare"])
def test_nboot_has_an_upper_bound(demo_family, tmp_path, capsys, command):
    """numpy died asking for petabytes (_ArrayMemoryError) after reading the family."""
    argv = [command, str(demo_family), *([str(demo_family)] if command == "compare" else ["--no-write"]),
            "--nboot", "99999999999999"]
    code, out, err = _run(argv, capsys)
    assert (code, out, err) == (2, "", "error: --nboot must be at most 1,000,000, got 99,999,999,999,999: more draws "
                                       "change no digit reported and only exhaust memory.")


@pytest.mark.bad_input
def test_analyze_refuses_a_triplet_with_mismatched_shapes(tmp_path, capsys):
    root = _hand_made_folder(tmp_path)
    folder = root / "predictions" / "winogender"
    np.save(folder / "preds.npy", np.zeros((3, 16)))
    code, _, err = _run(["analyze", str(root)], capsys)
    assert code == 2 and err == "error: " + triplet.PREDS_SHAPE.format(
        path=folder / "preds.npy", shape=(3, 16), run_info=folder / "run_info.tsv", label_info=folder / "label_info.tsv",
        n_models=2, n_items=16)
    assert not (root / "analysis.json").exists()


@pytest.mark.bad_input
def test_analyze_refuses_one_model_and_duplicate_rows(tmp_path, capsys):
    rows = [{"model": "p00-f00", "pretrain_seed": 0, "finetune_seed": 0, "test": "winogender", "metric": "bias_r",
             "value": 0.3, "occupation": None}]
    results.write_scores(tmp_path / "scores.parquet", results.scores_frame(rows))
    assert _run(["analyze", str(tmp_path)], capsys)[2] == "error: " + family.TOO_FEW_MODELS.format(
        path=tmp_path / "scores.parquet", n=1)
    rows += [dict(rows[0], model="p01-f00", pretrain_seed=1), dict(rows[0], value=0.4)]
    results.write_scores(tmp_path / "scores.parquet", results.scores_frame(rows))
    assert _run(["analyze", str(tmp_path)], capsys)[2] == "error: " + family.DUPLICATE_SCORE.format(
        path=tmp_path / "scores.parquet", model="p00-f00", count=2, test="winogender", metric="bias_r", occupation="")


@pytest.mark.bad_input
def test_nan_scores_are_refused(tmp_path, capsys):
    rows = [{"model": f"p0{p}-f00", "pretrain_seed": p, "finetune_seed": 0, "test": "winogender", "metric": "bias_r",
             "value": np.nan if p == 1 else 0.3, "occupation": None} for p in range(3)]
    frame = results.scores_frame(rows)
    frame.to_parquet(tmp_path / "scores.parquet", index=False)  # bypass the writer, as a foreign tool might
    assert _run(["analyze", str(tmp_path)], capsys)[2] == "error: " + results.SCORES_NOT_FINITE.format(
        path=tmp_path / "scores.parquet", what="p01-f00 / winogender / bias_r")


def test_a_rerun_replaces_analysis_json_without_leftovers(demo_family, capsys):
    statements.analyze(demo_family, nboot=30, statements=("spread",))
    assert json.loads((demo_family / "analysis.json").read_text())["settings"]["nboot"] == 30
    assert not [p for p in demo_family.iterdir() if p.name.startswith(".analysis.json")]


# ------------------------------------------------------------------------------------ compare
@pytest.fixture(scope="module")
def intervention(tmp_path_factory):
    """Same seeds as the demo family, gender association weakened (e.g. counterfactual data augmentation)."""
    return write_demo_family(tmp_path_factory.mktemp("cda"), pretrain_seeds=range(4), finetune_seeds=range(3),
                             pretrained=True, mean_strength=0.4, rng=1)


def test_compare_paired_finds_the_planted_reduction(demo_family, intervention, tmp_path, capsys):
    out_file = tmp_path / "compare.json"
    code, out, _ = _run(["compare", str(demo_family), str(intervention), "--paired", "--nboot", "200",
                         "--metrics", "winogender/bias_r,sts_gender/pearson_bls,stsb/dev_pearson",
                         "--expect-negative-effect", "--out", str(out_file)], capsys)
    assert code == 0 and "delta [CI]" in out
    comparison = json.loads(out_file.read_text())
    by_metric = {c["metric"]: c for c in comparison["comparisons"]}
    bias = by_metric["winogender/bias_r"]
    assert bias["paired"] and bias["resampled"] == ["pretrain_seed", "occupation"]
    assert bias["delta"]["high"] < 0 and bias["delta"]["p"] == pytest.approx(1 / 200)
    assert by_metric["stsb/dev_pearson"]["resampled"] == ["pretrain_seed"]
    assert bias["n_seeds"] == {"base": 4, "expt": 4} and bias["n_runs"] == {"base": 12, "expt": 12}


def test_compare_out_replaces_only_an_earlier_comparison(demo_family, intervention, tmp_path, capsys):
    argv = ["compare", str(demo_family), str(intervention), "--nboot", "20", "--metrics", "winogender/accuracy",
            "--out"]
    summary = demo_family / "summary.json"
    before = summary.read_bytes()
    assert _run([*argv, str(summary)], capsys)[2] == "error: " + compare_command.COMPARE_OUT_NOT_OURS.format(
        path=summary)  # an input of the comparison
    assert _run([*argv, str(tmp_path)], capsys)[2] == "error: " + io.OUT_IS_FOLDER.format(
        path=tmp_path, fix=compare_command.OUT_FIX)  # a folder
    assert summary.read_bytes() == before
    out_file = tmp_path / "cmp.json"
    assert _run([*argv, str(out_file)], capsys)[0] == 0 and _run([*argv, str(out_file)], capsys)[0] == 0


def test_compare_unpaired_and_reproducible(demo_family, intervention):
    first = compare_module.compare_families(demo_family, intervention, nboot=50, seed=3, metrics=["winogender/accuracy"])
    again = compare_module.compare_families(demo_family, intervention, nboot=50, seed=3, metrics=["winogender/accuracy"])
    assert first == again and not first["paired"] and first["comparisons"][0]["resampled"] == ["pretrain_seed",
                                                                                                "sentence"]


@pytest.mark.bad_input
def test_compare_paired_without_shared_seeds_is_one_clear_error(demo_family, tmp_path, capsys):
    other = write_demo_family(tmp_path / "other", pretrain_seeds=[10, 11], finetune_seeds=[0, 1])
    reason = bootstrap.NO_COMMON_SEEDS.format(base="0, 1, 2, 3", expt="10, 11")
    for extra in ([], ["--metrics", "winogender/bias_r"]):
        code, _, err = _run(["compare", str(demo_family), str(other), "--paired", *extra], capsys)
        assert (code, err) == (2, "error: " + reason)


@pytest.mark.bad_input
def test_compare_paired_names_the_seeds_it_leaves_out(demo_family, tmp_path, capsys, caplog):
    """Seeds {0..3} against {0, 1, 5}: paired draws use 0 and 1 only. The baseline's number was printed as the whole
    family's and JSON said n_seeds 4, without a word about seeds 2, 3 and 5."""
    shifted = write_demo_family(tmp_path / "shifted", pretrain_seeds=[0, 1, 5], finetune_seeds=range(3), rng=1)
    out_file = tmp_path / "cmp.json"
    code, _, err = _run(["compare", str(demo_family), str(shifted), "--paired", "--nboot", "20", "--metrics",
                         "winogender/bias_r,stsb/dev_pearson", "--out", str(out_file)], capsys)
    assert (code, err) == (0, "")
    warnings = [r.getMessage() for r in caplog.records if r.name == compare_module.__name__]
    assert warnings == [compare_module.UNPAIRED_SEEDS_LEFT_OUT.format(
        base="2, 3", expt="5", metrics="winogender/bias_r, stsb/dev_pearson")]
    assert warnings[0] == (
        "Paired comparison uses only the pretraining seeds both families share: left out baseline seed(s) 2, 3 and "
        "intervention seed(s) 5 for winogender/bias_r, stsb/dev_pearson, so those numbers are of the shared seeds, "
        "not of the whole family (leave out --paired to use every seed).")
    comparison = json.loads(out_file.read_text())
    assert comparison["unpaired_seeds"] == {"base": [2, 3], "expt": [5]}
    for entry in comparison["comparisons"]:
        assert entry["unpaired_seeds"] == {"base": [2, 3], "expt": [5]}
        assert entry["n_seeds"] == {"base": 2, "expt": 2} and entry["n_runs"] == {"base": 6, "expt": 6}
    unpaired = compare_module.compare_families(demo_family, shifted, nboot=20, metrics=["winogender/bias_r"])
    assert "unpaired_seeds" not in unpaired and unpaired["comparisons"][0]["n_seeds"] == {"base": 4, "expt": 3}


def test_compare_reports_what_it_could_not_compare(tmp_path, capsys):
    # Two families of one pretraining seed each, no shared items: iid metrics have nothing to resample.
    base = write_demo_family(tmp_path / "base", pretrain_seeds=[0], finetune_seeds=[0, 1], tests=())
    expt = write_demo_family(tmp_path / "expt", pretrain_seeds=[0], finetune_seeds=[0, 1], tests=(), rng=1)
    code, _, err = _run(["compare", str(base), str(expt)], capsys)
    reason = compare_module.ONE_SEED_EACH.format(key="coref/dev_accuracy")
    assert (code, err) == (2, "error: " + compare_command.NOTHING_COMPARED.format(reason=reason))


@pytest.mark.bad_input
def test_compare_unknown_metric(demo_family, intervention, capsys):
    code, _, err = _run(["compare", str(demo_family), str(intervention), "--metrics", "winogender/bias"], capsys)
    assert code == 2 and err.startswith("error: Metric(s) winogender/bias are not in both families. Available: ")


@pytest.mark.bad_input
@pytest.mark.parametrize("extra, message", [
    (["--rel-threshold", "nan"], "--rel-threshold must be a finite number, got nan."),  # was a share of 0, exit 0
    (["--abs-threshold=-inf"], "--abs-threshold must be a finite number, got -inf."),
    (["--level", "1.5"], "--level must be a confidence level strictly between 0 and 1 (e.g. 0.95), got 1.5."),
    (["--level", "nan"], "--level must be a confidence level strictly between 0 and 1 (e.g. 0.95), got nan."),
])
def test_compare_float_flags_must_be_finite_and_are_named(demo_family, intervention, tmp_path, capsys, extra, message):
    out_file = tmp_path / "cmp.json"  # a NaN threshold also broke the JSON writer, after the bootstrap
    code, _, err = _run(["compare", str(demo_family), str(intervention), "--nboot", "20", *extra, "--out",
                         str(out_file)], capsys)
    assert (code, err) == (2, "error: " + message) and not out_file.exists()


@pytest.mark.bad_input
def test_compare_refuses_an_empty_metrics_list(demo_family, intervention, capsys):
    code, _, err = _run(["compare", str(demo_family), str(intervention), "--metrics", ""], capsys)  # was IndexError
    assert code == 2 and err.startswith(
        "error: The list of metrics to compare is empty (--metrics ''). Name test/metric keys separated by commas, or "
        "leave --metrics out to compare every shared metric. Available: ")


@pytest.mark.bad_input
def test_compare_refuses_a_family_compared_with_itself(demo_family, capsys):
    """Paired, every delta was 0 [0, 0] with p 1, exit 0: a comparison that tells nothing, read as 'no effect'."""
    for expt in (demo_family, demo_family / "."):
        code, _, err = _run(["compare", str(demo_family), str(expt), "--paired", "--nboot", "20"], capsys)
        assert (code, err) == (2, "error: " + compare_module.SAME_FAMILY.format(path=os.path.realpath(demo_family)))
    assert compare_module.SAME_FAMILY.startswith("The baseline and the intervention are the same folder ({path}): a "
                                                 "family compared with itself has nothing to tell (every paired delta "
                                                 "is 0). Pass two different families.")


@pytest.mark.bad_input
def test_compare_out_that_is_a_users_file_is_kept_without_advice_to_delete_it(demo_family, intervention, tmp_path,
                                                                              capsys):
    mine = tmp_path / "myfile_keep.yaml"
    mine.write_text("name: small\nthreads: 1\n")
    code, _, err = _run(["compare", str(demo_family), str(intervention), "--nboot", "20", "--out", str(mine)], capsys)
    assert (code, err) == (2, f"error: --out {mine} exists and is not a comparison written by nlp-underspec compare, "
                              "so it is not replaced. Choose another --out (a new file, or an earlier comparison to "
                              "replace).")
    assert mine.read_text() == "name: small\nthreads: 1\n"


def test_a_sweeps_pretrained_folder_joins_as_its_own_population(tmp_path):
    write_demo_family(tmp_path, pretrain_seeds=range(3), finetune_seeds=range(2))
    write_demo_family(tmp_path / "pretrained", pretrain_seeds=range(3), finetune_seeds=(), pretrained=True,
                      tests=("winogender",))
    analysis = statements.analyze(tmp_path, nboot=50, statements=("spread", "multibootstrap"), write=False)
    assert analysis["n_models"] == 9
    checkpoints = analysis["metrics"]["winogender/bias_r@pretrained"]
    assert checkpoints["spread"]["n"] == 3 and checkpoints["population"] == "pretrained"
    assert checkpoints["multibootstrap"]["resampled"] == ["pretrain_seed", "occupation"]  # its triplet was merged
    assert analysis["metrics"]["winogender/bias_r"]["spread"]["n"] == 6


@pytest.mark.bad_input
def test_an_explicit_statement_with_no_subject_is_an_error(tmp_path, capsys):
    write_demo_family(tmp_path, pretrain_seeds=range(2), finetune_seeds=range(2), tests=())  # iid metrics only
    code, _, err = _run(["analyze", str(tmp_path), "--only", "pca"], capsys)
    assert (code, err) == (2, "error: " + statements.NOTHING_TO_STATE.format(statement="pca",
                                                                           need=statements.NEEDS["pca"]))
