"""What this machine offers a run: its device, whether it computes in bf16, whether FSDP
is on, and which models are already on its disk.

Light (torch is imported inside the functions that need it) and below both
``train.config`` and ``train.models``: ``check``'s ``check_config`` asks these questions
without loading the model layer, and ``models`` uses ``config``'s ``LoraSettings``, so
neither has to import the other's module.
"""

from __future__ import annotations

import os
from pathlib import Path


def device_type() -> str:
    """``cuda`` when a GPU is visible, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def bf16_supported(device: str) -> bool:
    import torch

    return device == "cuda" and torch.cuda.is_bf16_supported()


def device_memory() -> int:
    """Bytes of memory on this process's GPU."""
    import torch

    return int(torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory)


def is_fsdp() -> bool:
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"


def local_folder(name_or_path: str) -> Path | None:
    """The folder holding ``name_or_path``: itself, or its snapshot in the local Hugging
    Face cache (we never download: HF_HUB_OFFLINE)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.exists() or name_or_path.count("/") > 1:
        return None
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name_or_path, local_files_only=True))
    except Exception:  # not cached, not a repo id, no hub library: all mean "not here"
        return None
