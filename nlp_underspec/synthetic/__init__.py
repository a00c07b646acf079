"""The synthetic world: a generated English-like corpus with a planted gender statistic, and its labelled data.

:func:`build_world` returns a :class:`World` with

- ``corpus``: short documents (one per line in ``corpus.txt``) of five kinds (:mod:`.corpus`);
- ``sts``: STS-style pairs per split with gold similarity 0-5 computed from the sentences' meanings (:mod:`.sts`);
- ``coref``: pronoun-resolution examples per split in the candidate format, whose gold follows a cue clause and never
  the pronoun's gender (:mod:`.coref`);
- ``planted``: occupation -> p_she (:mod:`.world`);
- ``stress_sts``: gendered STS pairs whose first sentences begin "A man"/"A woman".

The stress tests render their own synthetic sets from the world and its vocabulary (each hands
:func:`~nlp_underspec.synthetic.files.write_world` a :class:`~nlp_underspec.synthetic.files.SyntheticSet`), so the world
names no test. Modules: :mod:`.vocabulary` (words, clauses, frames, renderers), :mod:`.sts`, :mod:`.coref`,
:mod:`.corpus`, :mod:`.world` (the World and its generation), :mod:`.files` (layout and writers). ``python -m
nlp_underspec.synthetic OUT`` writes a world with every registered test's set.
"""

from nlp_underspec.synthetic.coref import coref_gold_from_text
from nlp_underspec.synthetic.corpus import measure_pronoun_shares
from nlp_underspec.synthetic.files import LAYOUT, MANIFEST, PLANTED_FILE, SyntheticSet, write_stress_sets, write_world
from nlp_underspec.synthetic.sts import StsMeaning, parse_sts_sentence, sts_gold, sts_gold_from_text
from nlp_underspec.synthetic.world import (SPLITS, World, as_world, build_world, planted_p_she, planted_table,
                                           split_sizes)

__all__ = ["LAYOUT", "MANIFEST", "PLANTED_FILE", "SPLITS", "StsMeaning", "SyntheticSet", "World", "as_world",
           "build_world", "coref_gold_from_text", "measure_pronoun_shares", "parse_sts_sentence", "planted_p_she",
           "planted_table", "split_sizes", "sts_gold", "sts_gold_from_text", "write_stress_sets", "write_world"]
