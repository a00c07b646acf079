"""The models of an experiment as ``summary.json`` lists them (docs/design.md, contract 5), with their iid metrics
gathered from the summary or, for an older summary without them, from scores.parquet."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from nlp_underspec.analysis.noise_floor import NOT_METRICS
from nlp_underspec.analysis.registered import magnitude_metric, signal_metrics
from nlp_underspec.artifacts import parse_run_id
from nlp_underspec.config import TASKS
from nlp_underspec.errors import UsageError

NO_MODELS = "{path} lists no models. Run `nlp-underspec evaluate` or `nlp-underspec run` to produce results."
MODEL_WITHOUT_NAME = "{path}: models[{index}] has no 'model' field (docs/design.md, contract 5). Re-run the scoring."
KINDS = ("pretrained", "finetuned", "external")


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class ModelResult:
    """One entry of ``summary.json``'s ``models``, with its iid metrics gathered from the summary or the scores."""

    name: str
    pretrain_seed: int | None
    finetune_seed: int | None
    kind: str  # pretrained | finetuned | external
    checkpoint: str | None
    tests: dict[str, dict[str, Any]]
    iid: dict[str, dict[str, float]]
    compression: dict[str, Any] | None = None  # what `nlp-underspec compress` did to this checkpoint, if anything

    def value(self, test: str, metric: str) -> float | None:
        if test in self.tests:
            return finite(self.tests[test].get(metric))
        return finite(self.iid.get(test, {}).get(metric))

    def ci95(self, test: str) -> tuple[float, float] | None:
        """The interval summary.json gives for a test's headline metric."""
        ci = self.tests.get(test, {}).get("ci95")
        if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(finite(v) is not None for v in ci):
            return float(ci[0]), float(ci[1])
        return None

    def stress_metrics(self) -> list[tuple[str, str]]:
        """(test, metric) for every numeric score of every stress test (counts like n_occupations, and how a score was
        made: noise_floor, scale, excluded)."""
        pairs = []
        for test, values in self.tests.items():
            for metric, value in values.items():
                if finite(value) is not None and not metric.startswith("n_") and metric not in NOT_METRICS:
                    pairs.append((test, metric))
        return pairs

    def below_floor(self, test: str, metric: str) -> bool:
        """True when ``metric`` is a correlation of ``test`` that this model's noise floor makes float leftovers."""
        return bool(self.tests.get(test, {}).get("below_noise_floor")) and metric in signal_metrics(test)

    def magnitude(self, test: str) -> tuple[float | None, float | None]:
        """This model's magnitude for ``test`` (mean |bias|, mean |delta|) and the test's noise floor for it."""
        name = magnitude_metric(test)
        block = self.tests.get(test, {})
        return (finite(block.get(name)) if name else None), finite(block.get("noise_floor"))


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return int(value)
    except (TypeError, ValueError):
        return None


def _kind_of(entry: dict[str, Any], name: str) -> str:
    kind = entry.get("kind")
    if kind in KINDS:
        return kind
    parsed = parse_run_id(name)
    if parsed is None:
        return "external"
    return "pretrained" if parsed.is_pretrained else "finetuned"


def _iid_from_scores(scores: pd.DataFrame, name: str) -> dict[str, dict[str, float]]:
    if scores.empty:
        return {}
    rows = scores[(scores["model"] == name) & scores["occupation"].isna() & scores["test"].isin(list(TASKS))]
    iid: dict[str, dict[str, float]] = {}
    for row in rows.itertuples(index=False):
        iid.setdefault(str(row.test), {})[str(row.metric)] = float(row.value)
    return iid


def _iid_of(entry: dict[str, Any], scores: pd.DataFrame, name: str) -> dict[str, dict[str, float]]:
    iid = entry.get("iid")
    if not isinstance(iid, dict):
        return _iid_from_scores(scores, name)
    return {t: {k: float(v) for k, v in values.items() if finite(v) is not None}
            for t, values in iid.items() if isinstance(values, dict)}


def model_results(summary: dict[str, Any], scores: pd.DataFrame, path: Path) -> list[ModelResult]:
    """summary.json's ``models``, one :class:`ModelResult` each; ``path`` names the summary in messages."""
    entries = summary.get("models")
    if not isinstance(entries, list) or not entries:
        raise UsageError(NO_MODELS.format(path=path))
    models = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("model"):
            raise UsageError(MODEL_WITHOUT_NAME.format(path=path, index=index))
        name = str(entry["model"])
        tests = {t: dict(v) for t, v in (entry.get("tests") or {}).items() if isinstance(v, dict)}
        models.append(ModelResult(name=name, pretrain_seed=_int_or_none(entry.get("pretrain_seed")),
                                  finetune_seed=_int_or_none(entry.get("finetune_seed")), kind=_kind_of(entry, name),
                                  checkpoint=entry.get("checkpoint"), tests=tests, iid=_iid_of(entry, scores, name),
                                  compression=entry["compression"] if isinstance(entry.get("compression"), dict)
                                  else None))
    return models
