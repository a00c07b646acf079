"""Plain-text tables of ``analysis.json`` and of a family comparison, for the terminal.

Only formatting lives here; every number comes from the analysis document, so the table and the file cannot disagree.
"""

from __future__ import annotations

import math
import re

HEADLINE_PAIRS = 12  # beyond this many stress/iid pairs, show the first ones and point at analysis.json


def _num(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


def _interval(ci) -> str:
    return f"[{_num(ci[0])}, {_num(ci[1])}]" if ci else "[-]"


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
    return [key, entry["kind"], str(spread.get("n", "-")),
            _num(spread.get("mean")) if has_spread else "-",
            f"{_num(spread['std'])} {_interval(spread.get('std_ci95'))}" if has_spread else "skipped",
            f"{_num(share['icc'])} {_interval(share.get('icc_ci95'))}" if has_share else "skipped",
            _num(share["regroup"]["p_value"]) if has_share else "-",
            f"{_num(boot['mean'])} {_interval(boot.get('ci95'))}" if has_boot else "skipped"]


def analysis_table(analysis: dict) -> str:
    """The key table: one row per metric, then stress/iid pairs, PCA, clustering and what was skipped and why."""
    seeds = analysis["pretrain_seeds"]
    parts = [(f"{analysis['n_models']} models; pretraining seeds {seeds or '-'}; fine-tuning seeds "
              f"{analysis['finetune_seeds'] or '-'}; nboot {analysis['settings']['nboot']}; intervals are 95%")]
    rows = [_metric_row(key, entry) for key, entry in analysis["metrics"].items()]
    parts.append(_grid(["metric", "kind", "n", "mean", "std [CI]", "seed ICC [CI]", "regroup p",
                        "Multi-Bootstrap mean [CI]"], rows))
    pairs = {}
    for ratio in analysis.get("spread_ratio", []):
        pairs.setdefault((ratio["stress"], ratio["iid"]), {})["ratio"] = ratio
    for corr in analysis.get("iid_vs_stress", []):
        pairs.setdefault((corr["stress"], corr["iid"]), {})["corr"] = corr
    if pairs:
        pair_rows = [[stress, iid,
                      f"{_num(v['ratio']['ratio'])} {_interval(v['ratio'].get('ci95'))}" if "ratio" in v else "-",
                      f"{_num(v['corr']['spearman'])} {_interval(v['corr'].get('ci95'))}" if "corr" in v else "-"]
                     for (stress, iid), v in pairs.items()]
        parts.append(_grid(["stress metric", "iid metric", "std ratio [CI]", "Spearman [CI]"],
                           pair_rows[:HEADLINE_PAIRS]))
        if len(pair_rows) > HEADLINE_PAIRS:
            parts.append(f"... {len(pair_rows) - HEADLINE_PAIRS} more pairs in analysis.json")
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


def _skipped_lines(skipped: list[dict]) -> list[str]:
    """One line per skipped statement, except that a constant metric's many skips (its variance split and every pair
    it is in) become one line; analysis.json keeps them all."""
    constant: dict[tuple[str, str], list[str]] = {}
    same_reason: dict[tuple[str, str], list[str]] = {}  # (statement, reason without its subject) -> subjects
    for skip in skipped:
        match = _CONSTANT_CAUSE.match(skip["reason"])
        subject = skip.get("subject") or ""
        if match:
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
    return lines


def _per_test_lines(analysis: dict) -> list[str]:
    lines = []
    for test, pca in analysis.get("pca", {}).items():
        if "explained_variance_ratio" in pca:
            ratios = ", ".join(_num(v, 2) for v in pca["explained_variance_ratio"])
            top = [t for t in pca["top_items"] if t["component"] == 1][:3]
            items = ", ".join(f"{t['item']} ({_num(t['loading'], 2)})" for t in top)
            lines.append(f"PCA {test}: explained variance {ratios} over {pca['n_items']} items; PC1 top items: {items}")
    for test, cluster in analysis.get("clustering", {}).items():
        if "ari" in cluster:
            lines.append(f"Clustering {test}: {cluster['n_clusters']} clusters vs pretraining seeds, ARI "
                         f"{_num(cluster['ari'])} (shuffled seeds {_num(cluster['null_mean'])}), "
                         f"p {_num(cluster['p_value'])}")
    return lines


def comparison_table(comparison: dict) -> str:
    """One row per metric: baseline, intervention and delta with intervals, and the one-sided p-value."""
    level = f"{comparison['level']:.0%}"
    rows = [[c["metric"], "+".join(c["resampled"]),
             f"{_num(c['base']['mean'])} [{_num(c['base']['low'])}, {_num(c['base']['high'])}]",
             f"{_num(c['expt']['mean'])} [{_num(c['expt']['low'])}, {_num(c['expt']['high'])}]",
             f"{_num(c['delta']['mean'])} [{_num(c['delta']['low'])}, {_num(c['delta']['high'])}]",
             _num(c["delta"]["p"])] for c in comparison["comparisons"]]
    mode = "paired" if comparison["paired"] else "unpaired"
    text = (f"Multi-Bootstrap ({mode}, nboot {comparison['nboot']}, {level} intervals): baseline {comparison['base']}"
            f" vs intervention {comparison['expt']}\n\n"
            + _grid(["metric", "resampled", "baseline [CI]", "intervention [CI]", "delta [CI]", "p"], rows))
    for skip in comparison.get("skipped", []):
        text += f"\nskipped {skip['metric']}: {skip['reason']}"
    return text
