"""Seed sweeps: expand a recipe's grid, run it (locally or on Ray), resume after failures, and carry the family
through predictions, scores, analysis, report and cards. Entry point: :func:`run_sweep`."""

from nlp_underspec.sweep.pipeline import SweepResult, run_sweep
from nlp_underspec.sweep.plan import Plan, RunSpec, build_plan

__all__ = ["Plan", "RunSpec", "SweepResult", "build_plan", "run_sweep"]
