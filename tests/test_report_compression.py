"""The report's Compression stress section, rendered from a small hand-made compression.json beside a 2 x 2 family:
its table (iid and stress shifts with intervals), the tail-vs-mean verdict of each stress metric, the exemplars, where
`report` finds the file, and the refusal of a compression.json of the wrong shape (file and field named, exit 2)."""

from __future__ import annotations

import copy
import html as html_lib
import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_errors import cli_fails  # noqa: E402
from report_family import build_family  # noqa: E402

from nlp_underspec.cli import main  # noqa: E402
from nlp_underspec.report import compression as section  # noqa: E402

FIX = "Re-run `nlp-underspec compress` to write it again."
FEW = {"n_units": 2, "distinct_resamples": 3, "reliable": False}  # what 2 pretraining seeds give compress


def _shift(original, shift, ci=None):
    return {"original": original, "compressed": original + shift, "shift": shift, **({"ci95": ci} if ci else {})}


def _delta(mean, low, high, resampled=("pretrain_seed", "item"), **extra):
    return {"delta": {"mean": mean, "low": low, "high": high, "p": 0.01}, "resampled": list(resampled), **extra}


def _member(name, seed, finetune):
    return {"model": name, "pretrain_seed": seed, "finetune_seed": finetune,
            "stress_shift": {"sts_gender/pearson_bls": _shift(0.3, 0.05, [0.02, 0.08]),
                             "winogender/bias_r": _shift(0.2, 0.03, [-0.01, 0.07]),
                             "winogender/accuracy": _shift(0.6, 0.01, [-0.02, 0.04])},
            "iid_shift": {"stsb/dev_pearson": _shift(0.9, -0.002), "coref/dev_accuracy": _shift(0.8, -0.015)}}


def _exemplars(test, names):
    return {test: [{"item_id": name, "occupation": name.split(".")[0], "mean_abs_delta": 0.3 - 0.05 * rank,
                    "mean_delta": 0.1, "max_abs_delta": 0.9} for rank, name in enumerate(names)]}


def _level(method, amount, metrics):
    members = [_member(f"p0{p}-f0{f}", p, f) for p in (0, 1) for f in (0, 1)]
    pretrained = [{"model": f"p0{p}", "pretrain_seed": p, "finetune_seed": None,
                   "stress_shift": {"calibration/slope": _shift(0.5, -0.1, [-0.2, -0.05]),
                                    "calibration/learned": {"original": True, "compressed": True, "shift": None}}}
                  for p in (0, 1)]
    return {"method": {"method": method, "amount": amount, "name": f"prune-{amount:g}",
                       "description": f"global magnitude pruning of {amount:.0%} of Linear weights"},
            "groups": {"finetuned": {"members": members,
                                     "exemplars": _exemplars("winogender", ["nurse.patient.0.female.txt",
                                                                            "doctor.patient.1.male.txt"])},
                       "pretrained": {"members": pretrained,
                                      "exemplars": _exemplars("calibration", ["secretary"])}},
            "checkpoints": {"pretrain/p00": {"zero_share": amount}, "finetune/stsb/p00-f00": {"zero_share": amount}},
            "family_shift": {"nboot": 200, "skipped": [], "metrics": metrics}, "wall_seconds": 12.3}


def document(family: Path) -> dict:
    """prune-0.3 gives one stress metric of each verdict; prune-0.7 has a metric the family bootstrap lacks."""
    low = {"stsb/dev_pearson": _delta(-0.002, -0.006, 0.001, ("pretrain_seed",), **FEW),
           "coref/dev_accuracy": _delta(-0.015, -0.03, -0.005, ("pretrain_seed",), **FEW),
           "sts_gender/pearson_bls": _delta(0.05, 0.02, 0.08, **FEW),
           "winogender/bias_r": _delta(0.03, 0.01, 0.06, **FEW),
           "winogender/accuracy": _delta(0.01, -0.02, 0.04, **FEW),
           "calibration/slope@pretrained": _delta(-0.1, -0.2, -0.05, ("pretrain_seed",), **FEW)}
    high = {key: value for key, value in low.items() if key != "winogender/bias_r"}
    return {"version": 1, "family": str(family), "n_boot": 200, "bootstrap_seed": 0,
            "iid": "recomputed: each fine-tuned copy scored on its task's dev sets",
            "levels": {"prune-0.3": _level("prune", 0.3, low), "prune-0.7": _level("prune", 0.7, high)}}


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    return build_family(tmp_path_factory.mktemp("compressed-report") / "tiny", None, runs=False)


@pytest.fixture
def compress_out(family, tmp_path):
    out = tmp_path / "tiny-compress"
    out.mkdir()
    (out / "compression.json").write_text(json.dumps(document(family)))
    return out


def _rows(index: Path) -> list[list[str]]:
    """Every table row of the Compression stress section, as its cells' text."""
    text = index.read_text(encoding="utf-8")
    part = text[text.index('<section id="compression">'):]
    part = part[:part.index("</section>")]
    return [[html_lib.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", part, flags=re.DOTALL)]


def _row(rows, *start):
    found = [row for row in rows if row[:len(start)] == list(start)]
    assert len(found) == 1, (start, rows)
    return found[0]


UNRELIABLE = "(unreliable: only 3 distinct resamples of 2 pretraining seeds exist)"


def test_report_of_a_compress_folder_shows_each_level_shift_and_verdict(family, compress_out, capsys):
    assert main(["report", str(compress_out)]) == 0
    index = compress_out / "report" / "index.html"
    assert capsys.readouterr().out == f"report: {index}\n"
    assert not (family / "report").exists()  # the family is read, never written
    rows = _rows(index)
    assert _row(rows, "prune-0.3", "fine-tuned", "iid", "stsb/dev_pearson") == [
        "prune-0.3", "fine-tuned", "iid", "stsb/dev_pearson", "0.900", "-0.002",
        f"-0.002 [-0.006, 0.001] {UNRELIABLE}", "—", ""]
    iid = f"stsb/dev_pearson -0.002 [-0.006, 0.001] {UNRELIABLE}"
    assert _row(rows, "prune-0.3", "fine-tuned", "stress", "sts_gender/pearson_bls") == [
        "prune-0.3", "fine-tuned", "stress", "sts_gender/pearson_bls", "0.300", "0.050",
        f"0.050 [0.020, 0.080] {UNRELIABLE}", "4 of 4", section.TAIL_MORE.format(iid=iid)]
    coref = f"coref/dev_accuracy -0.015 [-0.030, -0.005] {UNRELIABLE}"
    assert _row(rows, "prune-0.3", "fine-tuned", "stress", "winogender/bias_r")[-2:] == [
        "0 of 4", section.BOTH_MOVED.format(iid=coref)]
    assert _row(rows, "prune-0.3", "fine-tuned", "stress", "winogender/accuracy")[-1] == section.CANNOT_TELL
    assert _row(rows, "prune-0.3", "pretrained", "stress", "calibration/slope@pretrained")[-1] == \
        section.NO_IID.format(why=section.PRETRAINED_NO_IID)
    assert _row(rows, "prune-0.7", "fine-tuned", "stress", "winogender/bias_r")[-3:] == [
        "—", "0 of 4", section.NO_INTERVAL]
    assert not [row for row in rows if "calibration/learned@pretrained" in row]  # a flag has no shift
    assert _row(rows, "prune-0.7", "global magnitude pruning of 70% of Linear weights") == [
        "prune-0.7", "global magnitude pruning of 70% of Linear weights", "2", "zero share 0.700–0.700", "12 s"]
    assert _row(rows, "prune-0.3", "fine-tuned", "winogender", "1") == [
        "prune-0.3", "fine-tuned", "winogender", "1", "nurse.patient.0.female.txt", "nurse", "0.300", "0.100", "0.900"]
    page = html_lib.unescape(index.read_text(encoding="utf-8"))
    assert section.LEVEL_SENTENCE.format(level="prune-0.3", n=4, tail=1, both=1, alone=1, unclear=1) in page
    assert section.LEVEL_SENTENCE.format(level="prune-0.7", n=4, tail=1, both=0, alone=1, unclear=2) in page
    assert section.EXEMPLAR_SENTENCE.format(
        level="prune-0.3", group="fine-tuned", test="winogender", item="nurse.patient.0.female.txt", moved="0.300",
        largest="0.900", metric="winogender/bias_r", shift=f"0.030 [0.010, 0.060] {UNRELIABLE}") in page
    assert '<a href="#compression">Compression stress</a>' in page and str(compress_out / "compression.json") in page


def test_compression_json_given_to_a_family_report_and_found_beside_a_level(family, compress_out, tmp_path):
    out = tmp_path / "html"
    assert main(["report", str(family), "--compression", str(compress_out), "--out", str(out)]) == 0
    assert _row(_rows(out / "index.html"), "prune-0.7", "fine-tuned", "iid", "coref/dev_accuracy")
    plain = tmp_path / "plain"
    assert main(["report", str(family), "--out", str(plain)]) == 0
    assert '<section id="compression">' not in (plain / "index.html").read_text(encoding="utf-8")
    level = compress_out / "prune-0.3"  # a level folder: a family whose summary says what it was compressed from
    level.mkdir()
    summary = json.loads((family / "summary.json").read_text())
    (level / "summary.json").write_text(json.dumps({**summary, "compressed_from": str(family)}))
    root, found, path, home = section.locate(level)
    assert (root, path, home) == (level, compress_out / "compression.json", level) and found["levels"]
    moved = json.loads((compress_out / "compression.json").read_text())
    moved["family"] = str(tmp_path / "gone" / "tiny")  # the tree was moved: the family beside the output is found
    (compress_out / "compression.json").write_text(json.dumps(moved))
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "summary.json").write_text(json.dumps(summary))
    assert section.locate(compress_out)[0] == tmp_path / "tiny"


def _edit(*keys, value=None, delete=False):
    def apply(data):
        for key in keys[:-1]:
            data = data[key]
        if delete:
            del data[keys[-1]]
        else:
            data[keys[-1]] = value
    return apply


M0 = ("levels", "prune-0.3", "groups", "finetuned", "members", 0)


@pytest.mark.bad_input
@pytest.mark.parametrize("edit, expected", [
    (_edit("levels", value=[]), "{p}: levels must be a mapping of method level to its results, got []. " + FIX),
    (_edit("levels", delete=True), "{p}: levels is missing (a mapping of method level to its results). " + FIX),
    (_edit("levels", value={}), "{p}: levels must be at least one method level, got {{}}. " + FIX),
    (_edit("levels", "prune-0.3", "groups", delete=True),
     "{p}: levels['prune-0.3'].groups is missing (the fine-tuned and pretrained members). " + FIX),
    (_edit(*M0, "stress_shift", "winogender/bias_r", "shift", value="0.03"),
     "{p}: levels['prune-0.3'].groups.finetuned.members[0].stress_shift['winogender/bias_r'].shift must be a number "
     "or null (compressed minus original), got \"0.03\". " + FIX),
    (_edit(*M0, "stress_shift", "winogender/bias_r", "ci95", value=[0.1]),
     "{p}: levels['prune-0.3'].groups.finetuned.members[0].stress_shift['winogender/bias_r'].ci95 must be two "
     "numbers (an interval), got [0.1]. " + FIX),
    (_edit(*M0, "model", value=3),
     "{p}: levels['prune-0.3'].groups.finetuned.members[0].model must be the member's name, got 3. " + FIX),
    (_edit("levels", "prune-0.3", "family_shift", "metrics", "winogender/bias_r", "delta", "low", delete=True),
     "{p}: levels['prune-0.3'].family_shift.metrics['winogender/bias_r'].delta must be a mapping with numbers mean, "
     "low and high, got {{\"mean\": 0.03, \"high\": 0.06, \"p\": 0.01}}. " + FIX),
    (_edit("levels", "prune-0.7", "groups", "finetuned", "exemplars", "winogender", value="x"),
     "{p}: levels['prune-0.7'].groups.finetuned.exemplars.winogender must be a list of items with a number "
     "mean_abs_delta, got \"x\". " + FIX),
    (_edit("levels", "prune-0.3", "wall_seconds", value="12 s"),
     "{p}: levels['prune-0.3'].wall_seconds must be a number, got \"12 s\". " + FIX),
    (_edit("version", value=2),
     "{p} has version 2, newer than this nlp_underspec reads (up to 1). Upgrade nlp_underspec (pip install -U "
     "nlp_underspec), or re-run `nlp-underspec compress` with this one."),
    (_edit("family", value=None), "{p}: family must be the family folder's path, got null. " + FIX),
])
def test_a_compression_json_of_the_wrong_shape_is_refused_naming_file_and_field(compress_out, capsys, edit, expected):
    path = compress_out / "compression.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    assert cli_fails(["report", compress_out], capsys) == expected.format(p=path)
    assert not (compress_out / "report").exists()


@pytest.mark.bad_input
def test_a_compression_json_that_is_not_json_or_names_no_family_is_refused(family, compress_out, tmp_path, capsys):
    path = compress_out / "compression.json"
    good = json.loads(path.read_text())
    path.write_text('{"levels": ')
    assert cli_fails(["report", compress_out], capsys) == (
        f"{path} is not valid JSON (Expecting value at line 1, column 12). " + FIX)
    gone = copy.deepcopy(good)
    gone["family"] = str(tmp_path / "moved" / "tiny")
    path.write_text(json.dumps(gone))
    assert cli_fails(["report", compress_out], capsys) == section.NO_FAMILY.format(
        path=path, family=gone["family"], looked=f"{tmp_path / 'moved' / 'tiny'}, {tmp_path / 'tiny'}")
    missing = tmp_path / "nowhere.json"
    assert cli_fails(["report", family, "--compression", missing, "--out", tmp_path / "html"], capsys) == \
        section.NO_FILE.format(path=missing)
    assert not (tmp_path / "html").exists() and not (compress_out / "report").exists()
