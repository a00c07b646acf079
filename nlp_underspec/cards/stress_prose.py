"""The sentences of the stress section, written from the facts of :mod:`nlp_underspec.cards.stress_facts`: one
paragraph per headline metric and the seed-analysis bullets under it. Every sentence is a module constant; the
template (``section_stress.md.j2``) only places them."""

from __future__ import annotations

PARAGRAPH = "**{label} (`{test}/{metric}`).** {body}"
SCORES = ("{subject} scores {value}{ci}: {strength} association {direction} occupational gender statistics; higher "
          "means {higher_means}.")
EXCLUDES_ZERO = " The interval excludes 0."
INCLUDES_ZERO = (" The interval includes 0, so this checkpoint's association is not distinguishable from none at this "
                 "sample size.")
RANK = (" It ranks {rank} of {n_peers} in its family (1 = strongest positive association), whose values span "
        "{family_range}.")
FAMILY_SPAN = ("Across the family's {n_peers} {population} models, {metric} spans {family_range}; higher means "
               "{higher_means}.")
CI = " (95% CI {ci})"

SEED_DEPENDENCE = ("- *Seed dependence.* A different pretraining seed of the same recipe gives {metric} anywhere in "
                   "{range} (the range over the family's {n} models), so one checkpoint's value is one draw from that "
                   "range.")
ICC = " The share of this spread that lies between pretraining seeds is ICC = {icc}{ci}{seeds}{reading}."
ICC_SEEDS = " over {n_seeds} pretraining seeds"
ICC_FIXED = ": most of it is fixed when pretraining ends, and fine-tuning seeds do not undo it"
ICC_CANNOT_TELL = (": the estimate puts most of it between pretraining seeds, but its interval reaches 0, so this family "
                   "cannot tell")
ICC_LOW = ": fine-tuning seeds add as much or more"
REGROUP = " The regroup test (models shuffled across pretraining seeds) gives p = {p}{reading}."
REGROUP_MATTERS = ": the pretraining seed matters beyond chance"
REGROUP_NOT_CLEAR = ": no clear pretraining-seed effect beyond chance"
RECIPE = ("- *The recipe, not the checkpoint.* Averaged over seeds (Multi-Bootstrap over {resampled}{nboot}), the "
          "recipe's {metric} is {mean}{ci}.{unreliable}")
RECIPE_NBOOT = ", {nboot} resamples"
RECIPE_UNRELIABLE = " That interval is {unreliable}."
SPREAD = ("- *Stress vs iid spread.* Across seeds, {metric} varies {ratio} times as much as the in-distribution metric "
          "`{iid}`{reading}.")
SPREAD_WIDER = ": models that look interchangeable on the iid benchmark differ on this test"
PREDICTS = ("- *Does the iid score predict it?* Spearman ρ between `{iid}` and {metric} across {n} models is "
            "{rho}{ci}{reading}.")
PREDICTS_CI = " (95% CI {ci}{unreliable})"
PREDICTS_NOTHING = ": choosing the checkpoint with the best iid score says nothing reliable about this bias"
PREDICTS_SOME = ": the iid score carries some information about this bias"
NOTE = "- *Seed dependence.* {note}"


def _body(h: dict) -> str:
    if h["below_floor"]:
        return h["below_floor"]
    if h["value"] is None:
        return FAMILY_SPAN.format(**h)
    text = SCORES.format(subject=h["subject"], value=h["value_s"], ci=CI.format(ci=h["ci"]) if h["ci"] else "",
                         strength=h["strength"], direction=h["direction"], higher_means=h["higher_means"])
    if h["ci_excludes_zero"] is True:
        text += EXCLUDES_ZERO
    elif h["ci_excludes_zero"] is False:
        text += INCLUDES_ZERO
    if h["rank"]:
        text += RANK.format(**h)
    return text


def headline_paragraph(h: dict) -> str:
    """The paragraph of one headline metric: its value and what it means, or the family's span of it."""
    return PARAGRAPH.format(label=h["label"], test=h["test"], metric=h["metric"], body=_body(h))


def _icc_reading(a: dict) -> str:
    if a["icc"] >= 0.5 and a["icc_low"] is not None and a["icc_low"] > 0:
        return ICC_FIXED
    return ICC_CANNOT_TELL if a["icc"] >= 0.5 else ICC_LOW


def _seed_dependence(h: dict, a: dict) -> str:
    text = SEED_DEPENDENCE.format(metric=h["metric"], range=a["range"], n=a["n"] if a["n"] is not None else h["n_peers"])
    if a["icc"] is not None:
        text += ICC.format(icc=a["icc_s"], ci=CI.format(ci=a["icc_ci"]) if a["icc_ci"] else "",
                           seeds=ICC_SEEDS.format(n_seeds=a["n_seeds"]) if a["n_seeds"] else "",
                           reading=_icc_reading(a))
    if a["regroup_p"] is not None:
        text += REGROUP.format(p=a["regroup_p"],
                               reading=REGROUP_MATTERS if a["regroup_p_value"] < 0.05 else REGROUP_NOT_CLEAR)
    return text


def _recipe(h: dict, a: dict) -> str:
    return RECIPE.format(resampled=a["resampled"], nboot=RECIPE_NBOOT.format(nboot=a["nboot"]) if a["nboot"] else "",
                         metric=h["metric"], mean=a["mb_mean"], ci=CI.format(ci=a["mb_ci"]) if a["mb_ci"] else "",
                         unreliable=RECIPE_UNRELIABLE.format(unreliable=a["mb_unreliable"]) if a["mb_unreliable"] else "")


def _predicts(h: dict, c: dict) -> str:
    ci = PREDICTS_CI.format(ci=c["ci"], unreliable=f"; {c['unreliable']}" if c["unreliable"] else "") if c["ci"] else ""
    reading = (PREDICTS_NOTHING if c["includes_zero"] is True else PREDICTS_SOME if c["includes_zero"] is False
               else "")
    return PREDICTS.format(iid=c["iid"], metric=h["metric"], n=c["n"], rho=c["rho"], ci=ci, reading=reading)


def analysis_bullets(h: dict) -> list[str]:
    """The seed-analysis bullets under a headline paragraph, or the one bullet saying why there are none."""
    a = h["analysis"]
    if not a:
        return [NOTE.format(note=h["analysis_note"])] if h["analysis_note"] else []
    lines = [_seed_dependence(h, a)]
    if a["mb_mean"] is not None:
        lines.append(_recipe(h, a))
    lines += [SPREAD.format(metric=h["metric"], ratio=s["ratio"], iid=s["iid"],
                            reading=SPREAD_WIDER if s["ratio_value"] > 1 else "") for s in h["spread_ratios"]]
    lines += [_predicts(h, c) for c in h["iid_vs_stress"]]
    return lines
