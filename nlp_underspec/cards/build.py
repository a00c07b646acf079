"""The three cards: one per checkpoint of a family, one per model the toolkit evaluated but did not train, and one for
the family. Each is a ``ModelCard`` from ``checkpoint.md.j2`` or ``family.md.j2`` with its sections filled in."""

from __future__ import annotations

from pathlib import Path

from nlp_underspec import __version__
from nlp_underspec.analysis.headline import family_sentence
from nlp_underspec.cards.locators import LocalLocator, Locator
from nlp_underspec.cards.model_index import card_data, checkpoint_results, eval_results_for, model_card_results
from nlp_underspec.cards.sections import (
    external_loading_section,
    facts_only_training_section,
    iid_section,
    loading_section,
    model_class,
    training_section,
)
from nlp_underspec.cards.stress_section import family_stress_section, no_stress_section, stress_section
from nlp_underspec.cards.templates import outer_template, render_section
from nlp_underspec.formatting import BELOW_FLOOR_CELL, fmt, number
from nlp_underspec.experiment.family import Family
from nlp_underspec.experiment.models import ModelResult
from nlp_underspec.experiment.runs import RunFolder

MEMBER_INTRO = ("`{label}` is {what}, one member of the seed family **{family}**: models trained with one recipe that "
                "differ only in their random seeds ({seeds}). Use the family, not one member, to tell what the recipe "
                "does from what the seed did.")
STEP_INTRO = " This is its intermediate checkpoint after {step} pretraining steps; stress results are for the final one."
EXTERNAL_INTRO = ("Stress-test results for `{checkpoint}`, evaluated with nlp_underspec together with {others} other "
                  "model(s) in `{root}`.")
COMPRESSED_LINE = (" **Compressed checkpoint:** {description} (`nlp-underspec compress`, method `{name}`); its "
                   "scores are the compressed copy's, not the original's.")
EXTERNAL_NOTE = "This model was not trained by nlp_underspec; see its own card for training details."
FAMILY_INTRO = ("**{name}** is a family of {n} BERT models trained with one recipe and differing only in their random "
                "seeds (pretraining seed × fine-tuning seed, as in MultiBERTs). The numbers below are the spread a user "
                "of this recipe should expect, not the result of one lucky or unlucky seed.")
CLUSTERING = ("Clustering the models by their {test} profiles recovers the pretraining seed with adjusted Rand index "
              "{ari}{p} (1 = clusters are exactly the seeds, 0 = chance).")


def _member_intro(family: Family, run: RunFolder, locator: Locator, step: int | None) -> str:
    what = ("a BERT pretrained from scratch" if run.kind == "pretrained" else f"a BERT fine-tuned on {run.task}")
    seeds = ", ".join(f"{k} = {v}" for k, v in (("pretraining seed", run.seed("pretrain")),
                                                ("fine-tuning seed", run.seed("finetune"))) if v is not None)
    intro = MEMBER_INTRO.format(label=run.label, what=what, family=family.name, seeds=seeds)
    if step is not None:
        intro += STEP_INTRO.format(step=step)
    if locator.collection:
        intro += f" The whole family is in the collection {locator.collection}."
    return intro + compression_line(run.record.get("compression"))


def compression_line(block) -> str:
    """The card's label of a compressed checkpoint (run.json's or summary.json's ``compression``), or ""."""
    if not isinstance(block, dict) or not block.get("description"):
        return ""
    return COMPRESSED_LINE.format(description=block["description"], name=block.get("name", block.get("method")))


def _run_extra(family: Family, run: RunFolder, step: int | None) -> dict:
    return {"nlp_underspec": {"family": family.name, "run_id": run.run_id, "task": run.task, "step": step,
                              "pretrain_seed": run.seed("pretrain"), "finetune_seed": run.seed("finetune"),
                              "config_hash": run.record.get("config_hash")}}


def checkpoint_card(family: Family, run: RunFolder, *, locator: Locator | None = None, step: int | None = None,
                    base_model: str | None = None):
    """The card of one checkpoint of the family (``step`` for an intermediate pretraining checkpoint)."""
    from huggingface_hub import ModelCard

    locator = locator or LocalLocator(family.root)
    model, tests, iid_tasks = checkpoint_results(family, run, step=step)
    load_id, revision = locator.where(run) if step is None else locator.step_where(run, step)
    _, _, pipeline_tag = model_class(run.path if step is None else run.path / f"step_{step}", run.kind)
    eval_results = eval_results_for(model, tests=tests, iid_tasks=iid_tasks) if model and step is None else []
    if step is None and model is not None and tests:
        stress = stress_section(family, model, tests=tests)
    else:
        stress = no_stress_section(intermediate=step is not None)
    data = card_data(model_name=load_id if revision is None else f"{load_id}@{revision}", eval_results=eval_results,
                     pipeline_tag=pipeline_tag, base_model=base_model, extra=_run_extra(family, run, step))
    return ModelCard.from_template(
        data, template_str=outer_template("checkpoint"), title=f"{family.name}: {run.label}"
        + (f" (step {step})" if step is not None else ""), intro=_member_intro(family, run, locator, step),
        loading_section=loading_section(family, run, locator), stress_section=stress,
        iid_section=iid_section(model, iid_tasks) if step is None else "",
        training_section=training_section(family, run, step=step), toolkit_version=__version__,
        has_analysis=family.has_analysis)


def model_card(family: Family, model: ModelResult, *, checkpoint: str):
    """A card for a model the toolkit evaluated but did not train (``card --model CKPT --results DIR``)."""
    from huggingface_hub import ModelCard

    folder = Path(checkpoint) if Path(checkpoint).is_dir() else None
    imports, cls, pipeline_tag = model_class(folder, "external")
    tests, iid_tasks = model_card_results(model)
    intro = EXTERNAL_INTRO.format(checkpoint=checkpoint, others=len(family.models) - 1, root=family.root)
    intro += compression_line(model.compression)
    training = facts_only_training_section([("Model", f"`{checkpoint}`"), ("Results", f"`{family.root}`")],
                                           family.summary.get("versions"), note=EXTERNAL_NOTE)
    data = card_data(model_name=model.name, eval_results=eval_results_for(model, tests=tests, iid_tasks=iid_tasks),
                     pipeline_tag=pipeline_tag, base_model=None,
                     extra={"nlp_underspec": {"results": str(family.root), "model": model.name}})
    return ModelCard.from_template(
        data, template_str=outer_template("checkpoint"), title=f"{model.name}: gender stress tests", intro=intro,
        loading_section=external_loading_section(checkpoint, imports, cls),
        stress_section=stress_section(family, model, tests=tests, subject="This model"),
        iid_section=iid_section(model, iid_tasks), training_section=training, toolkit_version=__version__,
        has_analysis=family.has_analysis)


def _member_rows(family: Family, locator: Locator) -> tuple[list[str], list[dict]]:
    headlines = family.headline_metrics()
    by_id: dict[str, list[RunFolder]] = {}
    for run in family.runs:
        by_id.setdefault(run.run_id, []).append(run)
    rows = []
    for model in family.models:
        places = [locator.where(run) for run in by_id.get(model.name, [])]
        where = ", ".join(f"`{ident}`" + (f" @ `{rev}`" if rev else "") for ident, rev in places) or (
            f"`{model.checkpoint}`" if model.checkpoint else "—")
        rows.append({"name": model.name, "kind": model.kind,
                     "pretrain_seed": "—" if model.pretrain_seed is None else model.pretrain_seed,
                     "finetune_seed": "—" if model.finetune_seed is None else model.finetune_seed,
                     "cells": [fmt(model.value(t, m)) + (f" {BELOW_FLOOR_CELL}" if model.below_floor(t, m) else "")
                               for t, m in headlines], "where": where})
    return [f"{t} `{m}`" for t, m in headlines], rows


def _family_findings(family: Family) -> list[str]:
    """One sentence per clustering result (the other analysis sections appear per metric)."""
    lines = []
    clustering = family.analysis.get("clustering") if isinstance(family.analysis.get("clustering"), dict) else {}
    for test, item in clustering.items():
        if isinstance(item, dict) and number(item.get("ari")) is not None:
            p = f", p = {fmt(number(item.get('p_value')))}" if number(item.get("p_value")) is not None else ""
            note = f" Note: {item['note']}." if isinstance(item.get("note"), str) else ""
            lines.append(CLUSTERING.format(test=test, ari=fmt(number(item["ari"])), p=p) + note)
    return lines


def _first_of_each_kind(family: Family) -> list[list[RunFolder]]:
    groups: dict[tuple[str, str | None], list[RunFolder]] = {}
    for run in family.runs:
        groups.setdefault((run.kind, run.task), []).append(run)
    return list(groups.values())


def _family_stress(family: Family) -> str:
    stress = family_stress_section(family)
    findings = _family_findings(family)
    if findings:
        stress = stress.replace("### Foreseeable harms", "\n".join(f"- {line}" for line in findings)
                                + "\n\n### Foreseeable harms", 1)
    return stress


def _family_intro(family: Family, locator: Locator) -> str:
    intro = FAMILY_INTRO.format(name=family.name, n=len(family.models))
    sentence = family_sentence(family.analysis) if family.has_analysis else None
    if sentence:
        intro += f"\n\n{sentence}"
    if locator.collection:
        intro += f" All members are in the collection {locator.collection}."
    return intro


def family_card(family: Family, *, locator: Locator | None = None):
    """The card that summarises every seed of the family."""
    from huggingface_hub import ModelCard

    locator = locator or LocalLocator(family.root)
    eval_results = []
    for model in family.models:
        eval_results += eval_results_for(model, tests=list(model.tests), iid_tasks=list(model.iid), with_model=True)
    headers, rows = _member_rows(family, locator)
    pretrain, finetune = family.seeds_of()
    members = render_section("members", n_models=len(family.models), pretrain_seeds=pretrain or "—",
                             finetune_seeds=finetune, headers=headers, rows=rows)
    loading = "".join(loading_section(family, runs[0], locator) for runs in _first_of_each_kind(family))
    first = next(iter(family.pretrained_runs() or family.runs), None)
    training = (training_section(family, first) if first is not None else
                facts_only_training_section([("Results", f"`{family.root}`")], family.summary.get("versions")))
    extra = {"nlp_underspec": {"family": family.name, "config_hash": family.summary.get("config_hash"),
                               "pretrain_seeds": pretrain, "finetune_seeds": finetune}}
    data = card_data(model_name=f"{family.name} (seed family)", eval_results=eval_results, pipeline_tag=None,
                     base_model=None, extra=extra)
    return ModelCard.from_template(
        data, template_str=outer_template("family"), title=f"{family.name}: a seed family",
        intro=_family_intro(family, locator), members_section=members, loading_section=loading or "",
        stress_section=_family_stress(family), training_section=training, toolkit_version=__version__,
        has_analysis=family.has_analysis)
