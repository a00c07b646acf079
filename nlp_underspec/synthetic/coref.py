"""Pronoun-resolution examples of the synthetic world in the candidate format (candidate 0 = occupation, 1 =
participant), and the reader that recovers every gold answer from the cue clause with gender words erased.

The gold follows the clause the pronoun sits in (a "provider" clause such as "she had finished the work early" means
the occupation, a "client" clause such as "he had lost the receipt" the participant); the pronoun's gender is drawn
50/50 whatever the answer, so fine-tuning teaches no gender association; only the fine-tuning part of the cue clauses
is used (:data:`~nlp_underspec.synthetic.vocabulary.FINETUNE_PROVIDER_CLAUSES`, ``FINETUNE_CLIENT_CLAUSES``).
"""

from __future__ import annotations

import functools
import random
import re
from typing import Mapping

from nlp_underspec.data.coref import CorefExample
from nlp_underspec.data.occupations import OCCUPATIONS
from nlp_underspec.synthetic.vocabulary import (CLIENT_CLAUSES, FINETUNE_CLIENT_CLAUSES, FINETUNE_PROVIDER_CLAUSES,
                                                PRONOUN_FORMS, PROVIDER_CLAUSES, draw_gender, fill_clause,
                                                pick_participant, two_person_sentence)

_PRONOUN_MARK = "\x00"  # brackets the pronoun while rendering so its span is exact


def coref_example(rng: random.Random, planted: Mapping[str, float], neutral_share: float, example_id: str) -> CorefExample:
    """A fine-tuning example: a fine-tuning cue clause decides the answer, and the pronoun's gender is independent of
    the answer (50/50 whatever the occupation), so a fine-tuned resolver is taught no gender association: any bias it
    shows on the stress set came from pretraining. (``planted`` is unused on purpose; the corpus carries the table.)"""
    del planted
    occupation = rng.choice(OCCUPATIONS)
    participant = pick_participant(rng, occupation)
    answer = int(rng.random() < 0.5)
    gender = draw_gender(rng, 0.5, neutral_share)
    template = rng.choice(FINETUNE_CLIENT_CLAUSES if answer else FINETUNE_PROVIDER_CLAUSES)
    slot = re.search(r"\{(nom|poss|acc)\}", template).group(1)
    marked = {**PRONOUN_FORMS[gender]}
    marked[slot] = f"{_PRONOUN_MARK}{marked[slot]}{_PRONOUN_MARK}"
    text, _ = two_person_sentence(rng, occupation, participant, template.format(**marked))
    start = text.index(_PRONOUN_MARK)
    text = text.replace(_PRONOUN_MARK, "")
    pronoun = (start, start + len(PRONOUN_FORMS[gender][slot]))
    candidates = (_word_span(text, occupation), _word_span(text, participant))
    return CorefExample(text=text, pronoun=pronoun, candidates=candidates, label=answer, id=example_id,
                        meta={"occupation": occupation, "participant": participant, "gender": gender,
                              "pronoun_form": slot})


def _word_span(text: str, word: str) -> tuple[int, int]:
    match = re.search(rf"\b{re.escape(word)}\b", text, flags=re.IGNORECASE)
    return match.span()


_NORMALIZE = {word: "<p>" for forms in PRONOUN_FORMS.values() for key, word in forms.items() if key in ("nom", "poss", "acc")}
_NORMALIZE.update({"is": "<is>", "are": "<is>", "was": "<was>", "were": "<was>"})


def normalize_gender(text: str) -> str:
    return " ".join(_NORMALIZE.get(word, word) for word in re.findall(r"[a-z<>]+", text.lower()))


@functools.lru_cache(maxsize=1)
def clause_keys() -> tuple[tuple[str, int], ...]:
    keys = [(normalize_gender(fill_clause(c, "female")), 0) for c in PROVIDER_CLAUSES]
    keys += [(normalize_gender(fill_clause(c, "female")), 1) for c in CLIENT_CLAUSES]
    return tuple(keys)


def coref_gold_from_text(text: str) -> int:
    """The gold answer (0 = occupation, 1 = participant) read from the cue clause, with every gendered word erased.

    >>> coref_gold_from_text("The nurse told the patient that she had lost the receipt."), \\
    ...     coref_gold_from_text("The nurse told the patient that he had lost the receipt.")
    (1, 1)
    """
    normalized = f" {normalize_gender(text)} "
    found = {answer for key, answer in clause_keys() if f" {key} " in normalized}
    if len(found) != 1:
        raise ValueError(f"no single cue clause in {text!r}")
    return found.pop()
