"""The synthetic world's words: occupations' participants, pronoun forms, two-person frames, cue clauses (provider,
client, neutral; held out or seen in fine-tuning), the STS meaning space, and the small renderers every part shares.

Clauses hold pronoun slots ``{nom}``, ``{poss}``, ``{acc}`` and ``{was}`` (the verb that agrees with the pronoun);
frames hold two noun phrases ``{x}``, ``{y}`` and a ``{clause}``. Every sentence here is written for this package.
"""

from __future__ import annotations

import random


# One participant per occupation (occupation:participant): the person the professional deals with. None is gendered,
# none is an occupation.
PARTICIPANTS: dict[str, str] = dict(pair.split(":") for pair in """
    technician:customer accountant:client supervisor:trainee engineer:contractor worker:visitor educator:pupil
    clerk:shopper counselor:student inspector:landlord mechanic:driver manager:employee therapist:client
    administrator:applicant salesperson:buyer receptionist:guest librarian:reader advisor:investor
    pharmacist:patient janitor:tenant psychologist:patient physician:patient carpenter:homeowner nurse:patient
    investigator:witness bartender:guest specialist:patient electrician:homeowner officer:driver
    pathologist:patient teacher:student lawyer:client planner:host practitioner:patient plumber:tenant
    instructor:learner surgeon:patient veterinarian:owner paramedic:passenger examiner:candidate chemist:assistant
    machinist:apprentice appraiser:seller nutritionist:athlete architect:developer hairdresser:customer
    baker:customer programmer:user paralegal:client hygienist:patient scientist:volunteer dispatcher:caller
    cashier:shopper auditor:treasurer dietitian:patient painter:neighbor broker:buyer chef:diner doctor:patient
    firefighter:resident secretary:visitor
""".split())
SOMEONE = "someone"  # the bleached participant (nobody in particular), used without an article

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
# Held-out cues. Fine-tuning examples use only FINETUNE_*_CLAUSES; the world's pronoun-resolution stress set uses only
# the held-out ones (plus sentences with no cue at all), so what a fine-tuned resolver needs to resolve it lives only in
# pretraining, where the corpus uses every clause (as the real stress set's sentences are not in any fine-tuning set).
# Clauses with a verb that agrees with the pronoun ({was}) stay in fine-tuning: a stress-set template has slots for
# pronouns only. One clause of each class per frame is held out, so the frames stay balanced in fine-tuning and in the
# stress set alike. (An earlier split that left a frame lopsided, such as "{nom} wanted to ..." only among fine-tuning
# providers, made resolvers read "{nom} wanted to pay in cash" as a provider: 27% accuracy on it, measured.)
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

SOMEONE_RATE = 0.15  # two-person documents whose participant is the bleached "someone"

# ------------------------------------------------------------------------------------------------------- renderers


def draw_gender(rng: random.Random, p_she: float, neutral_share: float) -> str:
    # Always two draws, whatever the outcome: worlds differing only in bias_strength stay aligned sentence by sentence.
    u_neutral, u_she = rng.random(), rng.random()
    if u_neutral < neutral_share:
        return "neutral"
    return "female" if u_she < p_she else "male"


def fill_clause(clause: str, gender: str) -> str:
    return clause.format(**PRONOUN_FORMS[gender])


def noun_phrase(word: str) -> str:
    return word if word == SOMEONE else f"the {word}"


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def probe(gender: str, word: str) -> str:
    """The statement the mlm_probe resolver scores: "She is the nurse.", "They are someone."."""
    forms = PRONOUN_FORMS[gender]
    return f"{capitalize(forms['nom'])} {forms['is']} {noun_phrase(word)}."


def two_person_sentence(rng: random.Random, occupation: str, participant: str, clause: str) -> tuple[str, bool]:
    """Render a frame with the occupation and participant in random order; returns (template text, occupation first)."""
    frame = rng.choice(COREF_FRAMES)
    occupation_first = rng.random() < 0.5
    first, second = (occupation, participant) if occupation_first else (participant, occupation)
    text = frame.format(x=noun_phrase(first), y=noun_phrase(second), clause=clause)
    return capitalize(text), occupation_first


def pick_participant(rng: random.Random, occupation: str) -> str:
    return SOMEONE if rng.random() < SOMEONE_RATE else PARTICIPANTS[occupation]

