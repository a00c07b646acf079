"""The synthetic world on disk: the folder layout, its ``world.json`` manifest, and the writers of the whole world or
of its stress folder alone.

Each stress set in the stress folder is written by its stress test's own module, which hands the world a
:class:`SyntheticSet`; the world itself names no test, so a plugin test can add its set with no edit here.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from nlp_underspec.config import to_plain
from nlp_underspec.data.coref import write_candidate_jsonl
from nlp_underspec.errors import UsageError
from nlp_underspec.io import OutputKind, atomic_write_json, atomic_write_text, read_json, staged_output, to_json
from nlp_underspec.synthetic.world import SPLITS, World
from nlp_underspec.tables import write_tsv

logger = logging.getLogger(__name__)

MANIFEST = "world.json"
MANIFEST_KIND = "nlp_underspec.synthetic_world"
# 2: probe documents, held-out cue clauses, gender-balanced fine-tuning examples, no-cue pronoun-resolution templates.
WORLD_VERSION = 2
PLANTED_FILE = "planted.tsv"  # also the target of a test that compares a model's pronoun prior with the planted one
STRESS_FOLDER = "stress"
LAYOUT = {
    "corpus.txt": "one short document per line (pretraining text)",
    PLANTED_FILE: "occupation, bls_pct_female, p_she: the planted share of 'she' among gendered pronouns",
    "sts/{train,dev,test}.tsv": "sentence1, sentence2, label (gold 0-5): the GLUE STS-B layout, read by load_stsb",
    "coref/{train,dev,test}.jsonl": "candidate JSON Lines (nlp_underspec.data.coref); candidate 0 = occupation",
}


def _no_sizes(world: World) -> Mapping[str, int]:
    return {}


@dataclass(frozen=True)
class SyntheticSet:
    """One stress test's set in the world's stress folder, as the test's own module writes it."""

    entry: str  # its name in the stress folder; a folder's ends with "/" (as in the world.json layout)
    description: str  # what it holds, for the world.json layout
    write: Callable[[World, Path], None]  # writes it at the given path (a folder it creates, or a file)
    sizes: Callable[[World], Mapping[str, int]] = _no_sizes  # its entries of world.json's "sizes"

    def path(self, folder: Path) -> Path:
        return folder / self.entry.rstrip("/")


def _manifest(world: World, layout: Mapping[str, str], sets: Mapping[str, SyntheticSet]) -> dict:
    sizes = {"corpus": len(world.corpus), **{f"sts/{k}": len(v) for k, v in world.sts.items()},
             **{f"coref/{k}": len(v) for k, v in world.coref.items()}, "stress_sts": len(world.stress_sts)}
    for synthetic_set in sets.values():
        sizes.update(synthetic_set.sizes(world))
    return {"kind": MANIFEST_KIND, "version": WORLD_VERSION, "config": to_plain(world.config), "sizes": sizes,
            "layout": dict(layout)}


def _stress_layout(sets: Mapping[str, SyntheticSet], prefix: str) -> dict[str, str]:
    return {f"{prefix}{synthetic_set.entry}": synthetic_set.description for synthetic_set in sets.values()}


def _holds_world(folder: Path) -> bool:
    """True if ``folder`` is an earlier output of :func:`write_world` / :func:`write_stress_sets` (safe to replace)."""
    if not (folder / MANIFEST).is_file():
        return False
    try:
        return read_json(folder / MANIFEST).get("kind") == MANIFEST_KIND
    except (UsageError, AttributeError):  # not JSON, or not an object: not a world we wrote
        return False


def _world_output(sets: Mapping[str, SyntheticSet]) -> OutputKind:
    """What :func:`write_world` and :func:`write_stress_sets` write at the top of their folders (either may replace
    the other's output: both are ours)."""
    entries = {synthetic_set.entry.rstrip("/") for synthetic_set in sets.values()}
    return OutputKind("synthetic world folder", _holds_world,
                      frozenset({MANIFEST, "corpus.txt", PLANTED_FILE, "sts", "coref", STRESS_FOLDER, *entries}))


def _write_sets(world: World, folder: Path, sets: Mapping[str, SyntheticSet]) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, synthetic_set in sets.items():
        paths[key] = synthetic_set.path(folder)
        synthetic_set.write(world, paths[key])
    return paths


def write_world(world: World, folder: str | os.PathLike, *, stress_sets: Mapping[str, SyntheticSet],
                overwrite: bool = False) -> Path:
    """Write the whole world to ``folder`` (layout in :data:`LAYOUT` plus ``stress/`` with ``stress_sets``,
    described again in ``world.json``).

    The folder is built beside its destination and swapped in whole, so a crash leaves the old folder or the new one.
    A folder holding an earlier world is replaced; any other non-empty folder is refused (``overwrite`` replaces only
    a world of ours, so it changes nothing here).
    """
    folder = Path(folder)
    layout = {**LAYOUT, **_stress_layout(stress_sets, f"{STRESS_FOLDER}/")}
    with staged_output(folder, overwrite=overwrite, accept_existing=_holds_world,
                       kind=_world_output(stress_sets)) as stage:
        atomic_write_text(stage / "corpus.txt", "\n".join(world.corpus) + "\n")
        write_tsv(world.planted_frame(), stage / PLANTED_FILE)
        (stage / "sts").mkdir()
        for split in SPLITS:
            write_tsv(world.sts_frame(split), stage / "sts" / f"{split}.tsv")
            write_candidate_jsonl(stage / "coref" / f"{split}.jsonl", world.coref[split])
        _write_sets(world, stage / STRESS_FOLDER, stress_sets)
        atomic_write_json(stage / MANIFEST, _manifest(world, layout, stress_sets))
    logger.info("Wrote the synthetic world to %s", folder)
    return folder


def write_stress_sets(world: World, folder: str | os.PathLike, stress_sets: Mapping[str, SyntheticSet], *,
                      overwrite: bool = False) -> dict[str, Path]:
    """Write only the stress sets; returns ``{key: path}`` for the keys of ``stress_sets``.

    Idempotent: a folder that already holds this world's stress sets is left as it is (sweeps call this per run).
    """
    folder = Path(folder)
    manifest = _manifest(world, _stress_layout(stress_sets, ""), stress_sets)
    paths = {key: synthetic_set.path(folder) for key, synthetic_set in stress_sets.items()}
    if _holds_world(folder) and read_json(folder / MANIFEST) == json.loads(to_json(manifest)):
        return paths
    with staged_output(folder, overwrite=overwrite, accept_existing=_holds_world,
                       kind=_world_output(stress_sets)) as stage:
        _write_sets(world, stage, stress_sets)
        atomic_write_json(stage / MANIFEST, manifest)
    return paths
