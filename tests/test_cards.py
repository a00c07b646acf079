"""Model cards: loadable front matter whose model-index equals summary.json, prose numbers equal to analysis.json,
the stress section replaced in place between its markers, cards for evaluated models, templates shipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_family import build_family

from nlp_underspec import cards, formatting
from nlp_underspec.cli import main
from nlp_underspec.errors import UsageError
from nlp_underspec.experiment.family import load_family
from nlp_underspec.results import write_summary

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def family_dir(tmp_path, tiny_checkpoint):
    return build_family(tmp_path / "runs" / "tiny", tiny_checkpoint)


def _load(path: Path):
    from huggingface_hub import ModelCard

    return ModelCard.load(path)


def _summary(root: Path) -> dict:
    return {m["model"]: m for m in json.loads((root / "summary.json").read_text())["models"]}


def test_every_card_loads_and_its_model_index_equals_summary_json(family_dir):
    paths = cards.write_cards(family_dir)
    names = sorted(str(p.relative_to(family_dir / "cards")) for p in paths)
    assert names == sorted(["p00/README.md", "p01/README.md", "family/README.md"] + [
        f"p0{p}-f0{f}-{task}/README.md" for p in (0, 1) for f in (0, 1) for task in ("stsb", "coref")])
    summary = _summary(family_dir)
    for path in paths:
        card = _load(path)
        results = card.data.eval_results
        assert results, path
        for result in results:
            name = result.metric_args.get("model") or card.data.nlp_underspec["run_id"]
            entry = summary[name]
            source = entry["tests"].get(result.dataset_type) or entry["iid"][result.dataset_type]
            assert result.metric_value == source[result.metric_type]  # exactly the number in summary.json
            assert result.metric_args.get("pretrain_seed") == entry["pretrain_seed"]
            if entry["finetune_seed"] is not None:
                assert result.metric_args["finetune_seed"] == entry["finetune_seed"]
        text = path.read_text(encoding="utf-8")
        assert "## Bias, Risks, and Limitations" in text and "### Recommendations" in text
        assert text.count(cards.START_PREFIX) == 1 and text.count(cards.END_MARKER) == 1
    # a fine-tuned pair's results are split by task: STS card holds sts_gender + stsb, coref card winogender + coref
    stsb = _load(family_dir / "cards" / "p01-f00-stsb" / "README.md").data.eval_results
    coref = _load(family_dir / "cards" / "p01-f00-coref" / "README.md").data.eval_results
    assert {r.dataset_type for r in stsb} == {"sts_gender", "stsb"}
    assert {r.dataset_type for r in coref} == {"winogender", "coref"}
    # every result, magnitude beside r; how a score was made (noise_floor, scale, the flag) is not a result
    assert {r.metric_type for r in stsb} == {"pearson_bls", "spearman_bls", "mean_abs_delta", "delta_slope",
                                             "dev_pearson", "dev_spearman"}
    pearson = next(r for r in stsb if r.metric_type == "pearson_bls")
    assert pearson.metric_args["ci95"] == summary["p01-f00"]["tests"]["sts_gender"]["ci95"]
    family = _load(family_dir / "cards" / "family" / "README.md").data.eval_results
    assert {r.metric_args["model"] for r in family} == set(summary)


def test_card_prose_states_the_numbers_of_summary_and_analysis(family_dir):
    cards.write_cards(family_dir)
    text = (family_dir / "cards" / "p01-f00-stsb" / "README.md").read_text(encoding="utf-8")
    entry = _summary(family_dir)["p01-f00"]["tests"]["sts_gender"]
    analysis = json.loads((family_dir / "analysis.json").read_text())["metrics"]["sts_gender/pearson_bls"]
    fmt = formatting.fmt
    assert f"This checkpoint scores {fmt(entry['pearson_bls'])} (95% CI [{fmt(entry['ci95'][0])}, {fmt(entry['ci95'][1])}])" in text
    spread = analysis["spread"]
    assert (f"A different pretraining seed of the same recipe gives pearson_bls anywhere in "
            f"[{fmt(spread['min'])}, {fmt(spread['max'])}] (the range over the family's 4 models)") in text
    assert ("ICC = 0.800 (95% CI [0.400, 0.950]) over 2 pretraining seeds: most of it is fixed when pretraining "
            "ends, and fine-tuning seeds do not undo it.") in text
    assert "gives p = 0.010: the pretraining seed matters beyond chance" in text
    boot = analysis["multibootstrap"]
    assert f"the recipe's pearson_bls is {fmt(boot['mean'])} (95% CI [{fmt(boot['ci95'][0])}, {fmt(boot['ci95'][1])}])" in text
    assert "varies 4.2 times as much as the in-distribution metric `stsb/dev_pearson`" in text
    assert "Spearman ρ between `stsb/dev_pearson` and pearson_bls across 4 models is 0.100 (95% CI [-0.500, 0.600])" in text
    values = sorted((m["tests"]["sts_gender"]["pearson_bls"] for m in _summary(family_dir).values()
                     if "sts_gender" in m["tests"]), reverse=True)
    rank = values.index(entry["pearson_bls"]) + 1
    assert f"It ranks {rank} of 4 in its family" in text
    assert "| Seeds | pretrain_seed 1, finetune_seed 0, init_seed 10, data_seed 20 |" in text
    assert "AutoModelForSequenceClassification.from_pretrained(" in text


def test_a_seed_share_whose_interval_reaches_zero_is_not_called_fixed(family_dir):
    """ICC 0.8 with an interval down to -0.1 (few seeds): the card says the family cannot tell."""
    path = family_dir / "analysis.json"
    analysis = json.loads(path.read_text())
    analysis["metrics"]["sts_gender/pearson_bls"]["seed_share"]["icc_ci95"] = [-0.1, 0.95]
    path.write_text(json.dumps(analysis))
    cards.write_cards(family_dir)
    text = (family_dir / "cards" / "p01-f00-stsb" / "README.md").read_text(encoding="utf-8")
    assert ("ICC = 0.800 (95% CI [-0.100, 0.950]) over 2 pretraining seeds: the estimate puts most of it between "
            "pretraining seeds, but its interval reaches 0, so this family cannot tell.") in text
    assert "most of it is fixed when pretraining ends" not in text


def test_cards_without_analysis_say_it_was_not_computed(tmp_path, tiny_checkpoint):
    root = build_family(tmp_path / "exp", tiny_checkpoint, analysis=False, pretrain_seeds=(0,), finetune_seeds=(0,))
    cards.write_cards(root)
    text = (root / "cards" / "p00-f00-coref" / "README.md").read_text(encoding="utf-8")
    assert (f"The seed analysis was not computed for this family (no analysis.json); run `nlp-underspec analyze "
            f"{root}` and rebuild the cards") in text
    assert "ICC" not in text


@pytest.mark.bad_input
def test_replace_stress_section_touches_nothing_else(tmp_path):
    readme = tmp_path / "README.md"
    head = "---\nlicense: mit\n---\n# My model\n\nSome text I wrote.\n"
    tail = "\n## Citation\n\nMine.\n"
    readme.write_text(head)
    cards.update_readme(readme, f"{cards.START_MARKER}\nfirst\n{cards.END_MARKER}\n")
    assert readme.read_text() == head + f"\n{cards.START_MARKER}\nfirst\n{cards.END_MARKER}\n"
    readme.write_text(readme.read_text() + tail)
    cards.update_readme(readme, f"{cards.START_MARKER}\nsecond\n{cards.END_MARKER}\n")
    assert readme.read_text() == head + f"\n{cards.START_MARKER}\nsecond\n{cards.END_MARKER}\n" + tail
    readme.write_text(head + cards.END_MARKER + "\n")
    with pytest.raises(UsageError) as err:
        cards.update_readme(readme, "x")
    assert str(err.value) == (f"{readme} has only the end of the stress-section markers. Restore both lines "
                              f"({cards.START_MARKER} ... {cards.END_MARKER}) around the old section, or delete what "
                              "is left of it, then run the command again.")
    with pytest.raises(UsageError) as err:
        cards.update_readme(tmp_path / "missing.md", "x")
    assert str(err.value) == (f"{tmp_path / 'missing.md'} does not exist. Pass an existing README.md to --readme, or "
                              "leave --readme out to write a new card.")
    (tmp_path / "wg").mkdir()
    with pytest.raises(UsageError) as err:
        cards.update_readme(tmp_path / "wg", "x")  # was "wg does not exist"
    assert str(err.value) == (f"{tmp_path / 'wg'} is a folder, not a README file. Pass an existing README.md to "
                              f"--readme (e.g. {tmp_path / 'wg'}/README.md), or leave --readme out to write a new "
                              "card.")


def _evaluated_results(folder: Path) -> Path:
    """What `nlp-underspec evaluate` leaves for two outside models (no run folders)."""
    folder.mkdir()
    models = [{"model": name, "pretrain_seed": None, "finetune_seed": None, "kind": "external",
               "checkpoint": f"/models/{name}",
               "tests": {"sts_gender": {"pearson_bls": r, "spearman_bls": r - 0.02, "ci95": [r - 0.2, r + 0.2],
                                        "n_occupations": 60, "n_templates": 40, "mean_abs_delta": 0.03}}}
              for name, r in (("all-MiniLM-L6-v2", 0.31), ("other-bert", 0.12))]
    write_summary(folder / "summary.json", models=models, versions={"nlp_underspec": "0.1.0"}, config_hash=None)
    return folder


def test_card_for_an_evaluated_model_and_readme_update(tmp_path, capsys):
    results = _evaluated_results(tmp_path / "results")
    assert main(["card", "--model", "/models/all-MiniLM-L6-v2", "--results", str(results)]) == 0
    path = results / "cards" / "all-MiniLM-L6-v2" / "README.md"
    assert capsys.readouterr().out == (f"{path}\neval results: 3 files in .eval_results/ beside 1 card(s) "
                                       "(huggingface_hub's EvalResultEntry format; read them with `nlp-underspec "
                                       f"eval-results {path.parent}`)\n")
    card = _load(path)
    assert {(r.metric_type, r.metric_value) for r in card.data.eval_results} == {
        ("pearson_bls", 0.31), ("spearman_bls", 0.29), ("mean_abs_delta", 0.03)}
    text = path.read_text(encoding="utf-8")
    assert "This model scores 0.310 (95% CI [0.110, 0.510])" in text and "It ranks 1 of 2 in its family" in text
    readme = tmp_path / "README.md"
    readme.write_text("---\nlicense: apache-2.0\n---\n# MiniLM\n\nMy own words.\n")
    assert main(["card", "--model", "all-MiniLM-L6-v2", "--results", str(results), "--readme", str(readme)]) == 0
    updated = readme.read_text(encoding="utf-8")
    assert updated.startswith("---\nlicense: apache-2.0\n---\n# MiniLM\n\nMy own words.\n\n" + cards.START_MARKER)
    assert "This model scores 0.310" in updated and updated.rstrip().endswith(cards.END_MARKER)


def test_cards_for_a_results_folder_without_run_folders(tmp_path, capsys):
    results = _evaluated_results(tmp_path / "results")
    assert main(["card", str(results)]) == 0
    *written, counted = capsys.readouterr().out.splitlines()
    assert written == [str(results / "cards" / name / "README.md") for name in ("all-MiniLM-L6-v2", "other-bert", "family")]
    assert counted.startswith("eval results: 6 files in .eval_results/ beside 2 card(s) ")  # none beside the family's
    family = _load(results / "cards" / "family" / "README.md")
    assert sorted((r.metric_args["model"], r.metric_type, r.metric_value) for r in family.data.eval_results
                  if r.metric_type == "pearson_bls") == [("all-MiniLM-L6-v2", "pearson_bls", 0.31),
                                                         ("other-bert", "pearson_bls", 0.12)]


@pytest.mark.bad_input
def test_card_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    results = _evaluated_results(tmp_path / "results")
    cases = [
        ([], "Pass an experiment folder (nlp-underspec card runs/tiny) or --model CKPT --results DIR."),
        (["--model", "x"], "--model needs --results DIR: the folder `nlp-underspec evaluate` wrote for that model."),
        (["--results", str(results)], "--results needs --model CKPT: the checkpoint (path or Hub id) whose card to write."),
        ([str(results), "--model", "x"], "Pass either an experiment folder or --model/--results, not both."),
        (["--model", "other-bret", "--results", str(results)],
         (f"{results / 'summary.json'}: Unknown model 'other-bret'. Did you mean 'other-bert'? Available: "
         f"all-MiniLM-L6-v2, other-bert. Evaluate it first with `nlp-underspec evaluate other-bret --out {results}`.")),
        ([str(tmp_path / "nothing")], (f"{tmp_path / 'nothing'} does not exist. Pass the experiment folder that holds "
                                      "summary.json (e.g. runs/tiny).")),
        ([str(tmp_path)], (f"{tmp_path} has no summary.json. Run `nlp-underspec evaluate` or `nlp-underspec run` to "
                          "produce it.")),
    ]
    for argv, message in cases:
        assert main(["card", *argv]) == 2, argv
        assert capsys.readouterr().err == f"error: {message}\n"
    foreign = tmp_path / "theirs"
    foreign.mkdir()
    (foreign / "README.md").write_text("# not ours\n")
    assert main(["card", "--model", "other-bert", "--results", str(results), "--out", str(foreign)]) == 2
    assert capsys.readouterr().err == (f"error: {foreign / 'README.md'} exists and was not written by nlp-underspec. "
                                       f"Use --readme {foreign / 'README.md'} to update only its stress section, or "
                                       "choose another --out.\n")
    assert (foreign / "README.md").read_text() == "# not ours\n"


@pytest.mark.bad_input
def test_card_overwrite_never_replaces_what_the_user_gave(tmp_path, capsys):
    from nlp_underspec.commands.card import CARD_IN_INPUT
    from nlp_underspec.io import OUT_HOLDS_INPUT, OUT_NOT_OURS

    checkpoint = tmp_path / "all-MiniLM-L6-v2"
    checkpoint.mkdir()
    (checkpoint / "README.md").write_text("# the author's own card\n")
    results = _evaluated_results(tmp_path / "results")
    summary = json.loads((results / "summary.json").read_text())
    summary["models"][0]["checkpoint"] = str(checkpoint)
    (results / "summary.json").write_text(json.dumps(summary))
    assert main(["card", "--model", str(checkpoint), "--results", str(results), "--out", str(checkpoint),
                 "--overwrite"]) == 2
    assert capsys.readouterr().err == "error: " + CARD_IN_INPUT.format(path=checkpoint / "README.md",
                                                                       input=checkpoint) + "\n"
    assert (checkpoint / "README.md").read_text() == "# the author's own card\n"
    assert main(["card", str(results), "--out", str(results), "--overwrite"]) == 2
    assert capsys.readouterr().err == "error: " + OUT_HOLDS_INPUT.format(path=results, relation="is",
                                                                         input=results) + "\n"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.md").write_text("mine")
    assert main(["card", str(results), "--out", str(mine), "--overwrite"]) == 2
    assert capsys.readouterr().err == "error: " + OUT_NOT_OURS.format(path=mine, what="notes.md",
                                                                      kind="cards folder") + "\n"
    assert main(["card", "--model", "other-bert", "--results", str(results)]) == 0
    assert main(["card", str(results)]) == 0 and main(["card", str(results)]) == 0  # its own cards: replaced
    assert (mine / "notes.md").read_text() == "mine" and (results / "summary.json").is_file()


def test_family_card_with_hub_layout_names_the_repos(family_dir):
    from nlp_underspec.hub.layout import HubLayout

    family = load_family(family_dir)
    card = cards.family_card(family, locator=HubLayout("my-org/tiny-bert"))
    text = str(card)
    assert "`my-org/tiny-bert-stsb-seed_1-ft_0`" in text and "`my-org/tiny-bert-seed_0`" in text
    assert 'f"my-org/tiny-bert-seed_{p}"' in text and 'revision="step_10"' in text
    assert "collection “tiny-bert: seed family” (my-org)" in text


def test_templates_ship_with_the_installed_package(tmp_path):
    """`pip install .` puts model_cards/ inside the package, and the installed package finds it there."""
    import shutil

    source = tmp_path / "source"  # build from a copy: setuptools writes build/ beside the sources it builds
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("nlp_underspec", "model_cards"):
        shutil.copytree(REPO / name, source / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, capture_output=True, timeout=300)
    env = dict(os.environ, PYTHONPATH=str(target))
    out = subprocess.run([sys.executable, "-c", "from nlp_underspec.cards import templates_dir; print(templates_dir())"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, check=True, timeout=120).stdout.strip()
    assert Path(out) == target / "nlp_underspec" / "model_cards"
    shipped = {p.name for p in Path(out).iterdir()}
    assert shipped == {p.name for p in (REPO / "model_cards").iterdir()}
    assert (target / "nlp_underspec" / "report" / "index.html.j2").is_file()


def test_cards_state_each_checkpoints_calibration_slope_and_a_fine_tuned_models_parent(tmp_path, tiny_checkpoint):
    """p00's slope interval includes 0: its card, its children's and the family card say it did not learn the
    statistic; p01's card says it learnt it, and never the opposite."""
    from nlp_underspec.analysis.statements import analyze

    root = build_family(tmp_path / "exp", tiny_checkpoint, analysis=False, pretrain_seeds=(0, 1, 2),
                        finetune_seeds=(0,), calibration={0: 0.0, 1: 0.4, 2: 0.8})
    analyze(root, nboot=200)
    cards.write_cards(root)
    summary = _summary(root)
    fmt = formatting.fmt

    def ci(name: str) -> str:
        low, high = summary[name]["tests"]["calibration"]["ci95"]
        return f"[{fmt(low)}, {fmt(high)}]"

    def slope(name: str) -> str:
        return fmt(summary[name]["tests"]["calibration"]["slope"])

    def read(folder: str) -> str:
        return (root / "cards" / folder / "README.md").read_text(encoding="utf-8")

    assert (f"**Calibration slope (`calibration/slope`).** This checkpoint's calibration slope is {slope('p00')} "
            f"(95% CI {ci('p00')}) on the planted log-odds of \"she\" per occupation (1 = the table learnt exactly, "
            "0 = not at all): it did not learn the statistic (the interval includes 0).") in read("p00")
    p01 = read("p01")
    assert (f"This checkpoint's calibration slope is {slope('p01')} (95% CI {ci('p01')}) on the planted log-odds of "
            "\"she\" per occupation (1 = the table learnt exactly, 0 = not at all): it learnt the statistic (the "
            "interval lies above 0).") in p01
    assert "did not learn the statistic" not in p01
    coref = read("p00-f00-coref")
    assert (f"*Inherited from pretraining.* This checkpoint was fine-tuned from `p00`, whose calibration slope is "
            f"{slope('p00')} (95% CI {ci('p00')}) on the planted log-odds of \"she\" per occupation: it did not learn "
            "the statistic (the interval includes 0).") in coref
    entry = json.loads((root / "analysis.json").read_text())["calibration"]["inheritance"]["winogender/bias_r"]
    assert ("- Over 3 pretraining seeds, the parents' calibration slope and the mean `winogender/bias_r` of their "
            f"fine-tuned models have Spearman ρ = {fmt(entry['spearman'])} (95% CI [{fmt(entry['ci95'][0])}, "
            f"{fmt(entry['ci95'][1])}], unreliable) and Pearson r = {fmt(entry['pearson'])}; one-sided permutation "
            f"p = {fmt(entry['p_value'])} (exact over all 6 orderings): too few seeds to show inheritance.") in coref
    assert ("- With this few seeds: the ρ intervals are unreliable: only 10 distinct resamples of 3 pretraining seeds "
            "exist; with 3 pretraining seeds only 6 orderings exist: the smallest attainable p is 0.167, so this test "
            "cannot reach p < 0.05.") in coref
    assert "`sts_gender/" not in coref  # the coref model's card relates only its own test's metrics
    assert "*Inherited from pretraining.* This checkpoint was fine-tuned from `p01`" in read("p01-f00-stsb")
    family = read("family")
    assert (f"- `p00` (pretraining seed 0): calibration slope {slope('p00')} (95% CI {ci('p00')}): did not learn the "
            "statistic.") in family
    assert (f"- `p01` (pretraining seed 1): calibration slope {slope('p01')} (95% CI {ci('p01')}): learnt the "
            "statistic.") in family
    assert "- 2 of 3 pretrained checkpoints learnt the planted statistic (calibration slopes " in family
    assert ("- 3 pair(s) of pretrained checkpoints have disjoint slope intervals: the pretraining seeds learnt the "
            "statistic to different degrees.") in family


@pytest.mark.bad_input
def test_cards_of_a_run_folder_without_its_model_are_refused(family_dir, tmp_path, capsys):
    """A card described a checkpoint whose weights were gone."""
    folder = family_dir / "pretrain" / "p01"
    (folder / "model.safetensors").unlink()
    out = tmp_path / "cards"
    capsys.readouterr()
    assert main(["card", str(family_dir), "--out", str(out)]) == 2
    assert not out.exists()
    assert capsys.readouterr().err == (
        f"error: {folder}: run.json says the run is complete, but the folder has no model.safetensors, so it holds no "
        "model to publish or describe. Restore the file(s), or run `nlp-underspec run` on the experiment again, which "
        "trains the run again.\n")


@pytest.mark.bad_input
def test_readme_with_out_is_refused_rather_than_out_ignored(tmp_path, capsys):
    """`card --model M --results R --readme FILE --out DIR` rewrote FILE and never made DIR, without a word."""
    readme = tmp_path / "README.md"
    readme.write_text("# Mine\n")
    code = main(["card", "--model", str(tmp_path / "m"), "--results", str(tmp_path / "r"), "--readme", str(readme),
                 "--out", str(tmp_path / "cards")])
    assert code == 2 and readme.read_text() == "# Mine\n" and not (tmp_path / "cards").exists()
    assert capsys.readouterr().err == (f"error: --readme {readme} updates that file in place, so --out "
                                       f"{tmp_path / 'cards'} would be ignored. Pass one: --readme to update an "
                                       "existing README.md, or --out to write a new card.\n")
