"""The experiment read model: one reader of an experiment folder (its names are in :mod:`nlp_underspec.artifacts`).

It is built on :mod:`nlp_underspec.stored_results` (evaluation layer, below the analysis, so the seed analysis reads
its inputs by the same rule): ``scores.parquet`` and the predictions triplets, with the pretrained checkpoints'
``pretrained/`` sub-results merged by one rule. Here, above the analysis and below the presentation:

- :mod:`~nlp_underspec.experiment.runs`: the run folders and their records;
- :mod:`~nlp_underspec.experiment.models`: ``summary.json``'s model entries;
- :mod:`~nlp_underspec.experiment.family`: all of it plus ``analysis.json`` and ``manifest.json``, checked to agree;
  the report, the cards and the Hub push start there.
"""
