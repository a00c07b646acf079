"""Multi-Bootstrap: a straightforward per-iteration loop (the reference algorithm) vs nlp_underspec's, in one process.

Setting of issue 5: 25 pretraining seeds x 5 fine-tuning runs per arm, 720 examples (the Winogender sentences),
nboot 1000, rng 42. The loop scores every run at every iteration, as the published reference does; the project draws
the same random numbers first and scores all iterations at once. Four score functions, each timed against the loop:

- ``builtin accuracy``: the project's vectorised ``accuracy`` (a MeanScore);
- ``user accuracy``: a user's ``lambda y, p: np.mean(y == p, axis=-1)`` (plain numpy, detected as batched);
- ``user pearson``: a user's numpy Pearson r along the last axis (detected as batched);
- ``user scalar accuracy``: ``lambda y, p: float(np.mean(y == p))``, which cannot take stacks: one call per needed run
  and iteration (the runs of the seeds an iteration drew, about 63% of the loop's calls at 25 seeds);
- ``user scalar accuracy, processes``: the same function written with ``def``, spread over the usable cores'
  processes with ``workers=``.

A function that returns one float per call is bounded by its calls: at ~10-30 us a call, 160 000 calls are seconds
whatever the bookkeeping around them. The batched form (the same numpy with ``axis=-1``) is the fast path.

Each must return identical samples to the loop (checked with ==, not a tolerance); the speed-ups are printed.

    python benchmarks/bench_multibootstrap.py [--nboot 1000] [--repeats 2] [--paired] [--cases builtin,user,...]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from nlp_underspec.analysis import multibootstrap
from nlp_underspec.analysis.batched import default_workers
from nlp_underspec.stress import accuracy


def loop_multibootstrap(run_info, preds, labels, score_fn, *, paired_seeds, nboot, rng):
    """The algorithm as a plain loop: per iteration draw seeds, then examples, then score every sampled run."""
    rng = np.random.RandomState(rng)
    is_expt = run_info["intervention"].to_numpy()
    rows = [run_info[mask].groupby("seed").groups for mask in (~is_expt, is_expt)]
    if paired_seeds:
        seed_lists = [list(set(rows[0]).intersection(rows[1]))] * 2
    else:
        seed_lists = [sorted(rows[0]), sorted(rows[1])]
    n = len(labels)
    samples = []
    for _ in range(nboot):
        first = rng.choice(seed_lists[0], size=len(seed_lists[0]), replace=True)
        second = first if paired_seeds else rng.choice(seed_lists[1], size=len(seed_lists[1]), replace=True)
        columns = rng.choice(n, size=n, replace=True)
        chosen = labels[columns]
        arms = []
        for seeds, seed_rows in zip((first, second), rows):
            arms.append(np.mean([np.mean([score_fn(chosen, preds[i, columns]) for i in seed_rows[s]]) for s in seeds]))
        samples.append(tuple(arms))
    return samples


def make_family(*, seeds=25, runs=5, examples=720, rng=0):
    generator = np.random.default_rng(rng)
    run_info = pd.DataFrame([{"seed": s, "intervention": arm} for arm in (False, True) for s in range(seeds)
                             for _ in range(runs)])
    labels = generator.integers(0, 2, size=examples)
    skill = 0.75 + 0.02 * run_info["intervention"].to_numpy()[:, None] + generator.normal(scale=0.03, size=(len(run_info), 1))
    preds = np.where(generator.random((len(run_info), examples)) < skill, labels, 1 - labels)  # (runs, examples)
    return run_info, preds, labels


def user_pearson(y_true, y_pred):
    """A user's Pearson r in numpy, reducing along the last axis: one row or a stack of rows."""
    x = y_true - np.mean(y_true, axis=-1, keepdims=True)
    y = y_pred - np.mean(y_pred, axis=-1, keepdims=True)
    return np.sum(x * y, axis=-1) / np.sqrt(np.sum(x * x, axis=-1) * np.sum(y * y, axis=-1))


def scalar_accuracy(y_true, y_pred):
    """``float(np.mean(y_true == y_pred))`` as a module-level ``def``, so worker processes can import it."""
    return float(np.mean(y_true == y_pred))


CASES = {
    "builtin": ("builtin accuracy", accuracy),
    "user": ("user accuracy", lambda y, p: np.mean(y == p, axis=-1)),
    "pearson": ("user pearson", user_pearson),
    "scalar": ("user scalar accuracy", lambda y, p: float(np.mean(y == p))),
    "scalar-pool": ("user scalar, processes", scalar_accuracy),
}


def best_of(repeats, call):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return min(times), result


def run_case(name, score_fn, data, args) -> float:
    run_info, preds, labels = data
    loop_time, expected = best_of(args.repeats, lambda: loop_multibootstrap(
        run_info, preds, labels, score_fn, paired_seeds=args.paired, nboot=args.nboot, rng=42))
    workers = {"workers": default_workers()} if score_fn is scalar_accuracy else {}
    ours_time, ours = best_of(args.repeats, lambda: multibootstrap(  # the reference's positional call
        run_info, preds, labels, score_fn, args.paired, args.nboot, 42, **workers))
    identical = ours == [tuple(pair) for pair in expected]
    print(f"{name:<22} loop {loop_time:7.3f} s   nlp_underspec {ours_time:7.3f} s   identical samples: {identical}   "
          f"speed-up {loop_time / ours_time:6.1f}x", flush=True)
    if not identical:
        raise SystemExit(f"{name}: samples differ")
    return loop_time / ours_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nboot", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2, help="best of N timings for each side")
    parser.add_argument("--paired", action="store_true")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    args = parser.parse_args()
    data = make_family()
    print(f"{len(data[0])} runs (25 seeds x 5 runs x 2 arms), {data[1].shape[1]} examples, nboot {args.nboot}, rng 42, "
          f"{'paired' if args.paired else 'unpaired'}; best of {args.repeats}")
    for key in args.cases.split(","):
        if key not in CASES:
            raise SystemExit(f"unknown case {key!r}; choose from {', '.join(CASES)}")
        run_case(*CASES[key], data, args)


if __name__ == "__main__":
    main()
