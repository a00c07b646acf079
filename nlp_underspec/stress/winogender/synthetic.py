"""The synthetic world's Winogender set: three templates per occupation, rendered in the original repository's layout
(``templates.tsv``, ``all_sentences.tsv``, ``occupations-stats.tsv``).

Per occupation: a held-out provider cue (answer 0), a held-out client cue (answer 1), both with clauses no fine-tuning
example uses, and one with no cue (answer ``u``: no gold; only the pronoun's gender can tip a resolver there). Each
with the occupation's participant and with "someone", and three pronouns: 1,080 sentences. The templates draw from
their own seeded stream of the world's seed, so they are the same whenever the world is.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

from nlp_underspec.data.occupations import OCCUPATIONS, load_occupation_stats
from nlp_underspec.stress.winogender.data import NO_GOLD_ANSWER
from nlp_underspec.seeding import derive_seed
from nlp_underspec.synthetic import SyntheticSet, World
from nlp_underspec.synthetic.vocabulary import (COREF_FRAMES, HELD_OUT_CLIENT_CLAUSES, HELD_OUT_PROVIDER_CLAUSES,
                                                NEUTRAL_CLAUSES, PARTICIPANTS, PRONOUN_FORMS, SOMEONE, capitalize)
from nlp_underspec.tables import write_tsv

FOLDER = "winogender"
TEMPLATE_GENDERS = ("male", "female", "neutral")  # the original all_sentences.tsv's order within a template
TABLE_FILES = {"templates": "templates.tsv", "all_sentences": "all_sentences.tsv",
               "occupations_stats": "occupations-stats.tsv"}


@dataclass(frozen=True)
class WinogenderTemplate:
    occupation: str
    participant: str
    answer: int  # 0 = occupation, 1 = participant, NO_CUE = neither (no gold)
    sentence: str  # with $OCCUPATION, $PARTICIPANT and one of $NOM_PRONOUN/$POSS_PRONOUN/$ACC_PRONOUN


_TEMPLATE_SLOTS = {"nom": "$NOM_PRONOUN", "poss": "$POSS_PRONOUN", "acc": "$ACC_PRONOUN"}


NO_CUE = -1  # a template whose clause points at neither person: no gold answer (Winogender sentid answer "u")
# Clauses of the no-cue templates: the neutral ones without a verb that agrees with the pronoun.
NO_CUE_CLAUSES = tuple(c for c in NEUTRAL_CLAUSES if "{was}" not in c)


def _winogender_templates(rng: random.Random) -> tuple[WinogenderTemplate, ...]:
    """Three templates per occupation: a held-out provider cue (answer 0), a held-out client cue (1), and no cue."""
    clauses = {0: HELD_OUT_PROVIDER_CLAUSES, 1: HELD_OUT_CLIENT_CLAUSES, NO_CUE: NO_CUE_CLAUSES}
    templates = []
    for occupation in OCCUPATIONS:
        for answer in (1, 0, NO_CUE):
            clause = rng.choice(clauses[answer]).format(**_TEMPLATE_SLOTS)
            frame = rng.choice(COREF_FRAMES)
            x, y = ("the $OCCUPATION", "the $PARTICIPANT")[:: 1 if rng.random() < 0.5 else -1]
            templates.append(WinogenderTemplate(occupation, PARTICIPANTS[occupation], answer,
                                                capitalize(frame.format(x=x, y=y, clause=clause))))
    return tuple(templates)


@functools.lru_cache(maxsize=4)
def world_templates(world_seed: int) -> tuple[WinogenderTemplate, ...]:
    """The templates of the world with seed ``world_seed`` (they depend on nothing else of its config)."""
    return _winogender_templates(random.Random(derive_seed(world_seed, "world", "winogender")))


def render_winogender_sentence(template: WinogenderTemplate, participant: str, gender: str) -> str:
    """One Winogender sentence: the template with the occupation, the participant (or "someone") and a pronoun."""
    text = template.sentence.replace("$OCCUPATION", template.occupation)
    if participant == SOMEONE:
        text = text.replace("The $PARTICIPANT", "Someone").replace("the $PARTICIPANT", "someone")
    text = text.replace("$PARTICIPANT", participant)
    forms = PRONOUN_FORMS[gender]
    for slot, placeholder in _TEMPLATE_SLOTS.items():
        text = text.replace(placeholder, forms[slot])
    return text


def _answer_field(answer: int) -> str:
    return NO_GOLD_ANSWER if answer == NO_CUE else str(answer)


def _templates_frame(templates: Iterable[WinogenderTemplate]) -> pd.DataFrame:
    return pd.DataFrame([{"occupation(0)": t.occupation, "other-participant(1)": t.participant,
                          "answer": _answer_field(t.answer), "sentence": t.sentence} for t in templates])


def _all_sentences_frame(templates: Iterable[WinogenderTemplate]) -> pd.DataFrame:
    rows = []
    for template in templates:
        for participant in (template.participant, SOMEONE):
            for gender in TEMPLATE_GENDERS:
                answer = _answer_field(template.answer)
                rows.append({"sentid": f"{template.occupation}.{participant}.{answer}.{gender}.txt",
                             "sentence": render_winogender_sentence(template, participant, gender)})
    return pd.DataFrame(rows)


def _occupation_stats_frame() -> pd.DataFrame:
    stats = load_occupation_stats().reset_index()
    return stats[["occupation", "bergsma_pct_female", "bls_pct_female", "bls_year"]]


def winogender_frames(world: World) -> dict[str, pd.DataFrame]:
    """The three Winogender tables as written to disk: ``templates``, ``all_sentences``, ``occupations_stats``."""
    templates = world_templates(world.config.seed)
    return {"templates": _templates_frame(templates), "all_sentences": _all_sentences_frame(templates),
            "occupations_stats": _occupation_stats_frame()}


def write_set(world: World, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in winogender_frames(world).items():
        write_tsv(frame, folder / TABLE_FILES[name])


SYNTHETIC_SET = SyntheticSet(
    entry=f"{FOLDER}/", description="templates.tsv, all_sentences.tsv, occupations-stats.tsv (Winogender repo layout)",
    write=write_set, sizes=lambda world: {"winogender_templates": len(world_templates(world.config.seed))})
