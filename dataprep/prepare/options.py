"""What ``dataprep prepare`` takes and gives back, and the usage checks made before any
work."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataprep.contract import ENGINES, KINDS, OVERLONG_POLICIES
from dataprep.contract import MASK_POLICIES as MASKS
from dataprep.errors import PrepareError, UsageError
from dataprep.formats import FORMATS
from dataprep.formats.mapping import Mapping
from dataprep.prepare.encode.gate import check_accept
from dataprep.prepare.output import check_replaceable
from dataprep.reading.hub import parse_hub_ref
from dataprep.reading.inputs import is_glob

# The kinds whose rows are never packed or split, and what one of their rows is.
UNSPLIT = {"dpo": "a preference pair", "kto": "a KTO example"}
THINKING = ("keep", "last", "drop")


@dataclass
class PrepareOptions:
    """Everything ``dataprep prepare`` takes. ``num_proc``, ``force``, ``engine`` and
    ``address`` are left out of the fingerprint: they change how fast, not what."""

    inputs: list[str]
    tokenizer: str
    max_length: int
    output: str
    kind: str | None = None  # None: from the detected formats
    mask: str | None = None  # None: completion for prompt-completion input, else assistant
    pack: bool | None = None  # None: pack SFT, never DPO or KTO
    overlong: str = "drop"
    chat_template: str | None = None
    system: str | None = None
    eval_fraction: float = 0.0
    dedup: bool = False
    num_proc: int | None = None  # None: from the input's size (encode.workers.worker_count)
    seed: int = 0
    fields: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    format: str | None = None  # force the input format instead of detecting it
    force: bool = False
    thinking: str = "keep"  # reasoning kept in every assistant turn, the last only, or dropped
    template_kwargs: dict[str, Any] = field(default_factory=dict)  # extra template variables
    accept: list[str] = field(default_factory=list)  # row-check error codes to keep (--accept)
    # A recipe or a peer's config (``dataprep.recipe.model.Recipe``): ``inputs`` are then
    # its sources' files, each with the source's format, mapping, system, mask and amount.
    recipe: Any = None
    # Hub inputs: which split, subset, revision (in the inputs' record, not in option_record:
    # the commit and files they resolve to are what decides the output).
    split: str | None = None
    subset: str | None = None
    revision: str | None = None
    # Where the per-row work runs: "local" (this machine, --num-proc processes) or "ray"
    # (a Ray cluster at ``address``; None: RAY_ADDRESS, else a Ray started for the run).
    engine: str = "local"
    address: str | None = None


@dataclass
class PrepareResult:
    manifest: dict[str, Any]
    cached: bool  # True when an up-to-date output was found and nothing was done
    output: Path
    rejects_shown: list[dict[str, Any]] = field(default_factory=list)  # first rejects


class NothingLeft(PrepareError):
    """Every row was rejected: there is nothing to write. Carries the run's counts."""

    def __init__(self, message: str, result: PrepareResult):
        super().__init__(message)
        self.result = result


def check_options(options: PrepareOptions) -> None:
    """Usage errors, found before any work."""
    if not options.inputs:
        raise UsageError("no input files")
    if options.max_length < 2:
        raise UsageError(f"--max-length must be at least 2, not {options.max_length}")
    if options.kind is not None and options.kind not in KINDS:
        raise UsageError(f"--kind must be one of {', '.join(KINDS)}")
    if options.mask is not None and options.mask not in MASKS:
        raise UsageError(f"--mask must be one of {', '.join(MASKS)}")
    if options.overlong not in OVERLONG_POLICIES:
        raise UsageError(f"--overlong must be one of {', '.join(OVERLONG_POLICIES)}")
    if not 0.0 <= options.eval_fraction < 1.0:
        raise UsageError(f"--eval-fraction must be in [0, 1), not {options.eval_fraction}")
    if options.thinking not in THINKING:
        raise UsageError(f"--thinking must be one of {', '.join(THINKING)}")
    if options.num_proc is not None and options.num_proc < 1:
        raise UsageError(f"--num-proc must be at least 1, not {options.num_proc}")
    if not -(2**63) <= options.seed < 2**63:
        # The eval split keys its hash with the seed as 8 bytes.
        raise UsageError(f"--seed must fit in 64 bits (-2**63 to 2**63-1), not {options.seed}")
    if options.format is not None and options.format not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
    unsplit = UNSPLIT.get(options.kind or "")
    if unsplit and options.pack:
        raise UsageError(
            f"--pack applies to SFT only: {options.kind.upper()} rows are never packed"
        )
    if unsplit and options.overlong == "split":
        raise UsageError(f"--overlong split applies to SFT only: {unsplit} cannot be split")
    for path in options.inputs:
        if (
            path != "-"
            and not Path(path).exists()
            and parse_hub_ref(path) is None
            and not is_glob(path)  # expanded, or refused, with the inputs
        ):
            raise UsageError(f"no such file: {path}")
    Mapping.from_specs(options.fields, options.roles)  # raises UsageError on a bad spec
    check_accept(options.accept)
    check_engine(options.engine)
    check_replaceable(options.output)


def check_engine(engine: str) -> None:
    """--engine is local or ray; ray needs the ray extra (exit 2 saying how to get it)."""
    if engine not in ENGINES:
        raise UsageError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "ray":
        from dataprep.prepare.ray_engine import require_ray

        require_ray()


def option_record(options: PrepareOptions) -> dict[str, Any]:
    """The options that decide the output (the fingerprint's and the manifest's record)."""
    record: dict[str, Any] = {
        "kind": options.kind,
        "mask": options.mask,
        "pack": options.pack,
        "max_length": options.max_length,
        "overlong": options.overlong,
        "system": options.system,
        "eval_fraction": options.eval_fraction,
        "dedup": options.dedup,
        "seed": options.seed,
        "fields": list(options.fields),
        "roles": list(options.roles),
        "format": options.format,
        "thinking": options.thinking,
        "template_kwargs": dict(sorted(options.template_kwargs.items())),
        "accept": sorted(set(options.accept)),
    }
    if options.recipe is not None:
        # Only with a recipe: the fingerprints of runs without one are unchanged.
        from dataprep.prepare.sources import source_record_fields

        record["sources"] = source_record_fields(options.recipe)
    return record
