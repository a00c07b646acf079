"""The card sections around the stress section: how to load the checkpoint (and its siblings and intermediate
steps), its training details, and its in-distribution results."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nlp_underspec.cards.locators import Locator
from nlp_underspec.cards.templates import render_section
from nlp_underspec.errors import UsageError
from nlp_underspec.formatting import fmt, number
from nlp_underspec.io import read_json
from nlp_underspec.experiment.family import Family
from nlp_underspec.experiment.models import ModelResult
from nlp_underspec.experiment.runs import RunFolder

ARCHITECTURES = {  # config.json architecture -> (import line, class to load it with)
    "BertForMaskedLM": ("from transformers import AutoModelForMaskedLM, AutoTokenizer", "AutoModelForMaskedLM"),
    "BertForSequenceClassification": ("from transformers import AutoModelForSequenceClassification, AutoTokenizer",
                                      "AutoModelForSequenceClassification"),
    "BertModel": ("from transformers import AutoModel, AutoTokenizer", "AutoModel"),
    "BertForCandidateScoring": (("from transformers import AutoTokenizer\n"
                                "from nlp_underspec.models.span_pair_head import BertForCandidateScoring"), "BertForCandidateScoring"),
}
PIPELINE_TAGS = {"BertForMaskedLM": "fill-mask", "BertForSequenceClassification": "text-classification",
                 "BertModel": "feature-extraction"}
OWN_HEAD_NOTE = ("The pronoun-resolution head is nlp_underspec's own candidate scorer: install nlp_underspec to load it "
                 "(no remote code is executed).")
SHARED_CONFIG_NOTE = ("All members of the family share this configuration; only the seeds differ. The run record "
                      "(run.json) beside the weights holds the same information.")
RECORD_FACTS = (("config_hash", "Config hash"), ("torch_threads", "torch threads (CPU determinism)"),
                ("git_commit", "Git commit"), ("started", "Started"), ("finished", "Finished"))


# ------------------------------------------------------------------------------------------------------- loading


def _architecture(folder: Path) -> str | None:
    try:
        architectures = read_json(folder / "config.json").get("architectures") or []
    except (UsageError, AttributeError):  # no config, or one that is not a JSON object: the card names no architecture
        return None
    return architectures[0] if architectures else None


def model_class(folder: Path | None, kind: str) -> tuple[list[str], str, str | None]:
    """(import lines, class to load with, Hub pipeline tag) of the checkpoint in ``folder``."""
    arch = _architecture(folder) if folder is not None else None
    if arch is None:
        arch = "BertForMaskedLM" if kind == "pretrained" else "BertModel"
    imports, cls = ARCHITECTURES.get(arch, ("from transformers import AutoModel, AutoTokenizer", "AutoModel"))
    return imports.splitlines(), cls, PIPELINE_TAGS.get(arch)


def _revision_arg(revision: str | None) -> str:
    return f', revision="{revision}"' if revision else ""


def _siblings_code(family: Family, run: RunFolder, locator: Locator, cls: str) -> str | None:
    same = [r for r in family.runs if r.kind == run.kind and r.task == run.task]
    if len(same) < 2:
        return None
    pretrain = sorted({r.seed("pretrain") for r in same if r.seed("pretrain") is not None})
    if run.kind == "pretrained":
        return f"family = {{p: {cls}.from_pretrained({locator.pattern(run)}) for p in {pretrain}}}"
    finetune = sorted({r.seed("finetune") for r in same if r.seed("finetune") is not None})
    return (f"family = {{(p, f): {cls}.from_pretrained({locator.pattern(run)})\n"
            f"          for p in {pretrain} for f in {finetune}}}")


def loading_section(family: Family, run: RunFolder, locator: Locator) -> str:
    imports, cls, _ = model_class(run.path, run.kind)
    load_id, revision = locator.where(run)
    steps = [step for step, _ in run.steps] if run.kind == "pretrained" else []
    steps_code = None
    if steps:
        step_id, step_revision = locator.step_where(run, steps[0])
        steps_code = f"early = {cls}.from_pretrained(\"{step_id}\"{_revision_arg(step_revision)})  # step {steps[0]}"
    note = OWN_HEAD_NOTE if run.kind == "finetuned" and run.task == "coref" else None
    return render_section("loading", note=note, imports=imports, load_id=load_id, revision_arg=_revision_arg(revision),
                          model_class=cls, siblings_code=_siblings_code(family, run, locator, cls), steps=steps,
                          steps_where=locator.describe_steps(), steps_code=steps_code)


def external_loading_section(checkpoint: str, imports: list[str], cls: str) -> str:
    """How to load a model the toolkit did not train: by the name it was evaluated under, with no siblings."""
    return render_section("loading", note=None, imports=imports, load_id=checkpoint, revision_arg="", model_class=cls,
                          siblings_code=None, steps=[], steps_where="", steps_code=None)


# ------------------------------------------------------------------------------------------------------ training


def _config_yaml(config: Any) -> str | None:
    import yaml

    if not isinstance(config, dict) or not config:
        return None
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False).strip()


def versions_text(versions: Any) -> str | None:
    """``torch 2.1, transformers 4.40`` from a versions mapping, or None without one."""
    if not isinstance(versions, dict) or not versions:
        return None
    return ", ".join(f"{name} {version}" for name, version in versions.items())


def _training_facts(family: Family, run: RunFolder, step: int | None) -> list[tuple[str, str]]:
    record = run.record
    seeds = ", ".join(f"{k} {v}" for k, v in run.seeds.items() if v is not None) or "not recorded"
    recipe = (family.manifest or {}).get("recipe")
    description = recipe.get("description") if isinstance(recipe, dict) else None
    facts = [("Family (recipe)", family.name + (f": {description}" if isinstance(description, str) and description
                                                 else "")), ("Run id", run.run_id),
             ("Kind", run.kind if run.task is None else f"{run.kind} on {run.task}"),
             ("Seeds", seeds)]
    if step is not None:
        facts.append(("Checkpoint", f"intermediate, after {step} pretraining steps"))
    if record.get("parent"):
        facts.append(("Started from", f"`{record['parent']}`"))
    for key, label in RECORD_FACTS:
        if record.get(key) is not None:
            facts.append((label, f"`{record[key]}`" if key in ("config_hash", "git_commit") else str(record[key])))
    metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
    for key, value in metrics.items():
        if number(value) is not None:
            facts.append((f"Final {key}", fmt(number(value), 4)))
    return facts


def training_section(family: Family, run: RunFolder, *, step: int | None = None) -> str:
    return render_section("training", facts=_training_facts(family, run, step), note=SHARED_CONFIG_NOTE,
                          config_yaml=_config_yaml(run.record.get("config")),
                          versions=versions_text(run.record.get("versions")))


def facts_only_training_section(facts: list[tuple[str, str]], versions: Any, *, note: str | None = None) -> str:
    """A training section of a few facts, for a model or family without a run record."""
    return render_section("training", facts=facts, note=note, config_yaml=None, versions=versions_text(versions))


# ----------------------------------------------------------------------------------------------------------- iid


def iid_section(model: ModelResult | None, tasks: Iterable[str]) -> str:
    rows = []
    if model is not None:
        for task in tasks:
            for metric, value in model.iid.get(task, {}).items():
                rows.append({"task": task, "metric": metric, "value": fmt(value)})
    return render_section("iid", rows=rows)
