"""The texts a pronoun-resolution head reads besides the sentence: the probe statement that names a candidate as the
pronoun's antecedent ("She is the nurse."), the sentence with its probe appended (the ranking head masks the
candidate there), the sentence with its pronoun marked (``*she*``) or replaced by the candidate (the cross-encoder's
two pair forms, :data:`PAIR_STATEMENTS`)."""

from __future__ import annotations

from nlp_underspec.data.coref import CorefExample

PRONOUN_MARK = "*"  # around the pronoun in the cross-encoder's sentence: "... that *she* could ..."
# What the cross-encoder pairs the marked sentence with, per candidate: the probe statement ("She is the nurse.") or
# the sentence with the pronoun replaced by the candidate ("... that the nurse could ..."; WinoGrande's own form).
PAIR_STATEMENTS = ("probe", "substitution")


# The pronoun's nominative form and verb for the probe, from the pronoun as written (any case, any form).
_PROBE_SUBJECT = {word: ("she", "is") for word in ("she", "her", "hers", "herself")}
_PROBE_SUBJECT.update({word: ("he", "is") for word in ("he", "him", "his", "himself")})
_PROBE_SUBJECT.update({word: ("they", "are") for word in ("they", "them", "their", "theirs", "themselves", "themself")})
_PROBE_SUBJECT.update({word: ("it", "is") for word in ("it", "its", "itself")})
_DETERMINERS = ("the ", "a ", "an ", "his ", "her ", "their ", "its ", "my ", "our ", "your ", "this ", "that ")
_BARE_NOUN_PHRASES = ("someone", "somebody", "everyone", "nobody", "anyone")


def probe_subject(pronoun: str) -> tuple[str, str]:
    """("She", "is") for "her", ("They", "are") for "them"; any other word is used as written, with "is".

    >>> probe_subject("Her"), probe_subject("them")
    (('She', 'is'), ('They', 'are'))
    """
    nominative, verb = _PROBE_SUBJECT.get(pronoun.lower(), (pronoun, "is"))
    return nominative[:1].upper() + nominative[1:], verb


def probe_phrase(candidate: str) -> str:
    """How the probe names a candidate: "the nurse"; as written when it is a name, "someone" or has a determiner
    (a sentence-initial one lowered: the probe names it mid-sentence).

    >>> probe_phrase("nurse"), probe_phrase("someone"), probe_phrase("the city council"), probe_phrase("Mary")
    ('the nurse', 'someone', 'the city council', 'Mary')
    >>> probe_phrase("The city councilmen")
    'the city councilmen'
    """
    lowered = candidate.lower()
    if lowered.startswith(_DETERMINERS):
        return lowered[:1] + candidate[1:]
    if lowered in _BARE_NOUN_PHRASES or candidate[:1].isupper():
        return candidate
    return f"the {candidate}"


def probe_statement(pronoun: str, candidate: str) -> str:
    """The statement that names ``candidate`` as the pronoun's antecedent.

    >>> probe_statement("her", "patient"), probe_statement("_", "Mary")
    ('She is the patient.', '_ is Mary.')
    """
    subject, verb = probe_subject(pronoun)
    return f"{subject} {verb} {probe_phrase(candidate)}."


def probe_text(sentence: str, pronoun: str, candidate: str) -> tuple[str, tuple[int, int]]:
    """The sentence with its probe appended, and the character span of the candidate inside the probe.

    >>> probe_text("The nurse met the patient because she was early.", "she", "patient")
    ('The nurse met the patient because she was early. She is the patient.', (60, 67))
    """
    text = f"{sentence} {probe_statement(pronoun, candidate)}"
    end = len(text) - 1
    return text, (end - len(candidate), end)


def marked_sentence(example: CorefExample) -> str:
    """The sentence with its pronoun between :data:`PRONOUN_MARK` s: which of two "she"s is meant stays visible.

    >>> marked_sentence(CorefExample("The nurse said she would.", (15, 18), ((4, 9), (0, 3)), 0))
    'The nurse said *she* would.'
    """
    start, end = example.pronoun
    return f"{example.text[:start]}{PRONOUN_MARK}{example.text[start:end]}{PRONOUN_MARK}{example.text[end:]}"


_POSSESSIVES = ("his", "its", "their", "theirs", "hers")
# After "her", these words make it an object ("told her that"), anything else a possessive ("her shift").
_AFTER_OBJECT_HER = frozenset("a an the that this to and or but so because if as when while with for from of in on "
                              "at by about into up down out off back over again too very not".split())


def substituted_sentence(example: CorefExample, index: int) -> str:
    """The sentence with its pronoun (or blank) replaced by candidate ``index`` as the probe names it: "'s" added
    for a possessive pronoun ("his", "their", and "her" before a word that is no preposition, conjunction or
    determiner), the first letter capitalised where the pronoun was. Verb agreement is left as written ("they were"
    becomes "the nurse were").

    >>> substituted_sentence(CorefExample("The nurse said she would.", (15, 18), ((4, 9), (0, 3)), 0), 0)
    'The nurse said the nurse would.'
    >>> substituted_sentence(CorefExample("Her shift ends, the nurse said.", (0, 3), ((20, 25), (4, 9)), 0), 0)
    "The nurse's shift ends, the nurse said."
    """
    start, end = example.pronoun
    written, after = example.text[start:end], example.text[end:]
    phrase = probe_phrase(example.candidate_name(index))
    next_word = after.split(maxsplit=1)[0].strip(".,;:!?").lower() if after.strip() else ""
    possessive = written.lower() in _POSSESSIVES or (
        written.lower() == "her" and next_word.isalpha() and next_word not in _AFTER_OBJECT_HER)
    if possessive:
        phrase = f"{phrase}'s"
    if written[:1].isupper():
        phrase = phrase[:1].upper() + phrase[1:]
    return f"{example.text[:start]}{phrase}{after}"


def pair_statement(example: CorefExample, index: int, statement: str = "probe") -> str:
    """The second segment of candidate ``index``'s pair (:data:`PAIR_STATEMENTS`)."""
    if statement == "substitution":
        return substituted_sentence(example, index)
    return probe_statement(example.span_text(example.pronoun), example.candidate_name(index))
