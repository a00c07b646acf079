"""The cards folder of an experiment: ``cards/<run id>/README.md`` per checkpoint (or per model, without run folders),
each with its ``.eval_results/*.yaml`` (the card's results in the Hub's newer format), and ``cards/family/README.md``,
written all at once so that a folder of ours is replaced and anything else refused."""

from __future__ import annotations

import os
import re
from pathlib import Path

from nlp_underspec import records
from nlp_underspec.artifacts import CARDS
from nlp_underspec.cards.build import checkpoint_card, family_card, model_card
from nlp_underspec.cards.eval_results import (EVAL_RESULTS, checkpoint_eval_results, model_eval_results,
                                             write_eval_results)
from nlp_underspec.cards.locators import Locator
from nlp_underspec.cards.stress_section import README
from nlp_underspec.errors import UsageError, unknown_name_message
from nlp_underspec.io import OutputKind, atomic_write_text, staged_output
from nlp_underspec.experiment.family import Family, load_family
from nlp_underspec.experiment.models import ModelResult
from nlp_underspec.experiment.runs import RunFolder

FAMILY = "family"
CARD_SIGNATURE = "*Card written by nlp_underspec "  # in every card checkpoint.md.j2 and family.md.j2 render
MODEL_NOT_IN_RESULTS = "{summary}: {lookup} Evaluate it first with `nlp-underspec evaluate {model} --out {results}`."


def card_folder_name(run: RunFolder) -> str:
    """``p03`` for a pretrained run, ``p03-f01-stsb`` for a fine-tuned one (both tasks share the run id)."""
    return run.run_id if run.task is None else f"{run.run_id}-{run.task}"


def model_folder_name(name: str) -> str:
    """The cards folder of a model named ``name`` (an evaluated model's name may be a path or a Hub id).

    >>> model_folder_name("google/multiberts-seed_0"), model_folder_name("///")
    ('google_multiberts-seed_0', 'model')
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def is_our_card(path: Path) -> bool:
    try:
        return CARD_SIGNATURE in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def _is_card_folder(entry: Path) -> bool:
    """``README.md`` of ours, and at most its ``.eval_results/`` of .yaml files beside it (what :func:`save_card`
    writes): a folder holding anything else is the user's."""
    if not entry.is_dir() or not is_our_card(entry / README):
        return False
    names = sorted(p.name for p in entry.iterdir())
    if names == [README]:
        return True
    results = entry / EVAL_RESULTS
    return (names == sorted([README, EVAL_RESULTS]) and results.is_dir()
            and all(p.is_file() and p.suffix == ".yaml" for p in results.iterdir()))


def _holds_cards(folder: Path) -> bool:
    """Nothing but card folders of ours (``family/`` among them, or one ``card --model`` wrote)."""
    entries = list(folder.iterdir())
    return bool(entries) and all(_is_card_folder(entry) for entry in entries)


CARDS_OUTPUT = OutputKind("cards folder", _holds_cards)


def save_card(card, path: Path, results=()) -> Path:
    """Write ``card`` to ``path`` and its results (:mod:`~nlp_underspec.cards.eval_results`, the very entries of its
    model-index) to ``.eval_results/`` beside it, so a user sees locally what a push would put on the Hub."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, str(card))
    write_eval_results(path.parent, list(results))
    return path


def write_family_cards(family: Family, *, out: str | os.PathLike | None = None, locator: Locator | None = None,
                       overwrite: bool = False) -> list[Path]:
    """``cards/<run id>/README.md`` for every checkpoint (or every model, without run folders), each with its
    ``.eval_results/``, + ``cards/family/``; returns the README.md paths.

    An earlier cards folder of ours is replaced (``overwrite`` changes nothing); anything else is refused."""
    out = Path(out) if out is not None else family.root / CARDS
    check_described_runs(family)
    written = []
    with staged_output(out, overwrite=overwrite, accept_existing=_holds_cards, kind=CARDS_OUTPUT,
                       inputs=[family.root]) as stage:
        if family.runs:
            for run in family.runs:
                card = checkpoint_card(family, run, locator=locator)
                written.append(save_card(card, stage / card_folder_name(run) / README,
                                         checkpoint_eval_results(family, run)))
        else:
            for model in family.models:
                card = model_card(family, model, checkpoint=model.checkpoint or model.name)
                written.append(save_card(card, stage / model_folder_name(model.name) / README,
                                         model_eval_results(model)))
        # The family card's model-index lists every member's results; .eval_results/ is one model's (a Hub repo's),
        # and the family card goes to no repo of its own (it is every repo's FAMILY.md), so it gets none.
        written.append(save_card(family_card(family, locator=locator), stage / FAMILY / README))
    return [out / path.relative_to(stage) for path in written]


def check_described_runs(family: Family) -> None:
    """A checkpoint card describes a run folder's model under the run's name: refuse a folder without its model (one
    whose run.json disagrees with its folder name never gets here: discover_runs refuses it)."""
    for run in family.runs:
        records.check_holds_model(run.path)


def write_cards(rundir: str | os.PathLike, *, out: str | os.PathLike | None = None, locator: Locator | None = None,
                overwrite: bool = False) -> list[Path]:
    """Load ``rundir`` and write every card (what ``nlp-underspec card RUNDIR`` and ``nlp-underspec run`` call)."""
    return write_family_cards(load_family(rundir), out=out, locator=locator, overwrite=overwrite)


def find_model(family: Family, model: str) -> ModelResult:
    """The results entry for ``--model``: by name, by recorded checkpoint, or by folder name when that is unique."""
    exact = family.model(model)
    if exact is not None:
        return exact
    wanted = os.path.normpath(os.path.abspath(model)) if os.path.exists(model) else None
    for entry in family.models:
        if entry.checkpoint and (entry.checkpoint == model or (
                wanted and os.path.normpath(os.path.abspath(entry.checkpoint)) == wanted)):
            return entry
    base = Path(model.rstrip("/")).name
    matches = [m for m in family.models if Path(m.name.rstrip("/")).name == base]
    if len(matches) == 1:
        return matches[0]
    lookup = unknown_name_message("model", model, [m.name for m in family.models])
    raise UsageError(MODEL_NOT_IN_RESULTS.format(summary=family.root / "summary.json", lookup=lookup, model=model,
                                                 results=family.root))
