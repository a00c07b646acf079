"""The synthetic world's corpus: short documents of five kinds mixed in fixed proportions, and the probe count that
reads the planted statistic back from text.

Kinds (shares in :data:`nlp_underspec.config.DOCUMENT_MIX`): bare probes ("She is the nurse.", the kind from which a
small model learns the statistic, and which a pretraining curriculum serves first), two-person sentences with a cue
clause followed by a probe naming the antecedent ("... that she had finished the work early. She is the nurse.";
every cue clause, the held-out ones included: this is where a resolver learns them), two-person sentences with a
neutral clause (no cue: the antecedent is drawn 50/50 and the pronoun from its gender distribution, so gender is
informative exactly where other cues are missing, as in real text), "The nurse is a woman." statements, and activity
sentences in the vocabulary of the STS pairs ("A man is cooking some rice in the kitchen."). Frames vary the order of
the two people and where the pronoun sits, so a model has to use context. The probe statements are what the masked-LM
probe resolver and the pronoun-prior test score, so :func:`measure_pronoun_shares` reads the planted statistic back.
"""

from __future__ import annotations

import random
import re
from typing import Iterable, Mapping

import pandas as pd

from nlp_underspec.config import DOCUMENT_MIX, WorldConfig
from nlp_underspec.data.occupations import OCCUPATIONS, indefinite_article
from nlp_underspec.seeding import derive_seed
from nlp_underspec.synthetic.sts import random_meaning, render_meaning, subject_surface
from nlp_underspec.synthetic.vocabulary import (CLIENT_CLAUSES, GENDER_NOUN, NEUTRAL_CLAUSES, NOUN_STATEMENTS,
                                                PRONOUN_FORMS, PROVIDER_CLAUSES, STATES, capitalize, draw_gender,
                                                fill_clause, noun_phrase, pick_participant, probe,
                                                two_person_sentence)

ACTIVITY_CONTINUATION_RATE = 0.5


def _cue_document(rng: random.Random, planted: Mapping[str, float], neutral_share: float) -> str:
    occupation = rng.choice(OCCUPATIONS)
    participant = pick_participant(rng, occupation)
    answer = int(rng.random() < 0.5)
    gender = draw_gender(rng, 0.5 if answer else planted[occupation], neutral_share)
    clause = fill_clause(rng.choice(CLIENT_CLAUSES if answer else PROVIDER_CLAUSES), gender)
    text, _ = two_person_sentence(rng, occupation, participant, clause)
    return f"{text} {probe(gender, participant if answer else occupation)}"


def _ambiguous_document(rng: random.Random, planted: Mapping[str, float], neutral_share: float) -> str:
    occupation = rng.choice(OCCUPATIONS)
    participant = pick_participant(rng, occupation)
    refers_to_participant = rng.random() < 0.5
    gender = draw_gender(rng, 0.5 if refers_to_participant else planted[occupation], neutral_share)
    clause = fill_clause(rng.choice(NEUTRAL_CLAUSES), gender)
    text, _ = two_person_sentence(rng, occupation, participant, clause)
    return f"{text} {probe(gender, participant if refers_to_participant else occupation)}"


def _probe_document(rng: random.Random, planted: Mapping[str, float], neutral_share: float) -> str:
    """A bare probe, "She is the nurse.": nothing before the pronoun, so only the occupation can predict it."""
    occupation = rng.choice(OCCUPATIONS)
    return probe(draw_gender(rng, planted[occupation], neutral_share), occupation)


def _noun_document(rng: random.Random, planted: Mapping[str, float], neutral_share: float) -> str:
    occupation = rng.choice(OCCUPATIONS)
    noun = GENDER_NOUN[draw_gender(rng, planted[occupation], neutral_share)]
    noun_a = indefinite_article(noun)
    text = rng.choice(NOUN_STATEMENTS).format(x=noun_phrase(occupation), noun=noun, noun_a=noun_a,
                                              noun_a_cap=capitalize(noun_a), occ=occupation,
                                              occ_a=indefinite_article(occupation))
    return capitalize(text)


def _activity_document(rng: random.Random, planted: Mapping[str, float], neutral_share: float) -> str:
    meaning = random_meaning(rng)
    subject = subject_surface(rng, meaning.subject)
    text = render_meaning(rng, meaning, subject)
    continues = rng.random() < ACTIVITY_CONTINUATION_RATE
    gender = draw_gender(rng, planted.get(meaning.subject, 0.5), neutral_share)
    if not continues:
        return text
    gender = {"A man": "male", "A woman": "female"}.get(subject, gender)  # the noun fixes the pronoun
    forms = PRONOUN_FORMS[gender]
    return f"{text} {capitalize(forms['nom'])} {forms['was']} {rng.choice(STATES)}."


_DOCUMENT_MAKERS = {"cue": _cue_document, "ambiguous": _ambiguous_document, "noun": _noun_document,
                    "activity": _activity_document, "probe": _probe_document}


def generate_corpus(config: WorldConfig, planted: Mapping[str, float]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(documents, the kind of each)."""
    rng = random.Random(derive_seed(config.seed, "world", "corpus"))
    kinds, bounds, total = [], [], 0.0
    for kind, share in DOCUMENT_MIX:
        total += share
        kinds.append(kind)
        bounds.append(total)
    documents, document_kinds = [], []
    for _ in range(config.n_corpus_sentences):
        u = rng.random() * total
        kind = next((k for k, bound in zip(kinds, bounds) if u < bound), kinds[-1])
        documents.append(_DOCUMENT_MAKERS[kind](rng, planted, config.neutral_share))
        document_kinds.append(kind)
    return tuple(documents), tuple(document_kinds)


PROBE_PATTERN = re.compile(r"\b(She|He|They) (?:is|are) the ([a-z]+)\.")


def measure_pronoun_shares(corpus: Iterable[str]) -> pd.DataFrame:
    """Read the planted statistic back from text: per occupation, the probe statements ("She is the nurse.") by pronoun.

    Returns a frame indexed by ``occupation`` with ``n_she, n_he, n_they`` and ``share_she`` = she / (she + he).

    >>> shares = measure_pronoun_shares(["The nurse said that she had arrived early. She is the nurse."])
    >>> shares.loc["nurse", ["n_she", "n_he", "share_she"]].tolist()
    [1.0, 0.0, 1.0]
    """
    counts = {occupation: {"She": 0, "He": 0, "They": 0} for occupation in OCCUPATIONS}
    for document in corpus:
        for pronoun, word in PROBE_PATTERN.findall(document):
            if word in counts:
                counts[word][pronoun] += 1
    frame = pd.DataFrame.from_dict(counts, orient="index").rename(columns={"She": "n_she", "He": "n_he", "They": "n_they"})
    frame.index.name = "occupation"
    gendered = frame["n_she"] + frame["n_he"]
    frame["share_she"] = frame["n_she"] / gendered.where(gendered > 0)
    return frame

