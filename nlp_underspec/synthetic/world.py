"""The synthetic world as one value: :func:`build_world` generates every part from its own seeded stream.

A world of people in the 60 occupations of the BLS table (:mod:`nlp_underspec.data.occupations`). Every pronoun that
refers to someone in occupation ``o`` is "she" with probability ``p_she(o) = 0.5 + bias_strength * (bls(o) / 100 -
0.5)`` (among gendered pronouns; a fixed ``neutral_share`` of pronouns are "they"), so ``bias_strength`` 0 plants no
association and 1 plants the BLS figures. Participants (patient, customer, ...) and generic people are
gender-balanced. Because the statistic is planted, a model pretrained here has a known right answer for its bias,
which no real corpus gives.

Everything is deterministic given ``config.seed``; each part draws from its own seeded stream, and every pronoun costs
the same random draws whatever its gender, so worlds that differ only in ``bias_strength`` hold the same sentences and
differ only in pronouns (a controlled experiment).
"""

from __future__ import annotations

import functools
import logging
import random
from dataclasses import dataclass
from typing import Iterable, Mapping

import pandas as pd

from nlp_underspec.config import WorldConfig, check_world_values
from nlp_underspec.data.coref import CorefExample
from nlp_underspec.data.occupations import load_occupation_stats
from nlp_underspec.errors import UsageError
from nlp_underspec.seeding import derive_seed
from nlp_underspec.synthetic.coref import coref_example
from nlp_underspec.synthetic.corpus import generate_corpus
from nlp_underspec.synthetic.sts import gendered_template_pairs, sts_pair

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
SPLIT_SHARES = {"train": 0.8, "dev": 0.1, "test": 0.1}  # of n_sts_pairs / n_coref_examples

BAD_WORLD_VALUE = "world.{key} {problem}"
UNKNOWN_SPLIT = "Unknown synthetic split '{split}'. Available: train, dev, test."


@dataclass(frozen=True)
class World:
    """Everything the generator made for one :class:`~nlp_underspec.config.WorldConfig`. Treat it as read-only
    (:func:`build_world` caches it); the accessors return fresh copies."""

    config: WorldConfig
    corpus: tuple[str, ...]  # one short document per item
    corpus_kinds: tuple[str, ...]  # the DOCUMENT_MIX kind of each document (a curriculum selects by kind)
    sts: Mapping[str, tuple[tuple[str, str, float], ...]]  # split -> (sentence1, sentence2, gold 0-5)
    coref: Mapping[str, tuple[CorefExample, ...]]  # split -> examples (candidate 0 = occupation)
    planted: Mapping[str, float]  # occupation -> p_she
    stress_sts: tuple[tuple[str, str, float], ...]  # gendered STS pairs (first sentences "A man"/"A woman" ...)

    def corpus_texts(self, kinds: Iterable[str] | None = None) -> list[str]:
        """The documents, or only those of the given kinds (e.g. ``["probe"]``), in corpus order."""
        if kinds is None:
            return list(self.corpus)
        wanted = set(kinds)
        return [text for text, kind in zip(self.corpus, self.corpus_kinds) if kind in wanted]

    def sts_frame(self, split: str) -> pd.DataFrame:
        """``sentence1, sentence2, label`` for one split."""
        return _pairs_frame(self.sts[_check_split(split)])

    def coref_examples(self, split: str) -> list[CorefExample]:
        return list(self.coref[_check_split(split)])

    def planted_frame(self) -> pd.DataFrame:
        """``occupation, bls_pct_female, p_she`` (the planted share of "she" among gendered pronouns)."""
        return planted_table(self.config.bias_strength)

    def stress_sts_frame(self) -> pd.DataFrame:
        return _pairs_frame(self.stress_sts)


def _pairs_frame(rows: Iterable[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["sentence1", "sentence2", "label"]).astype({"label": float})


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise UsageError(UNKNOWN_SPLIT.format(split=split))
    return split


# ------------------------------------------------------------------------------------------------------ planted table


def planted_p_she(bls_pct_female: float, bias_strength: float) -> float:
    """Share of "she" among gendered pronouns for an occupation: BLS % female pulled towards 50% by ``bias_strength``.

    >>> [round(planted_p_she(89.58, b), 4) for b in (1.0, 0.0, 0.5)]  # nurse
    [0.8958, 0.5, 0.6979]
    """
    return 0.5 + bias_strength * (bls_pct_female / 100.0 - 0.5)


def planted_table(bias_strength: float) -> pd.DataFrame:
    stats = load_occupation_stats()
    frame = pd.DataFrame({"occupation": list(stats.index), "bls_pct_female": stats["bls_pct_female"].to_numpy()})
    frame["p_she"] = [planted_p_she(v, bias_strength) for v in frame["bls_pct_female"]]
    return frame


# ------------------------------------------------------------------------------------------------------------- build


def split_sizes(n: int) -> dict[str, int]:
    """Train/dev/test sizes for ``n`` examples (80/10/10, at least one each).

    >>> split_sizes(4000)
    {'train': 3200, 'dev': 400, 'test': 400}
    """
    held_out = max(1, round(n * SPLIT_SHARES["dev"]))
    return {"train": n - 2 * held_out, "dev": held_out, "test": held_out}


def build_world(config: WorldConfig) -> World:
    """The world for ``config``: deterministic given ``config.seed``, cached per config."""
    check_world_values(config, lambda key, problem: UsageError(BAD_WORLD_VALUE.format(key=key, problem=problem)))
    return _generate(config)


def as_world(world: World | WorldConfig) -> World:
    """``world`` itself, or the world its config builds."""
    return world if isinstance(world, World) else build_world(world)


@functools.lru_cache(maxsize=4)
def _generate(config: WorldConfig) -> World:
    table = planted_table(config.bias_strength)
    planted = {occupation: float(p) for occupation, p in zip(table["occupation"], table["p_she"])}
    sts, coref = {}, {}
    for split, size in split_sizes(config.n_sts_pairs).items():
        rng = random.Random(derive_seed(config.seed, "world", "sts", split))
        sts[split] = tuple(sts_pair(rng) for _ in range(size))
    for split, size in split_sizes(config.n_coref_examples).items():
        rng = random.Random(derive_seed(config.seed, "world", "coref", split))
        coref[split] = tuple(coref_example(rng, planted, config.neutral_share, f"{split}-{i}") for i in range(size))
    corpus, corpus_kinds = generate_corpus(config, planted)
    stress_sts = gendered_template_pairs(random.Random(derive_seed(config.seed, "world", "stress-sts")),
                                         config.n_sts_templates)
    world = World(config=config, corpus=corpus, corpus_kinds=corpus_kinds, sts=sts, coref=coref, planted=planted,
                  stress_sts=stress_sts)
    logger.info("Synthetic world (seed %d, bias_strength %s): %d documents, %d STS pairs, %d coref examples",
                config.seed, config.bias_strength, len(world.corpus), config.n_sts_pairs, config.n_coref_examples)
    return world
