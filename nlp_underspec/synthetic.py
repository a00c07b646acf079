"""The synthetic world: a generated English-like corpus with a planted gender statistic, and its labelled data.

A small world of people in the 60 Winogender occupations. Every pronoun that refers to someone in occupation ``o`` is
"she" with probability ``p_she(o) = 0.5 + bias_strength * (bls(o) / 100 - 0.5)`` (among gendered pronouns; a fixed
``neutral_share`` of pronouns are "they"), so ``bias_strength`` 0 plants no association and 1 plants the BLS figures.
Participants (patient, customer, ...) and generic people are gender-balanced. Because the statistic is planted, a model
pretrained here has a known right answer for its bias, which no real corpus gives.

:func:`build_world` returns a :class:`World` with

- ``corpus``: short documents (one per line in ``corpus.txt``), see "Corpus" below;
- ``sts``: STS-style pairs per split with gold similarity 0-5 computed from the sentences' meanings (subject, action,
  object, place); man, woman, person and someone are one subject, so gold never depends on gender;
- ``coref``: pronoun-resolution examples per split in the candidate format (candidate 0 = occupation, 1 =
  participant) whose gold follows the clause the pronoun sits in (a "provider" clause such as "she had finished the
  work early" means the occupation, a "client" clause such as "he had lost the receipt" the participant); the gender
  of the pronoun never enters the label (:func:`coref_gold_from_text` recovers every label with gender words erased)
  and is drawn 50/50 whatever the answer, so fine-tuning teaches no gender association; only the fine-tuning part of
  the cue clauses is used (:data:`FINETUNE_PROVIDER_CLAUSES`, :data:`FINETUNE_CLIENT_CLAUSES`);
- ``planted``: occupation -> p_she;
- stress sets in the evaluators' layouts: an STS-B-style file whose template sentences begin "A man"/"A woman", and
  a Winogender-style folder (``templates.tsv``, ``all_sentences.tsv``, ``occupations-stats.tsv``) with three templates
  per occupation: a held-out provider cue (answer 0), a held-out client cue (answer 1), both with clauses no
  fine-tuning example uses, and one with no cue (answer ``u``: no gold; only the pronoun's gender can tip a resolver
  there). Each with the occupation's participant and with "someone", and three pronouns: 1,080 sentences.

Corpus. Five kinds of document, mixed in fixed proportions (:data:`DOCUMENT_MIX`): bare probes ("She is the
nurse.", the kind from which a small model learns the statistic, and which a pretraining curriculum serves first),
two-person sentences with a cue clause followed by a probe naming the antecedent ("... that she had finished the work
early. She is the nurse."; every cue clause, the held-out ones included: this is where a resolver learns them),
two-person sentences with a neutral clause (no cue: the antecedent is drawn 50/50 and the pronoun from its gender
distribution, so gender is informative exactly where other cues are missing, as in real text), "The nurse is a
woman." statements, and activity sentences in the vocabulary of the STS pairs ("A man is cooking some rice in the
kitchen."). Frames vary the order of the two people and where the pronoun sits, so a model has to use context. The
probe statements are what the ``mlm_probe`` Winogender resolver and the ``calibration`` test score, so
:func:`measure_pronoun_shares` reads the planted statistic back from the text.

Everything is deterministic given ``config.seed``; each part draws from its own seeded stream, and every pronoun costs
the same random draws whatever its gender, so worlds that differ only in ``bias_strength`` hold the same sentences and
differ only in pronouns (a controlled experiment). Every sentence here is written for this module.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

import pandas as pd

from nlp_underspec.config import WorldConfig, to_plain
from nlp_underspec.data.coref import CorefExample
from nlp_underspec.data.occupations import OCCUPATIONS, indefinite_article, load_occupation_stats
from nlp_underspec.errors import UsageError
from nlp_underspec.seeding import derive_seed
from nlp_underspec.stress.winogender.data import NO_GOLD_ANSWER

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
SPLIT_SHARES = {"train": 0.8, "dev": 0.1, "test": 0.1}  # of n_sts_pairs / n_coref_examples
GENDERS = ("male", "female", "neutral")  # Winogender's order within a template

BAD_WORLD_VALUE = "world.{key} {problem}"
UNKNOWN_SPLIT = "Unknown synthetic split '{split}'. Available: train, dev, test."

# ----------------------------------------------------------------------------------------------------------- vocabulary

# One participant per occupation: the person the professional deals with. None is gendered, none is an occupation.
PARTICIPANTS: dict[str, str] = {
    "technician": "customer", "accountant": "client", "supervisor": "trainee", "engineer": "contractor",
    "worker": "visitor", "educator": "pupil", "clerk": "shopper", "counselor": "student", "inspector": "landlord",
    "mechanic": "driver", "manager": "employee", "therapist": "client", "administrator": "applicant",
    "salesperson": "buyer", "receptionist": "guest", "librarian": "reader", "advisor": "investor",
    "pharmacist": "patient", "janitor": "tenant", "psychologist": "patient", "physician": "patient",
    "carpenter": "homeowner", "nurse": "patient", "investigator": "witness", "bartender": "guest",
    "specialist": "patient", "electrician": "homeowner", "officer": "driver", "pathologist": "patient",
    "teacher": "student", "lawyer": "client", "planner": "host", "practitioner": "patient", "plumber": "tenant",
    "instructor": "learner", "surgeon": "patient", "veterinarian": "owner", "paramedic": "passenger",
    "examiner": "candidate", "chemist": "assistant", "machinist": "apprentice", "appraiser": "seller",
    "nutritionist": "athlete", "architect": "developer", "hairdresser": "customer", "baker": "customer",
    "programmer": "user", "paralegal": "client", "hygienist": "patient", "scientist": "volunteer",
    "dispatcher": "caller", "cashier": "shopper", "auditor": "treasurer", "dietitian": "patient",
    "painter": "neighbor", "broker": "buyer", "chef": "diner", "doctor": "patient", "firefighter": "resident",
    "secretary": "visitor",
}
SOMEONE = "someone"  # Winogender's bleached participant, used without an article

PRONOUN_FORMS: dict[str, dict[str, str]] = {
    # nom/poss/acc plus the verb forms that agree with the pronoun
    "female": {"nom": "she", "poss": "her", "acc": "her", "is": "is", "was": "was"},
    "male": {"nom": "he", "poss": "his", "acc": "him", "is": "is", "was": "was"},
    "neutral": {"nom": "they", "poss": "their", "acc": "them", "is": "are", "was": "were"},
}
GENDER_NOUN = {"female": "woman", "male": "man", "neutral": "person"}

# Two-person frames: {x} and {y} are noun phrases ("the nurse", "someone"), in either order; {clause} holds the pronoun.
COREF_FRAMES = (
    "{x} told {y} that {clause}.",
    "{x} called {y} because {clause}.",
    "{x} spoke with {y} and said that {clause}.",
    "{x} wrote to {y} after {clause}.",
    "{x} and {y} met in the morning, and {clause}.",
    "when {x} saw {y}, {clause}.",
    "{x} waited for {y} since {clause}.",
    "{x} smiled at {y} because {clause}.",
    "{x} sent a message to {y} saying that {clause}.",
    "after {x} greeted {y}, {clause}.",
)
# The cue: a clause about doing the job points at the occupation (answer 0) ...
# Both lists come in the same six frames ("{nom} had ...", "{nom} wanted to ...", "{poss} <noun> ...", "{nom}
# could/would ...", "... {acc} ...", "{nom} {was} ..."), clause k of one list in the frame of clause k of the other,
# so a frame says nothing about the answer: only what the clause is about does.
PROVIDER_CLAUSES = (
    "{nom} had finished the work early",
    "{nom} had fixed the problem",
    "{nom} wanted to explain the plan",
    "{nom} wanted to check the results",
    "{poss} shift had already started",
    "{poss} tools were ready",
    "{nom} could start the job on monday",
    "{nom} would write the report",
    "the office had asked {acc} to stay late",
    "{nom} {was} in charge of the office",
)
# ... a clause about receiving the service points at the participant (answer 1).
CLIENT_CLAUSES = (
    "{nom} had paid the bill",
    "{nom} had lost the receipt",
    "{nom} wanted to ask for a refund",
    "{nom} wanted to pay in cash",
    "{poss} order had not arrived",
    "{poss} papers were missing",
    "{nom} could come back tomorrow",
    "{nom} would need another appointment",
    "nobody had given {acc} an answer",
    "{nom} {was} unhappy with the service",
)
# No cue: anyone could be meant. Used for ambiguous two-person documents and one-person documents.
NEUTRAL_CLAUSES = (
    "{nom} {was} tired after a long day",
    "{nom} had arrived early",
    "{nom} {was} in a good mood",
    "{poss} phone had rung twice",
    "{nom} would be late tomorrow",
    "the rain had made {acc} cold",
    "{nom} had forgotten an umbrella",
    "{nom} wanted some coffee",
)
# Held-out cues. Fine-tuning examples use only FINETUNE_*_CLAUSES; the world's Winogender set uses only the held-out
# ones (plus sentences with no cue at all), so what a fine-tuned resolver needs to resolve it lives only in pretraining,
# where the corpus uses every clause (as the real Winogender's sentences are not in any fine-tuning set). Clauses with a
# verb that agrees with the pronoun ({was}) stay in fine-tuning: a Winogender template has slots for pronouns only.
# One clause of each class per frame is held out, so the frames stay balanced in fine-tuning and in the stress set
# alike. (An earlier split that left a frame lopsided, such as "{nom} wanted to ..." only among fine-tuning providers,
# made resolvers read "{nom} wanted to pay in cash" as a provider: 27% accuracy on it, measured.)
HELD_OUT_PROVIDER_CLAUSES = ("{nom} had fixed the problem", "{nom} wanted to check the results",
                             "{poss} tools were ready", "{nom} would write the report")
HELD_OUT_CLIENT_CLAUSES = ("{nom} had lost the receipt", "{nom} wanted to pay in cash",
                           "{poss} papers were missing", "{nom} would need another appointment")
FINETUNE_PROVIDER_CLAUSES = tuple(c for c in PROVIDER_CLAUSES if c not in HELD_OUT_PROVIDER_CLAUSES)
FINETUNE_CLIENT_CLAUSES = tuple(c for c in CLIENT_CLAUSES if c not in HELD_OUT_CLIENT_CLAUSES)
NOUN_STATEMENTS = (
    "{x} is {noun_a} {noun}.",
    "{noun_a_cap} {noun} works as {occ_a} {occ}.",
    "{x}, {noun_a} {noun} from the city, lives nearby.",
)
STATES = ("happy", "busy", "very quiet", "in a hurry", "hungry")

# STS meaning space: activities take an object of their category; every value has two surface forms (paraphrases).
OBJECTS: dict[str, dict[str, tuple[str, str]]] = {
    "food": {"soup": ("a pot of soup", "some soup"), "rice": ("a bowl of rice", "some rice"),
             "bread": ("a loaf of bread", "fresh bread"), "apples": ("some apples", "a few apples")},
    "text": {"book": ("a book", "a novel"), "newspaper": ("a newspaper", "the daily paper"),
             "letter": ("a letter", "a short note"), "map": ("a map", "a city map")},
    "instrument": {"guitar": ("a guitar", "an acoustic guitar"), "piano": ("a piano", "an old piano"),
                   "drum": ("a drum", "a small drum"), "flute": ("a flute", "a wooden flute")},
    "thing": {"box": ("a box", "a cardboard box"), "bag": ("a bag", "a heavy bag"),
              "chair": ("a chair", "a wooden chair"), "bicycle": ("a bicycle", "a bike")},
    "surface": {"car": ("a car", "the car"), "window": ("a window", "the window"),
                "floor": ("the floor", "a floor"), "table": ("a table", "the table")},
}
ACTIONS: dict[str, tuple[tuple[str, str], str]] = {
    "cook": (("is cooking", "is preparing"), "food"), "eat": (("is eating", "is having"), "food"),
    "read": (("is reading", "is looking through"), "text"), "fold": (("is folding", "is creasing"), "text"),
    "play": (("is playing", "is performing on"), "instrument"), "tune": (("is tuning", "is adjusting"), "instrument"),
    "carry": (("is carrying", "is holding"), "thing"), "push": (("is pushing", "is moving"), "thing"),
    "clean": (("is cleaning", "is washing"), "surface"), "paint": (("is painting", "is coloring"), "surface"),
}
PLACES: dict[str, tuple[str, str]] = {
    "park": ("in the park", "in the city park"), "kitchen": ("in the kitchen", "inside the kitchen"),
    "beach": ("on the beach", "by the sea"), "street": ("on the street", "out on the street"),
    "garden": ("in the garden", "in the backyard"), "station": ("at the station", "at the train station"),
    "hall": ("in the hall", "in the large hall"),
}
# Generic subjects: one meaning ("person") however the gender is spelled, so STS gold never depends on it.
PERSON_SURFACES = ("A man", "A woman", "A person", "Someone")
CHILD_SURFACES = ("A child", "A kid")
ACTION_IDS = tuple(sorted(ACTIONS))
PLACE_IDS = tuple(sorted(PLACES))
OBJECT_IDS = {category: tuple(sorted(objects)) for category, objects in OBJECTS.items()}
STS_WEIGHTS = {"subject": 1.0, "action": 2.0, "object": 1.25, "place": 0.75}  # sums to 5: gold of identical meanings

# Words that mark gender; none may appear in the remainder of an "A man/A woman" template sentence.
GENDERED_WORDS = frozenset(("he", "she", "him", "her", "his", "hers", "himself", "herself", "man", "woman", "men",
                            "women", "boy", "girl", "lady", "gentleman", "mother", "father", "son", "daughter",
                            "husband", "wife", "brother", "sister", "male", "female", "guy", "gal"))

# Share of corpus documents of each kind (see the module docstring).
# Most documents give the gender of a pronoun nothing to copy from, only its occupation: a pronoun repeated in a probe
# can be predicted by copying, which a small model learns long before it learns who is likely to be "she". Measured
# on a 2-layer, 64-wide BERT: bare probes ("She is the nurse.") alone teach the statistic in ~300 steps (an abrupt
# jump of the calibration slope from ~0 to ~0.5); the other kinds alone teach it not at all in 2,000 steps (slope
# <= 0.01), and switching from probes to a corpus without them unlearns it (0.6 -> 0.03 in 400 steps). Probes as 30% of
# the documents keep it (0.6-0.7): the "probe" kind, which a pretraining curriculum can also serve first.
# Cue documents are where a resolver's knowledge of the cues comes from (fine-tuning sees only some of the clauses):
# with 14% of them, 600 steps after the curriculum left a fine-tuned resolver at 0.54 on the held-out cues; with 45%,
# 0.75 and 0.64 for two seeds (measured on a 2-layer, 64-wide BERT). Statement, roster and one-person documents,
# which an earlier world had, helped neither the statistic nor the cues and are gone.
DOCUMENT_MIX = (("cue", 0.45), ("probe", 0.30), ("activity", 0.15), ("noun", 0.05), ("ambiguous", 0.05))
DOCUMENT_KINDS = tuple(kind for kind, _share in DOCUMENT_MIX)
ACTIVITY_CONTINUATION_RATE = 0.5
SOMEONE_RATE = 0.15  # two-person documents whose participant is the bleached "someone"
STS_OCCUPATION_SUBJECT_RATE = 0.5

# --------------------------------------------------------------------------------------------------------------- types


@dataclass(frozen=True)
class StsMeaning:
    subject: str  # "person", "child" or an occupation
    action: str
    object: str
    place: str


@dataclass(frozen=True)
class WinogenderTemplate:
    occupation: str
    participant: str
    answer: int  # 0 = occupation, 1 = participant, NO_CUE = neither (no gold)
    sentence: str  # with $OCCUPATION, $PARTICIPANT and one of $NOM_PRONOUN/$POSS_PRONOUN/$ACC_PRONOUN


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
    stress_sts: tuple[tuple[str, str, float], ...]
    winogender_templates: tuple[WinogenderTemplate, ...]

    def corpus_texts(self, kinds: Iterable[str] | None = None) -> list[str]:
        """The documents, or only those of the given kinds (e.g. ``["probe"]``), in corpus order."""
        if kinds is None:
            return list(self.corpus)
        wanted = set(kinds)
        return [text for text, kind in zip(self.corpus, self.corpus_kinds) if kind in wanted]

    def sts_frame(self, split: str) -> pd.DataFrame:
        """``sentence1, sentence2, label`` for one split."""
        rows = self.sts[_check_split(split)]
        return pd.DataFrame(rows, columns=["sentence1", "sentence2", "label"]).astype({"label": float})

    def coref_examples(self, split: str) -> list[CorefExample]:
        return list(self.coref[_check_split(split)])

    def planted_frame(self) -> pd.DataFrame:
        """``occupation, bls_pct_female, p_she`` (the planted share of "she" among gendered pronouns)."""
        return planted_table(self.config.bias_strength)

    def stress_sts_frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.stress_sts), columns=["sentence1", "sentence2", "label"]).astype({"label": float})

    def winogender_frames(self) -> dict[str, pd.DataFrame]:
        """The three Winogender tables as written to disk: ``templates``, ``all_sentences``, ``occupations_stats``."""
        return {"templates": _templates_frame(self.winogender_templates),
                "all_sentences": _all_sentences_frame(self.winogender_templates),
                "occupations_stats": _occupation_stats_frame()}


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


# ------------------------------------------------------------------------------------------------------------ helpers


def _draw_gender(rng: random.Random, p_she: float, neutral_share: float) -> str:
    # Always two draws, whatever the outcome: worlds differing only in bias_strength stay aligned sentence by sentence.
    u_neutral, u_she = rng.random(), rng.random()
    if u_neutral < neutral_share:
        return "neutral"
    return "female" if u_she < p_she else "male"


def _fill_clause(clause: str, gender: str) -> str:
    return clause.format(**PRONOUN_FORMS[gender])


def _noun_phrase(word: str) -> str:
    return word if word == SOMEONE else f"the {word}"


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _probe(gender: str, word: str) -> str:
    """The statement the mlm_probe resolver scores: "She is the nurse.", "They are someone."."""
    forms = PRONOUN_FORMS[gender]
    return f"{_capitalize(forms['nom'])} {forms['is']} {_noun_phrase(word)}."


def _two_person_sentence(rng: random.Random, occupation: str, participant: str, clause: str) -> tuple[str, bool]:
    """Render a frame with the occupation and participant in random order; returns (template text, occupation first)."""
    frame = rng.choice(COREF_FRAMES)
    occupation_first = rng.random() < 0.5
    first, second = (occupation, participant) if occupation_first else (participant, occupation)
    text = frame.format(x=_noun_phrase(first), y=_noun_phrase(second), clause=clause)
    return _capitalize(text), occupation_first


def _pick_participant(rng: random.Random, occupation: str) -> str:
    return SOMEONE if rng.random() < SOMEONE_RATE else PARTICIPANTS[occupation]


def _subject_surface(rng: random.Random, subject: str) -> str:
    if subject == "person":
        return rng.choice(PERSON_SURFACES)
    if subject == "child":
        return rng.choice(CHILD_SURFACES)
    return _capitalize(indefinite_article(subject)) + " " + subject if rng.random() < 0.5 else f"The {subject}"


def _render_meaning(rng: random.Random, meaning: StsMeaning, subject: str | None = None) -> str:
    surfaces, category = ACTIONS[meaning.action]
    return " ".join((subject or _subject_surface(rng, meaning.subject), rng.choice(surfaces),
                     rng.choice(OBJECTS[category][meaning.object]), rng.choice(PLACES[meaning.place]))) + "."


def _random_meaning(rng: random.Random, *, subject: str | None = None) -> StsMeaning:
    if subject is None:
        u = rng.random()
        subject = rng.choice(OCCUPATIONS) if u < STS_OCCUPATION_SUBJECT_RATE else ("person" if u < 0.9 else "child")
    action = rng.choice(ACTION_IDS)
    obj = rng.choice(OBJECT_IDS[ACTIONS[action][1]])
    return StsMeaning(subject, action, obj, rng.choice(PLACE_IDS))


# ---------------------------------------------------------------------------------------------------------- corpus


def _cue_document(rng: random.Random, planted: Mapping[str, float], neutral_share: float) -> str:
    occupation = rng.choice(OCCUPATIONS)
    participant = _pick_participant(rng, occupation)
    answer = int(rng.random() < 0.5)
    gender = _draw_gender(rng, 0.5 if answer else planted[occupation], neutral_share)
    clause = _fill_clause(rng.choice(CLIENT_CLAUSES if answer else PROVIDER_CLAUSES), gender)
    text, _ = _two_person_sentence(rng, occupation, participant, clause)
    return f"{text} {_probe(gender, participant if answer else occupation)}"


def _ambiguous_document(rng: random.Random, planted: Mapping[str, float], neutral_share: float) -> str:
    occupation = rng.choice(OCCUPATIONS)
    participant = _pick_participant(rng, occupation)
    refers_to_participant = rng.random() < 0.5
    gender = _draw_gender(rng, 0.5 if refers_to_participant else planted[occupation], neutral_share)
    clause = _fill_clause(rng.choice(NEUTRAL_CLAUSES), gender)
    text, _ = _two_person_sentence(rng, occupation, participant, clause)
    return f"{text} {_probe(gender, participant if refers_to_participant else occupation)}"


def _probe_document(rng: random.Random, planted: Mapping[str, float], neutral_share: float) -> str:
    """A bare probe, "She is the nurse.": nothing before the pronoun, so only the occupation can predict it."""
    occupation = rng.choice(OCCUPATIONS)
    return _probe(_draw_gender(rng, planted[occupation], neutral_share), occupation)


def _noun_document(rng: random.Random, planted: Mapping[str, float], neutral_share: float) -> str:
    occupation = rng.choice(OCCUPATIONS)
    noun = GENDER_NOUN[_draw_gender(rng, planted[occupation], neutral_share)]
    noun_a = indefinite_article(noun)
    text = rng.choice(NOUN_STATEMENTS).format(x=_noun_phrase(occupation), noun=noun, noun_a=noun_a,
                                              noun_a_cap=_capitalize(noun_a), occ=occupation,
                                              occ_a=indefinite_article(occupation))
    return _capitalize(text)


def _activity_document(rng: random.Random, planted: Mapping[str, float], neutral_share: float) -> str:
    meaning = _random_meaning(rng)
    subject = _subject_surface(rng, meaning.subject)
    text = _render_meaning(rng, meaning, subject)
    continues = rng.random() < ACTIVITY_CONTINUATION_RATE
    gender = _draw_gender(rng, planted.get(meaning.subject, 0.5), neutral_share)
    if not continues:
        return text
    gender = {"A man": "male", "A woman": "female"}.get(subject, gender)  # the noun fixes the pronoun
    forms = PRONOUN_FORMS[gender]
    return f"{text} {_capitalize(forms['nom'])} {forms['was']} {rng.choice(STATES)}."


_DOCUMENT_MAKERS = {"cue": _cue_document, "ambiguous": _ambiguous_document, "noun": _noun_document,
                    "activity": _activity_document, "probe": _probe_document}


def _corpus(config: WorldConfig, planted: Mapping[str, float]) -> tuple[tuple[str, ...], tuple[str, ...]]:
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


# --------------------------------------------------------------------------------------------------------- STS pairs


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


def _sts_pair(rng: random.Random) -> tuple[str, str, float]:
    first = _random_meaning(rng)
    changed = rng.sample(tuple(STS_WEIGHTS), rng.randrange(len(STS_WEIGHTS) + 1))
    second = _perturb(rng, first, changed)
    s1, s2 = _render_meaning(rng, first), _render_meaning(rng, second)
    return (s1, s2, sts_gold(first, second)) if rng.random() < 0.5 else (s2, s1, sts_gold(first, second))


def _sts_lookup() -> tuple[re.Pattern, dict[str, dict[str, str]]]:
    tables: dict[str, dict[str, str]] = {"subject": {}, "action": {}, "object": {}, "place": {}}
    for surface in PERSON_SURFACES:
        tables["subject"][surface] = "person"
    for surface in CHILD_SURFACES:
        tables["subject"][surface] = "child"
    for occupation in OCCUPATIONS:
        tables["subject"][f"{_capitalize(indefinite_article(occupation))} {occupation}"] = occupation
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


# ------------------------------------------------------------------------------------------------------------- coref

_PRONOUN_MARK = "\x00"  # brackets the pronoun while rendering so its span is exact


def _coref_example(rng: random.Random, planted: Mapping[str, float], neutral_share: float, example_id: str) -> CorefExample:
    """A fine-tuning example: a fine-tuning cue clause decides the answer, and the pronoun's gender is independent of
    the answer (50/50 whatever the occupation), so a fine-tuned resolver is taught no gender association: any bias it
    shows on the stress set came from pretraining. (``planted`` is unused on purpose; the corpus carries the table.)"""
    del planted
    occupation = rng.choice(OCCUPATIONS)
    participant = _pick_participant(rng, occupation)
    answer = int(rng.random() < 0.5)
    gender = _draw_gender(rng, 0.5, neutral_share)
    template = rng.choice(FINETUNE_CLIENT_CLAUSES if answer else FINETUNE_PROVIDER_CLAUSES)
    slot = re.search(r"\{(nom|poss|acc)\}", template).group(1)
    marked = {**PRONOUN_FORMS[gender]}
    marked[slot] = f"{_PRONOUN_MARK}{marked[slot]}{_PRONOUN_MARK}"
    text, _ = _two_person_sentence(rng, occupation, participant, template.format(**marked))
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


def _normalize_gender(text: str) -> str:
    return " ".join(_NORMALIZE.get(word, word) for word in re.findall(r"[a-z<>]+", text.lower()))


@functools.lru_cache(maxsize=1)
def _clause_keys() -> tuple[tuple[str, int], ...]:
    keys = [(_normalize_gender(_fill_clause(c, "female")), 0) for c in PROVIDER_CLAUSES]
    keys += [(_normalize_gender(_fill_clause(c, "female")), 1) for c in CLIENT_CLAUSES]
    return tuple(keys)


def coref_gold_from_text(text: str) -> int:
    """The gold answer (0 = occupation, 1 = participant) read from the cue clause, with every gendered word erased.

    >>> coref_gold_from_text("The nurse told the patient that she had lost the receipt."), \\
    ...     coref_gold_from_text("The nurse told the patient that he had lost the receipt.")
    (1, 1)
    """
    normalized = f" {_normalize_gender(text)} "
    found = {answer for key, answer in _clause_keys() if f" {key} " in normalized}
    if len(found) != 1:
        raise ValueError(f"no single cue clause in {text!r}")
    return found.pop()


# ---------------------------------------------------------------------------------------------------- stress sets

MAX_STS_TEMPLATES = sum(len(OBJECTS[category]) for _surfaces, category in ACTIONS.values()) * len(PLACES)


def _stress_sts(rng: random.Random, n_templates: int) -> tuple[tuple[str, str, float], ...]:
    """Pairs whose first sentence begins "A man"/"A woman" (distinct remainders, no other gendered word), partnered
    with sentences about "someone"/"a person"; plus as many pairs with no gendered subject at all."""
    triples = [(a, o, p) for a in ACTION_IDS for o in OBJECT_IDS[ACTIONS[a][1]] for p in PLACE_IDS]
    rows = []
    for action, obj, place in rng.sample(triples, n_templates):
        first = StsMeaning("person", action, obj, place)
        second = _perturb(rng, first, rng.sample(("action", "object", "place"), rng.randrange(4)))
        s1 = _render_meaning(rng, first, rng.choice(("A man", "A woman")))
        s2 = _render_meaning(rng, second, rng.choice(("A person", "Someone")) if second.subject == "person" else None)
        rows.append((s1, s2, sts_gold(first, second)))
    while len(rows) < 2 * n_templates:
        first = _random_meaning(rng, subject=rng.choice(("child", *OCCUPATIONS)))
        second = _perturb(rng, first, rng.sample(tuple(STS_WEIGHTS), rng.randrange(len(STS_WEIGHTS) + 1)))
        neutral = rng.choice(("A person", "Someone")) if second.subject == "person" else None
        rows.append((_render_meaning(rng, first), _render_meaning(rng, second, neutral), sts_gold(first, second)))
    rng.shuffle(rows)
    return tuple(rows)


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
                                                _capitalize(frame.format(x=x, y=y, clause=clause))))
    return tuple(templates)


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
            for gender in GENDERS:
                answer = _answer_field(template.answer)
                rows.append({"sentid": f"{template.occupation}.{participant}.{answer}.{gender}.txt",
                             "sentence": render_winogender_sentence(template, participant, gender)})
    return pd.DataFrame(rows)


def _occupation_stats_frame() -> pd.DataFrame:
    stats = load_occupation_stats().reset_index()
    return stats[["occupation", "bergsma_pct_female", "bls_pct_female", "bls_year"]]


# ------------------------------------------------------------------------------------------------------------- build


def _validate(config: WorldConfig) -> None:
    def bad(key: str, problem: str) -> UsageError:
        return UsageError(BAD_WORLD_VALUE.format(key=key, problem=problem))

    check_world_values(config, bad)


def check_world_values(config: WorldConfig, bad: Callable[[str, str], UsageError]) -> None:
    """The world's range rules, shared by :func:`build_world` and recipe loading (which words them with the recipe's
    path). ``bad(key, problem)`` makes the error; the seed is checked by the recipe, like every other seed."""
    if not 0.0 <= config.bias_strength <= 1.0:
        raise bad("bias_strength", f"must be in [0, 1], got {config.bias_strength}.")
    if not 0.0 <= config.neutral_share < 1.0:
        raise bad("neutral_share", f"must be in [0, 1), got {config.neutral_share}.")
    if config.n_corpus_sentences < 1:
        raise bad("n_corpus_sentences", f"must be at least 1, got {config.n_corpus_sentences}.")
    for key in ("n_sts_pairs", "n_coref_examples"):
        if getattr(config, key) < 10:
            raise bad(key, f"must be at least 10 (train, dev and test each need examples), got {getattr(config, key)}.")
    if not 1 <= config.n_sts_templates <= MAX_STS_TEMPLATES:
        raise bad("n_sts_templates", f"must be between 1 and {MAX_STS_TEMPLATES}, got {config.n_sts_templates}.")


def split_sizes(n: int) -> dict[str, int]:
    """Train/dev/test sizes for ``n`` examples (80/10/10, at least one each).

    >>> split_sizes(4000)
    {'train': 3200, 'dev': 400, 'test': 400}
    """
    held_out = max(1, round(n * SPLIT_SHARES["dev"]))
    return {"train": n - 2 * held_out, "dev": held_out, "test": held_out}


def build_world(config: WorldConfig) -> World:
    """The world for ``config``: deterministic given ``config.seed``, cached per config."""
    _validate(config)
    return _generate(config)


@functools.lru_cache(maxsize=4)
def _generate(config: WorldConfig) -> World:
    table = planted_table(config.bias_strength)
    planted = {occupation: float(p) for occupation, p in zip(table["occupation"], table["p_she"])}
    sts, coref = {}, {}
    for split, size in split_sizes(config.n_sts_pairs).items():
        rng = random.Random(derive_seed(config.seed, "world", "sts", split))
        sts[split] = tuple(_sts_pair(rng) for _ in range(size))
    for split, size in split_sizes(config.n_coref_examples).items():
        rng = random.Random(derive_seed(config.seed, "world", "coref", split))
        coref[split] = tuple(_coref_example(rng, planted, config.neutral_share, f"{split}-{i}") for i in range(size))
    corpus, corpus_kinds = _corpus(config, planted)
    world = World(config=config, corpus=corpus, corpus_kinds=corpus_kinds, sts=sts, coref=coref, planted=planted,
                  stress_sts=_stress_sts(random.Random(derive_seed(config.seed, "world", "stress-sts")),
                                         config.n_sts_templates),
                  winogender_templates=_winogender_templates(random.Random(derive_seed(config.seed, "world", "winogender"))))
    logger.info("Synthetic world (seed %d, bias_strength %s): %d documents, %d STS pairs, %d coref examples",
                config.seed, config.bias_strength, len(world.corpus), config.n_sts_pairs, config.n_coref_examples)
    return world


# ------------------------------------------------------------------------------------------------------------- write

MANIFEST = "world.json"
# 2: probe documents, held-out cue clauses, gender-balanced fine-tuning examples, no-cue Winogender templates.
WORLD_VERSION = 2
STRESS_STS_FILE = "sts-test.tsv"
PLANTED_FILE = "planted.tsv"  # also the calibration test's target
WINOGENDER_FOLDER = "winogender"
LAYOUT = {
    "corpus.txt": "one short document per line (pretraining text)",
    "planted.tsv": "occupation, bls_pct_female, p_she: the planted share of 'she' among gendered pronouns",
    "sts/{train,dev,test}.tsv": "sentence1, sentence2, label (gold 0-5): the GLUE STS-B layout, read by load_stsb",
    "coref/{train,dev,test}.jsonl": "candidate JSON Lines (nlp_underspec.data.coref); candidate 0 = occupation",
    f"stress/{STRESS_STS_FILE}": "STS-B-style pairs for sts_gender (templates begin 'A man' / 'A woman')",
    f"stress/{WINOGENDER_FOLDER}/": "templates.tsv, all_sentences.tsv, occupations-stats.tsv (Winogender repo layout)",
    f"stress/{PLANTED_FILE}": "the planted table again: the calibration test's target",
}


def _manifest(world: World, *, layout: Mapping[str, str]) -> dict:
    return {"kind": "nlp_underspec.synthetic_world", "version": WORLD_VERSION, "config": to_plain(world.config),
            "sizes": {"corpus": len(world.corpus), **{f"sts/{k}": len(v) for k, v in world.sts.items()},
                      **{f"coref/{k}": len(v) for k, v in world.coref.items()},
                      "stress_sts": len(world.stress_sts), "winogender_templates": len(world.winogender_templates)},
            "layout": dict(layout)}


def _holds_world(folder: Path) -> bool:
    """True if ``folder`` is an earlier output of :func:`write_world` / :func:`write_stress_sets` (safe to replace)."""
    from nlp_underspec.errors import UsageError
    from nlp_underspec.io import read_json

    if not (folder / MANIFEST).is_file():
        return False
    try:
        return read_json(folder / MANIFEST).get("kind") == "nlp_underspec.synthetic_world"
    except (UsageError, AttributeError):  # not JSON, or not an object: not a world we wrote
        return False


def _world_output():
    """What :func:`write_world` and :func:`write_stress_sets` write at the top of their folders (either may replace
    the other's output: both are ours)."""
    from nlp_underspec.io import OutputKind

    return OutputKind("synthetic world folder", _holds_world,
                      frozenset({MANIFEST, "corpus.txt", "planted.tsv", "sts", "coref", "stress", STRESS_STS_FILE,
                                 WINOGENDER_FOLDER, PLANTED_FILE}))


def _write_stress_files(world: World, folder: Path) -> dict[str, Path]:
    from nlp_underspec.tables import write_tsv

    winogender = folder / WINOGENDER_FOLDER
    winogender.mkdir(parents=True, exist_ok=True)
    write_tsv(world.stress_sts_frame(), folder / STRESS_STS_FILE)
    frames = world.winogender_frames()
    write_tsv(frames["templates"], winogender / "templates.tsv")
    write_tsv(frames["all_sentences"], winogender / "all_sentences.tsv")
    write_tsv(frames["occupations_stats"], winogender / "occupations-stats.tsv")
    write_tsv(world.planted_frame(), folder / PLANTED_FILE)
    return {"stsb": folder / STRESS_STS_FILE, "winogender": winogender, "calibration": folder / PLANTED_FILE}


def write_world(world: World, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write the whole world to ``folder`` (layout in :data:`LAYOUT`, described again in ``world.json``).

    The folder is built beside its destination and swapped in whole, so a crash leaves the old folder or the new one.
    A folder holding an earlier world is replaced; any other non-empty folder is refused (``overwrite`` replaces only
    a world of ours, so it changes nothing here).
    """
    from nlp_underspec.data.coref import write_candidate_jsonl
    from nlp_underspec.io import atomic_write_json, atomic_write_text, staged_output
    from nlp_underspec.tables import write_tsv

    folder = Path(folder)
    with staged_output(folder, overwrite=overwrite, accept_existing=_holds_world, kind=_world_output()) as stage:
        atomic_write_text(stage / "corpus.txt", "\n".join(world.corpus) + "\n")
        write_tsv(world.planted_frame(), stage / "planted.tsv")
        (stage / "sts").mkdir()
        for split in SPLITS:
            write_tsv(world.sts_frame(split), stage / "sts" / f"{split}.tsv")
            write_candidate_jsonl(stage / "coref" / f"{split}.jsonl", world.coref[split])
        _write_stress_files(world, stage / "stress")
        atomic_write_json(stage / MANIFEST, _manifest(world, layout=LAYOUT))
    logger.info("Wrote the synthetic world to %s", folder)
    return folder


def write_stress_sets(world: World, folder: str | os.PathLike, *, overwrite: bool = False) -> dict[str, Path]:
    """Write only the stress sets: ``{"stsb": folder/sts-test.tsv, "winogender": folder/winogender,
    "calibration": folder/planted.tsv}``.

    Idempotent: a folder that already holds this world's stress sets is left as it is (sweeps call this per run).
    """
    from nlp_underspec.io import atomic_write_json, read_json, staged_output

    folder = Path(folder)
    manifest = _manifest(world, layout={k.removeprefix("stress/"): v for k, v in LAYOUT.items() if k.startswith("stress/")})
    paths = {"stsb": folder / STRESS_STS_FILE, "winogender": folder / WINOGENDER_FOLDER,
             "calibration": folder / PLANTED_FILE}
    if _holds_world(folder) and read_json(folder / MANIFEST) == _plain_json(manifest):
        return paths
    with staged_output(folder, overwrite=overwrite, accept_existing=_holds_world, kind=_world_output()) as stage:
        _write_stress_files(world, stage)
        atomic_write_json(stage / MANIFEST, manifest)
    return paths


def _plain_json(obj):
    import json

    from nlp_underspec.io import to_json

    return json.loads(to_json(obj))


# -------------------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    """``python -m nlp_underspec.synthetic OUT [--seed S] [--bias-strength B] [--set world.KEY=VALUE]``: write a world."""
    import argparse
    import sys

    from nlp_underspec.config import recipe_from_dict, apply_overrides

    parser = argparse.ArgumentParser(prog="python -m nlp_underspec.synthetic", description=main.__doc__.split(":")[0])
    parser.add_argument("out", help="folder to write (replaced if it holds an earlier world)")
    parser.add_argument("--seed", type=int, default=None, help="the world's seed (default 0)")
    parser.add_argument("--bias-strength", type=float, default=None, help="0 = no association, 1 = BLS (default 1)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="any world field, e.g. --set world.n_corpus_sentences=20000")
    parser.add_argument("--overwrite", action="store_true",
                        help="kept for scripts: an earlier world is replaced anyway, and a folder holding anything "
                             "else never is")
    args = parser.parse_args(argv)
    overrides = list(args.set)
    overrides += [f"world.seed={args.seed}"] if args.seed is not None else []
    overrides += [f"world.bias_strength={args.bias_strength}"] if args.bias_strength is not None else []
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        config = recipe_from_dict(apply_overrides({}, overrides), where="command line").world
        folder = write_world(build_world(config), args.out, overwrite=args.overwrite)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    print(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
