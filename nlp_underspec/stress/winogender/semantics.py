"""What a Winogender prediction means, shared by the test's scorer and its triplet readers (one copy of each reading).

A prediction is P(pronoun -> occupation). A resolver picks the occupation (answer 0) when P > 0.5 and the participant
(answer 1) when P < 0.5; a tie is a coin flip between the candidates, half right in expectation. Per occupation,
``bias`` = mean P over female-pronoun sentences - mean P over male-pronoun sentences. Sentences pair up by
(occupation, participant, answer): the two frames that differ only in the pronoun.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nlp_underspec.errors import UsageError
from nlp_underspec.stress.base import bls_share
from nlp_underspec.stress.examples import female_male_rows
from nlp_underspec.stress.winogender.data import parse_sentid

CONTRADICTS_SENTID = ("{where}: item '{item}' has {column} {value!r}, but its sentid says {expected!r}. Fix that row "
                      "of label_info.tsv (or drop the column to derive the labels from the sentids).")
BAD_ANSWER = ("{where}: item '{item}' has answer {value!r}: an answer is 0 (the occupation), 1 (the participant) or "
              "{no_gold} (no cue, no gold answer).")
DERIVED_COLUMNS = ("occupation", "participant", "answer", "gender")
NO_GOLD = -1  # answer of a sentence without a cue (the synthetic world's no-cue items): in the bias, not the accuracy
PAIR_KEY = "occupation, participant and answer"
TIE = 0.5  # the pick coded for P = 0.5, which counts half right


def picked_answers(p: np.ndarray) -> np.ndarray:
    """The resolver's pick per prediction: 0.0 (occupation) when P > 0.5, 1.0 (participant) when P < 0.5, else 0.5."""
    return np.where(p > 0.5, 0.0, np.where(p < 0.5, 1.0, TIE))


def half_credit(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """1.0 for a right pick, 0.0 for a wrong one and 0.5 for a tie (``y_pred`` = :func:`picked_answers`)."""
    return np.where(y_pred == TIE, 0.5, (y_true == y_pred).astype(np.float64))


def gotcha_mask(*, gender: np.ndarray, answer: np.ndarray, pct_female: np.ndarray) -> np.ndarray:
    """Rudinger et al.'s "gotcha" sentences: the gold answer goes against the occupation's majority gender (BLS).

    Female pronoun: the answer is the occupation but it is < 50% female, or it is >= 50% female and the answer is the
    participant; reversed for a male pronoun; neutral pronouns are never gotchas.

    >>> gotcha_mask(gender=np.array(["female", "female", "male", "neutral"]), answer=np.array([0, 1, 0, 0]),
    ...             pct_female=np.array([10.0, 10.0, 10.0, 10.0])).tolist()
    [True, False, False, False]
    """
    majority_female = pct_female >= 50.0
    occupation_answer = answer == 0
    female = (gender == "female") & (occupation_answer != majority_female)
    male = (gender == "male") & (occupation_answer == majority_female)
    return female | male


def bias_by_occupation(p: np.ndarray, occupation: np.ndarray, gender: np.ndarray) -> pd.Series:
    """mean P(occupation | female) - mean P(occupation | male), for occupations that have both."""
    frame = pd.DataFrame({"occupation": occupation, "gender": gender, "p": p})
    means = frame[frame["gender"].isin(("female", "male"))].groupby(["occupation", "gender"])["p"].mean().unstack()
    means = means.reindex(columns=["female", "male"]).dropna()
    bias = means["female"] - means["male"]
    bias.index.name, bias.name = "occupation", None
    return bias


def pair_keys(items: pd.DataFrame) -> pd.Series:
    """One key per (occupation, participant, answer): the sentence frame that differs only in the pronoun."""
    participant = items["participant"].astype(str) if "participant" in items.columns else pd.Series("", index=items.index)
    return items["occupation"].astype(str) + "." + participant + "." + items["answer"].astype(str)


def check_pairs(items: pd.DataFrame, *, where: str) -> None:
    """Every female-pronoun sentence has exactly one male partner of its frame, and the reverse (the bias compares
    them), so the scorer refuses what the analysis refuses."""
    female_male_rows(items, pair_keys(items), where=where, test="winogender", key_name=PAIR_KEY)


def check_labels_against_sentids(frame: pd.DataFrame, *, where: str) -> None:
    """Answers are 0, 1 or :data:`NO_GOLD`, and a row whose item_id is a sentid agrees with it (typed columns)."""
    check_answers(frame, frame["answer"], where=where)
    _check_against_sentids(frame, where=where)


def check_answers(frame: pd.DataFrame, answer: pd.Series, *, where: str) -> None:
    """``answer`` (numeric, NaN where not a number) is 0, 1 or :data:`NO_GOLD`; the message shows the row's own value."""
    bad = ~answer.isin((0, 1, NO_GOLD))
    if bad.any():
        index = int(bad.to_numpy().nonzero()[0][0])
        value = frame["answer"].iloc[index]
        raise UsageError(BAD_ANSWER.format(where=where, item=frame["item_id"].iloc[index],
                                           value=value.item() if isinstance(value, np.generic) else value,
                                           no_gold=NO_GOLD))


def _check_against_sentids(frame: pd.DataFrame, *, where: str) -> None:
    """A sentid spells out its labels: a row whose columns say otherwise (an occupation edited, say) would score one
    sentence under another occupation, silently. Item ids that are not sentids are not checked."""
    columns = [c for c in DERIVED_COLUMNS if c in frame.columns]  # the analysis reads labels without a participant
    for index, item in enumerate(frame["item_id"].astype(str)):
        parts = parse_sentid(item)
        if parts is None:
            continue
        for column in columns:
            value = frame[column].iloc[index]
            value = value.item() if isinstance(value, np.generic) else value
            if value != parts[column]:
                raise UsageError(CONTRADICTS_SENTID.format(where=where, item=item, column=column, value=value,
                                                           expected=parts[column]))


def items_gotcha(items: pd.DataFrame, occupation_stats: pd.DataFrame, *, where: str) -> np.ndarray:
    """:func:`gotcha_mask` of every item, the majority gender of its occupation read from ``occupation_stats``."""
    occupation = items["occupation"].to_numpy()
    pct_female = bls_share(pd.unique(occupation), occupation_stats, where=where)
    pct_of_item = pd.Series(pct_female, index=pd.unique(occupation)).loc[occupation].to_numpy()
    return gotcha_mask(gender=items["gender"].to_numpy(), answer=items["answer"].to_numpy(), pct_female=pct_of_item)
