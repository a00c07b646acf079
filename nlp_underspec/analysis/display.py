"""Plain-text tables of ``analysis.json``, of a family comparison and of a specification-aware selection, for the
terminal.

Only formatting lives here; every number comes from the analysis document, so the table and the file cannot disagree.
Two marks keep a reader from taking a number for more than it is: ``below floor`` where a correlation got no
statement because models are below the test's noise floor, and ``*`` on an interval drawn from too few distinct
resamples of the seeds to be trusted (``†`` on a permutation p-value that this few seeds could not bring below 0.05).
A pretrained checkpoint whose calibration slope interval does not lie above 0 reads "did not learn the statistic".
"""

from __future__ import annotations

import re
import textwrap

from nlp_underspec.analysis._common import RELIABLE_RESAMPLES
from nlp_underspec.analysis.calibration import NOT_LEARNT
from nlp_underspec.analysis.headline import family_sentence
from nlp_underspec.formatting import REFERENCE_LABELS, fmt, fmt_cell, fmt_floor, fmt_percent, significant

HEADLINE_PAIRS = 12  # beyond this many stress/iid pairs, show the first ones and point at analysis.json
WIDTH = 118
BELOW_FLOOR = "below floor"
UNRELIABLE_MARK = "*"
UNATTAINABLE_MARK = "†"  # a permutation p-value that could not have reached 0.05 with this few seeds
UNRELIABLE_FOOTNOTE = ("* from fewer than {reliable} distinct resamples of the seeds (a bootstrap over k seeds has "
                       "C(2k-1, k): 10 at k = 3): not a trustworthy interval. The ICC interval is analytic and the "
                       "regroup p a permutation test: neither resamples seeds.")
FLOOR_LINE = ("Noise floor {key}: {n_below} of {n} models below ({magnitude} < {floor}): {metrics} get no statement "
              "(float leftovers, not findings); the magnitudes are analysed.")
CALIBRATION_LINE = ("Calibration of the {n} pretrained checkpoints (target: {reference} log-odds): {k} learnt the "
                    "statistic; slopes {low} to {high} (mean {mean}); {differ}")
DIFFER = {True: "the seeds differ ({n_pairs} pair(s) of checkpoints with disjoint intervals)",
          False: "no two checkpoints' intervals are disjoint", None: "too few intervals to compare"}
INHERITANCE_LINE = ("Inheritance: each parent's calibration slope vs its fine-tuned models' mean metric, over "
                    "pretraining seeds (headline metrics; p: share of orderings of the seeds whose rho is at least the "
                    "observed one; all {n} metrics in analysis.json):")
PARTIAL_FLOOR_LINE = ("Noise floor {key}: {n_below} of {n} models below ({magnitude} < {floor}): {metrics} get no "
                      "statement (a family statement would mix float leftovers with findings); the magnitudes are "
                      "analysed.")

UNSTABLE_LINE = ("Unstable items {test} ({n_models} models, {n_seeds} pretraining seeds, {n_items} items; variance "
                 "across models, share between pretraining seeds): {items}{groups}{trust}")
UNSTABLE_HEADER = "Most seed-unstable {kind} of {test} ({n_models} models, {n_seeds} pretraining seeds){trust}"
UNSTABLE_KINDS = (("items", "item"), ("templates", "template"), ("occupations", "occupation"))
CANNOT_TELL_CELL = "cannot tell"


def _interval(ci, entry: dict | None = None) -> str:
    """``[low, high]``, marked when the entry says its resamples were too few to trust."""
    text = f"[{significant(ci[0])}, {significant(ci[1])}]" if ci else "[-]"
    return text + (UNRELIABLE_MARK if entry is not None and entry.get("reliable") is False else "")


def _grid(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip()
             for line in [header, ["-" * w for w in widths], *rows]]
    return "\n".join(lines)


def _metric_row(key: str, entry: dict) -> list[str]:
    spread = entry.get("spread", {})
    share = entry.get("seed_share", {})
    boot = entry.get("multibootstrap", {})
    has_spread, has_share, has_boot = "n" in spread, "icc" in share, "mean" in boot
    missing = BELOW_FLOOR if "below_noise_floor" in entry else "skipped"
    return [key, entry["kind"], str(spread.get("n", "-")),
            significant(spread.get("mean")) if has_spread else "-",
            f"{significant(spread['std'])} {_interval(spread.get('std_ci95'), spread)}" if has_spread else missing,
            f"{significant(share['icc'])} {_interval(share.get('icc_ci95'))}" if has_share else missing,
            significant(share["regroup"]["p_value"]) if has_share else "-",
            f"{significant(boot['mean'])} {_interval(boot.get('ci95'), boot)}" if has_boot else missing]


def _unreliable(analysis: dict) -> bool:
    """Whether any interval of the document was drawn from too few distinct resamples."""
    entries = [section for entry in analysis.get("metrics", {}).values() for section in entry.values()
               if isinstance(section, dict)]
    entries += list(analysis.get("spread_ratio", [])) + list(analysis.get("iid_vs_stress", []))
    calibration = analysis.get("calibration") if isinstance(analysis.get("calibration"), dict) else {}
    inherited = calibration.get("inheritance") if isinstance(calibration.get("inheritance"), dict) else {}
    entries += [entry for entry in inherited.values() if isinstance(entry, dict) and entry.get("headline")]
    return any(entry.get("reliable") is False for entry in entries)


def _equivalence_lines(analysis: dict) -> list[str]:
    section = analysis.get("iid_equivalence")
    if not isinstance(section, dict) or "metrics" not in section:
        return []
    rows = [[e["iid"], f"{significant(e['min'])}-{significant(e['max'])}", significant(e["range"]),
             "-" if e["margin"] is None else f"{e['margin']:g} ({e['margin_source']})",
             {True: "yes", False: "NO", None: "not judged"}[e["within"]]] for e in section["metrics"]]
    verdict = {True: "iid-equivalent", False: "NOT iid-equivalent", None: "not judged (no margin)"}[
        section.get("equivalent")]
    return [f"iid equivalence over {section['n_models']} {section['population']} models: {verdict}",
            _grid(["iid metric", "min-max", "range", "margin", "within"], rows)]


def _floor_lines(analysis: dict) -> list[str]:
    lines = []
    for key, entry in (analysis.get("noise_floor") or {}).items():
        if not isinstance(entry, dict) or entry.get("signal_statements") != "skipped":
            continue
        floor = entry.get("floor")
        template = FLOOR_LINE if entry["n_below"] == entry["n_models"] else PARTIAL_FLOOR_LINE
        lines.append(template.format(
            key=key, n_below=entry["n_below"], n=entry["n_models"], magnitude=entry.get("magnitude"),
            floor=fmt_floor(floor),
            metrics=", ".join(entry.get("signal_metrics") or [])))
    return lines


def _p_text(entry: dict) -> str:
    how = f"exact, {entry['n_permutations']} orderings" if entry.get("exact") else f"{entry['n_permutations']} draws"
    return f"{significant(entry['p_value'])} ({how}){UNATTAINABLE_MARK if entry.get('p_note') else ''}"


def _reference(reference) -> str:
    """What the slopes were measured against: ``planted``, ``BLS``, or ``mixed`` when checkpoints differ."""
    if isinstance(reference, list):
        return "mixed"
    return REFERENCE_LABELS.get(reference, "unknown") if isinstance(reference, str) else "unknown"


def _calibration_lines(analysis: dict) -> list[str]:
    """The checkpoints' slopes with their verdict, the spread across seeds, and the headline inheritance rows."""
    block = analysis.get("calibration")
    if not isinstance(block, dict) or "checkpoints" not in block:
        return []
    slopes = block["slopes"]
    lines = [textwrap.fill(CALIBRATION_LINE.format(
        n=block["n_checkpoints"], reference=_reference(block.get("reference")), k=block["n_learned"],
        low=significant(slopes["min"]), high=significant(slopes["max"]), mean=significant(slopes["mean"]),
        differ=DIFFER[block.get("seeds_differ")].format(n_pairs=len(block.get("disjoint_pairs") or []))), WIDTH)]
    rows = [[name, "-" if e["pretrain_seed"] is None else str(e["pretrain_seed"]), significant(e["slope"]),
             _interval(e["ci95"]), "yes" if e["learned"] else NOT_LEARNT] for name, e in block["checkpoints"].items()]
    lines.append(_grid(["checkpoint", "pretraining seed", "slope", "95% CI", "learnt"], rows))
    inherited = block.get("inheritance") or {}
    if "skipped" in inherited:
        return lines + [f"Inheritance not computed: {inherited['skipped']}"]
    shown = [(key, e) for key, e in inherited.items() if e.get("headline")]
    if shown:
        rows = [[key, str(e.get("n_seeds", "-")), f"{significant(e['spearman'])} {_interval(e.get('ci95'), e)}",
                 significant(e["pearson"]), _p_text(e)] if "spearman" in e else [key, "-", "skipped (below)", "-", "-"]
                for key, e in shown]
        lines += [textwrap.fill(INHERITANCE_LINE.format(n=len(inherited)), WIDTH),
                  _grid(["fine-tuned metric", "seeds", "Spearman [CI]", "Pearson", "p"], rows)]
        if any(e.get("p_note") for _, e in shown):
            lines.append(f"{UNATTAINABLE_MARK} " + next(e["p_note"] for _, e in shown if e.get("p_note")))
    return lines


def analysis_table(analysis: dict) -> str:
    """The key table: one row per metric, then stress/iid pairs, PCA, clustering and what was skipped and why."""
    seeds = analysis["pretrain_seeds"]
    parts = [(f"{analysis['n_models']} models; pretraining seeds {seeds or '-'}; fine-tuning seeds "
              f"{analysis['finetune_seeds'] or '-'}; nboot {analysis['settings']['nboot']}; intervals are 95%")]
    sentence = family_sentence(analysis)
    if sentence:
        parts.append(textwrap.fill(sentence, WIDTH))
    rows = [_metric_row(key, entry) for key, entry in analysis["metrics"].items()]
    parts.append(_grid(["metric", "kind", "n", "mean", "std [CI]", "seed ICC [CI]", "regroup p",
                        "Multi-Bootstrap mean [CI]"], rows))
    parts += ["\n".join(lines) for lines in (_equivalence_lines(analysis), _floor_lines(analysis),
                                             _calibration_lines(analysis)) if lines]
    pairs = {}
    for ratio in analysis.get("spread_ratio", []):
        pairs.setdefault((ratio["stress"], ratio["iid"]), {})["ratio"] = ratio
    for corr in analysis.get("iid_vs_stress", []):
        pairs.setdefault((corr["stress"], corr["iid"]), {})["corr"] = corr
    if pairs:
        pair_rows = [[stress, iid,
                      f"{significant(v['ratio']['ratio'])} {_interval(v['ratio'].get('ci95'), v['ratio'])}"
                      if "ratio" in v else "-",
                      f"{significant(v['corr']['spearman'])} {_interval(v['corr'].get('ci95'), v['corr'])}"
                      if "corr" in v else "-"]
                     for (stress, iid), v in pairs.items()]
        parts.append(_grid(["stress metric", "iid metric", "std ratio [CI]", "Spearman [CI]"],
                           pair_rows[:HEADLINE_PAIRS]))
        if len(pair_rows) > HEADLINE_PAIRS:
            parts.append(f"... {len(pair_rows) - HEADLINE_PAIRS} more pairs in analysis.json")
    if _unreliable(analysis):
        parts.append(textwrap.fill(UNRELIABLE_FOOTNOTE.format(reliable=RELIABLE_RESAMPLES), WIDTH))
    per_test = _per_test_lines(analysis)
    if per_test:
        parts.append("\n".join(per_test))
    skipped = analysis.get("skipped", [])
    if skipped:
        needs = "; ".join(f"{name} needs {need}" for name, need in analysis.get("needs", {}).items()
                          if name in {s["statement"] for s in skipped})
        parts.append("\n".join([f"Skipped ({needs}):", *_skipped_lines(skipped)]))
    return "\n\n".join(parts)


# "coref/dev_accuracy is 1 for every run: ..." and its pairwise variants: one cause behind many skipped statements.
_CONSTANT_CAUSE = re.compile(r"^(?P<metric>\S+) is (?P<value>\S+) for (?:all \d+ shared runs|every shared run|every run)")
# "<test>/<metric>: 9 of 9 models are below the noise floor ...": one cause behind every statement on that metric.
_FLOOR_CAUSE = re.compile(r"^(?P<metric>\S+): (?P<why>\d+ of \d+ models are below the noise floor .*)$")


def _skipped_lines(skipped: list[dict]) -> list[str]:
    """One line per skipped statement, except that a constant metric's many skips (its variance split and every pair
    it is in) become one line; analysis.json keeps them all."""
    constant: dict[tuple[str, str], list[str]] = {}
    same_reason: dict[tuple[str, str], list[str]] = {}  # (statement, reason without its subject) -> subjects
    floored: dict[str, dict[str, list[str]]] = {}  # reason without its metric -> {metric: statements}
    for skip in skipped:
        match = _CONSTANT_CAUSE.match(skip["reason"])
        floor = _FLOOR_CAUSE.match(skip["reason"])
        subject = skip.get("subject") or ""
        if floor:
            floored.setdefault(floor["why"], {}).setdefault(floor["metric"], []).append(skip["statement"])
        elif match:
            constant.setdefault((match["metric"], match["value"]), []).append(skip["statement"])
        elif subject and skip["reason"].startswith(f"{subject}: "):
            same_reason.setdefault((skip["statement"], skip["reason"][len(subject) + 2:]), []).append(subject)
        else:
            same_reason.setdefault((skip["statement"], skip["reason"]), []).append("")
    lines = []
    for (statement, reason), subjects in same_reason.items():
        named = [subject for subject in subjects if subject]
        lines.append(f"  {statement}: {', '.join(named)}: {reason}" if named else f"  {statement}: {reason}")
    for (metric, value), statements in constant.items():
        kinds = ", ".join(dict.fromkeys(statements))
        lines.append(f"  {metric} is {value} for every run: {len(statements)} statement(s) with it skipped ({kinds}); "
                     "the list is in analysis.json")
    for why, metrics in floored.items():
        kinds = ", ".join(dict.fromkeys(s for statements in metrics.values() for s in statements))
        lines.append(f"  {', '.join(metrics)} ({kinds}): {why}")
    return lines


def _per_test_lines(analysis: dict) -> list[str]:
    lines = []
    for test, pca in analysis.get("pca", {}).items():
        if "explained_variance_ratio" in pca:
            ratios = ", ".join(significant(v, 2) for v in pca["explained_variance_ratio"])
            top = [t for t in pca["top_items"] if t["component"] == 1][:3]
            items = ", ".join(f"{t['item']} ({significant(t['loading'], 2)})" for t in top)
            lines.append(f"PCA {test}: explained variance {ratios} over {pca['n_items']} items; PC1 top items: {items}")
    for test, cluster in analysis.get("clustering", {}).items():
        if "ari" in cluster:
            lines.append(f"Clustering {test}: {cluster['n_clusters']} clusters vs pretraining seeds, ARI "
                         f"{significant(cluster['ari'])} (shuffled seeds {significant(cluster['null_mean'])}), "
                         f"p {significant(cluster['p_value'])}")
    return lines + _unstable_lines(analysis)


def _share_cell(row: dict) -> str:
    share = row.get("share_between")
    return CANNOT_TELL_CELL if share is None else fmt_percent(share)


def _trust_text(entry: dict) -> str:
    """What the split rests on: nothing (a reason), or too few seeds to trust (marked ``*``)."""
    if entry.get("split") != "made":
        return f"; between/within split: cannot tell ({entry.get('reason', '')})"
    return f"; {UNRELIABLE_MARK}{entry['reliability_note']}" if entry.get("reliable") is False else ""


def _unstable_lines(analysis: dict) -> list[str]:
    lines = []
    for test, entry in (analysis.get("unstable_items") or {}).items():
        if "items" not in entry:
            continue
        items = ", ".join(f"{row['item']} {significant(row['variance'])} ({_share_cell(row)})"
                          for row in entry["items"][:3])
        groups = "".join(f"; top {name} {entry[key][0][name]} ({significant(entry[key][0]['variance'])}, "
                         f"{_share_cell(entry[key][0])})" for key, name in UNSTABLE_KINDS[1:] if entry.get(key))
        lines.append(textwrap.fill(UNSTABLE_LINE.format(test=test, n_models=entry["n_models"],
                                                        n_seeds=entry["n_seeds"], n_items=entry["n_items"],
                                                        items=items, groups=groups, trust=_trust_text(entry)), WIDTH))
    return lines


def _unstable_row(rank: int, row: dict, name: str) -> list[str]:
    interval = row.get("share_ci95")  # a share, shown as percentages like the share itself
    share = _share_cell(row) + (f" [{fmt_percent(interval[0])}, {fmt_percent(interval[1])}]" if interval else "")
    if row.get("share_note"):  # no interval: the ICC's lies wholly below 0 (analysis.json's share_note says why)
        share += " (ICC < 0)"
    return [str(rank), row[name], significant(row["variance"]), significant(row["between_var"]),
            significant(row["within_var"]), share, str(row.get("n_items", 1)), str(row["n_models"])]


def unstable_table(analysis: dict, top: int) -> str:
    """The ``top`` most seed-unstable items, templates and occupations of each test, ranked by variance."""
    parts = []
    for test, entry in (analysis.get("unstable_items") or {}).items():
        if "items" not in entry:
            parts.append(f"Unstable items {test}: {entry.get('skipped', 'not computed')}")
            continue
        for key, name in UNSTABLE_KINDS:
            if not entry.get(key):
                continue
            rows = [_unstable_row(rank, row, name) for rank, row in enumerate(entry[key][:top], start=1)]
            header = UNSTABLE_HEADER.format(kind=key, test=test, n_models=entry["n_models"],
                                            n_seeds=entry["n_seeds"], trust=_trust_text(entry))
            parts.append(textwrap.fill(header, WIDTH) + "\n" + _grid(
                ["rank", name, "variance", "between-seed", "within-seed", "share between [CI]", "items", "models"],
                rows))
    return "\n\n".join(parts)


def comparison_table(comparison: dict) -> str:
    """One row per metric: baseline, intervention and delta with intervals, and the one-sided p-value."""
    level = f"{comparison['level']:.0%}"
    def cell(c: dict, arm: str) -> str:
        return f"{significant(c[arm]['mean'])} {_interval([c[arm]['low'], c[arm]['high']], c)}"

    rows = [[c["metric"], "+".join(c["resampled"]), cell(c, "base"), cell(c, "expt"), cell(c, "delta"),
             significant(c["delta"]["p"])] for c in comparison["comparisons"]]
    mode = "paired" if comparison["paired"] else "unpaired"
    text = (f"Multi-Bootstrap ({mode}, nboot {comparison['nboot']}, {level} intervals): baseline {comparison['base']}"
            f" vs intervention {comparison['expt']}\n\n"
            + _grid(["metric", "resampled", "baseline [CI]", "intervention [CI]", "delta [CI]", "p"], rows))
    if any(c.get("reliable") is False for c in comparison["comparisons"]):
        text += "\n\n" + textwrap.fill(UNRELIABLE_FOOTNOTE.format(reliable=RELIABLE_RESAMPLES), WIDTH)
    for skip in comparison.get("skipped", []):
        text += f"\nskipped {skip['metric']}: {skip['reason']}"
    return text


def _selection_iid(selection: dict) -> str:
    cost = selection.get("iid_cost") or {}
    if "value" not in cost:
        return f"iid cost: unknown ({cost.get('note', 'no iid metric')})"
    return (f"iid cost on {cost['metric']}: {significant(cost['value'])} ({fmt(cost['selected'], 4)} vs the best "
            f"iid member {cost['best_member']}, {fmt(cost['best'], 4)})")


def _selection_floor(selection: dict) -> str:
    if selection.get("verdict") is None:
        return ""  # a selection written before the floors existed
    spread = (selection.get("floor") or {}).get("spread") or {}
    floor = (f"spread {significant(spread.get('spread'))} ({spread.get('statistic', 'SD')}) vs noise floor "
             f"{significant(spread.get('floor'))} (p = {significant(spread.get('p_value'))})")
    line = f"\nverdict: {selection['verdict']}; {floor}"
    return line + (f"\n  {selection['reason']}" if selection.get("reason") else "")


def _selection_repeated(selection: dict) -> str:
    many = selection.get("repeated_splits")
    if not many:
        return ""
    picks = ", ".join(f"{p['model']} {fmt_percent(p['share'])}" for p in many["picks"][:3])
    rank, agree = many["confirmation_rank"], many["halves_agreement"]
    cost = many.get("iid_cost") or {}
    cost_text = (f"; iid cost {significant(cost['median'])} {_interval(cost['ci95'])}" if cost.get("median") is not None
                 else "")
    return (f"\nover {many['n_defined']} random splits: picked {picks}; confirmation rank median "
            f"{significant(rank['median'])} {_interval(rank['ci95'])} (chance "
            f"{significant(many['chance']['confirmation_rank_median'])}), best on confirmation "
            f"{fmt_percent(many['confirmed_best_share'])}{cost_text}; halves agree (Spearman) "
            f"{significant(agree['median'])} {_interval(agree['ci95'])}")



def selection_table(selection: dict) -> str:
    """The pick and its confirmation, then one row per member (by selection rank): both halves and the iid metric."""
    head = (f"Selection on {selection['stress']} ({selection['objective']}), {selection['split']} split with seed "
            f"{selection['seed']}: {selection['n_selection_units']} to select, {selection['n_confirmation_units']} to "
            f"confirm, {selection['n_members']} {selection['population']} members\n"
            f"selected {selection['selected']}: {significant(selection['selection_value'])} on the selection half, "
            f"{significant(selection['confirmation_value'])} on the confirmation half (rank "
            f"{selection['confirmation_rank']} of {selection['n_members']}); {_selection_iid(selection)}"
            f"{_selection_floor(selection)}{_selection_repeated(selection)}")
    rows = [[m["model"], str(m["selection_rank"]), significant(m["selection"]), str(m["confirmation_rank"]),
             significant(m["confirmation"]), significant(m["all_items"]),
             fmt_cell(m["iid"], 4)] for m in selection["members"]]
    return head + "\n\n" + _grid(["member", "rank", "selection", "rank", "confirmation", "all items", "iid"], rows)
