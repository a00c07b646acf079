"""How models relate to each other: in-distribution score against stress metric (does the iid benchmark tell the
checkpoints apart?), and the principal components of their per-item deviations (do they err alike?)."""

from __future__ import annotations

import textwrap

from nlp_underspec.analysis.registered import paired_task
from nlp_underspec.formatting import fmt_percent, fmt_short, fmt_short_ci
from nlp_underspec.experiment.family import Family
from nlp_underspec.report.family import iid_candidates
from nlp_underspec.report.figures.common import Figure, model_seed_colour, pyplot, seed_colour, seed_legend

MIN_CORRELATION_MODELS = 3  # fewer points than this say nothing about a rank correlation (the analysis needs 3 too)
NO_IID_PAIR = ("iid vs stress: fewer than {n} models have both a headline stress metric and a dev metric of the task "
               "its test scores{pairings}.")
PAIRINGS = " (one network per pairing: {pairs})"
IID_VS_STRESS_CAPTION = (
    "Each dot is one model: its in-distribution score (x, the fine-tuning task's development set) against its stress "
    "metric (y); colour marks the pretraining seed. The title gives the Spearman correlation across models with its "
    "95% interval from analysis.json. A flat cloud, or an interval that includes 0, means the iid score does not tell "
    "you which checkpoint is less biased: the models are interchangeable in distribution but not under stress "
    "(underspecification).")
PCA_CAPTION = (
    "Principal components of each model's per-item {test} scores minus the ensemble mean: models close together err "
    "alike. Colour marks the pretraining seed. Clusters of one colour mean the pretraining seed shapes which items a "
    "model gets wrong, not only how many; the table below lists the items that load most on each component.")


def no_iid_pair_note(family: Family) -> str:
    """Why the iid-vs-stress figure is not drawn, naming the task each of the family's tests is paired with."""
    tests = sorted({test for model in family.models for test in model.tests})
    pairs = [f"{test} with {paired_task(test)}" for test in tests if paired_task(test)]
    return NO_IID_PAIR.format(n=MIN_CORRELATION_MODELS, pairings=PAIRINGS.format(pairs=", ".join(pairs)) if pairs else "")


def _iid_stress_pairs(family: Family) -> list[tuple[str, str, str, str, dict | None]]:
    """One (iid task, iid metric, test, metric, analysis entry or None) per headline stress metric: the stress metric
    against its own task's iid metric (the pair a reader asks about; analysis.json has every combination)."""
    entries = [e for e in family.analysis.get("iid_vs_stress") or [] if isinstance(e, dict)]
    pairs = []
    for test, metric in family.headline_metrics():
        for candidate in iid_candidates(test, [f"{t}/{m}" for t, m in family.iid_metrics()]):
            iid_task, iid_metric = candidate.split("/", 1)
            both = sum(1 for m in family.models
                       if m.value(iid_task, iid_metric) is not None and m.value(test, metric) is not None)
            if both < MIN_CORRELATION_MODELS:
                continue
            entry = next((e for e in entries if e.get("stress") == f"{test}/{metric}" and e.get("iid") == candidate),
                         None)
            pairs.append((iid_task, iid_metric, test, metric, entry))
            break
    return pairs


def _skip_reason(family: Family, statement: str, *subjects: str) -> str | None:
    """analysis.json's reason for skipping ``statement`` on these metrics (e.g. an iid metric that never varies, or a
    stress metric below its noise floor): the metrics are named by the reason or by the skip's subject."""
    for skip in family.analysis.get("skipped") or []:
        reason = str(skip.get("reason", ""))
        named = f"{reason} {skip.get('subject', '')}"
        if skip.get("statement") == statement and all(subject in named for subject in subjects):
            return reason
    return None


def _pair_panel(ax, family: Family, pair: tuple, pretrain_seeds: list[int]) -> None:
    iid_task, iid_metric, test, metric, entry = pair
    for model in family.models:
        a, b = model.value(iid_task, iid_metric), model.value(test, metric)
        if a is None or b is None:
            continue
        ax.scatter([a], [b], s=30, color=seed_colour(model.pretrain_seed, pretrain_seeds), zorder=3)
    ax.set_xlabel(f"{iid_task}/{iid_metric} (iid)")
    ax.set_ylabel(f"{test}/{metric} (stress)")
    if entry is not None and isinstance(entry.get("spearman"), (int, float)):
        ax.set_title(f"Spearman ρ = {fmt_short(entry['spearman'])}{fmt_short_ci(entry.get('ci95'))}", fontsize=9)
    else:
        why = _skip_reason(family, "iid_vs_stress", f"{iid_task}/{iid_metric}", f"{test}/{metric}")
        ax.set_title(textwrap.fill(f"Spearman ρ not computed: {why or 'no analysis.json entry'}", 48), fontsize=8)


def iid_vs_stress_figure(family: Family) -> Figure | None:
    pairs = _iid_stress_pairs(family)
    if not pairs:
        return None
    fig, axes = pyplot().subplots(1, len(pairs), figsize=(4.2 * len(pairs) + 0.4, 3.6), squeeze=False)
    pretrain_seeds, _ = family.seeds_of()
    for ax, pair in zip(axes.flat, pairs):
        _pair_panel(ax, family, pair, pretrain_seeds)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    seed_legend(fig, pretrain_seeds)
    return Figure("iid_vs_stress", "In-distribution score against stress metric", IID_VS_STRESS_CAPTION, fig)


def pca_figure(family: Family, test: str, section: dict) -> Figure | None:
    coords = section.get("model_coords") if isinstance(section, dict) else None
    if not isinstance(coords, dict) or not coords:
        return None
    fig, ax = pyplot().subplots(figsize=(5.4, 4.2))
    pretrain_seeds, _ = family.seeds_of()
    for name, point in coords.items():
        if not isinstance(point, (list, tuple)) or len(point) < 2:
            continue
        ax.scatter([point[0]], [point[1]], s=36, color=model_seed_colour(family, name, pretrain_seeds), zorder=3)
        ax.annotate(name, (point[0], point[1]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ratio = section.get("explained_variance_ratio") or []
    ax.set_xlabel("PC 1" + (f" ({fmt_percent(ratio[0])} of variance)" if len(ratio) > 0 else ""))
    ax.set_ylabel("PC 2" + (f" ({fmt_percent(ratio[1])} of variance)" if len(ratio) > 1 else ""))
    ax.axhline(0, color="0.85", lw=0.8)
    ax.axvline(0, color="0.85", lw=0.8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    seed_legend(fig, pretrain_seeds)
    caption = PCA_CAPTION.format(test=test)
    if isinstance(section.get("note"), str):  # e.g. models below the noise floor: the structure may be noise
        caption += f" Note: {section['note']}."
    return Figure(f"pca_{test}", f"{test}: PCA of per-item deviations from the ensemble mean", caption, fig)
