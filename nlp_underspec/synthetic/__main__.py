"""``python -m nlp_underspec.synthetic OUT``: write a world with every registered stress test's synthetic set.

The command is a program entry point (nothing imports it), so it may reach up to the stress registry, which knows the
tests' sets; the world's modules below it never do.
"""

from nlp_underspec.stress.synthetic_sets import main

raise SystemExit(main())
