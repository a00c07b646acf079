"""Interventions on training data (the recipe's ``intervention:`` section); the first kind, ``cda``, is
counterfactual data augmentation (Webster et al. 2020; the MultiBERTs CDA study): gendered words swapped for their
counterparts.

What is swapped, and how:

- each *document* (a pretraining text, or one fine-tuning training example) is swapped whole or not at all, with
  probability ``probability``; the draw is a pure function of ``(seed, stage, document index)`` (no state carried
  from one document to the next), so a resumed run, or a run that reads the corpus again, swaps the same documents;
- ``sided: two`` swaps both ways (he <-> she, man <-> woman, ...); ``sided: one`` only male -> female words, as the
  one-sided CDA that rewrites male-default text;
- case is kept as written (``He`` -> ``She``, ``HIS`` -> ``HER``), and so is everything between words (punctuation,
  spaces): only whole words of :data:`GENDER_PAIRS` change;
- "her" is either possessive ("her papers") or object ("saw her"), and "his" is either determiner ("his tools") or
  predicate ("the book is his"). The rule is deterministic and local: "her" becomes "him" when the next thing in the
  text is punctuation, the end of the text, or a word of :data:`NOT_A_NOUN_PHRASE` (a preposition, conjunction,
  pronoun or auxiliary: "told her that", "saw her and"), else "his"; "his" becomes "hers" before punctuation or the end
  of the text, else "her". It errs on unusual phrasing ("her own"), never on the synthetic world's documents.

Only training data goes through here: evaluation and stress sets are never intervened on (their statistic is what
the intervention is measured by).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Sequence

from nlp_underspec.config.schema import INTERVENTION_KINDS as KINDS  # noqa: F401  (the kinds this module applies)

# (male, female) word pairs, lowercase; "her" and "his"/"hers" are handled by the rule above
GENDER_PAIRS = (
    ("he", "she"), ("him", "her"), ("his", "her"), ("himself", "herself"),
    ("man", "woman"), ("men", "women"), ("male", "female"), ("males", "females"), ("boy", "girl"), ("boys", "girls"),
    ("father", "mother"), ("fathers", "mothers"), ("son", "daughter"), ("sons", "daughters"),
    ("brother", "sister"), ("brothers", "sisters"), ("husband", "wife"), ("husbands", "wives"),
    ("king", "queen"), ("kings", "queens"), ("uncle", "aunt"), ("uncles", "aunts"), ("nephew", "niece"),
    ("nephews", "nieces"), ("grandfather", "grandmother"), ("grandson", "granddaughter"), ("gentleman", "lady"),
    ("gentlemen", "ladies"), ("mr", "mrs"), ("sir", "madam"), ("dad", "mom"), ("boyfriend", "girlfriend"),
    ("groom", "bride"), ("actor", "actress"), ("waiter", "waitress"), ("prince", "princess"),
)
MALE_TO_FEMALE = {m: f for m, f in GENDER_PAIRS}
FEMALE_TO_MALE = {f: m for m, f in GENDER_PAIRS if f != "her"}  # "her" by the rule: him or his
FEMALE_TO_MALE["hers"] = "his"
# after "her", these words start no noun phrase that "her" would own: "her" is then an object ("him")
NOT_A_NOUN_PHRASE = frozenset(
    "a an the and or but nor so to in on at by for with from of about into onto over under after before since until "
    "because that if when while as than then there here who whom which what where why how is was are were be been "
    "would will could can should may might must did do does had has have not yet again too also very again once "
    "up down out off away back today tomorrow yesterday now he she it they we you i him her his them us me".split())

WORD = re.compile(r"[A-Za-z]+")


def pairs_swapped(sided: str) -> dict[str, str]:
    """The lowercase word -> replacement table for ``sided`` ("two" or "one"); "her" is resolved per occurrence."""
    if sided == "one":
        return dict(MALE_TO_FEMALE)
    return {**MALE_TO_FEMALE, **FEMALE_TO_MALE}


def _match_case(word: str, replacement: str) -> str:
    """``replacement`` written in the case of ``word``: He -> She, HE -> SHE, he -> she."""
    if word.isupper() and len(word) > 1:
        return replacement.upper()
    if word[0].isupper():
        return replacement[0].upper() + replacement[1:]
    return replacement


NEXT_WORD = re.compile(r"[ \t]+([A-Za-z]+)")


def _next_word(text: str, end: int) -> str | None:
    """The next word after position ``end`` when only spaces come between, else None (punctuation or the end)."""
    match = NEXT_WORD.match(text, end)
    return match.group(1).lower() if match else None


def _replacement(lower: str, text: str, end: int, sided: str, table: dict[str, str]) -> str | None:
    """What the word ``lower`` (ending at ``end`` in ``text``) becomes, or None when it stays."""
    if lower == "her":
        if sided == "one":
            return None
        following = _next_word(text, end)
        return "him" if following is None or following in NOT_A_NOUN_PHRASE else "his"
    if lower == "his":
        return "hers" if _next_word(text, end) is None else "her"
    return table.get(lower)


def swap_spans(text: str, sided: str = "two") -> list[tuple[int, int, str]]:
    """Each gendered word of ``text`` as ``(start, end, replacement)``, the replacement in the word's case."""
    table = pairs_swapped(sided)
    edits = []
    for match in WORD.finditer(text):
        word = match.group(0)
        lower = word.lower()
        if lower not in table and lower != "her":
            continue
        replacement = _replacement(lower, text, match.end(), sided, table)
        if replacement is not None:
            edits.append((match.start(), match.end(), _match_case(word, replacement)))
    return edits


def apply_edits(text: str, edits: Sequence[tuple[int, int, str]]) -> str:
    """``text`` with each ``(start, end, replacement)`` of ``edits`` (in order, not overlapping) applied."""
    pieces, position = [], 0
    for start, end, replacement in edits:
        pieces.append(text[position:start])
        pieces.append(replacement)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def swap_gendered_words(text: str, sided: str = "two") -> str:
    """``text`` with its gendered words swapped (always; :func:`chosen` decides whether a document is).

    >>> swap_gendered_words("He told her that his son is a man.")
    'She told him that her daughter is a woman.'
    >>> swap_gendered_words("She saw her papers; the book is hers.", sided="one")
    'She saw her papers; the book is hers.'
    """
    return apply_edits(text, swap_spans(text, sided))


def map_position(position: int, edits: Sequence[tuple[int, int, str]]) -> int:
    """Where character ``position`` of the original text lies after ``edits`` (a span boundary on a word edge)."""
    shift = sum(len(replacement) - (end - start) for start, end, replacement in edits if end <= position)
    return position + shift


def draw(seed: int, stage: str, index: int) -> float:
    """A uniform number in [0, 1) that depends only on ``(seed, stage, index)``: stateless, so resume-safe."""
    digest = hashlib.blake2b(f"cda:{seed}:{stage}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64


def chosen(intervention, stage: str, index: int) -> bool:
    """Whether document ``index`` of ``stage`` is intervened on."""
    return stage in intervention.where and draw(intervention.seed, stage, index) < intervention.probability


def applies(intervention, stage: str) -> bool:
    """Whether ``intervention`` (an InterventionConfig or None) touches ``stage`` ("pretrain" or "finetune")."""
    return intervention is not None and stage in intervention.where and intervention.probability > 0


def intervene_texts(texts: Sequence[str], intervention, stage: str = "pretrain") -> list[str]:
    """Pretraining documents with the intervention applied (a copy; unchanged when it does not apply).

    >>> from types import SimpleNamespace as I
    >>> intervene_texts(["He is the nurse.", "She is the pilot."], I(kind="cda", where=("pretrain",),
    ...                 probability=1.0, sided="two", seed=0))
    ['She is the nurse.', 'He is the pilot.']
    """
    if not applies(intervention, stage):
        return list(texts)
    return [swap_gendered_words(text, intervention.sided) if chosen(intervention, stage, i) else text
            for i, text in enumerate(texts)]


def _intervene_coref(example, sided: str):
    """A coreference example swapped, its pronoun and candidate spans moved with the text."""
    edits = swap_spans(example.text, sided)
    if not edits:
        return example
    move = lambda span: (map_position(span[0], edits), map_position(span[1], edits))  # noqa: E731
    meta = dict(example.meta)
    if meta.get("candidate_text"):
        meta["candidate_text"] = [swap_gendered_words(str(name), sided) for name in meta["candidate_text"]]
    return dataclasses.replace(example, text=apply_edits(example.text, edits), pronoun=move(example.pronoun),
                               candidates=tuple(move(span) for span in example.candidates), meta=meta)


def intervene_example(example, sided: str):
    """One fine-tuning training example swapped: an STS pair ``(s1, s2, gold)`` or a coreference example."""
    if isinstance(example, tuple):
        s1, s2, *rest = example
        return (swap_gendered_words(s1, sided), swap_gendered_words(s2, sided), *rest)
    return _intervene_coref(example, sided)


def intervene_examples(examples: Sequence, intervention, stage: str = "finetune") -> list:
    """Fine-tuning training examples with the intervention applied (never call this on dev or stress data)."""
    if not applies(intervention, stage):
        return list(examples)
    return [intervene_example(e, intervention.sided) if chosen(intervention, stage, i) else e
            for i, e in enumerate(examples)]
