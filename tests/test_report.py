"""The HTML report: figures with captions, a self-contained page that renders in headless Chromium, honest gaps."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from headless_chromium import MISSING, find_chromium, open_page
from report_family import build_family

from nlp_underspec.cli import main
from nlp_underspec.errors import UsageError
from nlp_underspec.report import build_report
from nlp_underspec.experiment.family import RESULTS_DONT_MATCH_RUNS, load_family
from nlp_underspec.report.figures import relations

FULL_FIGURES = {"per_occupation_sts_gender", "per_occupation_winogender", "by_pretraining_seed", "iid_vs_stress",
                "variance_split", "multibootstrap", "pca_sts_gender"}


@pytest.fixture
def family_dir(tmp_path, tiny_checkpoint):
    return build_family(tmp_path / "runs" / "tiny", tiny_checkpoint)


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One report over a 2 x 2 family with its analysis (results only: the report never opens a checkpoint)."""
    root = build_family(tmp_path_factory.mktemp("report") / "exp", None, runs=False)
    before = _digests(root)
    index = build_report(root)
    return root, index, before


def test_report_writes_page_and_every_figure_with_caption(built):
    root, index, before = built
    assert index == root / "report" / "index.html"
    names = {p.stem for p in (root / "report" / "figures").iterdir()}
    assert names == FULL_FIGURES
    for name in FULL_FIGURES:
        assert (root / "report" / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (root / "report" / "figures" / f"{name}.svg").read_bytes()[:2000]
    html = index.read_text(encoding="utf-8")
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", html, flags=re.DOTALL)
    assert len(captions) == len(FULL_FIGURES) == html.count('src="data:image/png;base64,')
    assert all(len(re.sub(r"<[^>]+>", "", c)) > 200 for c in captions)  # says what it shows and how to read it
    assert not re.search(r"""(src|href)=["']https?:""", html)  # nothing fetched from the network
    assert "0.805" in html and "p01-f01" in html  # the glance table carries summary.json's numbers
    assert "0.800 [0.400, 0.950]" in html  # ICC and its interval from analysis.json
    family = load_family(root)  # per-occupation rows of the pretrained checkpoints come from pretrained/scores.parquet
    assert set(family.per_occupation("winogender")["model"]) == {"p00", "p01", "p00-f00", "p00-f01", "p01-f00", "p01-f01"}
    assert len(family.per_occupation("winogender")) == 6 * 60
    after = _digests(root)
    assert {k: v for k, v in after.items() if not k.startswith("report/")} == before  # inputs untouched


def test_report_renders_in_headless_chromium_with_all_images(built, tmp_path):
    if find_chromium() is None:
        pytest.fail(MISSING)
    _, index, _ = built
    state = open_page(index, tmp_path / "screenshot.png")
    assert state["ready"] == "complete"
    assert len(state["images"]) == len(FULL_FIGURES)
    assert all(image["complete"] and image["width"] > 100 and image["height"] > 100 for image in state["images"])
    assert all(url.startswith(("data:", "file:")) for url in state["resources"])
    assert all(length > 200 for length in state["captions"])
    shot = (tmp_path / "screenshot.png").read_bytes()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000


def test_report_without_analysis_says_what_was_not_computed(tmp_path):
    root = build_family(tmp_path / "exp", None, runs=False, analysis=False, pretrain_seeds=(0,), finetune_seeds=(0, 1))
    html = build_report(root).read_text(encoding="utf-8")
    assert "The seed analysis was not computed: there is no <code>analysis.json</code>" in html
    assert "Variance split by pretraining seed: not computed (no analysis.json" in html
    # Two fine-tuned pairs: too few for a rank correlation, and a checkpoint's Winogender accuracy is no iid metric.
    pairings = relations.PAIRINGS.format(pairs="sts_gender with stsb, winogender with coref")
    assert relations.NO_IID_PAIR.format(n=3, pairings=pairings) in html
    figures = {p.stem for p in (root / "report" / "figures").iterdir()}
    assert figures == {"per_occupation_sts_gender", "per_occupation_winogender", "by_pretraining_seed"}


@pytest.mark.bad_input
def test_report_command_replaces_its_own_output_but_not_a_foreign_folder(tmp_path, capsys):
    from nlp_underspec.io import OUT_HOLDS_INPUT, OUT_NOT_OURS

    root = build_family(tmp_path / "exp", None, runs=False, pretrain_seeds=(0,), finetune_seeds=(0, 1))
    assert main(["report", str(root), "--out", str(root / "html")]) == 0
    assert capsys.readouterr().out == f"report: {root / 'html' / 'index.html'}\n"
    (root / "html" / "figures" / "stale.svg").write_text("<svg/>")  # a figure of an earlier report: replaced
    assert main(["report", str(root), "--out", str(root / "html")]) == 0
    assert not (root / "html" / "figures" / "stale.svg").exists()
    assert (root / "html" / "figures" / "variance_split.svg").is_file()
    (root / "html" / "notes.txt").write_text("mine")  # a file of the user's in our report: never deleted
    for extra in ([], ["--overwrite"]):
        assert main(["report", str(root), "--out", str(root / "html"), *extra]) == 2
        assert capsys.readouterr().err == "error: " + OUT_NOT_OURS.format(path=root / "html", what="notes.txt",
                                                                          kind="report folder") + "\n"
    assert (root / "html" / "notes.txt").read_text() == "mine"
    foreign = tmp_path / "elsewhere"
    foreign.mkdir()
    (foreign / "index.html").write_text("<html><title>my site</title></html>")
    with pytest.raises(UsageError) as err:
        build_report(root, out=foreign, overwrite=True)
    assert str(err.value) == OUT_NOT_OURS.format(path=foreign, what="index.html", kind="report folder")
    assert main(["report", str(root), "--out", str(root), "--overwrite"]) == 2  # the family itself
    assert capsys.readouterr().err == "error: " + OUT_HOLDS_INPUT.format(path=root, relation="is", input=root) + "\n"
    assert (foreign / "index.html").read_text().startswith("<html>") and (root / "summary.json").is_file()
    assert not [p for p in tmp_path.rglob(".*staging-*")]


@pytest.mark.bad_input
def test_no_results_is_a_usage_error_with_exit_code_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {tmp_path / 'empty'} has no summary.json. Run `nlp-underspec evaluate` or "
                   "`nlp-underspec run` to produce it.\n")
    assert not (tmp_path / "empty" / "report").exists()


@pytest.mark.bad_input
def test_summary_without_models_is_refused(tmp_path):
    (tmp_path / "summary.json").write_text('{"models": [], "versions": {}, "config_hash": null}')
    with pytest.raises(UsageError) as err:
        load_family(tmp_path)
    assert str(err.value) == (f"{tmp_path / 'summary.json'} lists no models. Run `nlp-underspec evaluate` or "
                              "`nlp-underspec run` to produce results.")


@pytest.mark.bad_input
def test_results_that_do_not_match_the_run_folders_are_refused(family_dir, capsys):
    import shutil

    shutil.copytree(family_dir / "pretrain" / "p01", family_dir / "pretrain" / "p05")
    record = json.loads((family_dir / "pretrain" / "p05" / "run.json").read_text())
    record.update(run_id="p05", seeds={**record["seeds"], "pretrain_seed": 5})  # a run p05 of its own, not a copy
    (family_dir / "pretrain" / "p05" / "run.json").write_text(json.dumps(record))
    shutil.rmtree(family_dir / "finetune" / "stsb" / "p00-f01")
    shutil.rmtree(family_dir / "finetune" / "coref" / "p00-f01")
    expected = RESULTS_DONT_MATCH_RUNS.format(
        summary=family_dir / "summary.json", root=family_dir,
        detail="results list p00-f01 with no run folder; run folders p05 have no results")
    with pytest.raises(UsageError) as err:
        load_family(family_dir)
    assert str(err.value) == expected
    assert main(["report", str(family_dir)]) == 2
    assert capsys.readouterr().err == f"error: {expected}\n"
    assert not (family_dir / "report").exists()


def test_report_for_evaluated_models_without_seeds(tmp_path):
    from nlp_underspec.results import write_summary

    models = [{"model": name, "pretrain_seed": None, "finetune_seed": None, "kind": "external",
               "tests": {"winogender": {"accuracy": 0.6, "bias_r": r, "ci95": [r - 0.2, r + 0.2], "n_sentences": 720,
                                        "resolver": "mlm_probe"}}} for name, r in (("bert-a", 0.4), ("bert-b", 0.1))]
    write_summary(tmp_path / "summary.json", models=models, versions={}, config_hash=None)
    html = build_report(tmp_path).read_text(encoding="utf-8")
    assert {p.stem for p in (tmp_path / "report" / "figures").iterdir()} == {"per_model"}
    assert "Stress metrics by pretraining seed: no model has a recorded pretraining seed." in html
    assert "Per-occupation winogender scores: not drawn (no scores.parquet)." in html


def test_iid_vs_stress_panel_says_why_a_correlation_is_missing(tmp_path):
    """An iid metric that never varies has no rank correlation: the panel's title gives analysis.json's reason."""
    from nlp_underspec.io import atomic_write_json, read_json
    from nlp_underspec.experiment.family import load_family

    root = build_family(tmp_path / "exp", None, runs=False)
    pairs = relations._iid_stress_pairs(load_family(root))
    assert pairs
    analysis = read_json(root / "analysis.json")
    analysis["iid_vs_stress"] = []
    analysis["skipped"] = [{"statement": "iid_vs_stress", "subject": f"{test}/{metric}",
                            "reason": f"{task}/{iid} is 1 for every shared run: its rank correlation with "
                                      f"{test}/{metric} is undefined."} for task, iid, test, metric, _ in pairs]
    atomic_write_json(root / "analysis.json", analysis)
    figure = relations.iid_vs_stress_figure(load_family(root))
    titles = [ax.get_title().replace("\n", " ") for ax in figure.figure.axes if ax.get_title()]
    assert titles == [f"Spearman ρ not computed: {task}/{iid} is 1 for every shared run: its rank correlation with "
                      f"{test}/{metric} is undefined." for task, iid, test, metric, _ in pairs]


def _row(html: str, section: str, name: str) -> str:
    """The text of the table row for ``name`` inside the ``section`` element, tags removed."""
    part = html[html.index(f'<section id="{section}">'):]
    part = part[:part.index("</section>")]
    row = re.search(rf'<tr><td class="name">{re.escape(name)}</td>(.*?)</tr>', part, flags=re.DOTALL)
    return re.sub(r"(\s*\|\s*)+", " | ", re.sub(r"<[^>]+>", " | ", row.group(1)))


def test_report_shows_each_checkpoints_calibration_slope_and_what_its_children_inherit(tmp_path):
    """p00's slope interval includes 0 (it did not learn the statistic), p01's and p02's lie above it."""
    from nlp_underspec.analysis.statements import analyze
    from nlp_underspec.formatting import fmt

    root = build_family(tmp_path / "exp", None, runs=False, analysis=False, pretrain_seeds=(0, 1, 2),
                        finetune_seeds=(0, 1), calibration={0: 0.0, 1: 0.4, 2: 0.8})
    analyze(root, nboot=200)
    summary = {m.name: m.tests["calibration"] for m in load_family(root).models if "calibration" in m.tests}
    assert [summary[name]["learned"] for name in ("p00", "p01", "p02")] == [False, True, True]
    html = build_report(root).read_text(encoding="utf-8")
    assert "calibration" in {p.stem for p in (root / "report" / "figures").iterdir()}
    p00, p01 = _row(html, "calibration-slopes", "p00"), _row(html, "calibration-slopes", "p01")
    low, high = summary["p00"]["ci95"]
    assert f" | {fmt(summary['p00']['slope'])} | " in p00 and f"[{fmt(low)}, {fmt(high)}]" in p00
    assert "did not learn the statistic (the interval includes 0)" in p00
    assert "learnt the statistic" in p01 and "did not learn the statistic" not in p01
    slopes = [summary[name]["slope"] for name in ("p00", "p01", "p02")]
    clause = (f"2 of 3 pretrained checkpoints learnt the planted statistic (calibration slopes {min(slopes):.3f}–"
              f"{max(slopes):.3f}).")
    lead = re.search(r'<p class="lead">(.*?)</p>', html, flags=re.DOTALL).group(1)
    assert lead.endswith(clause)  # the first section's sentence says it too
    glance = _row(html, "glance", "p00")
    assert glance.count("did not learn the statistic") == 1 and "did not learn" not in _row(html, "glance", "p01")
    entry = json.loads((root / "analysis.json").read_text())["calibration"]["inheritance"]["winogender/bias_r"]
    bias = _row(html, "calibration-slopes", "winogender/bias_r")
    assert (f" | 3 | {fmt(entry['spearman'])} | [{fmt(entry['ci95'][0])}, {fmt(entry['ci95'][1])}] (unreliable: only "
            f"10 distinct resamples of 3 pretraining seeds exist) | {fmt(entry['pearson'])} | "
            f"{fmt(entry['p_value'])} (exact over all 6 orderings) | ") in bias
    assert "the smallest attainable p is 0.167" in bias


# ---------------------------------------------------------------------------------------------- foreign result files


def _results_family(tmp_path, edit_analysis=None, edit_summary=None) -> Path:
    root = build_family(tmp_path / "exp", None, runs=False)
    for name, edit in (("analysis.json", edit_analysis), ("summary.json", edit_summary)):
        if edit is not None:
            data = json.loads((root / name).read_text())
            edit(data)
            (root / name).write_text(json.dumps(data))
    return root


def _set(path, value):
    """Edit: set the value at ``path`` (keys and indices) of a parsed JSON document."""
    def edit(data):
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value
    return edit


def _refused(root: Path, capsys) -> str:
    """report and card both refuse with the same one line, and write nothing."""
    messages = set()
    for command in ("report", "card"):
        capsys.readouterr()
        assert main([command, str(root), "--out", str(root / "out")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        messages.add(err[len("error: "):-1])
        assert not (root / "out").exists()
    assert len(messages) == 1
    return messages.pop()


FIX = "Re-run `nlp-underspec analyze` to rewrite it, or delete the file."


@pytest.mark.bad_input
@pytest.mark.parametrize("edit, expected", [
    (_set(["metrics"], [1, 2]), "{a}: metrics must be a mapping (JSON object), got [1, 2]. " + FIX),
    (_set(["metrics", "winogender/bias_r"], "x"),
     "{a}: metrics['winogender/bias_r'] must be a mapping (JSON object), got \"x\". " + FIX),
    (_set(["metrics", "sts_gender/pearson_bls", "spread", "mean"], "0.15"),
     "{a}: metrics['sts_gender/pearson_bls'].spread.mean must be a number or null, got \"0.15\". " + FIX),
    (_set(["metrics", "sts_gender/pearson_bls", "spread", "n"], True),
     "{a}: metrics['sts_gender/pearson_bls'].spread.n must be a number or null, got true. " + FIX),
    (_set(["metrics", "winogender/bias_r", "seed_share", "icc_ci95"], "x"),
     "{a}: metrics['winogender/bias_r'].seed_share.icc_ci95 must be two numbers (an interval) or null, got \"x\". " + FIX),
    (_set(["metrics", "winogender/bias_r", "multibootstrap", "ci95"], [0.9]),
     "{a}: metrics['winogender/bias_r'].multibootstrap.ci95 must be two numbers (an interval) or null, got [0.9]. "
     + FIX),
    (_set(["iid_vs_stress", 0, "spearman"], "0.1"),
     "{a}: iid_vs_stress[0].spearman must be a number or null, got \"0.1\". " + FIX),
    (_set(["version"], 99),
     "{a} has version 99, newer than this nlp_underspec reads (up to 1). Upgrade nlp_underspec (pip install -U "
     "nlp_underspec), or re-run `nlp-underspec analyze` with this one."),
    (_set(["version"], "1"), "{a}: version must be a whole number, got \"1\". " + FIX),
])
def test_an_analysis_json_of_the_wrong_shape_is_refused_naming_the_key(tmp_path, capsys, edit, expected):
    """A list for metrics crashed report and card; strings where numbers go, or a one-number interval, made sentences
    vanish from the cards without a word; a future version was read as this one."""
    root = _results_family(tmp_path, edit_analysis=edit)
    assert _refused(root, capsys) == expected.format(a=root / "analysis.json")


def test_the_analysis_json_this_version_writes_is_read(tmp_path):
    """A null where a statement has no number (an interval of no finite resample), unknown keys and a model named
    like a field are fine."""
    def edit(data):
        data["metrics"]["winogender/bias_r"]["multibootstrap"]["ci95"] = None
        data["notes"] = {"by": "hand", "ci95": None}
        data["pca"]["sts_gender"]["model_coords"]["n_gram"] = [0.1, 0.2]  # model names are not field names
    root = _results_family(tmp_path, edit_analysis=edit)
    assert load_family(root).has_analysis


SUMMARY_FIX = "Re-run `nlp-underspec score` (or the command that wrote it) to write it again."


@pytest.mark.bad_input
@pytest.mark.parametrize("edit, expected", [
    (_set(["models", 1, "tests", "sts_gender", "pearson_bls"], "0.5"),
     "{s}: model 'p00-f00', test 'sts_gender': pearson_bls must be a number or null, got \"0.5\". " + SUMMARY_FIX),
    (_set(["models", 1, "tests", "winogender", "accuracy"], 1.7),
     "{s}: model 'p00-f00', test 'winogender': accuracy is 1.7, outside its range [0, 1] (share of sentences where "
     "the resolver picks the gold antecedent (task skill)). " + SUMMARY_FIX),
    (_set(["models", 1, "tests", "sts_gender", "ci95"], [0.1]),
     "{s}: model 'p00-f00', test 'sts_gender': ci95 must be two numbers (an interval) or null, got [0.1]. "
     + SUMMARY_FIX),
    (_set(["models", 1, "tests"], [1]),
     "{s}: model 'p00-f00': tests must be a mapping (JSON object), got [1]. " + SUMMARY_FIX),
])
def test_a_summary_metric_that_is_not_a_number_in_range_is_refused(tmp_path, capsys, edit, expected):
    """`pearson_bls: "0.5"` dropped silently from the cards' model-index, and an accuracy of 1.7 was published."""
    root = _results_family(tmp_path, edit_summary=edit)
    assert json.loads((root / "summary.json").read_text())["models"][1]["model"] == "p00-f00"
    assert _refused(root, capsys) == expected.format(s=root / "summary.json")


@pytest.mark.bad_input
def test_a_family_without_scores_parquet_is_refused_as_analyze_refuses_it(family_dir, capsys):
    """The report said "scores.parquet has no rows with an occupation" for a family whose scores.parquet was gone."""
    (family_dir / "scores.parquet").unlink()
    expected = (f"{family_dir} has no scores.parquet. Run `nlp-underspec evaluate` or `nlp-underspec run` to "
                "produce it.")
    assert _refused(family_dir, capsys) == expected
    capsys.readouterr()
    assert main(["analyze", str(family_dir), "--no-write"]) == 2
    assert capsys.readouterr().err == f"error: {expected}\n"
