"""One module per CLI subcommand. Each defines ``register(subparsers)``, which adds its parser and sets ``func``.

Command modules import heavy libraries (torch, transformers) inside their functions, so ``nlp-underspec --help`` and
commands that never touch a model start fast.
"""
