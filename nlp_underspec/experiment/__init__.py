"""The one reader of an experiment folder (names in :mod:`nlp_underspec.artifacts`).

Two layers, so the seed analysis can read its inputs with the same rule everything else uses:

- :mod:`~nlp_underspec.experiment.scores` (results level, below analysis): ``scores.parquet`` and the predictions
  triplets, with the pretrained checkpoints' ``pretrained/`` sub-results merged by one rule;
- :mod:`~nlp_underspec.experiment.runs` (results level too): the run folders and their records;
- :mod:`~nlp_underspec.experiment.models` and :mod:`~nlp_underspec.experiment.family` (above analysis, below
  presentation): ``summary.json``'s model entries, and all of it plus ``analysis.json`` and ``manifest.json``, checked
  to agree; the report, the cards and the Hub push start there.

This package file imports nothing, so the analysis can import the results level without loading the rest.
"""
