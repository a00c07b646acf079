"""``python -m nlp_underspec`` (and ``accelerate launch -m nlp_underspec ...``) runs the CLI."""

from nlp_underspec.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
