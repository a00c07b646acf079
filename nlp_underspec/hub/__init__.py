"""All writes to the Hugging Face Hub: publishing a seed family as repos, branches and a collection.

Layout (MultiBERTs and Pythia conventions): one repo per pretraining seed, ``<prefix>-seed_<p>``; one per fine-tuned
model, ``<prefix>-<task>-seed_<p>-ft_<f>``; intermediate checkpoints as branches ``step_<K>`` of the seed repo, or as
repos ``<prefix>-seed_<p>-step_<K/1000>k`` (``--intermediates repos``), or left out; a Collection links the family.
Each repo gets its model card (:mod:`nlp_underspec.cards`), the family card as ``FAMILY.md``, and its card's
results as ``.eval_results/<test>.<metric>.yaml`` (:mod:`nlp_underspec.cards.eval_results`).

Every call goes through ``huggingface_hub.HfApi`` in the main process only. The token comes from the standard
resolution (``HF_TOKEN``, then the login cache); it is handed to the client and never printed, logged or written.
Before any repo is created (and before a dry run stages anything), :func:`.tokens.check_no_token` reads every file the push
would upload, and the results its cards are written from, and refuses the push when one holds the token, naming the
user's own file: a token pasted into a config or tokenizer file would otherwise go public with the first repo.

Pushing is idempotent: ``create_repo``/``create_branch``/``create_collection``/``add_collection_item`` accept what
exists, and ``upload_folder`` asks the Hub for the blob id of every file first and makes no commit when nothing
changed. So an interrupted push resumes by running it again, and
a failure says which repo it stopped at and what is left.

Modules, in the order a push runs: :mod:`.layout` (names on the Hub), :mod:`.plan` (what goes where, and which files;
no cards), :mod:`.stage` (a target's folder with its cards), :mod:`.tokens` (the token: resolved, never leaked),
:mod:`.dry_run` (``--dry-run --staging``) and :mod:`.push` (the uploads).
"""
