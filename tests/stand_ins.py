"""Stand-in model files for tests that fake a finished run: what a complete run folder must hold, as small as can be.

The weights are a real (one-tensor) safetensors file, because a finished run's weights are checked to be as long as
their header says; config and tokenizer are read by name only where these are used.
"""

from __future__ import annotations

from pathlib import Path


def write_model_stand_ins(folder: Path) -> None:
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({"stand_in": torch.zeros(1)}, str(folder / "model.safetensors"))
    for name in ("config.json", "tokenizer.json"):
        (folder / name).write_text("{}")
