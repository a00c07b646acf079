"""The synthetic world's set for ``calibration``: the world's planted table (``occupation, bls_pct_female, p_she``),
the share of "she" a model pretrained on that world should have learnt."""

from __future__ import annotations

from pathlib import Path

from nlp_underspec.synthetic import PLANTED_FILE, SyntheticSet, World
from nlp_underspec.tables import write_tsv


def write_set(world: World, path: Path) -> None:
    write_tsv(world.planted_frame(), path)


SYNTHETIC_SET = SyntheticSet(entry=PLANTED_FILE, write=write_set,
                             description="the planted table again: the calibration test's target")
