"""Run records: the ``run.json`` in every run folder (docs/design.md, contract 2).

A run folder is done only when its record says ``status: complete``; that record is written last and atomically, so a
folder killed mid-run is seen as unfinished and redone from its last saved state. The record carries everything needed
to say what produced the checkpoint: run id, seeds, the resolved config and its hash, package versions, the
determinism scope (torch thread count, CPU capability, architecture, device type: where the same seeds give the same
bits, see :func:`nlp_underspec.seeding.determinism_scope`) and the git commit.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nlp_underspec.artifacts import RUN_RECORD
from nlp_underspec.errors import UsageError
from nlp_underspec.io import atomic_write_json, read_json_object
from nlp_underspec.seeding import determinism_scope

STATUS_RUNNING = "running"
STATUS_COMPLETE = "complete"
STATUS_FAILED = "failed"
STATUSES = (STATUS_RUNNING, STATUS_COMPLETE, STATUS_FAILED)

RECORD_HINT = "Delete the run folder to redo the run."  # what read_json_object says after naming a corrupt run.json
RECORD_MISSING_FIELD = "Run record {path} has no '{field}' field. Delete the run folder to redo the run."

RUN_WITHOUT_MODEL = ("{folder}: run.json says the run is complete, but the folder has no {missing}, so it holds no "
                     "model to publish or describe. Restore the file(s), or run `nlp-underspec run` on the experiment "
                     "again, which trains the run again.")
RUN_NOT_ITS_FOLDER = ("{folder}: run.json gives run_id {run_id!r} and seeds {seeds} (run {expected}), but the folder "
                      "is named {name!r}: a record copied from another run, or edited. Restore the run.json this run "
                      "wrote, or move the folder to the name of the run it holds.")
SAME_WEIGHTS = ("{first} and {second} hold byte-identical weights ({file}): two runs of a seed family are never the "
                "same model, so one is a copy of the other. Train the run again (delete its folder and run "
                "`nlp-underspec run` on the experiment), or restore its own weights.")
# What a finished run folder must hold to be a model: weights (safetensors, or PyTorch weights of older runs), the
# config that describes them and the tokenizer they were trained with.
_WEIGHTS_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                  "pytorch_model.bin.index.json")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
                    "tokenizer.model")

VERSIONED_PACKAGES = ("nlp_underspec", "torch", "transformers", "tokenizers", "datasets", "accelerate",
                      "huggingface_hub", "numpy", "scipy", "pandas")


def pretrain_run_id(pretrain_seed: int) -> str:
    """``p03``: the MultiBERTs-style id of a pretraining run."""
    return f"p{pretrain_seed:02d}"


def finetune_run_id(pretrain_seed: int | None, finetune_seed: int) -> str:
    """``p03-f01``; ``f01`` when fine-tuning a checkpoint that has no pretraining seed of ours."""
    prefix = f"{pretrain_run_id(pretrain_seed)}-" if pretrain_seed is not None else ""
    return f"{prefix}f{finetune_seed:02d}"


def config_hash(resolved_config: dict[str, Any]) -> str:
    """Short, stable hash of a resolved config (key order does not matter)."""
    canonical = json.dumps(resolved_config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def package_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(start: str | os.PathLike | None = None) -> str | None:
    """The commit of the checkout holding ``start`` (default: this package), or None outside git."""
    folder = Path(start) if start is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


# Files a sweep keeps in a run folder beside the run's own (its log, its lock): they do not make a folder "another run".
SWEEP_SIDECARS = ("log.txt", ".running")


def run_folder_entries(folder: str | os.PathLike) -> list[Path]:
    """What a run folder holds apart from the sweep's sidecar files."""
    return sorted(p for p in Path(folder).iterdir() if p.name not in SWEEP_SIDECARS)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunRecord:
    """What ``run.json`` holds. Seeds are first-class fields, never buried in the config."""

    run_id: str
    kind: str  # "pretrain" | "finetune" | user-defined
    seeds: dict[str, int | None]
    config: dict[str, Any]
    config_hash: str
    status: str = STATUS_RUNNING
    task: str | None = None
    parent: str | None = None  # the checkpoint a fine-tuning run started from
    metrics: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=package_versions)
    torch_threads: int | None = None  # these four: the determinism scope the run started under
    cpu_capability: str | None = None
    machine: str | None = None
    device: str | None = None
    # Scopes that a resume of saved work ran under when they differ from the above: a valid run, not a bit-identical one.
    resumed_under: list[dict[str, Any]] = field(default_factory=list)
    git_commit: str | None = field(default_factory=git_commit)
    started: str = field(default_factory=_now)
    finished: str | None = None
    error: str | None = None

    @classmethod
    def new(cls, *, run_id: str, kind: str, seeds: dict[str, int | None], config: dict[str, Any], **extra: Any) -> "RunRecord":
        return cls(run_id=run_id, kind=kind, seeds=dict(seeds), config=config, config_hash=config_hash(config),
                   **determinism_scope(), **extra)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_run_record(folder: str | os.PathLike, record: RunRecord) -> Path:
    return atomic_write_json(Path(folder) / RUN_RECORD, record.to_dict())


def mark_complete(folder: str | os.PathLike, record: RunRecord, metrics: dict[str, Any] | None = None) -> RunRecord:
    """Write the final record. Call this last, after every checkpoint file is on disk."""
    if metrics:
        record.metrics.update(metrics)
    record.status = STATUS_COMPLETE
    record.finished = _now()
    record.error = None
    write_run_record(folder, record)
    return record


def failure_text(err: BaseException) -> str:
    """What run.json's ``error`` says of an exception: a user error as the CLI prints it (``error: ...``), anything
    else with its type, which is what a bug report needs."""
    return f"error: {err}" if isinstance(err, UsageError) else f"{type(err).__name__}: {err}"


def mark_failed(folder: str | os.PathLike, record: RunRecord, error: str) -> RunRecord:
    record.status = STATUS_FAILED
    record.finished = _now()
    record.error = error
    write_run_record(folder, record)
    return record


def read_run_record(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The record as a dict, or None when the folder has none. A corrupt record is a user-visible error."""
    path = Path(folder) / RUN_RECORD
    if not path.is_file():
        return None
    record = read_json_object(path, hint=RECORD_HINT)
    for key in ("run_id", "status", "seeds"):
        if key not in record:
            raise UsageError(RECORD_MISSING_FIELD.format(path=path, field=key))
    return record


def is_complete(folder: str | os.PathLike) -> bool:
    """The record says complete and the folder holds the model (:func:`missing_model_files`)."""
    record = read_run_record(folder)
    return record is not None and record.get("status") == STATUS_COMPLETE and not missing_model_files(folder)


def missing_model_files(folder: str | os.PathLike) -> list[str]:
    """What a finished run folder lacks of its model: weights (``model.safetensors``), ``config.json``, tokenizer
    (``tokenizer.json``); empty when it has them all. A record says ``complete`` only after they are written, so a
    complete record without them is a folder whose files were lost or removed since."""
    folder = Path(folder)
    wanted = (("model.safetensors", _WEIGHTS_FILES), ("config.json", ("config.json",)),
              ("tokenizer.json", _TOKENIZER_FILES))
    missing = [name for name, any_of in wanted if not any((folder / file).is_file() for file in any_of)]
    for path in sorted(folder.glob("*.safetensors")):  # present but cut short (a copy or a disk that ran out)
        damage = safetensors_damage(path)
        if damage:
            missing.append(f"intact {path.name} ({damage})")
    return missing


def safetensors_damage(path: str | os.PathLike) -> str | None:
    """What is wrong with a safetensors file's length, from its header alone (a few KB read): None when the file is
    at least as long as its header says. A truncated copy otherwise passes for a finished run until a model loads it."""
    path = Path(path)
    size = path.stat().st_size
    try:
        with open(path, "rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            if size < 8 or length > size - 8:
                return f"{size:,} byte(s), less than the header it announces"
            header = json.loads(handle.read(length))
        ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return "a header that is not a safetensors header"
    expected = 8 + length + max(ends, default=0)  # bytes after that are not read by a loader: only a short file is cut
    return None if size >= expected else f"{size:,} of the {expected:,} bytes its header describes"


def check_holds_model(folder: str | os.PathLike) -> None:
    """Refuse a complete run folder that holds no model (a push or card of it would publish or describe nothing)."""
    missing = missing_model_files(folder)
    if missing:
        raise UsageError(RUN_WITHOUT_MODEL.format(folder=folder, missing=", ".join(missing)))


def weights_digest(folder: str | os.PathLike, *, sample: int | None = None) -> str | None:
    """SHA-256 over a run folder's weights files (safetensors, else PyTorch weights) and their sizes; None without
    any. ``sample``: only that many bytes from the start and the end of each file (a cheap fingerprint for listings;
    two trainings of different seeds differ everywhere, a copy nowhere)."""
    folder = Path(folder)
    files = sorted(p for p in folder.glob("*.safetensors") if p.is_file()) or \
        sorted(p for p in folder.glob("pytorch_model*.bin") if p.is_file())
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        size = path.stat().st_size
        digest.update(f"{path.name}:{size}\n".encode())
        with open(path, "rb") as handle:
            if sample is not None and size > 2 * sample:
                digest.update(handle.read(sample))
                handle.seek(size - sample)
                digest.update(handle.read(sample))
                continue
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def same_weights(folders, *, sample: int | None = None) -> list[tuple[Path, Path]]:
    """Pairs (first, copy) of ``folders`` whose weights are byte-identical (:func:`weights_digest`)."""
    first: dict[str, Path] = {}
    pairs = []
    for folder in folders:
        digest = weights_digest(folder, sample=sample)
        if digest is None:
            continue
        if digest in first:
            pairs.append((first[digest], Path(folder)))
        first.setdefault(digest, Path(folder))
    return pairs


def expected_run_id(record: dict[str, Any]) -> str | None:
    """The run id a record's seeds give (``p01``, ``p01-f02``, ``f02``), or None when its kind or seeds are not ours."""
    seeds = record.get("seeds") if isinstance(record.get("seeds"), dict) else {}
    pretrain, finetune = seeds.get("pretrain_seed"), seeds.get("finetune_seed")
    integer = [v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0) for v in (pretrain, finetune)]
    if not all(integer):
        return None
    if record.get("kind") == "pretrain" and pretrain is not None:
        return pretrain_run_id(pretrain)
    if record.get("kind") == "finetune" and finetune is not None:
        return finetune_run_id(pretrain, finetune)
    return None


def check_run_folder_name(folder: str | os.PathLike, record: dict[str, Any]) -> None:
    """Refuse a run folder whose record disagrees with its name: the run id, or the run id its seeds give (a sweep
    names every run folder after its run, ``pretrain/p01``, ``finetune/stsb/p01-f02``); a push would name the repo
    and card after the seeds while the results say another run."""
    folder = Path(folder)
    run_id, expected = str(record.get("run_id")), expected_run_id(record)
    if run_id != folder.name or (expected is not None and expected != run_id):
        seeds = record.get("seeds") if isinstance(record.get("seeds"), dict) else {}
        shown = {k: v for k, v in seeds.items() if k in ("pretrain_seed", "finetune_seed")}
        raise UsageError(RUN_NOT_ITS_FOLDER.format(folder=folder, run_id=record.get("run_id"), seeds=shown,
                                                   expected=expected or "unknown", name=folder.name))
