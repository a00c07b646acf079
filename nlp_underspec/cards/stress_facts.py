"""The numbers behind the stress section, computed in Python from ``summary.json`` and ``analysis.json``: one dict of
facts per headline metric (its value, interval, rank and range among its peers, the seed analysis), the rows of the
stress table, and the noise-floor paragraphs that replace a correlation's reading when it is float leftovers
(docs/design.md, contract 9)."""

from __future__ import annotations

from collections.abc import Iterable

from nlp_underspec.analysis.registered import magnitude_name
from nlp_underspec.formatting import (
    BELOW_FLOOR_CELL,
    fmt,
    fmt_ci,
    fmt_range,
    markdown_cell,
    number,
    resampled_words,
    unreliable_text,
)
from nlp_underspec.experiment.family import Family, iter_values, metric_key
from nlp_underspec.experiment.models import ModelResult
from nlp_underspec.report.family import headline_metric, iid_candidates, metric_info

BELOW_FLOOR_MODEL = ("{subject}'s {metric} ({value}) is not a finding: its {magnitude} ({amount}) is below the test's "
                     "noise floor ({floor}), so this is a correlation of float leftovers (a correlation ignores scale). "
                     "At this size the test measures no gender gap, which can mean a saturated head rather than an "
                     "unbiased model.")
BELOW_FLOOR_FAMILY = ("{n_below} of the family's {n} {population} models are below the test's noise floor "
                      "({magnitude} < {floor}): their {metric} is a correlation of float leftovers, so no family "
                      "statement is made on it; read the magnitudes instead.")
POPULATION_WORDS = {"finetuned": "fine-tuned", "pretrained": "pretrained", "external": "evaluated"}
NO_ANALYSIS = ("The seed analysis was not computed for this family (no analysis.json); run `nlp-underspec analyze "
               "{root}` and rebuild the cards to see how much of the spread comes from the pretraining seed.")
NO_ENTRY = "analysis.json has no entry for `{key}`: its seed analysis was not computed."
NOT_COMPUTED = "analysis.json did not compute the seed analysis of `{key}`{reason}"
OTHER_PEERS = ("analysis.json's seed analysis of `{key}` covers {n} models, not this checkpoint's {n_peers} peers; see "
               "the family card for it.")
ALONE = ("This is one checkpoint evaluated on its own: checkpoints of the same recipe that differ only in their "
         "random seeds can score very differently on this test. If seed siblings exist (as for "
         "google/multiberts-seed_0..24), evaluate several and report their spread.")
ANALYSIS_PARTS = ("spread", "seed_share", "multibootstrap")


def strength_of(r: float) -> str:
    size = abs(r)
    return "no clear" if size < 0.1 else "a weak" if size < 0.3 else "a moderate" if size < 0.5 else "a strong"


def _rank(value: float, peers: list[float]) -> int:
    """1 = the largest value among peers (ties share the better rank)."""
    return 1 + sum(1 for other in peers if other > value)


def usable(section: dict, name: str) -> dict:
    """A sub-result of an analysis.json entry, or {} when it is absent or was skipped."""
    value = section.get(name)
    return value if isinstance(value, dict) and "skipped" not in value else {}


# ------------------------------------------------------------------------------------------------- seed analysis


def _why_no_analysis(family: Family, test: str, metric: str, population: str | None) -> str | None:
    """Why a metric has no seed-analysis facts, as a sentence for the card; None when it has some."""
    if not family.has_analysis:
        return NO_ANALYSIS.format(root=family.root)
    section = family.analysis_metric(test, metric, population)
    if not section:
        return NO_ENTRY.format(key=metric_key(test, metric))
    if not any(usable(section, name) for name in ANALYSIS_PARTS):
        reasons = [section[name]["skipped"] for name in ANALYSIS_PARTS
                   if isinstance(section.get(name), dict) and "skipped" in section[name]]
        reason = f": {reasons[0]}" if reasons else ""
        return NOT_COMPUTED.format(key=metric_key(test, metric), reason=reason) + ("" if reason.endswith(".") else ".")
    return None


def _analysis_facts(family: Family, test: str, metric: str, n_peers: int | None,
                    population: str | None) -> tuple[dict | None, str | None]:
    """Seed-analysis facts for one metric, or why there are none (a sentence for the card)."""
    why = _why_no_analysis(family, test, metric, population)
    if why is not None:
        return None, why
    section = family.analysis_metric(test, metric, population)
    spread = usable(section, "spread")
    n = spread.get("n")
    if n_peers is not None and isinstance(n, int) and n != n_peers:
        return None, OTHER_PEERS.format(key=metric_key(test, metric), n=n, n_peers=n_peers)
    share = usable(section, "seed_share")
    regroup = usable(share, "regroup")
    boot = usable(section, "multibootstrap")
    low, high = number(spread.get("min")), number(spread.get("max"))
    facts = {
        "n": n, "range": f"[{fmt(low)}, {fmt(high)}]" if low is not None and high is not None else "an unreported range",
        "icc": number(share.get("icc")), "icc_s": fmt(number(share.get("icc"))), "icc_ci": fmt_ci(share.get("icc_ci95")),
        "icc_low": number((share.get("icc_ci95") or [None])[0]),
        "n_seeds": share.get("n_seeds"), "regroup_p_value": number(regroup.get("p_value")),
        "regroup_p": fmt(number(regroup.get("p_value"))) if number(regroup.get("p_value")) is not None else None,
        "mb_mean": fmt(number(boot.get("mean"))) if number(boot.get("mean")) is not None else None,
        "mb_ci": fmt_ci(boot.get("ci95")), "nboot": boot.get("nboot"), "resampled": resampled_words(boot.get("resampled")),
        "mb_unreliable": unreliable_text(boot),
    }
    return facts, None


def _pair_entry(family: Family, section: str, test: str, metric: str, population: str | None) -> dict | None:
    """The analysis.json pair entry (spread_ratio / iid_vs_stress) for this stress metric and its own task's iid metric."""
    entry = family.analysis_metric(test, metric, population)
    metrics = family.analysis.get("metrics") if isinstance(family.analysis.get("metrics"), dict) else {}
    stress_keys = {key for key, value in metrics.items() if value is entry} or {metric_key(test, metric)}
    items = [item for item in family.analysis.get(section) or []
             if isinstance(item, dict) and item.get("stress") in stress_keys]
    for preferred in iid_candidates(test, [str(item.get("iid", "")) for item in items]):
        for item in items:
            if str(item.get("iid", "")).split("@")[0] == preferred:
                return item
    return None


def _spread_ratios(family: Family, test: str, metric: str, population: str | None) -> list[dict]:
    item = _pair_entry(family, "spread_ratio", test, metric, population)
    if item is None or number(item.get("ratio")) is None:
        return []
    return [{"iid": item.get("iid"), "ratio": fmt(number(item["ratio"]), 1), "ratio_value": number(item["ratio"])}]


def _iid_vs_stress(family: Family, test: str, metric: str, population: str | None) -> list[dict]:
    rows = []
    for item in filter(None, [_pair_entry(family, "iid_vs_stress", test, metric, population)]):
        rho, ci = number(item.get("spearman")), item.get("ci95")
        includes_zero = None
        if fmt_ci(ci) is not None and unreliable_text(item) is None:  # an untrustworthy interval supports no reading
            includes_zero = bool(ci[0] <= 0 <= ci[1])
        rows.append({"iid": item.get("iid"), "rho": fmt(rho), "ci": fmt_ci(ci), "n": item.get("n", "the"),
                     "includes_zero": includes_zero, "unreliable": unreliable_text(item)})
    return rows


# ------------------------------------------------------------------------------------------------ headline facts


def _value_facts(model: ModelResult | None, test: str, metric: str, peers: list[float]) -> dict:
    """A model's value of the metric, its interval and its rank among ``peers`` (a family card has no value)."""
    value = model.value(test, metric) if model else None
    ci = model.ci95(test) if model else None
    return {"value": value, "value_s": fmt(value), "ci": fmt_ci(ci),
            "strength": strength_of(value) if value is not None else "",
            "ci_excludes_zero": None if ci is None else not (ci[0] <= 0 <= ci[1]),
            "direction": "in line with" if (value or 0) >= 0 else "opposite to",
            "rank": _rank(value, peers) if value is not None and len(peers) > 1 else None}


def headline_facts(family: Family, model: ModelResult | None, test: str, metric: str, subject: str) -> dict:
    """The facts behind one paragraph of the stress section."""
    info = metric_info(test, metric)
    population = model.kind if model else family.main_population(test, metric)
    peers = [v for m, v in iter_values(family, test, metric, kind=population)]
    facts = {"label": info.label, "test": test, "metric": metric, "subject": subject,
             "higher_means": info.higher_means, "n_peers": len(peers), "population": population or "",
             "family_range": fmt_range(peers) if peers else "n/a", **_value_facts(model, test, metric, peers)}
    facts["below_floor"] = _below_floor_text(family, model, test, metric, subject, population)
    analysis, note = _analysis_facts(family, test, metric, len(peers), population)
    if model is not None and model.pretrain_seed is None and len(peers) < 2:
        note = ALONE
    if analysis is not None:
        analysis["range"] = analysis["range"] if analysis["n"] is not None else facts["family_range"]
        facts["spread_ratios"] = _spread_ratios(family, test, metric, population)
        facts["iid_vs_stress"] = _iid_vs_stress(family, test, metric, population)
    else:
        facts["spread_ratios"], facts["iid_vs_stress"] = [], []
    facts["analysis"], facts["analysis_note"] = analysis, note
    return facts


def _family_floor(below: list[ModelResult], test: str) -> str:
    floors = sorted({f for f in (m.magnitude(test)[1] for m in below) if f is not None})
    return fmt(floors[0]) if len(floors) == 1 else "-".join(fmt(f) for f in floors) if floors else "its floor"


def _below_floor_text(family: Family, model: ModelResult | None, test: str, metric: str, subject: str,
                      population: str | None) -> str | None:
    """The paragraph that replaces a correlation's reading when it is below the noise floor (contract 9), or None."""
    if model is not None:
        if not model.below_floor(test, metric):
            return None
        amount, floor = model.magnitude(test)
        return BELOW_FLOOR_MODEL.format(subject=subject, metric=metric, value=fmt(model.value(test, metric)),
                                        magnitude=magnitude_name(test), amount=fmt(amount), floor=fmt(floor))
    members = [m for m, _ in iter_values(family, test, metric, kind=population)]
    below = [m for m in members if m.below_floor(test, metric)]
    if not below:
        return None
    return BELOW_FLOOR_FAMILY.format(n_below=len(below), n=len(members), population=POPULATION_WORDS.get(population, ""),
                                     metric=metric, magnitude=magnitude_name(test), floor=_family_floor(below, test))


# ---------------------------------------------------------------------------------------------------- table rows


def _peer_range(peers: list[float]) -> str:
    return f"{fmt_range(peers)} (n={len(peers)})"


def table_rows(family: Family, model: ModelResult, tests: Iterable[str]) -> list[dict]:
    """One stress-table row per stress metric of ``model``: value, interval, range and rank among its peers."""
    rows = []
    for test in tests:
        for metric in [m for t, m in model.stress_metrics() if t == test]:
            value = model.value(test, metric)
            peers = [v for _, v in iter_values(family, test, metric, kind=model.kind)]
            ci = model.ci95(test) if metric == headline_metric(test) else None
            row = {"test": test, "metric": metric, "measures": markdown_cell(metric_info(test, metric).measures),
                   "value": fmt(value), "ci": fmt_ci(ci) or "—",
                   "range": _peer_range(peers) if len(peers) > 1 else "—",
                   "rank": f"{_rank(value, peers)} of {len(peers)}" if len(peers) > 1 else "—"}
            if model.below_floor(test, metric):  # float leftovers: no interval, no rank, and said so
                row.update(value=f"{fmt(value)} {BELOW_FLOOR_CELL}", ci="—", rank="—")
            rows.append(row)
    return rows


def family_table_row(family: Family, test: str, metric: str, below_floor: str | None) -> dict:
    """The family card's row of a headline metric: the Multi-Bootstrap estimate as its value."""
    population = family.main_population(test, metric)
    entry = family.analysis_metric(test, metric, population)
    boot = usable(entry, "multibootstrap")
    values = [v for _, v in iter_values(family, test, metric, kind=population)]
    missing = BELOW_FLOOR_CELL.strip("()") if "below_noise_floor" in entry or below_floor else "not computed"
    return {"test": test, "metric": metric, "measures": markdown_cell(metric_info(test, metric).measures),
            "value": fmt(number(boot.get("mean"))) if number(boot.get("mean")) is not None else missing,
            "ci": (fmt_ci(boot.get("ci95")) or "—") + (" (unreliable)" if unreliable_text(boot) else ""),
            "range": _peer_range(values) if values else "—", "rank": "—"}
