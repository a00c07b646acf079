"""Model cards for a seed family: one per checkpoint, one for the family, and the stress section on its own.

Cards are Jinja templates from the top-level ``model_cards/`` folder (installed as ``nlp_underspec/model_cards``)
rendered through ``huggingface_hub``'s ``ModelCard.from_template``: the front matter is a ``ModelCardData`` whose
``model-index`` carries every stress-test and iid result as an ``EvalResult`` (seeds in the metric args). The "Bias,
Risks, and Limitations" section is written from the numbers in ``summary.json`` and ``analysis.json`` and sits between
two HTML-comment markers, so :func:`replace_stress_section` can update it in any existing README.md without touching
the rest.

The package, in the order a card is made:

- :mod:`~nlp_underspec.cards.templates`: where the templates are and how a section is rendered;
- :mod:`~nlp_underspec.cards.locators`: where a checkpoint can be loaded from (local folders; the Hub's is
  :class:`nlp_underspec.hub.HubLayout`);
- :mod:`~nlp_underspec.cards.model_index`: the front matter and its ``EvalResult`` entries;
- :mod:`~nlp_underspec.cards.eval_results`: the same results as ``.eval_results/*.yaml`` (the Hub's newer
  ``EvalResultEntry`` format) and their reader, :func:`~nlp_underspec.cards.eval_results.read_eval_results`;
- :mod:`~nlp_underspec.cards.stress_facts` and :mod:`~nlp_underspec.cards.stress_prose`: the stress section's numbers,
  then its sentences; :mod:`~nlp_underspec.cards.stress_section` renders it and replaces it in a README;
- :mod:`~nlp_underspec.cards.sections`: loading snippets, training details, in-distribution results;
- :mod:`~nlp_underspec.cards.build`: the checkpoint, model and family cards;
- :mod:`~nlp_underspec.cards.files`: the cards folder on disk (each card with its ``.eval_results/``), and finding a
  model by name.

The names below are what the commands, the sweep and the Hub push use.
"""

from nlp_underspec.cards.build import checkpoint_card, family_card, model_card
from nlp_underspec.cards.eval_results import (
    EVAL_RESULTS,
    StoredEvalResult,
    checkpoint_eval_results,
    model_eval_results,
    read_eval_results,
    write_eval_results,
)
from nlp_underspec.cards.files import (
    CARD_SIGNATURE,
    CARDS,
    card_folder_name,
    find_model,
    model_folder_name,
    save_card,
    write_cards,
    write_family_cards,
)
from nlp_underspec.cards.locators import LocalLocator, Locator
from nlp_underspec.cards.stress_section import (
    END_MARKER,
    README,
    START_MARKER,
    START_PREFIX,
    family_stress_section,
    replace_stress_section,
    stress_section,
    update_readme,
)
from nlp_underspec.cards.templates import templates_dir

__all__ = ["CARDS", "CARD_SIGNATURE", "END_MARKER", "EVAL_RESULTS", "README", "START_MARKER", "START_PREFIX",
           "LocalLocator", "Locator", "StoredEvalResult", "card_folder_name", "checkpoint_card",
           "checkpoint_eval_results", "family_card", "family_stress_section", "find_model", "model_card",
           "model_eval_results", "model_folder_name", "read_eval_results", "replace_stress_section", "save_card",
           "stress_section", "templates_dir", "update_readme", "write_cards", "write_eval_results",
           "write_family_cards"]
