"""A recipe's sources as the inputs of one prepare run (issue 10).

``dataprep prepare recipe.yaml``, ``dataprep prepare dataset_info.json --dataset a,b`` and
``dataprep prepare axolotl.yaml`` read the config (``dataprep.recipe.reading``) into a
``Recipe``; here it becomes the run:

- ``source_files(source)``: the files a source is read from (one function, so that the
  Hub reader can extend it: a Hub source is a "not yet" usage error for now);
- ``options_from_recipe``: the run's ``PrepareOptions``; options the config sets apply
  unless the command line gives them (the command line wins, and says so);
- ``plan_selection``: how many rows each source has (one counting pass with the same
  reader the run uses, so the counts agree), and which rows the mix takes
  (``recipe.model.plan_mix`` with the run's seed): per input file, how many times each of
  its rows is taken.

Per source, each file keeps its own format, ``--field``/``--role`` mapping, system prompt
and mask (``pipeline.plan_inputs`` builds one ``InputPlan`` per file from its source).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dataprep.errors import UsageError
from dataprep.recipe.model import Recipe, Source, plan_mix

# Options a config may set, as (PrepareOptions field, its flag on the command line).
CONFIG_OPTIONS = (
    ("tokenizer", "--tokenizer"),
    ("max_length", "--max-length"),
    ("output", "-o"),
    ("kind", "--kind"),
    ("chat_template", "--chat-template"),
    ("pack", "--pack"),
    ("eval_fraction", "--eval-fraction"),
    ("dedup", "--dedup"),
    ("seed", "--seed"),
    ("mask", "--mask"),
    ("system", "--system"),
    ("engine", "--engine"),
    ("address", "--address"),
)
# Data file kinds looked for in a plain folder named as a source (LLaMA-Factory's
# file_name may name a folder of files).
DATA_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv", ".tsv", ".txt", ".arrow", ".gz", ".zst")


@functools.lru_cache(maxsize=64)
def _hub_files(
    path: str, split: str | None, subset: str | None, revision: str | None
) -> tuple[str, ...]:
    """The exact URLs of a Hub source's files (resolved once per run: the sources are
    listed several times while the run is planned)."""
    from dataprep.reading.inputs import expand_inputs

    ref = path if path.startswith("hf://") else f"hf://datasets/{path}"
    files = expand_inputs([ref], split=split, subset=subset, revision=revision)
    return tuple(f.url for f in files)


def source_files(source: Source) -> list[str]:
    """The local files ``source`` is read from, in order.

    A file is itself; a folder saved with ``save_to_disk`` is read as one input; another
    folder gives its data files (sorted by name). A Hub source gives the exact URL of each
    file of its split (``hf://datasets/ORG/NAME@SHA/PATH``), which the run reads from the
    Hugging Face cache and records with its commit (``dataprep.reading.inputs``).

    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> for name in ("b.jsonl", "a.json", "notes.md"):
    ...     open(os.path.join(d, name), "w").close()
    >>> [os.path.basename(f) for f in source_files(Source(d))]
    ['a.json', 'b.jsonl']
    """
    if source.is_hub:
        return list(_hub_files(source.path, source.split, source.subset, source.revision))
    path = source.path
    if os.path.isdir(path) and not os.path.exists(os.path.join(path, "state.json")):
        files = sorted(
            os.path.join(path, name)
            for name in os.listdir(path)
            if name.lower().endswith(DATA_SUFFIXES) and not name.startswith(".")
        )
        if not files:
            raise UsageError(f"{source.where or path}: {source.label}: no data files in {path}")
        return files
    if not os.path.exists(path):
        raise UsageError(f"{source.where or path}: {source.label}: no such file: {path}")
    return [path]


def options_from_recipe(
    recipe: Recipe, given: dict[str, Any], base: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The keyword arguments of the run's ``PrepareOptions``, and notes for the summary.

    ``given`` holds the options the command line gave (field name -> value), ``base`` the
    rest of the command line's options (defaults included). An option the config sets
    applies unless ``given`` has it: the command line wins, and a note says so. Per source
    ``--format``/``--field``/``--role`` belong in the config: given with one, a usage error.

    >>> r = Recipe(sources=(Source("README.md"),), max_length=512, seed=3, tokenizer="./tok")
    >>> base = {"seed": 0, "tokenizer": None, "max_length": 128, "output": "out"}
    >>> kw, notes = options_from_recipe(r, {"max_length": 128}, base)
    >>> kw["max_length"], kw["seed"], kw["tokenizer"], kw["inputs"], notes
    (128, 3, './tok', ['README.md'], ['--max-length 128 from the command line wins over the config (max_length 512)'])
    """
    for name, flag in (("format", "--format"), ("fields", "--field"), ("roles", "--role")):
        if given.get(name):
            raise UsageError(
                f"{flag} does not go with a recipe or a peer's config: set it per source "
                f"in {recipe.origin}"
            )
    kw = dict(base)
    notes: list[str] = []
    for name, flag in CONFIG_OPTIONS:
        from_config = getattr(recipe, name)
        if name == "seed" and from_config == 0:
            from_config = None  # a recipe's seed defaults to 0: not set
        if name in given:
            kw[name] = given[name]
            if from_config is not None and from_config != given[name]:
                notes.append(
                    f"{flag} {given[name]} from the command line wins over the config "
                    f"({name} {from_config})"
                )
        elif from_config is not None and name not in ("mask", "system"):
            # The recipe's mask and system are per-source defaults (plan_inputs); only
            # the command line's apply to every source.
            kw[name] = from_config
    for name, flag in (("tokenizer", "--tokenizer"), ("max_length", "--max-length"),
                       ("output", "-o")):  # fmt: skip
        if kw.get(name) is None:
            raise UsageError(f"Missing option '{flag}' (neither the command line nor "
                             f"{recipe.origin} gives it)")  # fmt: skip
    files = [source_files(s) for s in recipe.sources]
    kw["inputs"] = [f for group in files for f in group]
    kw["recipe"] = recipe
    kw["fields"], kw["roles"], kw["format"] = [], [], None
    return kw, notes


def input_sources(recipe: Recipe) -> list[int]:
    """The source each input of the run (``options.inputs``) belongs to."""
    return [i for i, s in enumerate(recipe.sources) for _ in source_files(s)]


def count_rows(path: str) -> int:
    """The rows ``read_records`` gives for ``path`` (unreadable ones too: the run reads
    them, and rejects them, with the same reader)."""
    from dataprep.reading import read_records

    return sum(1 for _ in read_records(path))


@dataclass
class Selection:
    """Which rows of each input a run takes: ``picks[i][r]`` is how many times row ``r`` of
    input ``i`` is taken (None: each once). ``rows_read``/``rows_selected`` per source."""

    owner: list[int]  # input -> source
    picks: list[np.ndarray | None]
    rows_read: list[int]
    rows_selected: list[int]


def plan_selection(recipe: Recipe, read_from: Sequence[str], seed: int) -> Selection:
    """Count the rows of every input, and plan the mix with ``seed`` (deterministic: the
    same seed and inputs, the same rows)."""
    from dataclasses import replace

    owner = input_sources(recipe)
    per_input = [count_rows(p) for p in read_from]
    n_sources = len(recipe.sources)
    rows_read = [0] * n_sources
    for i, n in zip(owner, per_input, strict=True):
        rows_read[i] += n
    plan = plan_mix(replace(recipe, seed=seed), rows_read)
    picks: list[np.ndarray | None] = [None] * len(per_input)
    rows_selected = [len(ix) for ix in plan]
    for s, indices in enumerate(plan):
        inputs = [i for i, o in enumerate(owner) if o == s]
        if indices == list(range(rows_read[s])):
            continue  # every row once: no selection to apply
        taken = np.bincount(np.asarray(indices, dtype=np.int64), minlength=rows_read[s])
        start = 0
        for i in inputs:
            picks[i] = taken[start : start + per_input[i]]
            start += per_input[i]
    return Selection(owner, picks, rows_read, rows_selected)


def source_record_fields(recipe: Recipe) -> list[dict[str, Any]]:
    """What decides each source's rows, for the fingerprint and the options record."""
    return [
        {
            "name": s.label,
            "path": s.path,
            "format": s.format,
            "fields": [list(p) for p in s.fields],
            "roles": [list(p) for p in s.roles],
            "system": s.system,
            "mask": s.mask,
            "amount": s.amount,
            "eval": s.eval,
        }
        for s in recipe.sources
    ] + [{"rows": recipe.rows, "system": recipe.system, "mask": recipe.mask}]
