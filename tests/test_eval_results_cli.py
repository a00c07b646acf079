"""``card`` writes ``.eval_results/*.yaml`` beside every card it writes (the very files a push stages), and
``nlp-underspec eval-results PATH [--json]`` reads them back: a table or JSON equal to the card's model-index, and one
line with exit code 2 for every path or file that is not a set of entries (offline, tiny models from a BertConfig)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_family import build_family

from nlp_underspec import cards
from nlp_underspec.cards import eval_results as er
from nlp_underspec.cli import main

PREFIX = "test-org/tiny-bert"
AGAIN = ("`nlp-underspec card RUNDIR` (or `nlp-underspec push RUNDIR --repo-prefix ORG/NAME --dry-run --staging "
         "DIR`)")
WHERE_FROM = ("Write the cards with `nlp-underspec card RUNDIR` and pass one of RUNDIR/cards/<run id>/, or stage the "
              "repos with `nlp-underspec push RUNDIR --repo-prefix ORG/NAME --dry-run --staging DIR` and pass one of "
              "DIR's folders.")
ENTRY = ("An entry of a .eval_results file needs dataset.id, dataset.task_id and a numeric value (huggingface_hub's "
         f"EvalResultEntry); fix the file, or write it again with {AGAIN}.")


def _run(argv, capsys) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / er.EVAL_RESULTS).glob("*.yaml"))}


def test_card_writes_the_eval_results_of_every_checkpoint_card_as_a_push_stages_them(tmp_path, tiny_checkpoint,
                                                                                   capsys):
    from huggingface_hub import ModelCard

    family_dir = build_family(tmp_path / "runs" / "tiny", tiny_checkpoint)
    code, out, _ = _run(["card", str(family_dir)], capsys)
    assert code == 0
    folders = sorted(p for p in (family_dir / "cards").iterdir() if p.name != "family")
    assert [p.name for p in folders] == ["p00", "p00-f00-coref", "p00-f00-stsb", "p00-f01-coref", "p00-f01-stsb",
                                         "p01", "p01-f00-coref", "p01-f00-stsb", "p01-f01-coref", "p01-f01-stsb"]
    assert out.splitlines()[-1] == (
        "eval results: 52 files in .eval_results/ beside 10 card(s) (huggingface_hub's EvalResultEntry format; read "
        f"them with `nlp-underspec eval-results {family_dir / 'cards' / 'p00'}`)")
    # the family card's model-index lists every member: one model's .eval_results/ would misdescribe it
    assert not (family_dir / "cards" / "family" / er.EVAL_RESULTS).exists()
    for folder in folders:  # written -> read equals the card's model-index entry by entry
        index = {(r.dataset_type, r.metric_type): r for r in ModelCard.load(folder / "README.md").data.eval_results}
        read = er.read_eval_results(folder)
        assert sorted(index) == sorted((r.dataset_id, r.task_id) for r in read) and read
        for result in read:
            entry = index[(result.dataset_id, result.task_id)]
            assert result.value == entry.metric_value
            assert (result.pretrain_seed, result.finetune_seed) == (entry.metric_args.get("pretrain_seed"),
                                                                    entry.metric_args.get("finetune_seed"))
            assert result.ci95 is None or "ci95" not in entry.metric_args or list(result.ci95) == entry.metric_args["ci95"]
    # one writer: the card folder's files are byte for byte a staged repo's
    staging = tmp_path / "staged"
    assert main(["push", str(family_dir), "--repo-prefix", PREFIX, "--dry-run", "--staging", str(staging)]) == 0
    assert _files(family_dir / "cards" / "p01-f00-stsb") == _files(staging / "tiny-bert-stsb-seed_1-ft_0")
    assert _files(family_dir / "cards" / "p00") == _files(staging / "tiny-bert-seed_0")
    assert main(["card", str(family_dir)]) == 0  # a cards folder with .eval_results/ is still ours: replaced


def test_a_model_card_gets_its_eval_results_too(tmp_path, capsys):
    from nlp_underspec.analysis.demo import write_demo_family
    from nlp_underspec.experiment.family import load_family

    root = write_demo_family(tmp_path / "demo", pretrain_seeds=[0, 1], finetune_seeds=[0])
    out = tmp_path / "card"
    assert main(["card", "--model", "p01-f00", "--results", str(root), "--out", str(out)]) == 0
    family = load_family(root)
    assert er.read_eval_results(out) == _by_file(cards.model_eval_results(family.model("p01-f00")))
    assert len(_files(out)) == 22  # 12 Winogender, 6 STS gender, 4 dev metrics: the card's model-index
    assert main(["card", str(root)]) == 0  # a family without run folders: one model card each, with its files
    assert er.read_eval_results(root / "cards" / "p00-f00") == _by_file(cards.model_eval_results(family.model("p00-f00")))


def _by_file(results):
    return sorted(results, key=lambda result: result.file)  # the reader's order


def _hand_made(folder: Path) -> Path:
    results = [
        er.StoredEvalResult(file=er.file_name("winogender", "bias_r"), dataset_id="winogender", task_id="bias_r",
                            value=0.4123456, pretrain_seed=1, finetune_seed=0, ci95=(0.2, 0.6),
                            ci95_method=er.CI_METHOD),
        er.StoredEvalResult(file=er.file_name("coref", "dev_accuracy"), dataset_id="coref", task_id="dev_accuracy",
                            value=0.75, pretrain_seed=1, finetune_seed=0),
    ]
    er.write_eval_results(folder, results)
    return folder


def test_eval_results_prints_a_table_of_what_the_files_carry(tmp_path, capsys):
    folder = _hand_made(tmp_path / "p01-f00-coref")
    code, out, err = _run(["eval-results", str(folder)], capsys)
    assert (code, err) == (0, "")
    assert out == (
        "test        metric        value   95% CI      pretrain seed  finetune seed\n"
        "----------  ------------  ------  ----------  -------------  -------------\n"
        "coref       dev_accuracy  0.75    —           1              0\n"
        "winogender  bias_r        0.4123  [0.2, 0.6]  1              0\n"
        f"95% CI: {er.CI_METHOD}\n")
    # the .eval_results/ folder itself and one file of it read the same entries
    assert _run(["eval-results", str(folder / er.EVAL_RESULTS)], capsys)[1] == out
    one = _run(["eval-results", str(folder / er.EVAL_RESULTS / "coref.dev_accuracy.yaml")], capsys)[1]
    assert one.splitlines()[2] == "coref  dev_accuracy  0.75   —       1              0"


def test_a_persons_notes_get_a_column_of_their_own(tmp_path, capsys):
    folder = tmp_path / er.EVAL_RESULTS
    folder.mkdir()
    (folder / "stsb.dev_pearson.yaml").write_text(
        "- dataset: {id: stsb, task_id: dev_pearson}\n  value: 0.5\n  notes: 'pretrain_seed: 2; checked by hand'\n")
    code, out, _ = _run(["eval-results", str(tmp_path)], capsys)
    assert code == 0 and out.splitlines() == [
        "test  metric       value  95% CI  pretrain seed  finetune seed  notes",
        "----  -----------  -----  ------  -------------  -------------  ---------------",
        "stsb  dev_pearson  0.5    —       2              —              checked by hand"]


def test_eval_results_json_is_every_field_exactly_as_in_the_files(tmp_path, capsys):
    folder = _hand_made(tmp_path / "repo")
    code, out, _ = _run(["eval-results", str(folder), "--json"], capsys)
    assert code == 0
    assert json.loads(out) == {"path": str(folder), "results": [
        {"file": "coref.dev_accuracy.yaml", "dataset_id": "coref", "task_id": "dev_accuracy", "value": 0.75,
         "pretrain_seed": 1, "finetune_seed": 0, "ci95": None, "ci95_method": None, "other_notes": None},
        {"file": "winogender.bias_r.yaml", "dataset_id": "winogender", "task_id": "bias_r", "value": 0.4123456,
         "pretrain_seed": 1, "finetune_seed": 0, "ci95": [0.2, 0.6], "ci95_method": er.CI_METHOD,
         "other_notes": None}]}


def _bad_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "repo" / er.EVAL_RESULTS / "winogender.bias_r.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.bad_input
def test_eval_results_paths_that_hold_no_results_are_one_line_each(tmp_path, capsys):
    missing, bare, empty = tmp_path / "nothing", tmp_path / "bare", tmp_path / "empty"
    bare.mkdir()
    (empty / er.EVAL_RESULTS).mkdir(parents=True)
    (bare / "README.md").write_text("# a card\n")
    cases = [
        (missing, f"{missing} does not exist. Pass a card folder or a staged repo folder (or its .eval_results/, or "
                  f"one .yaml file in it). {WHERE_FROM}"),
        (bare, f"{bare} has no .eval_results/ folder of .yaml files (a card without results, such as the family card "
               f"or an intermediate checkpoint's, has none). {WHERE_FROM}"),
        (empty, f"{empty / er.EVAL_RESULTS} holds no .yaml files: a card with results has one per stress-test and iid "
                "metric. Write the cards again with `nlp-underspec card RUNDIR` (or stage the repo again with "
                "`nlp-underspec push RUNDIR --repo-prefix ORG/NAME --dry-run --staging DIR`)."),
        (bare / "README.md", f"{bare / 'README.md'} is not a .yaml file. Pass a card folder or a staged repo folder "
                             "(or its .eval_results/, or one .yaml file in it)."),
    ]
    for path, message in cases:
        assert _run(["eval-results", str(path)], capsys) == (2, "", f"error: {message}\n"), path
        assert _run(["eval-results", str(path), "--json"], capsys) == (2, "", f"error: {message}\n"), path


@pytest.mark.bad_input
@pytest.mark.parametrize("text, message", [
    ("- dataset:\n    id: winogender\n   task_id: [\n",
     ", line 3: not valid YAML (expected <block end>, but found '<block mapping start>'). Rewrite the file, or write "
     f"it again with {AGAIN}."),
    ("- !!python/object/apply:os.system ['touch pwned']\n",
     ", line 1: not valid YAML (could not determine a constructor for the tag "
     f"'tag:yaml.org,2002:python/object/apply:os.system'). Rewrite the file, or write it again with {AGAIN}."),
    ("- dataset: {id: winogender}\n  value: 0.5\n", f": field '[0].dataset.task_id' is missing. {ENTRY}"),
    ("- dataset: {id: winogender, task_id: bias_r}\n", f": field '[0].value' is missing. {ENTRY}"),
    ("- dataset: {id: winogender, task_id: bias_r}\n  value: '0.5'\n",
     f": field '[0].value' must be a finite number, got str '0.5'. {ENTRY}"),
])
def test_eval_results_files_that_are_not_entries_are_one_line_naming_file_and_place(tmp_path, capsys, text, message):
    path = _bad_file(tmp_path, text)
    assert _run(["eval-results", str(tmp_path / "repo")], capsys) == (2, "", f"error: {path}{message}\n")
    assert _run(["eval-results", str(path), "--json"], capsys) == (2, "", f"error: {path}{message}\n")
    assert not Path("touch pwned").exists() and not (tmp_path / "pwned").exists()  # loaded safely: nothing ran
