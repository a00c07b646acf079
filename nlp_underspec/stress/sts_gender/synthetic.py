"""The synthetic world's set for ``sts_gender``: the world's gendered STS pairs (first sentences "A man"/"A woman" with
a gender-free remainder, plus as many pairs with no gendered subject) in the STS-B layout."""

from __future__ import annotations

from pathlib import Path

from nlp_underspec.synthetic import SyntheticSet, World
from nlp_underspec.tables import write_tsv

FILE = "sts-test.tsv"


def write_set(world: World, path: Path) -> None:
    write_tsv(world.stress_sts_frame(), path)


SYNTHETIC_SET = SyntheticSet(entry=FILE, write=write_set,
                             description="STS-B-style pairs for sts_gender (templates begin 'A man' / 'A woman')")
