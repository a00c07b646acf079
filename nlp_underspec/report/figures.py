"""The report's figures, drawn with matplotlib (Agg backend) from a :class:`~nlp_underspec.experiment.family.Family`.

Each ``*_figure`` function returns a :class:`Figure` (a matplotlib figure with a title and a caption that says what it
shows and how to read it), or None when its inputs were not computed, so the page can say so instead.
"""

from __future__ import annotations

import textwrap

from dataclasses import dataclass
from typing import Any

import numpy as np

from nlp_underspec.analysis.calibration import TEST as CALIBRATION_TEST
from nlp_underspec.experiment.family import Family, iter_values
from nlp_underspec.report.family import headline_metric, iid_candidates, metric_info, per_occupation_metric

MIN_CORRELATION_MODELS = 3  # fewer points than this say nothing about a rank correlation (the analysis needs 3 too)
SHARED_AXIS_RATIO = 10
MAX_PANELS = 36  # beyond this a small-multiples grid is unreadable; the caption says how many were left out
SEED_COLOURS = "tab10"
NO_IID_PAIR = ("iid vs stress: fewer than {n} models have both a headline stress metric and a dev metric of the task "
               "its test scores (one network per pairing: sts_gender with stsb, winogender with coref).")
BELOW_FLOOR_TITLE = "below noise floor"
BELOW_FLOOR_CAPTION = (" A panel titled \"below noise floor\" is a model whose gaps are under the test's noise floor: "
                       "its r would be a correlation of float leftovers, so it is not given.")
NO_CALIBRATION_FIGURE = ("Calibration of the pretrained checkpoints: not drawn (no readable predictions/calibration "
                         "triplet with each occupation's log-odds).")
PER_OCCUPATION_LABEL = {"sts_gender": "sim(occ., woman) − sim(occ., man)",
                        "winogender": "P(occ. | she) − P(occ. | he)"}


KIND_LABELS = {"finetuned": "fine-tuned", "pretrained": "pretrained (MLM probe)", "external": "external"}
KIND_MARKERS = {"finetuned": "o", "pretrained": "D", "external": "s"}


@dataclass
class Figure:
    name: str  # file stem under figures/
    title: str
    caption: str
    figure: Any  # matplotlib.figure.Figure


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _seed_colour(seed: int | None, seeds: list[int]):
    plt = _pyplot()
    cmap = plt.get_cmap(SEED_COLOURS)
    return "0.3" if seed is None or seed not in seeds else cmap(seeds.index(seed) % 10)


def _model_order(models: list[str], family: Family) -> list[str]:
    def key(name: str):
        model = family.model(name)
        return (model.pretrain_seed if model and model.pretrain_seed is not None else 10**9,
                model.finetune_seed if model and model.finetune_seed is not None else -1, name)

    return sorted(models, key=key)


# ------------------------------------------------------------------------------------------ per occupation vs BLS


def per_occupation_figure(family: Family, test: str, bls) -> Figure | None:
    """Small multiples: each model's per-occupation score against BLS % female, with its least-squares line."""
    rows = family.per_occupation(test)
    metric = per_occupation_metric(test)
    if rows.empty or metric is None:
        return None
    rows = rows[rows["metric"] == metric]
    names = _model_order(list(dict.fromkeys(rows["model"].astype(str))), family)
    if not names:
        return None
    shown, left_out = names[:MAX_PANELS], len(names) - min(len(names), MAX_PANELS)
    # One row per pretraining seed when the grid is a full seed grid: columns = fine-tuning seeds (+ the pretrained model).
    panel_models = [family.model(name) for name in shown]
    finetune_seeds = sorted({m.finetune_seed for m in panel_models if m and m.finetune_seed is not None})
    has_pretrained = any(m is not None and m.kind == "pretrained" for m in panel_models)
    ncols = min(len(shown), max(len(finetune_seeds) + int(has_pretrained), 2), 6)
    nrows = int(np.ceil(len(shown) / ncols))
    spans = rows.groupby("model")["value"].agg(lambda v: float(v.max() - v.min()))
    # A shared y-axis compares magnitudes, but flattens a model whose gaps are 100 times smaller than its siblings'.
    shared = bool(spans.min() > 0 and spans.max() / spans.min() < SHARED_AXIS_RATIO)
    plt = _pyplot()
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols + 0.6, 2.3 * nrows + 0.7), sharex=True, sharey=shared,
                             squeeze=False)
    headline = headline_metric(test)
    pretrain_seeds, _ = family.seeds_of()
    for ax, name in zip(axes.flat, shown):
        part = rows[rows["model"] == name]
        x = bls.reindex(part["occupation"].astype(str)).to_numpy(float)
        y = part["value"].to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(y)
        model = family.model(name)
        colour = _seed_colour(model.pretrain_seed if model else None, pretrain_seeds)
        ax.scatter(x[ok], y[ok], s=9, color=colour, alpha=0.75, linewidths=0)
        ax.axhline(0, color="0.6", lw=0.8)
        if ok.sum() >= 2 and np.ptp(x[ok]) > 0:
            slope, intercept = np.polyfit(x[ok], y[ok], 1)
            grid = np.array([0, 100])
            ax.plot(grid, slope * grid + intercept, color="black", lw=1.2)
        r = model.value(test, headline) if model and headline else None
        if r is not None and model.below_floor(test, headline):
            ax.set_title(f"{name}   {BELOW_FLOOR_TITLE}", fontsize=9)  # its r is float leftovers: not shown
        else:
            ax.set_title(f"{name}" + (f"   r = {r:.2f}" if r is not None else ""), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(shown):]:
        ax.set_visible(False)
    fig.supxlabel("BLS % female in the occupation", fontsize=9)
    fig.supylabel(PER_OCCUPATION_LABEL.get(test, metric), fontsize=9)
    fig.tight_layout()
    what = {"sts_gender": "the STS similarity gap, sim(occupation, woman) − sim(occupation, man), averaged over "
                          "templates", "winogender": "the pronoun gap, P(occupation | she) − P(occupation | he)"}[test]
    caption = (f"Each panel is one model; each dot one of the 60 occupations, placed by its share of women (BLS, x) "
               f"and by {what} (y). The black line is the least-squares fit and r in the title is the model's "
               f"{headline} from summary.json. A line rising from left to right means the model ties occupations to "
               "women in step with how many women work in them; a flat line around 0 means no such pattern. Panels "
               "are ordered by pretraining seed, then fine-tuning seed; colour marks the pretraining seed.")
    caption += (" All panels share one y-axis, so heights compare across models." if shared else
                " The y-axes differ between panels (the models' gaps differ in size by more than "
                f"{SHARED_AXIS_RATIO}x): compare slopes through r, not heights.")
    if any(m is not None and headline and m.below_floor(test, headline) for m in panel_models):
        caption += BELOW_FLOOR_CAPTION
    if left_out:
        caption += f" {left_out} further model(s) are not drawn (at most {MAX_PANELS} panels)."
    return Figure(f"per_occupation_{test}", f"{test}: per-occupation scores against BLS % female", caption, fig)


# ------------------------------------------------------------------------------------------- by pretraining seed


def by_seed_figure(family: Family) -> Figure | None:
    """Each headline stress metric, one column of points per pretraining seed (the MultiBERTs picture)."""
    metrics = family.headline_metrics()
    if not metrics or not any(m.pretrain_seed is not None for m in family.models):
        return None
    plt = _pyplot()
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
                           color=_seed_colour(model.pretrain_seed, pretrain_seeds),
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
    fig.tight_layout(rect=(0, 0.08, 1, 1) if _kind_legend(fig, list(axes.flat)) else None)
    caption = ("Each dot is one model's headline stress metric, in the column of its pretraining seed; fine-tuned "
               "models (circles) with the same pretraining seed differ only in their fine-tuning seed, and the box "
               "spans their middle half. Diamonds are the pretrained checkpoints themselves, probed without "
               "fine-tuning. If the columns sit at clearly different heights while the dots within a column stay "
               "close, the pretraining seed decides most of the bias (as MultiBERTs found); if every column spans "
               "the same range, the fine-tuning seed matters as much.")
    return Figure("by_pretraining_seed", "Stress metrics by pretraining seed", caption, fig)


def _kind_legend(fig, axes) -> bool:
    """Marker shapes by kind of model, in grey (not a seed colour), below the panels; True when one was drawn."""
    from matplotlib.lines import Line2D

    labels = {label for ax in axes for label in ax.get_legend_handles_labels()[1]}
    handles = [Line2D([], [], marker=KIND_MARKERS[kind], color="0.45", linestyle="none", label=label,
                      markeredgecolor="black" if kind != "finetuned" else "0.45")
               for kind, label in KIND_LABELS.items() if label in labels]
    if len(handles) > 1:
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)
    return len(handles) > 1


def _seed_legend(fig, pretrain_seeds: list[int]) -> None:
    """One colour per pretraining seed, below the panels."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", linestyle="none", color=_seed_colour(seed, pretrain_seeds),
                      label=f"pretraining seed {seed}") for seed in pretrain_seeds[:10]]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 5), fontsize=7, frameon=False)


def per_model_figure(family: Family) -> Figure | None:
    """Each model's headline stress metrics with their 95% intervals (for models without seeds to group by)."""
    metrics = family.headline_metrics()
    models = [m for m in family.models if any(m.value(t, k) is not None for t, k in metrics)][:MAX_PANELS]
    if not metrics or not models:
        return None
    plt = _pyplot()
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


# ---------------------------------------------------------------------------------- calibration of the checkpoints


def calibration_figure(family: Family) -> Figure | None:
    """Small multiples: each pretrained checkpoint's log-odds of "she" against the target log-odds, per occupation."""
    from nlp_underspec.report import calibration

    triplet = calibration.calibration_predictions(family)
    found = {model.name: entry for model, entry in calibration.checkpoints(family)}
    if triplet is None or not found:
        return None
    target = triplet.label_info["target_logodds"].to_numpy(float)  # (n_occupations,)
    rows = {str(name): i for i, name in enumerate(triplet.run_info["model"]) if str(name) in found}
    names = _model_order(list(rows), family)[:MAX_PANELS]
    if not names:
        return None
    ncols = min(len(names), 4)
    nrows = int(np.ceil(len(names) / ncols))
    plt = _pyplot()
    # Shared axes on purpose: a checkpoint that learnt nothing should look flat beside one that did.
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.8 * ncols + 0.6, 2.5 * nrows + 0.7), sharex=True, sharey=True,
                             squeeze=False)
    pretrain_seeds, _ = family.seeds_of()
    grid = np.array([target.min(), target.max()])
    for ax, name in zip(axes.flat, names):
        lo, entry, model = triplet.preds[rows[name]], found[name], family.model(name)
        ax.scatter(target, lo, s=9, alpha=0.75, linewidths=0,
                   color=_seed_colour(model.pretrain_seed if model else None, pretrain_seeds))
        ax.plot(grid, grid, color="0.55", lw=0.9, ls="--")
        ax.plot(grid, entry["slope"] * grid + (float(np.mean(lo)) - entry["slope"] * float(np.mean(target))),
                color="black", lw=1.2)
        ax.axhline(0, color="0.8", lw=0.8)
        title = f"{name}   slope {entry['slope']:.3f}"
        if entry["ci95"] is not None:
            title += f" [{entry['ci95'][0]:.3f}, {entry['ci95'][1]:.3f}]"
        ax.set_title(title + ("" if entry["learned"] else f"\n{calibration.NOT_LEARNT}"), fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    reference = next(iter(found.values()))["reference"]
    fig.supxlabel(f"target log-odds of \"she\" ({reference})", fontsize=9)
    fig.supylabel("logit(she) − logit(he) at the mask", fontsize=9)
    fig.tight_layout()
    caption = ("Each panel is one pretrained checkpoint; each dot one occupation, placed by the log-odds of \"she\" "
               f"the checkpoint should have learnt ({reference} share of women, x) and by the checkpoint's own "
               "log-odds, logit(she) − logit(he) at \"[MASK] is the <occupation>.\" (y). The black line is the "
               "least-squares fit: its slope, the calibration slope, is in the title with its 95% interval over "
               "occupations. The dashed line is slope 1, the table learnt exactly; a flat line at 0 means nothing was "
               f"learnt, and a title saying \"{calibration.NOT_LEARNT}\" marks a checkpoint whose interval does "
               "not lie above 0. All panels share both axes; colour marks the pretraining seed.")
    if len(rows) > len(names):
        caption += f" {len(rows) - len(names)} further checkpoint(s) are not drawn (at most {MAX_PANELS} panels)."
    return Figure("calibration", "Did the pretrained checkpoints learn the statistic?", caption, fig)


# ------------------------------------------------------------------------------------------------ iid vs stress


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


def iid_vs_stress_figure(family: Family) -> Figure | None:
    pairs = _iid_stress_pairs(family)
    if not pairs:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.2 * len(pairs) + 0.4, 3.6), squeeze=False)
    pretrain_seeds, _ = family.seeds_of()
    for ax, (iid_task, iid_metric, test, metric, entry) in zip(axes.flat, pairs):
        for model in family.models:
            a, b = model.value(iid_task, iid_metric), model.value(test, metric)
            if a is None or b is None:
                continue
            ax.scatter([a], [b], s=30, color=_seed_colour(model.pretrain_seed, pretrain_seeds), zorder=3)
        ax.set_xlabel(f"{iid_task}/{iid_metric} (iid)")
        ax.set_ylabel(f"{test}/{metric} (stress)")
        if entry is not None and isinstance(entry.get("spearman"), (int, float)):
            ci = entry.get("ci95")
            ci_text = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if isinstance(ci, (list, tuple)) and len(ci) == 2 else ""
            ax.set_title(f"Spearman ρ = {entry['spearman']:.2f}{ci_text}", fontsize=9)
        else:
            why = _skip_reason(family, "iid_vs_stress", f"{iid_task}/{iid_metric}", f"{test}/{metric}")
            ax.set_title(textwrap.fill(f"Spearman ρ not computed: {why or 'no analysis.json entry'}", 48), fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    _seed_legend(fig, pretrain_seeds)
    caption = ("Each dot is one model: its in-distribution score (x, the fine-tuning task's development set) against "
               "its stress metric (y); colour marks the pretraining seed. The title gives the Spearman correlation "
               "across models with its 95% interval from analysis.json. A flat cloud, or an interval that includes "
               "0, means the iid score does not tell you which checkpoint is less biased: the models are "
               "interchangeable in distribution but not under stress (underspecification).")
    return Figure("iid_vs_stress", "In-distribution score against stress metric", caption, fig)


# ------------------------------------------------------------------------------------------------- variance split


def _seed_share_rows(family: Family) -> list[tuple[str, dict]]:
    rows = []
    for key, section in (family.analysis.get("metrics") or {}).items():
        share = section.get("seed_share") if isinstance(section, dict) else None
        if isinstance(share, dict) and isinstance(share.get("icc"), (int, float)):
            rows.append((key, share))
    return rows


def variance_split_figure(family: Family) -> Figure | None:
    rows = _seed_share_rows(family)
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(rows) + 1.4))
    for i, (key, share) in enumerate(rows):
        icc = float(share["icc"])
        ax.barh(i, icc, color="tab:blue", alpha=0.8, height=0.6)
        ax.barh(i, 1 - icc, left=icc, color="tab:orange", alpha=0.45, height=0.6)
        ci = share.get("icc_ci95")
        if isinstance(ci, (list, tuple)) and len(ci) == 2:
            ax.errorbar(icc, i, xerr=[[icc - ci[0]], [ci[1] - icc]], color="black", capsize=3, lw=1)
        ax.text(0.01, i, f"ICC {icc:.2f}", va="center", ha="left", fontsize=8, color="white")
    ax.set_yticks(range(len(rows)), [key for key, _ in rows], fontsize=8)
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("share of the variance across models")
    handles = [plt.Rectangle((0, 0), 1, 1, color="tab:blue", alpha=0.8),
               plt.Rectangle((0, 0), 1, 1, color="tab:orange", alpha=0.45)]
    ax.legend(handles, ["between pretraining seeds", "within a pretraining seed"], fontsize=7, loc="upper left",
              bbox_to_anchor=(1.01, 1), frameon=False)
    fig.tight_layout()
    caption = ("For each metric, the blue part of the bar is the share of its variance across the family that lies "
               "between pretraining seeds (the intraclass correlation, ICC, from a one-way ANOVA by pretraining "
               "seed); the orange rest comes from fine-tuning seeds. The black whisker is the ICC's 95% interval. A "
               "mostly blue bar means the pretraining seed sets the metric and fine-tuning does not undo it; "
               "compare stress metrics with the iid metrics listed beside them.")
    return Figure("variance_split", "How much of the spread comes from the pretraining seed", caption, fig)


# ------------------------------------------------------------------------------------------------------------ PCA


def pca_figure(family: Family, test: str, section: dict) -> Figure | None:
    coords = section.get("model_coords") if isinstance(section, dict) else None
    if not isinstance(coords, dict) or not coords:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.4, 4.2))
    pretrain_seeds, _ = family.seeds_of()
    for name, point in coords.items():
        if not isinstance(point, (list, tuple)) or len(point) < 2:
            continue
        model = family.model(name)
        ax.scatter([point[0]], [point[1]], s=36, color=_seed_colour(model.pretrain_seed if model else None,
                                                                    pretrain_seeds), zorder=3)
        ax.annotate(name, (point[0], point[1]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ratio = section.get("explained_variance_ratio") or []
    ax.set_xlabel("PC 1" + (f" ({ratio[0]:.0%} of variance)" if len(ratio) > 0 else ""))
    ax.set_ylabel("PC 2" + (f" ({ratio[1]:.0%} of variance)" if len(ratio) > 1 else ""))
    ax.axhline(0, color="0.85", lw=0.8)
    ax.axvline(0, color="0.85", lw=0.8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    _seed_legend(fig, pretrain_seeds)
    caption = (f"Principal components of each model's per-item {test} scores minus the ensemble mean: models close "
               "together err alike. Colour marks the pretraining seed. Clusters of one colour mean the pretraining "
               "seed shapes which items a model gets wrong, not only how many; the table below lists the items that "
               "load most on each component.")
    if isinstance(section.get("note"), str):  # e.g. models below the noise floor: the structure may be noise
        caption += f" Note: {section['note']}."
    return Figure(f"pca_{test}", f"{test}: PCA of per-item deviations from the ensemble mean", caption, fig)


# ------------------------------------------------------------------------------------------------ Multi-Bootstrap


def multibootstrap_figure(family: Family) -> Figure | None:
    rows = []
    for key, section in (family.analysis.get("metrics") or {}).items():
        boot = section.get("multibootstrap") if isinstance(section, dict) else None
        if isinstance(boot, dict) and isinstance(boot.get("mean"), (int, float)) and "skipped" not in boot:
            rows.append((key, section, boot))
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 0.6 * len(rows) + 1.4))
    for i, (key, section, boot) in enumerate(rows):
        test, metric = (section.get("test"), section.get("metric")) if section.get("test") else key.split("@")[0].split("/", 1)
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
    caption = ("Red dots and black bars: the recipe-level estimate of each metric and its 95% interval from the "
               "Multi-Bootstrap, which resamples pretraining seeds, fine-tuning seeds and test items together, so the "
               "interval covers what another run of the same recipe could give. Grey dots are the single models of "
               "this family. Claims about the recipe should cite the bar, not one grey dot.")
    return Figure("multibootstrap", "Multi-Bootstrap intervals for the recipe", caption, fig)


def all_figures(family: Family) -> tuple[list[Figure], list[str]]:
    """Every figure that can be drawn, and a note for each that cannot (inputs not computed)."""
    from nlp_underspec.data.occupations import load_occupation_stats

    bls = load_occupation_stats()["bls_pct_female"]
    figures, missing = [], []
    for test in ("sts_gender", "winogender"):
        if any(test in m.tests for m in family.models):
            figure = per_occupation_figure(family, test, bls)
            if figure is None:
                where = "no scores.parquet" if family.scores.empty else "scores.parquet has no rows with an occupation"
                missing.append(f"Per-occupation {test} scores: not drawn ({where}).")
            figures.append(figure)
    by_seed = by_seed_figure(family)
    if by_seed is None:
        missing.append("Stress metrics by pretraining seed: no model has a recorded pretraining seed.")
        by_seed = per_model_figure(family)
    figures.append(by_seed)
    if any(CALIBRATION_TEST in m.tests for m in family.models):
        figure = calibration_figure(family)
        if figure is None:
            missing.append(NO_CALIBRATION_FIGURE)
        figures.append(figure)
    iid = iid_vs_stress_figure(family)
    if iid is None:
        missing.append(NO_IID_PAIR.format(n=MIN_CORRELATION_MODELS))
    figures.append(iid)
    for name, builder, note in (("variance", variance_split_figure, "Variance split by pretraining seed"),
                                ("multibootstrap", multibootstrap_figure, "Multi-Bootstrap intervals")):
        figure = builder(family)
        if figure is None:
            missing.append(f"{note}: not computed ({'no analysis.json' if not family.has_analysis else 'no entry in analysis.json'}; "
                           f"run `nlp-underspec analyze {family.root}`).")
        figures.append(figure)
    pca = family.analysis.get("pca") if isinstance(family.analysis.get("pca"), dict) else {}
    for test, section in pca.items():
        figure = pca_figure(family, test, section)
        if figure is None and isinstance(section, dict) and "skipped" in section:
            missing.append(f"PCA of {test}: not computed ({section['skipped']}).")
        figures.append(figure)
    if not pca:
        missing.append(f"PCA of per-item deviations: not computed ({'no analysis.json' if not family.has_analysis else 'no pca section in analysis.json'}).")
    return [f for f in figures if f is not None], missing


def close(figures: list[Figure]) -> None:
    plt = _pyplot()
    for figure in figures:
        plt.close(figure.figure)

