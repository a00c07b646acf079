"""``nlp-underspec compress RUNDIR --method int8|prune:0.3,0.5,0.7 --out DIR``: compression stress of a family."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nlp_underspec.commands.options import check_nboot, family_parser, path_value, positive_int, seed_int
from nlp_underspec.seeding import DRAWS_MAX

# Kept beside each family interval so that the report can say when too few seeds make it untrustworthy.
RELIABILITY = ("n_units", "distinct_resamples", "reliable", "reliability_note")

SUMMARY = "compress every member of a family (int8 weights, or global magnitude pruning) and score the copies"
DETAILS = (" on the family's own stress items. Writes DIR/<method>/ (a family folder: summary.json, scores.parquet, "
           "predictions/, the compressed checkpoints) and DIR/compression.json (per member and level the shift of each "
           "headline metric, paired Multi-Bootstrap intervals of the family's shift, and the items whose prediction "
           "moves most). `nlp-underspec report DIR` renders it as the report's Compression stress section.")


def register(subparsers) -> None:
    parser = family_parser(subparsers, "compress", summary=SUMMARY, details=DETAILS,
                           rundir_help="family folder with predictions/ naming its checkpoints (e.g. runs/tiny)")
    parser.add_argument("--method", required=True, action="append", metavar="METHOD",
                        help="int8: every Linear weight quantized to qint8 as quantize_dynamic stores it, then "
                             "dequantized back to float so the copy saves as safetensors (what int8 storage of the "
                             "weights loses; activations and arithmetic stay float, so no int8 speed-up is measured); "
                             "or prune:LEVEL[,LEVEL...] (share of Linear weights set to 0, e.g. prune:0.3,0.5,0.7: "
                             "one family folder per level); repeat for several (--method int8 --method prune:0.5)")
    parser.add_argument("--out", required=True, type=path_value("--out"),
                        help="folder for the compressed families (created; refused if it holds anything not ours)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it holds an earlier compression")
    parser.add_argument("--n-boot", type=positive_int("--n-boot", DRAWS_MAX), default=1000,
                        help="bootstrap resamples for scoring and for the shift intervals (default 1000)")
    parser.add_argument("--seed", type=seed_int("--seed"), default=0, help="bootstrap seed (default 0)")
    parser.set_defaults(func=run)


def _member_intervals(original: Path, compressed: Path, keys, n_boot: int, seed: int) -> dict:
    """Per member and metric: a paired bootstrap of items (one member against its own copy; no seeds to resample),
    ``{key: {model: report_ci's delta}}``; metrics without per-item scores get none."""
    import pandas as pd

    from nlp_underspec.analysis.bootstrap import multibootstrap, report_ci
    from nlp_underspec.analysis.family import bootstrap_inputs, load_analysis_inputs
    from nlp_underspec.seeding import derive_seed

    families = [load_analysis_inputs(folder) for folder in (original, compressed)]
    found: dict[str, dict] = {}
    for key in keys:
        metrics = [{m.key: m for m in family.metrics}.get(key) for family in families]
        if None in metrics:
            continue
        base, expt = (bootstrap_inputs(family, metric) for family, metric in zip(families, metrics))
        if base.unit is None or expt.unit is None or base.preds.shape[1] != expt.preds.shape[1]:
            continue
        rows = dict(zip(expt.run_info["model"].astype(str), range(len(expt.run_info))))
        for index, model in enumerate(base.run_info["model"].astype(str)):
            if model not in rows:
                continue
            run_info = pd.DataFrame({"seed": [0, 0], "intervention": [False, True]})
            samples = multibootstrap(run_info, np.stack([base.preds[index], expt.preds[rows[model]]]), base.labels,
                                     base.score_fn, paired_seeds=True, nboot=n_boot, sample_seeds=False,
                                     rng=derive_seed(seed, "compress", key, model))
            found.setdefault(key, {})[model] = report_ci(samples)["delta"]
    return found


def _family_intervals(n_boot: int, seed: int):
    """Paired Multi-Bootstrap (seeds and items) of each metric both families have, compressed minus original, and
    each member's paired item bootstrap of its headline metrics."""
    from nlp_underspec.analysis.compare import compare_families
    from nlp_underspec.errors import UsageError

    def intervals(original: Path, compressed: Path, keys) -> dict:
        try:
            found = compare_families(original, compressed, paired=True, nboot=n_boot, seed=seed)
            family = {"nboot": found["nboot"], "skipped": found["skipped"],
                      "metrics": {c["metric"]: {"delta": c["delta"], "resampled": c["resampled"],
                                                **{k: c[k] for k in RELIABILITY if k in c}}
                                  for c in found["comparisons"]}}
        except UsageError as err:  # e.g. members without seeds: no Multi-Bootstrap of the family
            family = {"error": str(err)}
        return {**family, "members": _member_intervals(original, compressed, keys, n_boot, seed)}

    return intervals


def shift_table(document: dict) -> str:
    """One line per level and headline metric: mean member shift, and the family's paired interval."""
    lines = [f"{'level':<10} {'metric':<38} {'mean member shift':>17}  family shift [95% Multi-Bootstrap]"]
    for name, part in document["levels"].items():
        family = part.get("family_shift", {}).get("metrics", {})
        for group, block in part["groups"].items():
            keys = dict.fromkeys(k for m in block["members"] for k in m["stress_shift"])
            for key in keys:
                values = [m["stress_shift"][key]["shift"] for m in block["members"]
                          if m["stress_shift"][key]["shift"] is not None]
                mean = f"{sum(values) / len(values):+.4f}" if values else "-"
                delta = family.get(_analysis_key(key, group), {}).get("delta")
                ci = f"{delta['mean']:+.4f} [{delta['low']:+.4f}, {delta['high']:+.4f}]" if delta else "-"
                lines.append(f"{name:<10} {_analysis_key(key, group):<38} {mean:>17}  {ci}")
        lines.append(f"{name:<10} wall time {part['wall_seconds']} s")
    return "\n".join(lines)


def _analysis_key(key: str, group: str) -> str:
    return f"{key}@pretrained" if group == "pretrained" else key


def run(args: argparse.Namespace) -> int:
    from nlp_underspec.compression import (check_compress_out, check_distinct, compress_family, family_triplets,
                                           parse_methods)

    methods = check_distinct([method for text in args.method for method in parse_methods(text)])
    check_nboot(args.n_boot)
    check_compress_out(args.out, args.rundir, overwrite=args.overwrite)
    family_triplets(args.rundir)  # a folder without members fails now, before anything is made
    document = compress_family(args.rundir, methods, args.out, n_boot=args.n_boot, seed=args.seed,
                               overwrite=args.overwrite, family_intervals=_family_intervals(args.n_boot, args.seed))
    print(shift_table(document))
    print(f"\nwrote {Path(args.out) / 'compression.json'}")
    return 0
