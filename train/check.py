"""``train check``: a config validated as ``train sft``/``dpo``/``kto`` would take it,
without data or model, and with them when given.

Apart from ``config`` because it uses ``reporting`` and ``data``, which both read
``config``'s types: here, above all three, no import goes both ways.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dataprep.errors import UsageError
from train.config import load_run_config, trainer_config
from train.data import DATA_KIND, load_prepared, read_manifest
from train.machine import bf16_supported, device_type, local_folder
from train.reporting import check_report_to


def check_config(
    path: str | Path,
    *,
    kind: str | None = None,
    data: str | Path | None = None,
    sets: Sequence[str] = (),
) -> str:
    """Validate a config as `train sft`/`dpo`/`kto` would, without data or model; returns a
    one-line summary. With ``data`` (a prepared folder) its manifest is checked too."""
    run = load_run_config(path, sets)
    check_report_to(run)
    packed, has_eval = False, True
    if data is not None:
        stated = read_manifest(data).kind
        if kind and stated and DATA_KIND.get(kind, kind) != stated:
            raise UsageError(f"--kind {kind}: {data} holds {stated} data")
        # Opened as `train` will open it, so a damaged folder fails here and not at the run.
        prepared = load_prepared(data, kind=kind or stated or run.kind or "sft")
        if kind is None:  # the config's kind when it trains on this data (orpo on dpo data)
            fits = run.kind and DATA_KIND.get(run.kind, run.kind) == prepared.kind
            kind = run.kind if fits else prepared.kind
        packed, has_eval = prepared.packed, prepared.eval is not None
    kind = kind or run.kind
    if kind is None:
        raise UsageError(
            f"{path}: which trainer? add `kind: sft` (or dpo, kto, orpo, simpo, reward) to the "
            "file, or pass --kind"
        )

    device = device_type()
    output_dir = run.trl.get("output_dir") or "unused-by-check"
    args = trainer_config(
        run,
        kind,
        output_dir=output_dir,
        device_type=device,
        bf16_ok=bf16_supported(device),
        packed=packed,
        has_eval=has_eval,
    )
    summary = (
        f"{path}: ok: train {kind}, {run.mode}, learning_rate {args.learning_rate:g}, "
        f"{type(args).__name__} accepts every key"
    )
    if run.model and local_folder(run.model) is None:
        summary += f" (note: model {run.model} is neither a folder nor in the local cache)"
    return summary
