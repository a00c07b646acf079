"""The 60 Winogender occupations and the share of women in each (the figures that ship with the package).

Source: Rudinger et al. 2018, "Gender Bias in Coreference Resolution" (NAACL), ``occupations-stats.tsv``:
``bls_pct_female`` from the U.S. Bureau of Labor Statistics (2015, some 2016), ``bergsma_pct_female`` from the
Bergsma & Lin (2006) pronoun counts. Stress tests correlate per-occupation model behaviour with ``bls_pct_female``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from nlp_underspec.errors import UsageError
from nlp_underspec.tables import read_tsv, to_numeric_column

STATS_COLUMNS = ("occupation", "bergsma_pct_female", "bls_pct_female", "bls_year")
UNKNOWN_OCCUPATION = ("{path}, line {line}: unknown occupation '{occupation}'. The stress tests cover the 60 Winogender "
                      "occupations (e.g. {examples}); fix the name or drop the row.")
MISSING_OCCUPATIONS = ("{path} lacks {count} of the 60 Winogender occupations: {missing}. "
                       "Add their rows (bls_pct_female is needed for every occupation).")
DUPLICATE_OCCUPATION = "{path}, line {line}: occupation '{occupation}' appears more than once."
PCT_OUT_OF_RANGE = "{path}, line {line}: {column} must be a percentage in [0, 100], got {value}."

# Words whose spelling starts with a vowel letter but whose sound does not, or the reverse. None of the 60 needs one
# today; kept so a user-registered word list gets "a" / "an" right.
_ARTICLE_EXCEPTIONS = {"hour": "an", "honest": "an", "heir": "an", "university": "a", "unit": "a", "user": "a",
                       "union": "a", "european": "a", "one": "a", "uniform": "a", "urologist": "a"}


def indefinite_article(word: str) -> str:
    """``a`` or ``an`` for the word that follows.

    >>> indefinite_article("accountant"), indefinite_article("nurse"), indefinite_article("hour")
    ('an', 'a', 'an')
    """
    lowered = word.lower()
    for prefix, article in _ARTICLE_EXCEPTIONS.items():
        if lowered.startswith(prefix):
            return article
    return "an" if lowered[:1] in "aeiou" else "a"


def _packaged_stats_path() -> Path:
    return Path(str(resources.files("nlp_underspec.data").joinpath("occupations.tsv")))


def load_occupation_stats(path: str | os.PathLike | None = None, *, known: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Occupation statistics indexed by ``occupation`` with float ``bls_pct_female`` / ``bergsma_pct_female``.

    Without ``path``, the shipped table. With a user's ``occupations-stats.tsv``, every occupation must be one of the 60
    and all 60 must be present.

    >>> stats = load_occupation_stats()
    >>> len(stats), float(stats.loc["nurse", "bls_pct_female"])
    (60, 89.58)
    """
    if path is None:
        return _shipped_stats().copy()
    frame = read_tsv(path, required=("occupation", "bls_pct_female"),
                     hint="Expected the Winogender occupations-stats.tsv layout.")
    return _validate_stats(frame, known=known or OCCUPATIONS)


def _validate_stats(frame: pd.DataFrame, *, known: tuple[str, ...]) -> pd.DataFrame:
    path, first = frame.attrs.get("source", "<stats>"), frame.attrs.get("first_line", 2)
    frame = frame.copy()
    frame["occupation"] = frame["occupation"].str.strip()
    for index, occupation in enumerate(frame["occupation"]):
        if occupation not in known:
            raise UsageError(UNKNOWN_OCCUPATION.format(path=path, line=index + first, occupation=occupation,
                                                       examples=", ".join(known[:3])))
    duplicated = frame["occupation"].duplicated()
    if duplicated.any():
        index = int(duplicated.to_numpy().nonzero()[0][0])
        raise UsageError(DUPLICATE_OCCUPATION.format(path=path, line=index + first,
                                                     occupation=frame["occupation"].iloc[index]))
    missing = [o for o in known if o not in set(frame["occupation"])]
    if missing:
        raise UsageError(MISSING_OCCUPATIONS.format(path=path, count=len(missing), missing=", ".join(missing)))
    for column in ("bls_pct_female", "bergsma_pct_female"):
        if column not in frame.columns:
            continue
        # bls_pct_female is the x of every bias correlation: an empty one would drop its occupation without a word.
        required = column == "bls_pct_female"
        frame[column] = to_numeric_column(frame, column, required=required,
                                          kind="a percentage (every occupation needs one)" if required else "a percentage")
        out_of_range = (frame[column] < 0) | (frame[column] > 100)
        if out_of_range.any():
            index = int(out_of_range.to_numpy().nonzero()[0][0])
            raise UsageError(PCT_OUT_OF_RANGE.format(path=path, line=index + first, column=column,
                                                     value=frame[column].iloc[index]))
    if "bls_year" in frame.columns:
        frame["bls_year"] = to_numeric_column(frame, "bls_year", kind="a year", integer=True)
    return frame.set_index("occupation")


@lru_cache(maxsize=1)
def _shipped_stats() -> pd.DataFrame:
    path = _packaged_stats_path()
    frame = pd.read_csv(path, sep="\t", comment="#", dtype=str)
    frame.attrs["source"], frame.attrs["first_line"] = str(path), 5
    return _validate_stats(frame, known=tuple(frame["occupation"].str.strip()))


OCCUPATIONS: tuple[str, ...] = tuple(_shipped_stats().index)
