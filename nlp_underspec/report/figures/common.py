"""What every figure of the report shares: the :class:`Figure` it returns, matplotlib on the Agg backend, one colour
per pretraining seed, one marker per kind of model, and the legends below the panels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nlp_underspec.experiment.family import Family

MAX_PANELS = 36  # beyond this a small-multiples grid is unreadable; the caption says how many were left out
SEED_COLOURS = "tab10"
KIND_LABELS = {"finetuned": "fine-tuned", "pretrained": "pretrained (MLM probe)", "external": "external"}
KIND_MARKERS = {"finetuned": "o", "pretrained": "D", "external": "s"}


@dataclass
class Figure:
    name: str  # file stem under figures/
    title: str
    caption: str
    figure: Any  # matplotlib.figure.Figure


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def seed_colour(seed: int | None, seeds: list[int]):
    """The colour of a pretraining seed (grey for a model without one)."""
    cmap = pyplot().get_cmap(SEED_COLOURS)
    return "0.3" if seed is None or seed not in seeds else cmap(seeds.index(seed) % 10)


def model_seed_colour(family: Family, name: str, seeds: list[int]):
    """The colour of the pretraining seed of the family's model ``name``."""
    model = family.model(name)
    return seed_colour(model.pretrain_seed if model else None, seeds)


def model_order(models: list[str], family: Family) -> list[str]:
    """Model names by pretraining seed, then fine-tuning seed (models without seeds last)."""
    def key(name: str):
        model = family.model(name)
        return (model.pretrain_seed if model and model.pretrain_seed is not None else 10**9,
                model.finetune_seed if model and model.finetune_seed is not None else -1, name)

    return sorted(models, key=key)


def hide_unused(axes, used: int) -> None:
    """Hide the panels of a grid beyond the first ``used``."""
    for ax in list(axes.flat)[used:]:
        ax.set_visible(False)


def kind_legend(fig, axes) -> bool:
    """Marker shapes by kind of model, in grey (not a seed colour), below the panels; True when one was drawn."""
    from matplotlib.lines import Line2D

    labels = {label for ax in axes for label in ax.get_legend_handles_labels()[1]}
    handles = [Line2D([], [], marker=KIND_MARKERS[kind], color="0.45", linestyle="none", label=label,
                      markeredgecolor="black" if kind != "finetuned" else "0.45")
               for kind, label in KIND_LABELS.items() if label in labels]
    if len(handles) > 1:
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)
    return len(handles) > 1


def seed_legend(fig, pretrain_seeds: list[int]) -> None:
    """One colour per pretraining seed, below the panels."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", linestyle="none", color=seed_colour(seed, pretrain_seeds),
                      label=f"pretraining seed {seed}") for seed in pretrain_seeds[:10]]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 5), fontsize=7, frameon=False)


def analysis_sections(family: Family, part: str, usable) -> list[tuple[str, dict, dict]]:
    """(metric key, analysis.json entry, its ``part``) for every metric whose ``part`` passes ``usable``."""
    rows = []
    for key, section in (family.analysis.get("metrics") or {}).items():
        value = section.get(part) if isinstance(section, dict) else None
        if isinstance(value, dict) and usable(value):
            rows.append((key, section, value))
    return rows
