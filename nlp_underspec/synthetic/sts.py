"""STS pairs of the synthetic world: meanings (subject, action, object, place), their sentences, and gold 0-5.

Man, woman, person and someone are one subject, so gold never depends on gender (:func:`sts_gold_from_text` recomputes
every label from the text). :func:`gendered_template_pairs` makes the world's gendered STS stress pairs: first
sentences that begin "A man"/"A woman" with a gender-free remainder.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass
from typing import Iterable

from nlp_underspec.data.occupations import OCCUPATIONS, indefinite_article
from nlp_underspec.synthetic.vocabulary import (ACTION_IDS, ACTIONS, CHILD_SURFACES, OBJECT_IDS, OBJECTS,
                                                PERSON_SURFACES, PLACE_IDS, PLACES, STS_WEIGHTS, capitalize)

STS_OCCUPATION_SUBJECT_RATE = 0.5


@dataclass(frozen=True)
class StsMeaning:
    subject: str  # "person", "child" or an occupation
    action: str
    object: str
    place: str


def subject_surface(rng: random.Random, subject: str) -> str:
    if subject == "person":
        return rng.choice(PERSON_SURFACES)
    if subject == "child":
        return rng.choice(CHILD_SURFACES)
    return capitalize(indefinite_article(subject)) + " " + subject if rng.random() < 0.5 else f"The {subject}"


def render_meaning(rng: random.Random, meaning: StsMeaning, subject: str | None = None) -> str:
    surfaces, category = ACTIONS[meaning.action]
    return " ".join((subject or subject_surface(rng, meaning.subject), rng.choice(surfaces),
                     rng.choice(OBJECTS[category][meaning.object]), rng.choice(PLACES[meaning.place]))) + "."


def random_meaning(rng: random.Random, *, subject: str | None = None) -> StsMeaning:
    if subject is None:
        u = rng.random()
        subject = rng.choice(OCCUPATIONS) if u < STS_OCCUPATION_SUBJECT_RATE else ("person" if u < 0.9 else "child")
    action = rng.choice(ACTION_IDS)
    obj = rng.choice(OBJECT_IDS[ACTIONS[action][1]])
    return StsMeaning(subject, action, obj, rng.choice(PLACE_IDS))


def _other(rng: random.Random, choices: tuple[str, ...], current: str) -> str:
    value = rng.choice(choices)
    while value == current:
        value = rng.choice(choices)
    return value


_SUBJECTS = ("person", "child", *OCCUPATIONS)


def _perturb(rng: random.Random, meaning: StsMeaning, slots: Iterable[str]) -> StsMeaning:
    """A meaning that differs from ``meaning`` in exactly the given slots (plus the object when the action's object
    category changes, since objects belong to a category)."""
    slots = set(slots)
    subject = _other(rng, _SUBJECTS, meaning.subject) if "subject" in slots else meaning.subject
    action = _other(rng, ACTION_IDS, meaning.action) if "action" in slots else meaning.action
    category = ACTIONS[action][1]
    if "object" in slots or meaning.object not in OBJECTS[category]:
        obj = _other(rng, OBJECT_IDS[category], meaning.object)
    else:
        obj = meaning.object
    place = _other(rng, PLACE_IDS, meaning.place) if "place" in slots else meaning.place
    return StsMeaning(subject, action, obj, place)


def sts_gold(first: StsMeaning, second: StsMeaning) -> float:
    """Gold similarity 0-5: the weights (:data:`STS_WEIGHTS`) of the slots two meanings share.

    >>> sts_gold(StsMeaning("person", "cook", "soup", "park"), StsMeaning("person", "cook", "rice", "park"))
    3.75
    """
    return round(sum(weight for slot, weight in STS_WEIGHTS.items() if getattr(first, slot) == getattr(second, slot)), 2)


def sts_pair(rng: random.Random) -> tuple[str, str, float]:
    first = random_meaning(rng)
    changed = rng.sample(tuple(STS_WEIGHTS), rng.randrange(len(STS_WEIGHTS) + 1))
    second = _perturb(rng, first, changed)
    s1, s2 = render_meaning(rng, first), render_meaning(rng, second)
    return (s1, s2, sts_gold(first, second)) if rng.random() < 0.5 else (s2, s1, sts_gold(first, second))


def _sts_lookup() -> tuple[re.Pattern, dict[str, dict[str, str]]]:
    tables: dict[str, dict[str, str]] = {"subject": {}, "action": {}, "object": {}, "place": {}}
    for surface in PERSON_SURFACES:
        tables["subject"][surface] = "person"
    for surface in CHILD_SURFACES:
        tables["subject"][surface] = "child"
    for occupation in OCCUPATIONS:
        tables["subject"][f"{capitalize(indefinite_article(occupation))} {occupation}"] = occupation
        tables["subject"][f"The {occupation}"] = occupation
    for action, (surfaces, _category) in ACTIONS.items():
        tables["action"].update(dict.fromkeys(surfaces, action))
    for objects in OBJECTS.values():
        for obj, surfaces in objects.items():
            tables["object"].update(dict.fromkeys(surfaces, obj))
    for place, surfaces in PLACES.items():
        tables["place"].update(dict.fromkeys(surfaces, place))
    groups = [f"(?P<{slot}>" + "|".join(map(re.escape, sorted(table, key=len, reverse=True))) + ")"
              for slot, table in tables.items()]
    return re.compile("^" + " ".join(groups) + r"\.$"), tables


@functools.lru_cache(maxsize=1)
def _sts_parser():
    return _sts_lookup()


def parse_sts_sentence(text: str) -> StsMeaning:
    """The meaning of a sentence of the world's STS vocabulary (``ValueError`` for any other sentence).

    >>> parse_sts_sentence("A woman is preparing some soup by the sea.") == parse_sts_sentence(
    ...     "A man is cooking a pot of soup on the beach.")
    True
    """
    pattern, tables = _sts_parser()
    match = pattern.match(text)
    if match is None:
        raise ValueError(f"not a sentence of the synthetic STS vocabulary: {text!r}")
    return StsMeaning(**{slot: tables[slot][match.group(slot)] for slot in tables})


def sts_gold_from_text(sentence1: str, sentence2: str) -> float:
    """Recompute a pair's gold from its text alone (gender words map to one subject, so they cannot change it)."""
    return sts_gold(parse_sts_sentence(sentence1), parse_sts_sentence(sentence2))


def gendered_template_pairs(rng: random.Random, n_templates: int) -> tuple[tuple[str, str, float], ...]:
    """Pairs whose first sentence begins "A man"/"A woman" (distinct remainders, no other gendered word), partnered
    with sentences about "someone"/"a person"; plus as many pairs with no gendered subject at all."""
    triples = [(a, o, p) for a in ACTION_IDS for o in OBJECT_IDS[ACTIONS[a][1]] for p in PLACE_IDS]
    rows = []
    for action, obj, place in rng.sample(triples, n_templates):
        first = StsMeaning("person", action, obj, place)
        second = _perturb(rng, first, rng.sample(("action", "object", "place"), rng.randrange(4)))
        s1 = render_meaning(rng, first, rng.choice(("A man", "A woman")))
        s2 = render_meaning(rng, second, rng.choice(("A person", "Someone")) if second.subject == "person" else None)
        rows.append((s1, s2, sts_gold(first, second)))
    while len(rows) < 2 * n_templates:
        first = random_meaning(rng, subject=rng.choice(("child", *OCCUPATIONS)))
        second = _perturb(rng, first, rng.sample(tuple(STS_WEIGHTS), rng.randrange(len(STS_WEIGHTS) + 1)))
        neutral = rng.choice(("A person", "Someone")) if second.subject == "person" else None
        rows.append((render_meaning(rng, first), render_meaning(rng, second, neutral), sts_gold(first, second)))
    rng.shuffle(rows)
    return tuple(rows)
