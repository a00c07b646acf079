"""How the stress metrics spread over the family: by pretraining seed (or per model, without seeds), how much of the
variance lies between pretraining seeds, and the Multi-Bootstrap interval of the recipe."""

from __future__ import annotations

import numpy as np

from nlp_underspec.formatting import fmt_short
from nlp_underspec.experiment.family import Family, iter_values
from nlp_underspec.report.family import metric_info
from nlp_underspec.report.figures.common import (
    KIND_LABELS,
    KIND_MARKERS,
    MAX_PANELS,
    Figure,
    analysis_sections,
    kind_legend,
    pyplot,
    seed_colour,
)

VARIANCE_CAPTION = (
    "For each metric, the blue part of the bar is the share of its variance across the family that lies between "
    "pretraining seeds (the intraclass correlation, ICC, from a one-way ANOVA by pretraining seed); the orange rest "
    "comes from fine-tuning seeds. The black whisker is the ICC's 95% interval. A mostly blue bar means the "
    "pretraining seed sets the metric and fine-tuning does not undo it; compare stress metrics with the iid metrics "
    "listed beside them.")
MULTIBOOTSTRAP_CAPTION = (
    "Red dots and black bars: the recipe-level estimate of each metric and its 95% interval from the Multi-Bootstrap, "
    "which resamples pretraining seeds, fine-tuning seeds and test items together, so the interval covers what "
    "another run of the same recipe could give. Grey dots are the single models of this family. Claims about the "
    "recipe should cite the bar, not one grey dot.")


def by_seed_figure(family: Family) -> Figure | None:
    """Each headline stress metric, one column of points per pretraining seed (the MultiBERTs picture)."""
    metrics = family.headline_metrics()
    if not metrics or not any(m.pretrain_seed is not None for m in family.models):
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics) + 0.4, 3.6), squeeze=False)
    pretrain_seeds, _ = family.seeds_of()
    rng = np.random.default_rng(0)  # jitter only; fixed so the figure is the same every time
    for ax, (test, metric) in zip(axes.flat, metrics):
        for kind, marker in KIND_MARKERS.items():
            points = [(m, v) for m, v in iter_values(family, test, metric, kind=kind) if m.pretrain_seed is not None]
            if not points:
                continue
            groups = [[v for m, v in points if m.pretrain_seed == seed] for seed in pretrain_seeds]
            positions = [i for i, g in enumerate(groups) if len(g) >= 3]
            if kind == "finetuned" and positions:
                ax.boxplot([groups[i] for i in positions], positions=positions, widths=0.5, showfliers=False,
                           medianprops={"color": "black"}, boxprops={"color": "0.5"}, whiskerprops={"color": "0.5"},
                           capprops={"color": "0.5"})
            for model, value in points:
                x = pretrain_seeds.index(model.pretrain_seed) + (rng.uniform(-0.12, 0.12) if kind == "finetuned" else 0.3)
                ax.scatter([x], [value], marker=marker, s=28 if kind == "finetuned" else 36,
                           color=seed_colour(model.pretrain_seed, pretrain_seeds),
                           edgecolors="black" if kind != "finetuned" else "none", zorder=3, label=KIND_LABELS[kind])
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_xticks(range(len(pretrain_seeds)), [str(s) for s in pretrain_seeds])
        ax.set_xlim(-0.6, len(pretrain_seeds) - 0.3)
        ax.set_xlabel("pretraining seed")
        ax.set_ylabel(metric)
        below = sum(1 for m in family.models if m.value(test, metric) is not None and m.below_floor(test, metric))
        title = metric_info(test, metric).label
        ax.set_title(title + (f"\n({below} model(s) below the noise floor: not findings)" if below else ""),
                     fontsize=10 if not below else 8)
    fig.tight_layout(rect=(0, 0.08, 1, 1) if kind_legend(fig, list(axes.flat)) else None)
    caption = ("Each dot is one model's headline stress metric, in the column of its pretraining seed; fine-tuned "
               "models (circles) with the same pretraining seed differ only in their fine-tuning seed, and the box "
               "spans their middle half. Diamonds are the pretrained checkpoints themselves, probed without "
               "fine-tuning. If the columns sit at clearly different heights while the dots within a column stay "
               "close, the pretraining seed decides most of the bias (as MultiBERTs found); if every column spans "
               "the same range, the fine-tuning seed matters as much.")
    return Figure("by_pretraining_seed", "Stress metrics by pretraining seed", caption, fig)


def per_model_figure(family: Family) -> Figure | None:
    """Each model's headline stress metrics with their 95% intervals (for models without seeds to group by)."""
    metrics = family.headline_metrics()
    models = [m for m in family.models if any(m.value(t, k) is not None for t, k in metrics)][:MAX_PANELS]
    if not metrics or not models:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics) + 1.6, 0.35 * len(models) + 1.4),
                             squeeze=False, sharey=True)
    for ax, (test, metric) in zip(axes.flat, metrics):
        for row, model in enumerate(models):
            value, ci = model.value(test, metric), model.ci95(test)
            if value is None:
                continue
            if ci is not None:
                ax.plot(ci, [row, row], color="0.4", lw=1.5)
            ax.scatter([value], [row], color="tab:blue", s=28, zorder=3)
        ax.axvline(0, color="0.6", lw=0.8)
        ax.set_yticks(range(len(models)), [m.name for m in models], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(metric)
        ax.set_title(metric_info(test, metric).label, fontsize=10)
    fig.tight_layout()
    caption = ("Each row is one model: the dot is its headline stress metric and the grey bar its 95% interval from "
               "summary.json. Values right of 0 mean the model ties occupations to women in step with their share of "
               "women (BLS). Two models whose bars overlap widely cannot be told apart by this test.")
    return Figure("per_model", "Stress metrics per model", caption, fig)


# ------------------------------------------------------------------------------------------------- variance split


def _has_icc(share: dict) -> bool:
    return isinstance(share.get("icc"), (int, float))


def variance_split_figure(family: Family) -> Figure | None:
    rows = [(key, share) for key, _, share in analysis_sections(family, "seed_share", _has_icc)]
    if not rows:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(rows) + 1.4))
    for i, (key, share) in enumerate(rows):
        icc = float(share["icc"])
        ax.barh(i, icc, color="tab:blue", alpha=0.8, height=0.6)
        ax.barh(i, 1 - icc, left=icc, color="tab:orange", alpha=0.45, height=0.6)
        ci = share.get("icc_ci95")
        if isinstance(ci, (list, tuple)) and len(ci) == 2:
            ax.errorbar(icc, i, xerr=[[icc - ci[0]], [ci[1] - icc]], color="black", capsize=3, lw=1)
        ax.text(0.01, i, f"ICC {fmt_short(icc)}", va="center", ha="left", fontsize=8, color="white")
    ax.set_yticks(range(len(rows)), [key for key, _ in rows], fontsize=8)
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("share of the variance across models")
    handles = [plt.Rectangle((0, 0), 1, 1, color="tab:blue", alpha=0.8),
               plt.Rectangle((0, 0), 1, 1, color="tab:orange", alpha=0.45)]
    ax.legend(handles, ["between pretraining seeds", "within a pretraining seed"], fontsize=7, loc="upper left",
              bbox_to_anchor=(1.01, 1), frameon=False)
    fig.tight_layout()
    return Figure("variance_split", "How much of the spread comes from the pretraining seed", VARIANCE_CAPTION, fig)


# ------------------------------------------------------------------------------------------------ Multi-Bootstrap


def _has_mean(boot: dict) -> bool:
    return isinstance(boot.get("mean"), (int, float)) and "skipped" not in boot


def _test_and_metric(key: str, section: dict) -> tuple:
    """The test and metric of an analysis.json metric entry (older entries have only their key)."""
    return (section.get("test"), section.get("metric")) if section.get("test") else key.split("@")[0].split("/", 1)


def multibootstrap_figure(family: Family) -> Figure | None:
    rows = analysis_sections(family, "multibootstrap", _has_mean)
    if not rows:
        return None
    fig, ax = pyplot().subplots(figsize=(7.5, 0.6 * len(rows) + 1.4))
    for i, (key, section, boot) in enumerate(rows):
        test, metric = _test_and_metric(key, section)
        values = [v for _, v in iter_values(family, str(test), str(metric), kind=section.get("population"))]
        ax.scatter(values, [i + 0.22] * len(values), s=12, color="0.55", zorder=2,
                   label="single models" if i == 0 else None)
        ci = boot.get("ci95")
        if isinstance(ci, (list, tuple)) and len(ci) == 2:
            ax.plot(ci, [i, i], color="black", lw=2, zorder=3)
        ax.scatter([boot["mean"]], [i], s=40, color="tab:red", zorder=4, label="Multi-Bootstrap mean" if i == 0 else None)
    ax.set_yticks(range(len(rows)), [key for key, _, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="0.7", lw=0.8)
    ax.set_xlabel("metric value")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    fig.tight_layout()
    return Figure("multibootstrap", "Multi-Bootstrap intervals for the recipe", MULTIBOOTSTRAP_CAPTION, fig)
