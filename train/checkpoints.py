"""Checkpoints and the final save: which are complete, which one ``--resume`` takes, and
when a run is already finished.

A job killed while the trainer writes ``checkpoint-N`` leaves that folder empty or
partial, and it is the newest one. Complete means what resuming reads is all there and
whole (transformers 5.24 writes ``trainer_state.json`` last, so a folder with a readable
one had its other files written before it):

- ``trainer_state.json``: present, a JSON object with an integer ``global_step``;
- the weights: ``adapter_model.safetensors`` or ``model.safetensors`` (or its index and
  every shard), each with a readable header and as long as the header says;
- ``optimizer.pt`` and ``scheduler.pt``, and any ``rng_state*.pth``: readable archives
  (``torch.save`` writes zip files; a cut one has no central directory).

DeepSpeed and FSDP keep weights and optimizer in their own sharded layouts (a
``global_step*`` or ``*fsdp*`` folder, ``optimizer_0``); there only ``trainer_state.json``
is checked.

A final save is complete when the weights are whole and ``train_config.yaml`` and
``dataprep.json`` are beside them (``train.outputs.publish`` moves the weights in last).
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

from dataprep.contract import MANIFEST
from dataprep.errors import UsageError
from train import say

PREFIX = "checkpoint-"
STATE = "trainer_state.json"
# What the final save needs besides its weights (written by train.run.train_and_save).
FINAL_FILES = ("train_config.yaml", MANIFEST)
# Files of a checkpoint that only resuming needs: not part of the final save.
RESUME_ONLY = ("optimizer.pt", "scheduler.pt", "scaler.pt", STATE)


class RunFinished(Exception):
    """``--resume`` of a run that has nothing left to do; the CLI says so and exits 0."""


def checkpoint_folders(output_dir: str | Path) -> list[Path]:
    """The ``checkpoint-N`` folders in ``output_dir``, newest (largest N) first."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    steps = [
        (int(p.name.removeprefix(PREFIX)), p)
        for p in folder.glob(f"{PREFIX}*")
        if p.is_dir() and p.name.removeprefix(PREFIX).isdigit()
    ]
    return [p for _, p in sorted(steps, reverse=True)]


def read_state(checkpoint: Path) -> dict[str, Any]:
    """``trainer_state.json`` of a checkpoint; ValueError when it is missing or unusable."""
    try:
        state = json.loads((checkpoint / STATE).read_bytes())
    except FileNotFoundError:
        raise ValueError(f"no {STATE}") from None
    except (OSError, ValueError, RecursionError) as e:
        raise ValueError(f"{STATE} unreadable ({e})") from None
    step = state.get("global_step") if isinstance(state, dict) else None
    if isinstance(step, bool) or not isinstance(step, int):
        raise ValueError(f"{STATE} has no global_step")
    return state


def safetensors_problem(path: Path) -> str | None:
    """What is wrong with a safetensors file, or None: its header must parse and the file
    must hold every byte the header promises."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            length = int.from_bytes(head, "little") if len(head) == 8 else -1
            if length < 0 or 8 + length > size:
                return f"{path.name} is cut short (its header is incomplete)"
            header = json.loads(f.read(length))
    except FileNotFoundError:
        return f"no {path.name}"
    except (OSError, ValueError, RecursionError) as e:
        return f"{path.name} has an unreadable header ({e})"
    if not isinstance(header, dict):
        return f"{path.name} has an unreadable header"
    ends = [
        entry["data_offsets"][1]
        for name, entry in header.items()
        if name != "__metadata__" and isinstance(entry, dict) and entry.get("data_offsets")
    ]
    if 8 + length + max(ends, default=0) > size:
        return f"{path.name} is cut short ({size:,} bytes of {8 + length + max(ends):,})"
    return None


def weights_problem(folder: Path) -> str | None:
    """What is wrong with the weights in ``folder`` (an adapter, a model, or a sharded
    model), or None when they are whole."""
    for name in ("adapter_model.safetensors", "model.safetensors"):
        if (folder / name).exists():
            return safetensors_problem(folder / name)
    index = folder / "model.safetensors.index.json"
    if index.exists():
        try:
            shards = sorted(set(json.loads(index.read_bytes())["weight_map"].values()))
        except (OSError, ValueError, RecursionError, KeyError, TypeError, AttributeError):
            return f"{index.name} is unreadable"
        for shard in shards:
            if problem := safetensors_problem(folder / shard):
                return problem
        return None
    return "no weights (adapter_model.safetensors or model.safetensors)"


def _archive_problem(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path):
            return None
    except FileNotFoundError:
        return f"no {path.name}"
    except (OSError, zipfile.BadZipFile):
        return f"{path.name} is cut short or unreadable"


def _sharded_layout(checkpoint: Path) -> bool:
    """DeepSpeed or FSDP wrote this checkpoint in its own sharded layout."""
    return any(
        p.is_dir() and (p.name.startswith(("global_step", "optimizer_")) or "fsdp" in p.name)
        for p in checkpoint.iterdir()
    )


def checkpoint_problem(checkpoint: Path) -> str | None:
    """Why ``checkpoint`` cannot be resumed from, or None when it is complete."""
    try:
        read_state(checkpoint)
    except ValueError as e:
        return str(e)
    if _sharded_layout(checkpoint):
        return None
    if problem := weights_problem(checkpoint):
        return problem
    for name in ("optimizer.pt", "scheduler.pt"):
        if problem := _archive_problem(checkpoint / name):
            return problem
    for path in sorted(checkpoint.glob("rng_state*.pth")):
        if problem := _archive_problem(path):
            return problem
    return None


def final_save_problem(output_dir: Path) -> str | None:
    """Why ``output_dir`` does not hold a complete final save, or None when it does."""
    if problem := weights_problem(output_dir):
        return problem
    missing = [name for name in FINAL_FILES if not (output_dir / name).is_file()]
    return f"no {', '.join(missing)}" if missing else None


def choose_checkpoint(output_dir: str | Path, resume: bool) -> str | None:
    """The checkpoint to resume from, the newest complete one; None to start at step 0.

    Without ``resume`` a folder that already holds a run is refused. With it, a finished
    run raises RunFinished (nothing is written), and newer incomplete checkpoints are
    skipped, each named with the reason.
    """
    output_dir = Path(output_dir)
    found = checkpoint_folders(output_dir)
    finished = output_dir.is_dir() and final_save_problem(output_dir) is None
    if not resume:
        if found:
            raise UsageError(
                f"{output_dir} already holds a run ({found[0].name}): pass --resume to "
                "continue it, or choose another -o"
            )
        if finished:
            raise UsageError(f"{output_dir} already holds a finished run: choose another -o")
        return None
    if finished:
        raise RunFinished(
            f"{output_dir}: the run is finished (its final save is complete); nothing to do. "
            "For another run choose another -o"
        )
    if not found:
        raise UsageError(f"--resume: no checkpoint-N folder in {output_dir} to resume from")
    for checkpoint in found:
        problem = checkpoint_problem(checkpoint)
        if problem is None:
            step = read_state(checkpoint)["global_step"]
            say(f"resuming from {checkpoint.name} (step {step})")
            return str(checkpoint)
        say(f"--resume: skipping {checkpoint.name}, incomplete: {problem}")
    say(f"--resume: no complete checkpoint in {output_dir}; starting from step 0")
    return None


def finished_at(checkpoint: str | Path, max_steps: int) -> int | None:
    """The step ``checkpoint`` ends the run at, or None when training is left to do.

    ``max_steps`` is the run's (TrainingArguments.max_steps); when it is not set (-1) the
    total the trainer computed, recorded in the checkpoint's state, counts. Resuming such
    a checkpoint would train one step more than asked (transformers 5.24 tests the limit
    only after a step), so the caller writes the final save from it instead.
    """
    state = read_state(Path(checkpoint))
    limit = max_steps if max_steps > 0 else state.get("max_steps")
    step = state["global_step"]
    return step if isinstance(limit, int) and limit > 0 and step >= limit else None


def copy_final_weights(checkpoint: str | Path, staging: Path, args: Any) -> None:
    """Put in ``staging`` what ``trainer.save_model`` would have written at the end of
    the run: the checkpoint's files less what only resuming needs (with
    ``load_best_model_at_end``, those of the best checkpoint)."""
    source = Path(checkpoint)
    best = read_state(source).get("best_model_checkpoint")
    if getattr(args, "load_best_model_at_end", False) and best and Path(best).is_dir():
        source = Path(best)
    staging.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if (
            path.is_file()
            and path.name not in RESUME_ONLY
            and not path.name.startswith("rng_state")
        ):
            shutil.copy2(path, staging / path.name)  # a copy: the checkpoint stays as it is
