"""Writing the report folder: ``index.html`` (figures embedded as data URIs, so the page alone is enough) and
``figures/<name>.png`` / ``.svg`` beside it. The page is rendered from ``index.html.j2`` with autoescaping; it loads
nothing from the network.
"""

from __future__ import annotations

import base64
import io
import logging
import os
from pathlib import Path
from typing import Any

from nlp_underspec.artifacts import REPORT
from nlp_underspec import __version__
from nlp_underspec.analysis.headline import family_sentence
from nlp_underspec.formatting import BELOW_FLOOR_CELL, fmt_ci_cell, fmt_floor, fmt_cell
from nlp_underspec.io import OutputKind, atomic_write_bytes, atomic_write_text, staged_output
from nlp_underspec.report import calibration, compression as compression_section
from nlp_underspec.artifacts import ANALYSIS, SELECTION
from nlp_underspec.experiment.family import Family, load_family
from nlp_underspec.report.figures import all_figures, close
from nlp_underspec.report.figures.common import Figure

log = logging.getLogger(__name__)

INDEX = "index.html"
FIGURES = "figures"
_TITLE_END = "— seed family report</title>"  # in every index.html.j2 renders


def _holds_report(folder: Path) -> bool:
    """An ``index.html`` rendered from our template, and figures that are only our PNG/SVG copies."""
    try:
        ours = _TITLE_END in (folder / INDEX).read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return False
    figures = folder / FIGURES
    return ours and (not figures.exists() or (figures.is_dir() and all(
        p.is_file() and p.suffix in (".png", ".svg") for p in figures.iterdir())))


REPORT_OUTPUT = OutputKind("report folder", _holds_report, frozenset({INDEX, FIGURES}))
PNG_DPI = 110
NO_SENTENCE = ("The seed analysis was not computed, so this report cannot say whether the family is iid-equivalent or how "
               "much of its stress spread the pretraining seed explains.")
SHORT_NAMES = {"calibration": "Calibration", "by_pretraining_seed": "By seed", "per_model": "Per model",
               "iid_vs_stress": "iid vs stress", "variance_split": "Variance split", "multibootstrap": "Multi-Bootstrap"}


def _glance(family: Family) -> tuple[list[str], list[str], list[dict]]:
    iid = family.iid_metrics()
    stress = family.headline_metrics()
    rows = []
    for model in family.models:
        stress_cells = []
        for test, metric in stress:
            value = model.value(test, metric)
            ci = model.ci95(test)
            if value is not None and model.below_floor(test, metric):
                stress_cells.append(f"{fmt_cell(value)} {BELOW_FLOOR_CELL}")  # no interval: it would dress up the noise
            else:
                stress_cells.append("—" if value is None else fmt_cell(value) + (f" {fmt_ci_cell(ci)}" if ci else "")
                                    + _calibration_mark(model, test, metric))
        rows.append({"name": model.name, "kind": model.kind,
                     "pretrain_seed": "—" if model.pretrain_seed is None else model.pretrain_seed,
                     "finetune_seed": "—" if model.finetune_seed is None else model.finetune_seed,
                     "iid": [fmt_cell(model.value(task, metric)) for task, metric in iid], "stress": stress_cells})
    return [f"{t}/{m}" for t, m in iid], [f"{t}/{m}" for t, m in stress], rows


def _calibration_mark(model, test: str, metric: str) -> str:
    """`` (did not learn the statistic)`` after the slope of a checkpoint whose interval does not lie above 0."""
    entry = calibration.checkpoint_calibration(model) if (test, metric) == (calibration.TEST, "slope") else None
    return f" ({calibration.NOT_LEARNT})" if entry is not None and not entry["learned"] else ""


def _calibration_tables(family: Family) -> dict[str, Any]:
    """The calibration section: each checkpoint's slope and verdict, the spread across seeds, and inheritance."""
    sentences = [calibration.count_sentence(family), calibration.differ_sentence(family),
                 calibration.inheritance_skipped(family)]
    shown = calibration.inheritance_entries(family)
    return {"calibration_rows": calibration.report_rows(family),
            "calibration_text": " ".join(s for s in sentences if s),
            "inheritance_rows": calibration.inheritance_rows(family),
            "inheritance_more": len(calibration.inheritance_entries(family, headline_only=False)) - len(shown)}


def _analysis_rows(family: Family) -> list[dict]:
    rows = []
    for key, section in (family.analysis.get("metrics") or {}).items():
        if not isinstance(section, dict):
            continue
        spread = section.get("spread") or {}
        share = section.get("seed_share") or {}
        boot = section.get("multibootstrap") or {}
        regroup = share.get("regroup") or {}
        icc = share.get("icc")
        missing = BELOW_FLOOR_CELL if "below_noise_floor" in section else "—"
        rows.append({"key": key, "kind": section.get("kind", "—"), "n": spread.get("n", "—"),
                     "mean": fmt_cell(spread.get("mean")) if "mean" in spread else missing,
                     "std": (f"{fmt_cell(spread.get('std'))} {fmt_ci_cell(spread.get('std_ci95'), spread)}"
                             if "std" in spread else missing),
                     "min": fmt_cell(spread.get("min")), "max": fmt_cell(spread.get("max")),
                     "icc": missing if icc is None else f"{fmt_cell(icc)} {fmt_ci_cell(share.get('icc_ci95'))}",
                     "regroup_p": fmt_cell(regroup.get("p_value")),
                     "mb": missing if boot.get("mean") is None else
                     f"{fmt_cell(boot.get('mean'))} {fmt_ci_cell(boot.get('ci95'), boot)}"})
    return rows


def _equivalence_rows(family: Family) -> list[dict]:
    section = family.analysis.get("iid_equivalence")
    if not isinstance(section, dict) or not isinstance(section.get("metrics"), list):
        return []
    verdicts = {True: "yes", False: "no", None: "not judged (no margin)"}
    return [{"iid": e.get("iid"), "min": fmt_cell(e.get("min")), "max": fmt_cell(e.get("max")),
             "range": fmt_cell(e.get("range")),
             "margin": "—" if e.get("margin") is None else f"{e['margin']:g} ({e.get('margin_source')})",
             "within": verdicts.get(e.get("within"), "—")} for e in section["metrics"] if isinstance(e, dict)]


# One note per test whose correlations got no statement (what analysis.json's noise_floor entries say).
FLOOR_NOTE = ("{key}: {n_below} of {n} models are below the noise floor ({magnitude} < {floor}), so {metrics} "
              "{verb} correlations of float leftovers, not findings: the analysis states nothing about {them}. The "
              "magnitudes (e.g. mean |gap|, slope) are analysed as usual.")


def _floor_notes(family: Family) -> list[str]:
    """One note per test whose correlations got no statement: models below its noise floor."""
    notes = []
    for key, entry in (family.analysis.get("noise_floor") or {}).items():
        if not isinstance(entry, dict) or entry.get("signal_statements") != "skipped":
            continue
        metrics = list(entry.get("signal_metrics") or [])
        floor = entry.get("floor")
        notes.append(FLOOR_NOTE.format(
            key=key, n_below=entry.get("n_below"), n=entry.get("n_models"), magnitude=entry.get("magnitude"),
            floor=fmt_floor(floor),
            metrics=" and ".join(metrics), verb="are" if len(metrics) > 1 else "is",
            them="them" if len(metrics) > 1 else "it"))
    return notes


def _list_section(family: Family, name: str) -> list[dict]:
    value = family.analysis.get(name)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


UNSTABLE_KINDS = (("items", "item"), ("templates", "template"), ("occupations", "occupation"))
UNSTABLE_SHOWN = 5  # rows of each kind in the report; analysis.json keeps its settings.unstable_top


def _unstable_basis(section: dict) -> str:
    """What the between/within split of a test rests on, in words."""
    basis = f"{section.get('n_models', '—')} models, {section.get('n_seeds', '—')} pretraining seeds"
    if section.get("split") != "made":
        return f"{basis}; between-seed share: cannot tell ({section.get('reason', '')})"
    return f"{basis}; {section['reliability_note']}" if section.get("reliable") is False else basis


def _unstable_rows(family: Family) -> list[dict]:
    """The most seed-unstable items, templates and occupations of each test (analysis.json ``unstable_items``)."""
    section = family.analysis.get("unstable_items")
    rows = []
    for test, entry in (section.items() if isinstance(section, dict) else []):
        if not isinstance(entry, dict) or "items" not in entry:
            continue
        for key, name in UNSTABLE_KINDS:
            for rank, row in enumerate((entry.get(key) or [])[:UNSTABLE_SHOWN], start=1):
                share = row.get("share_between")
                rows.append({"test": test, "kind": name, "rank": rank, "name": row.get(name, "—"),
                             "variance": fmt_cell(row.get("variance")), "between": fmt_cell(row.get("between_var")),
                             "within": fmt_cell(row.get("within_var")),
                             "share": "cannot tell" if share is None else fmt_cell(share, 2),
                             "ci": fmt_ci_cell(row.get("share_ci95")) if row.get("share_ci95") else "—",
                             "n_items": row.get("n_items", 1), "basis": _unstable_basis(entry)})
    return rows


def _analysis_tables(family: Family) -> dict[str, Any]:
    spread = [{"stress": r.get("stress"), "iid": r.get("iid"), "ratio": fmt_cell(r.get("ratio"), 2),
               "ci": fmt_ci_cell(r.get("ci95"), r)} for r in _list_section(family, "spread_ratio")]
    iid_vs = [{"iid": r.get("iid"), "stress": r.get("stress"), "rho": fmt_cell(r.get("spearman")),
               "ci": fmt_ci_cell(r.get("ci95"), r), "n": r.get("n", "—")} for r in _list_section(family, "iid_vs_stress")]
    pca_items = []
    pca = family.analysis.get("pca") if isinstance(family.analysis.get("pca"), dict) else {}
    for test, section in pca.items():
        for item in (section.get("top_items") or [])[:10] if isinstance(section, dict) else []:
            if isinstance(item, dict):
                pca_items.append({"test": test, "component": item.get("component", "—"), "item": item.get("item", "—"),
                                  "loading": fmt_cell(item.get("loading"))})
    clustering = []
    clusters = family.analysis.get("clustering") if isinstance(family.analysis.get("clustering"), dict) else {}
    for test, section in clusters.items():
        if isinstance(section, dict) and "skipped" not in section:
            clustering.append({"test": test, "n_clusters": section.get("n_clusters", "—"),
                               "ari": fmt_cell(section.get("ari")),
                               "null_mean": fmt_cell(section.get("null_mean")), "p": fmt_cell(section.get("p_value")),
                               "note": section.get("note") or ""})
    return {"analysis_rows": _analysis_rows(family), "spread_ratio": spread, "iid_vs_stress": iid_vs,
            "pca_items": pca_items, "clustering": clustering, "equivalence": _equivalence_rows(family),
            "floor_notes": _floor_notes(family), "unstable_rows": _unstable_rows(family)}


def _render_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.figure.savefig(buffer, format="png", dpi=PNG_DPI)
    return buffer.getvalue()


def _render_svg(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.figure.savefig(buffer, format="svg")
    return buffer.getvalue()


def _figure_entry(figure: Figure, png: bytes) -> dict[str, Any]:
    width, height = (int(v * PNG_DPI) for v in figure.figure.get_size_inches())
    return {"name": figure.name, "title": figure.title, "caption": figure.caption,
            "short": SHORT_NAMES.get(figure.name, figure.name.replace("_", " ")),
            "data_uri": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            "width": width, "height": height}


def _template():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).parent)),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template("index.html.j2")


def _selection_section(family: Family) -> dict[str, Any] | None:
    """selection.json in a few cells: the pick, its values on both halves, its confirmation rank and iid cost."""
    selection = family.selection
    if not selection:
        return None
    cost = selection.get("iid_cost") if isinstance(selection.get("iid_cost"), dict) else {}
    return {"stress": selection.get("stress", "?"), "objective": selection.get("objective", "?"),
            "split": selection.get("split", "?"), "seed": selection.get("seed", "?"),
            "selected": selection.get("selected"), "n_members": selection.get("n_members"),
            "selection_value": fmt_cell(selection.get("selection_value")),
            "confirmation_value": fmt_cell(selection.get("confirmation_value")),
            "rank": selection.get("confirmation_rank"), "iid_metric": cost.get("metric", "iid"),
            "iid_cost": fmt_cell(cost.get("value")), "iid_note": cost.get("note"),
            "best_member": cost.get("best_member"), "verdict": selection.get("verdict"),
            "reason": selection.get("reason"), "repeated": _repeated_splits(selection.get("repeated_splits"))}


def _median_ci(entry) -> str:
    """``median [low, high]`` of a repeated-splits entry, or an em dash."""
    if not isinstance(entry, dict) or entry.get("median") is None:
        return "—"
    return f"{fmt_cell(entry['median'])} {fmt_ci_cell(entry.get('ci95'))}" if entry.get("ci95") else fmt_cell(entry["median"])


def _repeated_splits(repeated) -> dict[str, Any] | None:
    """selection.json's ``repeated_splits``: how the pick moves over random splits of the items."""
    if not isinstance(repeated, dict):
        return None
    picks = ", ".join(f"{p.get('model', '?')} {fmt_cell(p.get('share'), 2)}" for p in repeated.get("picks") or []
                      if isinstance(p, dict))
    chance = repeated.get("chance") if isinstance(repeated.get("chance"), dict) else {}
    return {"n_splits": repeated.get("n_splits", "—"), "n_defined": repeated.get("n_defined", "—"),
            "picks": picks or "—", "rank": _median_ci(repeated.get("confirmation_rank")),
            "chance_rank": fmt_cell(chance.get("confirmation_rank_median")),
            "iid_cost": _median_ci(repeated.get("iid_cost")),
            "agreement": _median_ci(repeated.get("halves_agreement"))}


def _skipped_notes(family: Family) -> list[str]:
    """What the analysis could not compute, in its own words (analysis.json ``skipped``)."""
    notes = []
    for item in _list_section(family, "skipped"):
        notes.append(f"Not computed by the analysis: {item.get('statement', '?')} for {item.get('subject', '?')}: "
                     f"{item.get('reason', 'no reason given')}")
    return notes


def render_page(family: Family, figures: list[dict], missing: list[str],
                compression: dict[str, Any] | None = None) -> str:
    """The page; ``compression``: the Compression stress section (:func:`compression.section`), or None."""
    iid_columns, stress_columns, glance = _glance(family)
    pretrain, finetune = family.seeds_of()
    inputs = ["summary.json"] + (["scores.parquet"] if not family.scores.empty else []) + (
        [ANALYSIS] if family.has_analysis else []) + (["manifest.json"] if family.manifest else []) + (
        [SELECTION] if family.selection else []) + ([compression["source"]] if compression else [])
    versions = family.summary.get("versions")
    recipe = (family.manifest or {}).get("recipe")
    description = recipe.get("description") if isinstance(recipe, dict) else None
    sentence = family_sentence(family.analysis) if family.has_analysis else None
    return _template().render(
        headline=sentence or NO_SENTENCE,
        description=description if isinstance(description, str) else None, family=family, version=__version__,
        root=str(family.root), pretrain_seeds=pretrain, finetune_seeds=finetune,
        iid_columns=iid_columns, stress_columns=stress_columns, glance=glance, figures=figures,
        missing=missing + _skipped_notes(family),
        inputs=inputs, runs=len(family.runs), selection=_selection_section(family), compression=compression,
        versions=", ".join(f"{k} {v}" for k, v in versions.items()) if isinstance(versions, dict) else None,
        **_analysis_tables(family), **_calibration_tables(family))


def build_report(rundir: str | os.PathLike, *, out: str | os.PathLike | None = None, overwrite: bool = False,
                 compression: str | os.PathLike | None = None) -> Path:
    """Write ``report/index.html`` and ``report/figures/*.{png,svg}`` for an experiment folder; return index.html.

    ``rundir`` may also be the folder ``compress --out`` wrote (the report of the family it names, with the Compression
    stress section, goes into that folder) or one of its levels; ``compression``: a compression.json to add to any
    family (:func:`compression.locate`)."""
    root, document, found, home = compression_section.locate(rundir, compression)
    family = load_family(root)
    out = Path(out) if out is not None else home / REPORT
    figures, missing = all_figures(family)
    try:
        # An earlier report of ours is replaced (so --overwrite changes nothing); anything else is refused.
        with staged_output(out, overwrite=overwrite, accept_existing=_holds_report, kind=REPORT_OUTPUT,
                           inputs=[family.root] + ([found] if found is not None else [])) as stage:
            entries = []
            for figure in figures:
                png = _render_png(figure)
                atomic_write_bytes(stage / FIGURES / f"{figure.name}.png", png)
                atomic_write_bytes(stage / FIGURES / f"{figure.name}.svg", _render_svg(figure))
                entries.append(_figure_entry(figure, png))
            section = compression_section.section(document, found) if document is not None else None
            atomic_write_text(stage / INDEX, render_page(family, entries, missing, section))
    finally:
        close(figures)
    log.info("Report with %d figure(s) written to %s", len(figures), out / INDEX)
    return out / INDEX
