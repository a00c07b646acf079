"""The Hub's ``.eval_results/*.yaml`` beside the model-index: staged with every repo, in huggingface_hub's
EvalResultEntry format, and read back by our own parser to exactly summary.json's values (offline, no Hub)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_family import build_family

from nlp_underspec.cards import eval_results as er
from nlp_underspec.cli import main
from nlp_underspec.errors import UsageError
from nlp_underspec.experiment.family import load_family
from nlp_underspec.hub import plan as hub_plan

PREFIX = "test-org/tiny-bert"


@pytest.fixture
def staged(tmp_path, tiny_checkpoint, capsys):
    family_dir = build_family(tmp_path / "runs" / "tiny", tiny_checkpoint)
    staging = tmp_path / "staged"
    assert main(["push", str(family_dir), "--repo-prefix", PREFIX, "--dry-run", "--staging", str(staging)]) == 0
    return family_dir, staging, capsys.readouterr().out


def _summary_value(summary: dict, model: str, test: str, metric: str) -> float:
    entry = next(m for m in summary["models"] if m["model"] == model)
    block = entry["tests"].get(test) or entry["iid"][test]
    return block[metric]


def test_staged_eval_results_read_back_to_the_model_index_and_summary_values(staged):
    from huggingface_hub import ModelCard

    family_dir, staging, out = staged
    assert ("\neval results: 52 files in .eval_results/ of 10 repos (one per stress-test and iid metric, "
            "huggingface_hub's EvalResultEntry format)\n") in out
    summary = json.loads((family_dir / "summary.json").read_text())
    plan = json.loads((staging / hub_plan.PLAN_FILE).read_text())
    checked = 0
    for target in plan["targets"]:
        folder = staging / target["folder"]
        if target["step"] is not None:  # an intermediate checkpoint reports no results
            assert not (folder / er.EVAL_RESULTS).exists()
            continue
        read = er.read_eval_results(folder)
        assert [f"{er.EVAL_RESULTS}/{r.file}" for r in read] == [n for n in target["files"] if n.startswith(".eval")]
        index = ModelCard.load(folder / "README.md").data.eval_results
        written = {(r.dataset_type, r.metric_type): r for r in index}
        assert sorted(written) == sorted((r.dataset_id, r.task_id) for r in read)
        model = target["run"].split("/")[-1]
        for result in read:
            card_entry = written[(result.dataset_id, result.task_id)]
            assert result.value == card_entry.metric_value == _summary_value(summary, model, result.dataset_id,
                                                                              result.task_id)
            assert (result.pretrain_seed, result.finetune_seed) == (card_entry.metric_args.get("pretrain_seed"),
                                                                    card_entry.metric_args.get("finetune_seed"))
            if "ci95" in card_entry.metric_args:
                assert list(result.ci95) == card_entry.metric_args["ci95"]
                assert result.ci95_method == er.CI_METHOD
            checked += 1
    assert checked == 52


def test_a_file_is_one_eval_result_entry_as_huggingface_hub_parses_it(staged):
    from huggingface_hub import parse_eval_result_entries

    family_dir, staging, _ = staged
    path = staging / "tiny-bert-coref-seed_1-ft_0" / er.EVAL_RESULTS / "winogender.bias_r.yaml"
    data = yaml.safe_load(path.read_text())
    (entry,) = parse_eval_result_entries(data)
    summary = json.loads((family_dir / "summary.json").read_text())
    block = next(m for m in summary["models"] if m["model"] == "p01-f00")["tests"]["winogender"]
    assert (entry.dataset_id, entry.task_id, entry.value) == ("winogender", "bias_r", block["bias_r"])
    assert entry.verify_token is None and entry.source_url is None
    assert entry.notes == (f"pretrain_seed: 1; finetune_seed: 0; ci95: [{block['ci95'][0]!r}, {block['ci95'][1]!r}]; "
                           f"ci95_method: {er.CI_METHOD}")
    assert all(r.ci95 is None for r in er.read_eval_results(path.parent) if r.task_id != "bias_r")


def test_our_own_writer_writes_what_huggingface_hub_writes():
    result = er.StoredEvalResult(file="winogender.bias_r.yaml", dataset_id="winogender", task_id="bias_r", value=0.25,
                                 pretrain_seed=3, finetune_seed=None, ci95=(0.125, 0.5), ci95_method=er.CI_METHOD)
    assert er._own_mapping(result) == er.entry_mapping(result)
    assert er._own_mapping(result) == {"dataset": {"id": "winogender", "task_id": "bias_r"}, "value": 0.25,
                                       "notes": f"pretrain_seed: 3; ci95: [0.125, 0.5]; ci95_method: {er.CI_METHOD}"}
    bare = er.StoredEvalResult(file="stsb.dev_pearson.yaml", dataset_id="stsb", task_id="dev_pearson", value=0.5)
    assert er._own_mapping(bare) == er.entry_mapping(bare) == {"dataset": {"id": "stsb", "task_id": "dev_pearson"},
                                                               "value": 0.5}


def test_a_family_without_run_folders_round_trips_through_the_python_api(tmp_path):
    from nlp_underspec.analysis.demo import write_demo_family

    root = tmp_path / "demo"
    write_demo_family(root)
    family = load_family(root)
    summary = json.loads((root / "summary.json").read_text())
    model = family.model("p02-f01")
    results = er.results_for(model, tests=list(model.tests), iid_tasks=list(model.iid))
    paths = er.write_eval_results(tmp_path / "p02-f01", results)
    assert [p.name for p in paths] == [r.file for r in results]
    read = er.read_eval_results(tmp_path / "p02-f01")
    assert sorted(read, key=lambda r: r.file) == sorted(results, key=lambda r: r.file)
    for result in read:
        assert result.value == _summary_value(summary, "p02-f01", result.dataset_id, result.task_id)
        assert (result.pretrain_seed, result.finetune_seed) == (2, 1)
    tests = next(m for m in summary["models"] if m["model"] == "p02-f01")["tests"]
    intervals = {(r.dataset_id, r.task_id): r.ci95 for r in read if r.ci95 is not None}
    assert intervals == {("sts_gender", "pearson_bls"): tuple(tests["sts_gender"]["ci95"]),
                         ("sts_gender", "delta_slope"): tuple(tests["sts_gender"]["delta_slope_ci95"]),
                         ("winogender", "bias_r"): tuple(tests["winogender"]["ci95"]),
                         ("winogender", "accuracy"): tuple(tests["winogender"]["accuracy_ci95"]),
                         ("winogender", "bias_slope"): tuple(tests["winogender"]["bias_slope_ci95"])}


def _bad(tmp_path: Path, text: str) -> str:
    folder = tmp_path / "repo" / er.EVAL_RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "winogender.bias_r.yaml").write_text(text)
    with pytest.raises(UsageError) as err:
        er.read_eval_results(tmp_path / "repo")
    return str(err.value)


GOOD = "- dataset:\n    id: winogender\n    task_id: bias_r\n  value: 0.5\n"
AGAIN = ("write it again with `nlp-underspec card RUNDIR` (or `nlp-underspec push RUNDIR --repo-prefix ORG/NAME "
         "--dry-run --staging DIR`).")
FIX = ("An entry of a .eval_results file needs dataset.id, dataset.task_id and a numeric value (huggingface_hub's "
       f"EvalResultEntry); fix the file, or {AGAIN}")


@pytest.mark.bad_input
@pytest.mark.parametrize("text, field, problem", [
    ("dataset: {id: winogender}\n", "(top level)", "must be a list of entries (mappings)"),
    ("- 3\n", "[0]", "must be a mapping, got int 3"),
    ("- value: 0.5\n", "[0].dataset", "is missing"),
    ("- dataset: {id: winogender}\n  value: 0.5\n", "[0].dataset.task_id", "is missing"),
    ("- dataset: {id: '', task_id: bias_r}\n  value: 0.5\n", "[0].dataset.id", "must be a non-empty text, got str ''"),
    (GOOD.replace("0.5", "high"), "[0].value", "must be a finite number, got str 'high'"),
    (GOOD.replace("0.5", ".nan"), "[0].value", "must be a finite number, got float nan"),
    (GOOD + "- dataset: {id: winogender, task_id: r}\n  value: true\n", "[1].value",
     "must be a finite number, got bool True"),
    (GOOD + "  notes: [a]\n", "[0].notes", "must be a text, got list ['a']"),
    (GOOD + "  notes: 'pretrain_seed: one'\n", "[0].notes.pretrain_seed", "must be an integer, got 'one'"),
    (GOOD + "  notes: 'pretrain_seed: 0; ci95: [0.5, 0.1]'\n", "[0].notes.ci95",
     "must be [low, high] with low <= high, got '[0.5, 0.1]'"),
])
def test_a_malformed_eval_results_file_is_one_error_naming_file_and_field(tmp_path, text, field, problem):
    path = tmp_path / "repo" / er.EVAL_RESULTS / "winogender.bias_r.yaml"
    assert _bad(tmp_path, text) == f"{path}: field '{field}' {problem}. {FIX}"


@pytest.mark.bad_input
def test_unreadable_yaml_and_a_folder_without_results_are_one_line_each(tmp_path):
    path = tmp_path / "repo" / er.EVAL_RESULTS / "winogender.bias_r.yaml"
    assert _bad(tmp_path, "- dataset: [unclosed\n") == (
        f"{path}, line 2: not valid YAML (expected ',' or ']', but got '<stream end>'). Rewrite the file, or {AGAIN}")
    assert _bad(tmp_path, "- !!python/object:os.system {}\n").startswith(f"{path}, line 1: not valid YAML (")
    with pytest.raises(UsageError) as err:
        er.read_eval_results(tmp_path)
    assert str(err.value) == (f"{tmp_path} has no .eval_results/ folder of .yaml files (a card without results, such "
                              "as the family card or an intermediate checkpoint's, has none). Write the cards with "
                              "`nlp-underspec card RUNDIR` and pass one of RUNDIR/cards/<run id>/, or stage the repos "
                              "with `nlp-underspec push RUNDIR --repo-prefix ORG/NAME --dry-run --staging DIR` and "
                              "pass one of DIR's folders.")


def test_notes_a_person_added_are_kept_out_of_the_fields(tmp_path):
    folder = tmp_path / er.EVAL_RESULTS
    folder.mkdir()
    (folder / "x.yaml").write_text(GOOD + "  notes: 'no-tools; finetune_seed: 4'\n")
    (result,) = er.read_eval_results(folder)
    assert (result.value, result.pretrain_seed, result.finetune_seed, result.ci95) == (0.5, None, 4, None)
    assert result.other_notes == "no-tools" and result.notes == "finetune_seed: 4; no-tools"  # written back whole


def test_without_eval_result_entry_our_writer_writes_the_same_bytes(tmp_path, monkeypatch):
    import types

    results = [er.StoredEvalResult(file="t.m.yaml", dataset_id="t", task_id="m", value=0.1 + 0.2, pretrain_seed=0,
                                   finetune_seed=2, ci95=(-0.5, 1e-9), ci95_method=er.CI_METHOD)]
    (with_hub,) = er.write_eval_results(tmp_path / "hub", results)
    monkeypatch.setitem(sys.modules, "huggingface_hub", types.ModuleType("huggingface_hub"))  # an older release
    (own,) = er.write_eval_results(tmp_path / "own", results)
    assert own.read_bytes() == with_hub.read_bytes()
    assert er.read_eval_results(tmp_path / "own") == results
