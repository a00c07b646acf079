"""Small multiples over the occupations: each model's per-occupation score against BLS % female, and each pretrained
checkpoint's log-odds of "she" against the target it should have learnt (its calibration).

How a test's per-occupation value is named on the axis and in the caption comes from the registry
(``per_occupation_label``, ``per_occupation_description``), so a plugin test is drawn like a built-in one.
"""

from __future__ import annotations

import numpy as np

from nlp_underspec.analysis.registered import registered_test
from nlp_underspec.formatting import fmt_decimals, fmt_short
from nlp_underspec.report import calibration
from nlp_underspec.experiment.family import Family
from nlp_underspec.report.family import headline_metric, per_occupation_metric
from nlp_underspec.report.figures.common import (
    MAX_PANELS,
    Figure,
    hide_unused,
    model_order,
    model_seed_colour,
    pyplot,
)

SHARED_AXIS_RATIO = 10
BELOW_FLOOR_TITLE = "below noise floor"
BELOW_FLOOR_CAPTION = (" A panel titled \"below noise floor\" is a model whose gaps are under the test's noise floor: "
                       "its r would be a correlation of float leftovers, so it is not given.")
PER_OCCUPATION_CAPTION = (
    "Each panel is one model; each dot one of the 60 occupations, placed by its share of women (BLS, x) and by {what} "
    "(y). The black line is the least-squares fit and r in the title is the model's {headline} from summary.json. A "
    "line rising from left to right means the model ties occupations to women in step with how many women work in "
    "them; a flat line around 0 means no such pattern. Panels are ordered by pretraining seed, then fine-tuning seed; "
    "colour marks the pretraining seed.")
SHARED_AXIS_CAPTION = " All panels share one y-axis, so heights compare across models."
OWN_AXES_CAPTION = (" The y-axes differ between panels (the models' gaps differ in size by more than {ratio}x): compare "
                    "slopes through r, not heights.")
LEFT_OUT_CAPTION = " {n} further {what}(s) are not drawn (at most {most} panels)."
CALIBRATION_CAPTION = (
    "Each panel is one pretrained checkpoint; each dot one occupation, placed by the log-odds of \"she\" the checkpoint "
    "should have learnt ({reference} share of women, x) and by the checkpoint's own log-odds, logit(she) − logit(he) "
    "at \"[MASK] is the <occupation>.\" (y). The black line is the least-squares fit: its slope, the calibration slope, "
    "is in the title with its 95% interval over occupations. The dashed line is slope 1, the table learnt exactly; a "
    "flat line at 0 means nothing was learnt, and a title saying \"{not_learnt}\" marks a checkpoint whose interval "
    "does not lie above 0. All panels share both axes; colour marks the pretraining seed.")


def _names(test: str, metric: str) -> tuple[str, str]:
    """(axis label, caption words) of a test's per-occupation value, as its registered test declares them."""
    registered = registered_test(test)
    label = getattr(registered, "per_occupation_label", "") or metric
    what = getattr(registered, "per_occupation_description", "") or f"its per-occupation {metric}"
    return label, what


def _grid(family: Family, shown: list[str], spans) -> tuple:
    """The figure and panels: one row per pretraining seed when the models are a full seed grid."""
    panel_models = [family.model(name) for name in shown]
    finetune_seeds = sorted({m.finetune_seed for m in panel_models if m and m.finetune_seed is not None})
    has_pretrained = any(m is not None and m.kind == "pretrained" for m in panel_models)
    ncols = min(len(shown), max(len(finetune_seeds) + int(has_pretrained), 2), 6)
    nrows = int(np.ceil(len(shown) / ncols))
    # A shared y-axis compares magnitudes, but flattens a model whose gaps are 100 times smaller than its siblings'.
    shared = bool(spans.min() > 0 and spans.max() / spans.min() < SHARED_AXIS_RATIO)
    fig, axes = pyplot().subplots(nrows, ncols, figsize=(2.6 * ncols + 0.6, 2.3 * nrows + 0.7), sharex=True,
                                  sharey=shared, squeeze=False)
    return fig, axes, shared


def _occupation_panel(ax, family: Family, test: str, name: str, part, bls, headline: str | None) -> None:
    pretrain_seeds, _ = family.seeds_of()
    x = bls.reindex(part["occupation"].astype(str)).to_numpy(float)
    y = part["value"].to_numpy(float)
    ok = np.isfinite(x) & np.isfinite(y)
    model = family.model(name)
    ax.scatter(x[ok], y[ok], s=9, color=model_seed_colour(family, name, pretrain_seeds), alpha=0.75, linewidths=0)
    ax.axhline(0, color="0.6", lw=0.8)
    if ok.sum() >= 2 and np.ptp(x[ok]) > 0:
        slope, intercept = np.polyfit(x[ok], y[ok], 1)
        grid = np.array([0, 100])
        ax.plot(grid, slope * grid + intercept, color="black", lw=1.2)
    r = model.value(test, headline) if model and headline else None
    if r is not None and model.below_floor(test, headline):
        ax.set_title(f"{name}   {BELOW_FLOOR_TITLE}", fontsize=9)  # its r is float leftovers: not shown
    else:
        ax.set_title(f"{name}" + (f"   r = {fmt_short(r)}" if r is not None else ""), fontsize=9)
    ax.tick_params(labelsize=7)


def _occupation_caption(family: Family, test: str, shown: list[str], shared: bool, left_out: int) -> str:
    headline = headline_metric(test)
    caption = PER_OCCUPATION_CAPTION.format(what=_names(test, per_occupation_metric(test))[1], headline=headline)
    caption += SHARED_AXIS_CAPTION if shared else OWN_AXES_CAPTION.format(ratio=SHARED_AXIS_RATIO)
    panel_models = [family.model(name) for name in shown]
    if any(m is not None and headline and m.below_floor(test, headline) for m in panel_models):
        caption += BELOW_FLOOR_CAPTION
    if left_out:
        caption += LEFT_OUT_CAPTION.format(n=left_out, what="model", most=MAX_PANELS)
    return caption


def per_occupation_figure(family: Family, test: str, bls) -> Figure | None:
    """Small multiples: each model's per-occupation score against BLS % female, with its least-squares line."""
    rows = family.per_occupation(test)
    metric = per_occupation_metric(test)
    if rows.empty or metric is None:
        return None
    rows = rows[rows["metric"] == metric]
    names = model_order(list(dict.fromkeys(rows["model"].astype(str))), family)
    if not names:
        return None
    shown, left_out = names[:MAX_PANELS], len(names) - min(len(names), MAX_PANELS)
    spans = rows.groupby("model")["value"].agg(lambda v: float(v.max() - v.min()))
    fig, axes, shared = _grid(family, shown, spans)
    headline = headline_metric(test)
    for ax, name in zip(axes.flat, shown):
        _occupation_panel(ax, family, test, name, rows[rows["model"] == name], bls, headline)
    hide_unused(axes, len(shown))
    fig.supxlabel("BLS % female in the occupation", fontsize=9)
    fig.supylabel(_names(test, metric)[0], fontsize=9)
    fig.tight_layout()
    caption = _occupation_caption(family, test, shown, shared, left_out)
    return Figure(f"per_occupation_{test}", f"{test}: per-occupation scores against BLS % female", caption, fig)


# ---------------------------------------------------------------------------------- calibration of the checkpoints


def _calibration_panel(ax, family: Family, name: str, target, lo, entry: dict, grid) -> None:
    pretrain_seeds, _ = family.seeds_of()
    ax.scatter(target, lo, s=9, alpha=0.75, linewidths=0, color=model_seed_colour(family, name, pretrain_seeds))
    ax.plot(grid, grid, color="0.55", lw=0.9, ls="--")
    ax.plot(grid, entry["slope"] * grid + (float(np.mean(lo)) - entry["slope"] * float(np.mean(target))),
            color="black", lw=1.2)
    ax.axhline(0, color="0.8", lw=0.8)
    title = f"{name}   slope {fmt_decimals(entry['slope'], 3)}"
    if entry["ci95"] is not None:
        title += f" [{fmt_decimals(entry['ci95'][0], 3)}, {fmt_decimals(entry['ci95'][1], 3)}]"
    ax.set_title(title + ("" if entry["learned"] else f"\n{calibration.NOT_LEARNT}"), fontsize=8)
    ax.tick_params(labelsize=7)


def calibration_figure(family: Family) -> Figure | None:
    """Small multiples: each pretrained checkpoint's log-odds of "she" against the target log-odds, per occupation."""
    triplet = calibration.calibration_predictions(family)
    found = {model.name: entry for model, entry in calibration.checkpoints(family)}
    if triplet is None or not found:
        return None
    target = triplet.label_info["target_logodds"].to_numpy(float)  # (n_occupations,)
    rows = {str(name): i for i, name in enumerate(triplet.run_info["model"]) if str(name) in found}
    names = model_order(list(rows), family)[:MAX_PANELS]
    if not names:
        return None
    ncols = min(len(names), 4)
    nrows = int(np.ceil(len(names) / ncols))
    # Shared axes on purpose: a checkpoint that learnt nothing should look flat beside one that did.
    fig, axes = pyplot().subplots(nrows, ncols, figsize=(2.8 * ncols + 0.6, 2.5 * nrows + 0.7), sharex=True,
                                  sharey=True, squeeze=False)
    grid = np.array([target.min(), target.max()])
    for ax, name in zip(axes.flat, names):
        _calibration_panel(ax, family, name, target, triplet.preds[rows[name]], found[name], grid)
    hide_unused(axes, len(names))
    reference = next(iter(found.values()))["reference"]
    fig.supxlabel(f"target log-odds of \"she\" ({reference})", fontsize=9)
    fig.supylabel("logit(she) − logit(he) at the mask", fontsize=9)
    fig.tight_layout()
    caption = CALIBRATION_CAPTION.format(reference=reference, not_learnt=calibration.NOT_LEARNT)
    if len(rows) > len(names):
        caption += LEFT_OUT_CAPTION.format(n=len(rows) - len(names), what="checkpoint", most=MAX_PANELS)
    return Figure("calibration", "Did the pretrained checkpoints learn the statistic?", caption, fig)
