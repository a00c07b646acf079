"""Compression stress (Hooker et al. 2020): a compressed copy of every member of a family, scored on the same items.

Two methods, applied to the Linear weights of each checkpoint (2-D ``*.weight`` tensors outside the embeddings; the
masked-LM decoder is tied to the word embeddings and not stored, so it is left as it is):

* ``int8``: torch dynamic int8 quantization (``torch.ao.quantization.quantize_dynamic``, per-tensor symmetric qint8,
  what it stores for each Linear weight). A dynamically quantized model cannot be saved with ``save_pretrained``, so
  the weights are saved after the quantize -> dequantize round trip: exactly what int8 storage loses, as a normal
  safetensors checkpoint. Activations stay float (dynamic quantization would also quantize them at run time): the
  shift measured is that of int8 *weights*.
* ``prune:A``: global magnitude pruning: the share ``A`` of all Linear weights of the checkpoint with the smallest
  |w| (one threshold over all layers together) set to 0, permanently, saved as safetensors.

Each compressed member is predicted with the family's own items (its ``label_info.tsv``, so the same stress sets) and
the way its predictions were made (``run_info.tsv``: scorer, resolver), and scored by :func:`evaluation.score_triplets`.
Checkpoints are read with safetensors only (nothing is unpickled). The fine-tuned copies' iid (dev) metrics are
recomputed from the family's recipe (:mod:`~nlp_underspec.compression_iid`) where it has one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from nlp_underspec import results, triplet
from nlp_underspec.artifacts import COMPRESSION, FINETUNE_RUNS, PREDICTIONS, PRETRAIN_RUNS, PRETRAINED, RUN_RECORD
from nlp_underspec.compression_iid import dev_scorer as make_dev_scorer, iid_shifts
from nlp_underspec.errors import UsageError, did_you_mean
from nlp_underspec.evaluation import ModelRef, find_triplets, predict_test, score_triplets
from nlp_underspec.io import OutputKind, atomic_write_json, check_output_folder, read_json_object, staged_output
from nlp_underspec.stress import PredictOptions, get_stress_test

logger = logging.getLogger(__name__)

WEIGHTS = "model.safetensors"
METHODS = ("int8", "prune")
UNKNOWN_METHOD = "Unknown compression method '{name}'.{hint} Available: int8, prune:LEVEL[,LEVEL...]."
BAD_LEVEL = ("Pruning level '{level}' is not a share of weights: give numbers from 0 (nothing pruned) up to, not "
             "including, 1, e.g. --method prune:0.3,0.5,0.7.")
TWICE = ("Compression level '{name}' is asked for twice: each level is one folder {name}/ of --out, so give each once "
         "(e.g. --method prune:0.3,0.5,0.7).")
NO_LEVELS = "--method prune needs its levels: prune:0.3,0.5,0.7 (shares of Linear weights set to 0)."
NO_MEMBERS = ("{path} holds no family members to compress: expected predictions/<test>/run_info.tsv (and "
              "pretrained/predictions/) naming checkpoints, as `nlp-underspec run` or `evaluate` writes them.")
NO_CHECKPOINT = ("Member '{model}' of {path}: its checkpoint {checkpoint} is not a folder with {weights} (looked in "
                 "{path}/pretrain/ and {path}/finetune/ too). Restore it, or compress a family whose checkpoints are "
                 "on disk.")
N_EXEMPLARS = 10


@dataclass(frozen=True)
class Method:
    """One compression: ``int8`` (amount None) or ``prune`` at ``amount`` (share of Linear weights set to 0)."""

    kind: str
    amount: float | None = None

    @property
    def name(self) -> str:
        """Its folder name: ``int8``, ``prune-0.5``."""
        return self.kind if self.amount is None else f"{self.kind}-{self.amount:g}"

    def record(self) -> dict[str, Any]:
        """What run.json and summary.json say of it (the cards print it)."""
        how = ("int8 weights (quantize_dynamic qint8 round trip of every Linear weight, saved dequantized)"
               if self.kind == "int8" else f"global magnitude pruning of {self.amount:.0%} of Linear weights")
        return {"method": self.kind, "amount": self.amount, "name": self.name, "description": how}


def parse_methods(text: str) -> list[Method]:
    """``int8`` or ``prune:0.3,0.5,0.7`` -> the methods it names, checked.

    >>> [m.name for m in parse_methods("prune:0.3,0.5")], parse_methods("int8")[0].name
    (['prune-0.3', 'prune-0.5'], 'int8')
    """
    kind, _, levels = text.strip().partition(":")
    if kind not in METHODS:
        raise UsageError(UNKNOWN_METHOD.format(name=text, hint=did_you_mean(kind, METHODS)))
    if kind == "int8":
        if levels:
            raise UsageError(UNKNOWN_METHOD.format(name=text, hint=" Did you mean 'int8'?"))
        return [Method("int8")]
    if not levels.strip():
        raise UsageError(NO_LEVELS)
    methods = []
    for level in levels.split(","):
        try:
            amount = float(level)
        except ValueError:
            raise UsageError(BAD_LEVEL.format(level=level.strip())) from None
        if not 0.0 <= amount < 1.0:
            raise UsageError(BAD_LEVEL.format(level=level.strip()))
        methods.append(Method("prune", amount))
    return methods


def check_distinct(methods: Sequence[Method]) -> list[Method]:
    """``methods`` unchanged, or a UsageError for a level given twice (prune:0.5,0.50: both would write prune-0.5/).

    >>> [m.name for m in check_distinct(parse_methods("prune:0.3,0.5"))]
    ['prune-0.3', 'prune-0.5']
    """
    seen: set[str] = set()
    for method in methods:
        if method.name in seen:
            raise UsageError(TWICE.format(name=method.name))
        seen.add(method.name)
    return list(methods)


# -------------------------------------------------------------------------------------------------------- weights
def is_linear_weight(name: str, tensor) -> bool:
    """A Linear layer's weight in a state dict: 2-D, named ``*.weight``, not an embedding table."""
    return tensor.ndim == 2 and name.endswith(".weight") and "embeddings" not in name and tensor.is_floating_point()


def int8_round_trip(weight):
    """``(dequantized weight, scale)``: the Linear weight as quantize_dynamic stores it (qint8, per tensor), back in
    float. Each value moves by at most half a quantization step (``scale``)."""
    import warnings

    import torch

    linear = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        linear.weight.copy_(weight.float())
    with warnings.catch_warnings():  # torch 2.10+ deprecates eager quantization for torchao; it still is the reference
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
        quantized = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(linear), {torch.nn.Linear},
                                                           dtype=torch.qint8)
    stored = quantized[0].weight()  # (out, in) qint8
    return stored.dequantize().to(weight.dtype), float(stored.q_scale())


def prune_global(weights: Mapping[str, Any], amount: float) -> dict[str, Any]:
    """The weights with the ``amount`` share of smallest |w| over all of them (one global threshold) set to 0."""
    import torch

    total = sum(w.numel() for w in weights.values())
    k = int(round(amount * total))
    if k == 0:
        return {name: w.clone() for name, w in weights.items()}
    magnitudes = torch.cat([w.detach().abs().reshape(-1).float() for w in weights.values()])
    order = torch.argsort(magnitudes, stable=True)  # ties broken by position, so exactly k are zeroed
    keep = torch.ones(total, dtype=torch.bool)
    keep[order[:k]] = False
    pruned, start = {}, 0
    for name, w in weights.items():
        mask = keep[start:start + w.numel()].reshape(w.shape)
        pruned[name] = w * mask.to(w.dtype)
        start += w.numel()
    return pruned


def compress_state(state: Mapping[str, Any], method: Method) -> tuple[dict[str, Any], dict[str, Any]]:
    """The compressed state dict and what was done (``n_linear_weights``, ``zero_share`` or ``max_scale``)."""
    linear = {name: w for name, w in state.items() if is_linear_weight(name, w)}
    out = dict(state)
    if method.kind == "int8":
        scales = {}
        for name, w in linear.items():
            out[name], scales[name] = int8_round_trip(w)
        return out, {"n_linear_weights": sum(w.numel() for w in linear.values()), "max_scale": max(scales.values())}
    out.update(prune_global(linear, float(method.amount)))
    zeros = sum(int((out[name] == 0).sum()) for name in linear)
    total = sum(w.numel() for w in linear.values())
    return out, {"n_linear_weights": total, "zero_share": zeros / total}


def compress_checkpoint(source: str | os.PathLike, dest: str | os.PathLike, method: Method) -> dict[str, Any]:
    """Copy the checkpoint folder ``source`` (config, tokenizer, run.json; no intermediate ``step_*`` folders) to
    ``dest`` with its weights compressed; run.json, if any, gets a ``compression`` block. Returns that block."""
    from safetensors.torch import load_file, save_file

    source, dest = Path(source), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.is_file() and item.name not in (WEIGHTS, RUN_RECORD, "log.txt"):
            shutil.copy2(item, dest / item.name)
    state, stats = compress_state(load_file(str(source / WEIGHTS)), method)
    save_file({k: v.contiguous() for k, v in state.items()}, str(dest / WEIGHTS), metadata={"format": "pt"})
    block = {**method.record(), **stats, "source": str(source)}
    if (source / RUN_RECORD).is_file():
        record = read_json_object(source / RUN_RECORD)
        atomic_write_json(dest / RUN_RECORD, {**record, "compression": block})
    return block


# -------------------------------------------------------------------------------------------------------- members
def resolve_checkpoint(run_dir: Path, checkpoint: str) -> Path | None:
    """The member's checkpoint folder: as recorded, else the tail of the recorded path from ``pretrain/`` or
    ``finetune/`` on, inside ``run_dir`` (a sweep records paths relative to where it ran)."""
    path = Path(checkpoint)
    if (path / WEIGHTS).is_file():
        return path
    parts = path.parts
    for index, part in enumerate(parts):
        if part in (PRETRAIN_RUNS, FINETUNE_RUNS) and (run_dir.joinpath(*parts[index:]) / WEIGHTS).is_file():
            return run_dir.joinpath(*parts[index:])
    return None


def family_triplets(run_dir: str | os.PathLike) -> dict[str, dict[str, triplet.Predictions]]:
    """The family's triplets by group: ``""`` (the folder's own) and ``pretrained`` (its pretrained/ part)."""
    run_dir = Path(run_dir)
    groups = {}
    for group, folder in (("", run_dir), (PRETRAINED, run_dir / PRETRAINED)):
        if (folder / PREDICTIONS).is_dir():
            groups[group] = find_triplets(folder)
    if not any(len(p.run_info) and "checkpoint" in p.run_info for found in groups.values() for p in found.values()):
        raise UsageError(NO_MEMBERS.format(path=run_dir))
    return groups


def _options(row: Mapping[str, Any]) -> PredictOptions:
    """How the family's predictions of this row were made (its run_info columns), so the copy is run the same way."""
    chosen = {"progress": False}
    for column, option in (("scorer", "sts_scorer"), ("resolver", "resolver")):
        if isinstance(row.get(column), str) and row[column]:
            chosen[option] = row[column]
    return PredictOptions(**chosen)


def _member_path(run_dir: Path, row: Mapping[str, Any]) -> Path:
    found = resolve_checkpoint(run_dir, str(row["checkpoint"]))
    if found is None:
        raise UsageError(NO_CHECKPOINT.format(model=row["model"], path=run_dir, checkpoint=row["checkpoint"],
                                              weights=WEIGHTS))
    return found


def _relative(run_dir: Path, path: Path) -> Path:
    try:
        return path.resolve().relative_to(run_dir.resolve())
    except ValueError:
        return Path("external") / path.name


def predict_compressed(run_dir: Path, original: triplet.Predictions, test: str, level: Path, final: Path,
                       method: Method, made: dict[str, dict]) -> triplet.Predictions:
    """One test's triplet of the compressed copies (made once per checkpoint into ``level``; ``made`` remembers)."""
    rows = []
    for row in original.run_info.to_dict("records"):
        source = _member_path(run_dir, row)
        relative = _relative(run_dir, source)
        if str(relative) not in made:
            made[str(relative)] = compress_checkpoint(source, level / relative, method)
        ref = ModelRef(str(row["model"]), str(level / relative), _int(row.get("pretrain_seed")),
                       _int(row.get("finetune_seed")), kind=str(row.get("kind") or "external"))
        part = predict_test(test, [ref], label_info=original.label_info, options=_options(row))
        part.run_info["checkpoint"] = str(final / relative)
        rows.append(part)
    return triplet.concat_models(rows, test=test)


def _int(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


# -------------------------------------------------------------------------------------------------------- shifts
def member_shifts(original: Sequence[Mapping[str, Any]], compressed: Sequence[Mapping[str, Any]],
                  tests: Sequence[str]) -> list[dict[str, Any]]:
    """Per member: each test's headline metrics, compressed minus original (None where either is missing), with
    both values; a metric with a ``ci95`` in the summary keeps the compressed copy's interval beside its shift."""
    before = {str(entry["model"]): entry for entry in original}
    rows = []
    for entry in compressed:
        base = before.get(str(entry["model"]))
        if base is None:
            continue
        shifts = {}
        for test in tests:
            if test not in entry.get("tests", {}):
                continue
            old, new = base.get("tests", {}).get(test, {}), entry["tests"][test]
            for metric in get_stress_test(test).headline:
                a, b = old.get(metric), new.get(metric)
                numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
                shifts[f"{test}/{metric}"] = {"original": a, "compressed": b,
                                              "shift": float(b) - float(a) if numeric else None}
        rows.append({"model": entry["model"], "pretrain_seed": entry.get("pretrain_seed"),
                     "finetune_seed": entry.get("finetune_seed"), "stress_shift": shifts})
    return rows


def exemplars(original: triplet.Predictions, compressed: triplet.Predictions, *, top: int = N_EXEMPLARS) -> list[dict]:
    """Compression-identified exemplars: the items whose prediction moves most, by mean |Δ pred| over the members
    both triplets hold (with the mean signed Δ and the largest |Δ| of one member)."""
    names = compressed.run_info["model"].astype(str).tolist()
    index = {name: i for i, name in enumerate(original.run_info["model"].astype(str))}
    rows = [index[name] for name in names if name in index]
    keep = [i for i, name in enumerate(names) if name in index]
    if not rows:
        return []
    delta = compressed.preds[keep] - original.preds[rows]  # (n_members, n_items)
    moved = np.abs(delta).mean(axis=0)
    order = np.argsort(-moved, kind="stable")[:top]
    info = original.label_info
    columns = [c for c in ("item_id", "occupation", "gender", "template_id") if c in info.columns]
    return [{**{c: _plain(info[c].iloc[i]) for c in columns}, "mean_abs_delta": float(moved[i]),
             "mean_delta": float(delta[:, i].mean()), "max_abs_delta": float(np.abs(delta[:, i]).max())}
            for i in order]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else (None if pd.isna(value) else value)


# -------------------------------------------------------------------------------------------------------- family
def _score_group(found: Mapping[str, triplet.Predictions], folder: Path, *, n_boot: int, seed: int,
                 method: Method, kind: str | None, iid: Mapping[str, dict] | None = None) -> list[dict[str, Any]]:
    scores, entries = score_triplets(found, n_boot=n_boot, seed=seed)
    entries = [dict(entry, compression=method.record(), **({"kind": kind} if kind else {}),
                    **({"iid": iid[entry["model"]]} if iid and entry["model"] in iid else {})) for entry in entries]
    rows = [{"model": e["model"], "pretrain_seed": e.get("pretrain_seed"), "finetune_seed": e.get("finetune_seed"),
             "test": task, "metric": metric, "value": value, "occupation": None}
            for e in entries for task, metrics in e.get("iid", {}).items() for metric, value in metrics.items()]
    if rows:
        scores = pd.concat([scores, results.scores_frame(rows)], ignore_index=True)
    for test, preds in found.items():
        triplet.write_predictions(folder / PREDICTIONS / test, preds)
    results.write_scores(folder / results.SCORES, scores)
    return entries


def _copies_iid(made: Mapping[str, dict], level: Path, dev_scorer) -> dict[str, dict[str, dict[str, float]]]:
    """``{model: {task: dev metrics}}`` of every fine-tuned copy (``finetune/<task>/<model>``)."""
    found: dict[str, dict] = {}
    for relative in made:
        parts = Path(relative).parts
        if dev_scorer is not None and len(parts) == 3 and parts[0] == FINETUNE_RUNS:
            found.setdefault(parts[2], {})[parts[1]] = dev_scorer.score(parts[1], level / relative)
    return found


def compress_level(run_dir: Path, groups: Mapping[str, Mapping[str, triplet.Predictions]], method: Method,
                   level: Path, final: Path, *, n_boot: int, seed: int, original: Mapping[str, Any],
                   dev_scorer=None) -> dict:
    """One method level: compressed checkpoints, their family folder (summary.json, scores.parquet, predictions/,
    pretrained/ like the family's) under ``level``, and its part of compression.json."""
    made: dict[str, dict] = {}
    part: dict[str, Any] = {"method": method.record(), "groups": {}}
    extra_models: list[dict[str, Any]] = []
    for group in sorted(groups, key=bool, reverse=True):  # pretrained/ first: the top summary lists its entries too
        folder = level / group if group else level
        found = {test: predict_compressed(run_dir, preds, test, level, final, method, made)
                 for test, preds in groups[group].items()}
        entries = _score_group(found, folder, n_boot=n_boot, seed=seed, method=method,
                               kind="pretrained" if group else None,
                               iid=None if group else _copies_iid(made, level, dev_scorer))
        base = [e for e in original["models"] if (e.get("kind") == "pretrained") == bool(group)]
        if group:
            base = results.read_summary(run_dir / PRETRAINED, check_metrics=False)["models"] \
                if (run_dir / PRETRAINED / results.SUMMARY).is_file() else base
            results.write_summary(folder / results.SUMMARY, models=entries, config_hash=original.get("config_hash"),
                                  n_boot=n_boot, bootstrap_seed=seed, tests=list(found), compression=method.record())
            extra_models = entries
        else:
            results.write_summary(folder / results.SUMMARY, models=entries + extra_models,
                                  config_hash=original.get("config_hash"), n_boot=n_boot, bootstrap_seed=seed,
                                  tests=list(found), experiment=original.get("experiment"),
                                  compression=method.record(), compressed_from=str(run_dir))
        members = member_shifts(base, entries, list(found))
        iid_before, iid_after = ({str(e["model"]): e.get("iid") or {} for e in side} for side in (base, entries))
        for member in members:
            if iid_after.get(str(member["model"])):
                member["iid_shift"] = iid_shifts(iid_before.get(str(member["model"]), {}), iid_after[str(member["model"])])
        part["groups"][group or "finetuned"] = {
            "members": members,
            "exemplars": {test: exemplars(groups[group][test], found[test]) for test in found}}
    part["groups"] = dict(sorted(part["groups"].items(), key=lambda item: item[0] == PRETRAINED))
    part["checkpoints"] = made
    return part


def _keys(part: Mapping[str, Any]) -> list[str]:
    """The analysis keys of the headline metrics shifted (``test/metric``, ``@pretrained`` for that group)."""
    suffix = {"pretrained": "@pretrained"}
    return list(dict.fromkeys(f"{key}{suffix.get(group, '')}" for group, block in part["groups"].items()
                              for member in block["members"] for key in member["stress_shift"]))


def _attach_member_intervals(part: dict[str, Any]) -> None:
    """Each member's shift gets ``ci95`` (and ``p``) of its paired item bootstrap, where one was drawn."""
    found = part["family_shift"].pop("members", {}) if isinstance(part.get("family_shift"), dict) else {}
    suffix = {"pretrained": "@pretrained"}
    for group, block in part["groups"].items():
        for member in block["members"]:
            for key, shift in member["stress_shift"].items():
                delta = found.get(f"{key}{suffix.get(group, '')}", {}).get(str(member["model"]))
                if delta is not None:
                    shift["ci95"], shift["p"] = [delta["low"], delta["high"]], delta["p"]


def _holds_compression(folder: Path) -> bool:
    try:
        return "levels" in read_json_object(folder / COMPRESSION)
    except (UsageError, OSError, ValueError):
        return False


COMPRESSION_OUTPUT = OutputKind("compression folder", _holds_compression, None)


def check_compress_out(out: str | os.PathLike, run_dir: str | os.PathLike, *, overwrite: bool = False) -> None:
    """Fail before any checkpoint is made when ``out`` may not take the compressed families."""
    check_output_folder(out, overwrite=overwrite, kind=COMPRESSION_OUTPUT, inputs=[run_dir])


def compress_family(run_dir: str | os.PathLike, methods: Sequence[Method], out: str | os.PathLike, *,
                    n_boot: int = 1000, seed: int = 0, overwrite: bool = False, family_intervals=None) -> dict:
    """Compress every member of the family at ``run_dir`` by each method, score the copies on the family's items and
    write ``out/<method>/`` (a family folder each) and ``out/compression.json``, all or nothing. ``family_intervals``
    (``(original_dir, compressed_dir, metric keys) -> dict``, its ``members``: ``{key: {model: delta}}``, e.g. a paired Multi-Bootstrap comparison) adds intervals per level."""
    import time

    run_dir, out = Path(run_dir), Path(out)
    groups = family_triplets(run_dir)
    original = results.read_summary(run_dir, check_metrics=False)
    dev_scorer, iid_note = make_dev_scorer(run_dir)
    document: dict[str, Any] = {"version": 1, "family": str(run_dir), "n_boot": n_boot, "bootstrap_seed": seed,
                                "iid": iid_note, "levels": {}}
    with staged_output(out, overwrite=overwrite, kind=COMPRESSION_OUTPUT, inputs=[run_dir]) as stage:
        for method in methods:
            started = time.perf_counter()
            part = compress_level(run_dir, groups, method, stage / method.name, out / method.name, n_boot=n_boot,
                                  seed=seed, original=original, dev_scorer=dev_scorer)
            if family_intervals is not None:
                part["family_shift"] = family_intervals(run_dir, stage / method.name, _keys(part))
                _attach_member_intervals(part)
            part["wall_seconds"] = round(time.perf_counter() - started, 1)
            document["levels"][method.name] = part
            logger.info("%s: %d checkpoints in %.0f s", method.name, len(part["checkpoints"]), part["wall_seconds"])
        atomic_write_json(stage / COMPRESSION, results._clean(document))
    return document
