"""iid (dev) metrics of compressed fine-tuned checkpoints, recomputed the way fine-tuning computed them.

The recipe of the family (``recipe.yaml``) names each task's dev sets; they are rebuilt (the synthetic world's are
generated from its seed), the checkpoint is loaded with the task's head and scored by
:func:`~nlp_underspec.training.dev_evaluation.evaluate_dev`, the function fine-tuning ended with. On an uncompressed
checkpoint this gives back the dev metrics its run.json records.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from nlp_underspec.artifacts import RECIPE

logger = logging.getLogger(__name__)

NO_RECIPE = "not recomputed: {path} has no recipe.yaml naming the fine-tuning tasks' dev sets"


class DevScorer:
    """Scores checkpoints of the family at ``run_dir`` on their task's dev sets (sets built once per task)."""

    def __init__(self, run_dir: Path):
        from nlp_underspec.config.load import load_recipe
        from nlp_underspec.training import loop

        self.recipe = load_recipe(run_dir / RECIPE)
        self.accelerator = loop.build_accelerator(grad_accum=1)
        self.sets: dict[str, Any] = {}

    def _dev_sets(self, task: str):
        from nlp_underspec.training.finetune_tasks import get_task
        from nlp_underspec.training.task_data import labelled_dev_sets, task_settings

        if task not in self.sets:
            spec, settings = get_task(task), task_settings(self.recipe, task)
            self.sets[task] = (spec, settings, labelled_dev_sets(spec, settings, self.recipe.world, None))
        return self.sets[task]

    def score(self, task: str, checkpoint: str | Path) -> dict[str, float]:
        """The dev metrics (``dev_pearson`` ..., the numbers only) of ``checkpoint`` fine-tuned on ``task``."""
        from torch.utils.data import DataLoader

        from nlp_underspec.config.schema import task_head
        from nlp_underspec.training.dev_evaluation import evaluate_dev
        from nlp_underspec.training.tokenizer import load_training_tokenizer

        spec, settings, dev = self._dev_sets(task)
        head = spec.heads[task_head(task, settings)]
        tokenizer = load_training_tokenizer(str(checkpoint))
        collate = head.collate(tokenizer, settings.max_seq_length)
        loaders = {name: DataLoader(examples, batch_size=64, shuffle=False, collate_fn=collate)
                   for name, examples in dev.items()}
        model = self.accelerator.prepare(head.build_model(str(checkpoint)))
        metrics = evaluate_dev(self.accelerator, model, loaders, spec,
                               by_source=len(dev) > 1 or settings.dev_data is not None)
        return {k: float(v) for k, v in metrics.items() if isinstance(v, float) and not k.startswith("n_")}


def dev_scorer(run_dir: Path) -> tuple[DevScorer | None, str]:
    """A scorer for the family, or None and why not."""
    if not (run_dir / RECIPE).is_file():
        return None, NO_RECIPE.format(path=run_dir)
    return DevScorer(run_dir), ("recomputed: each fine-tuned copy scored on its task's dev sets from the family's "
                                "recipe.yaml (evaluate_dev, as fine-tuning did)")


def iid_shifts(original: dict[str, dict[str, float]], compressed: dict[str, dict[str, float]]) -> dict[str, Any]:
    """``{task/metric: {original, compressed, shift}}`` for each dev metric both have."""
    shifts = {}
    for task, metrics in compressed.items():
        for metric, value in metrics.items():
            before = original.get(task, {}).get(metric)
            if isinstance(before, (int, float)):
                shifts[f"{task}/{metric}"] = {"original": before, "compressed": value, "shift": value - before}
    return shifts
