"""nlp_underspec: make underspecification in BERT-style NLP pipelines measurable.

Train families of models that differ only in their seeds, run gender stress tests on them, and show how much of the
spread comes from the pretraining seed. See README.md for the commands and docs/design.md for the data flow, layers
and contracts.
"""

__version__ = "0.1.0"
