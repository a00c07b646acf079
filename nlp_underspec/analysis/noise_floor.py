"""Noise floors (docs/design.md, contract 9): which of a family's correlations are float leftovers rather than findings.

A Pearson r ignores scale: a saturated coreference head with |bias| of a millionth still gets an r, and a family of
such heads still gets a spread, an ICC and a Multi-Bootstrap interval of that r. Each model's summary says whether it
is ``below_noise_floor`` for a test (scores.parquet rows ``below_noise_floor`` = 1.0/0.0, ``noise_floor`` = the floor);
the test's ``signal_metrics`` (from the registry) are the correlations that floor invalidates.

Rule, per test and population: when **any** scored model is below the floor, no family statement is made on the
signal metrics. Mixing float leftovers into a spread or an ICC states noise as a finding, and leaving those models out
would keep only the more biased networks (a selection on the outcome) and break the seed grid. The magnitudes
(``mean_abs_bias``, ``bias_slope``, ...) stay analysed: they are what shows the head saturated. Scores written before
the flag existed carry no flag; their statements are made and ``noise_floor`` says the floor was not checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from nlp_underspec.analysis._common import PRETRAINED_SUFFIX, populations
from nlp_underspec.analysis.registered import magnitude_name, signal_metrics

BELOW_FLAG = "below_noise_floor"
FLOOR = "noise_floor"
NOT_METRICS = (BELOW_FLAG, FLOOR, "scale")  # describe how a score was made, not a score to analyse

ALL_BELOW = ("{key}: {n_below} of {n} models are below the noise floor ({magnitude} < {floor}): a correlation of float "
             "leftovers, not a finding")
SOME_BELOW = ("{key}: {n_below} of {n} models are below the noise floor ({magnitude} < {floor}): their correlations "
              "are float leftovers, and a family statement would mix them with findings (leaving them out would keep "
              "only the more biased networks)")
PROFILE_NOTE = ("{n_below} of {n} models are below the noise floor ({magnitude} < {floor}): their profiles are float "
                "leftovers, so structure found here may be noise")
NOT_RECORDED = "the scores carry no below_noise_floor flag (scored before the floor existed): not checked"


@dataclass(frozen=True)
class FloorStatus:
    """One test in one population: how many of its scored models are below the noise floor, and which."""

    test: str
    population: str
    n_models: int  # models of the population with per-model scores of the test
    n_recorded: int  # of those, how many carry the flag
    below: tuple[str, ...]  # models below the floor
    floors: tuple[float, ...]  # distinct floors (a cross-encoder's is 5x a cosine's)
    signal: tuple[str, ...]

    @property
    def blocks(self) -> bool:
        """True when the signal metrics of this test get no family statement."""
        return bool(self.below) and bool(self.signal)

    def floor_text(self) -> str:
        """``0.0001``, or ``0.0001-0.0005`` when models were scored on different scales."""
        if not self.floors:
            return "its floor"
        low, high = min(self.floors), max(self.floors)
        return f"{low:g}" if low == high else f"{low:g}-{high:g}"

    def reason(self, key: str) -> str:
        """Why ``key`` (a signal metric of this test) gets no statement."""
        template = ALL_BELOW if len(self.below) == self.n_models else SOME_BELOW
        return template.format(key=key, n_below=len(self.below), n=self.n_models, magnitude=magnitude_name(self.test),
                               floor=self.floor_text())

    def profile_note(self) -> str:
        """What PCA and clustering of this test's profiles say when some models are below the floor."""
        return PROFILE_NOTE.format(n_below=len(self.below), n=self.n_models, magnitude=magnitude_name(self.test),
                                   floor=self.floor_text())

    def to_dict(self) -> dict:
        entry = {"test": self.test, "population": self.population, "n_models": self.n_models,
                 "n_below": len(self.below), "models_below": list(self.below),
                 "floor": (self.floors[0] if len(self.floors) == 1 else list(self.floors)) if self.floors else None,
                 "magnitude": magnitude_name(self.test), "signal_metrics": list(self.signal),
                 "signal_statements": "skipped" if self.blocks else "made"}
        if self.n_recorded < self.n_models:
            entry["note"] = (NOT_RECORDED if self.n_recorded == 0 else
                             f"{self.n_models - self.n_recorded} of {self.n_models} models carry no below_noise_floor "
                             "flag: those were not checked")
        return entry


def floor_statuses(scores: pd.DataFrame) -> dict[tuple[str, str], FloorStatus]:
    """``(test, population) -> FloorStatus`` for every test with per-model scores in ``scores`` (tidy, contract 4)."""
    rows = scores[scores["occupation"].isna()].copy()
    rows["population"] = populations(rows)
    statuses = {}
    for (test, population), part in rows.groupby(["test", "population"], sort=True):
        flags = part[part["metric"] == BELOW_FLAG]
        floors = part.loc[part["metric"] == FLOOR, "value"].to_numpy(dtype=float)
        below = tuple(sorted(str(m) for m in flags.loc[flags["value"].to_numpy(dtype=float) > 0.5, "model"]))
        statuses[(str(test), str(population))] = FloorStatus(
            test=str(test), population=str(population), n_models=int(part["model"].nunique()),
            n_recorded=int(flags["model"].nunique()), below=below,
            floors=tuple(sorted({float(f) for f in floors})), signal=signal_metrics(str(test)))
    return statuses


def noise_floor_section(statuses: dict[tuple[str, str], FloorStatus], *, suffix_pretrained: bool) -> dict:
    """analysis.json's ``noise_floor``: one entry per test that has signal metrics, keyed like the metrics' tests
    (``<test>``, and ``<test>@pretrained`` when both populations are present)."""
    return {test + (PRETRAINED_SUFFIX if suffix_pretrained and population == "pretrained" else ""): status.to_dict()
            for (test, population), status in statuses.items() if status.signal}
