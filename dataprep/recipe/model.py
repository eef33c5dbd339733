"""A recipe: the sources of one dataset, how each is read, and how much of each is taken.

Our own recipe file is YAML::

    # mix.yaml: every key but ``sources`` is optional
    seed: 7                  # the mix and the eval split are deterministic for a seed
    rows: 10000              # rows the weighted sources give together [default: as many
                             #   as the weights allow without repeating a row]
    eval_fraction: 0.05      # as prepare --eval-fraction
    dedup: true              # as prepare --dedup
    kind: sft                # sft, dpo or kto [default: from the data]
    max_length: 2048         # as prepare --max-length
    chat_template: chatml    # as prepare --chat-template
    pack: true               # as prepare --pack / --no-pack
    mask: assistant          # default mask of every source (as prepare --mask)
    system: "Be brief."      # default system prompt of every source (as prepare --system)
    tokenizer: ./tok         # as prepare --tokenizer
    output: prepared/        # as prepare -o
    engine: ray              # as prepare --engine (local or ray)
    address: 10.0.0.1:6379   # as prepare --address (the Ray cluster)
    sources:
      - path: data/chats.jsonl           # a local file or folder, relative to this file
        weight: 3
      - hub: HuggingFaceH4/ultrachat_200k
        split: train_sft
        subset: default
        revision: main
        weight: 1
      - path: data/dialogs.jsonl
        format: messages                 # as prepare --format [default: detected]
        fields: {messages: dialog}       # our field: your key (as --field messages=dialog)
        roles: {bot: assistant}          # your role: our role (as --role bot=assistant)
        system: "You are a pirate."      # this source's system prompt
        mask: last                       # this source's mask
        rows: 500                        # a row count (more than the file has repeats rows)
      - path: data/extra.jsonl
        name: extra                      # its name in reports [default: its path]
        fraction: 0.25                   # a share of the file's rows
      - path: data/held_out.jsonl
        eval: true                       # rows for the eval split only

A source takes at most one of ``weight``, ``rows``, ``fraction``; with none it gives every
row once. Every key not listed here is an error naming its ``file:line``.

>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> p = os.path.join(d, "mix.yaml")
>>> from pathlib import Path
>>> _ = Path(p).write_text("seed: 3\\nsources:\\n  - path: a.jsonl\\n    weight: 1\\n  - hub: org/b\\n    weight: 1\\n")
>>> r = load_recipe(p)
>>> [(s.path == os.path.join(d, "a.jsonl"), s.is_hub, s.weight) for s in r.sources]
[(True, False, 1.0), (False, True, 1.0)]
>>> [len(ix) for ix in plan_mix(r, [10, 4])]
[4, 4]
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dataprep.contract import ENGINES
from dataprep.errors import UsageError
from dataprep.formats import FORMATS
from dataprep.formats.mapping import Mapping, parse_field_maps, parse_role_maps
from dataprep.recipe._yaml import Located, line_of, read_located

KINDS = ("sft", "dpo", "kto")
MASKS = ("assistant", "last", "all", "completion")
HUB_PREFIX = "hf://datasets/"


class RecipeError(UsageError):
    """A recipe file that says something wrong: ``file:line: key path: message [code]``."""

    def __init__(self, where: str, path: str, message: str, code: str = "bad-recipe"):
        super().__init__(
            f"{where}: {path}: {message} [{code}]" if path else f"{where}: {message} [{code}]"
        )
        self.where = where
        self.path = path
        self.code = code


@dataclass(frozen=True)
class Source:
    """One input of a recipe. ``path`` is a local path, or a Hub id when ``is_hub``.

    ``fields``/``roles`` are ``--field``/``--role`` maps as pairs (frozen):
    ``fields`` is ((our field, your key), ...), ``roles`` ((your role, our role), ...).
    At most one of ``weight``, ``rows``, ``fraction`` is set. ``where`` is the
    ``file:line`` the source was declared at.
    """

    path: str
    is_hub: bool = False
    split: str | None = None
    subset: str | None = None
    revision: str | None = None
    format: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    roles: tuple[tuple[str, str], ...] = ()
    system: str | None = None
    mask: str | None = None
    weight: float | None = None
    rows: int | None = None
    fraction: float | None = None
    eval: bool = False
    where: str = ""
    name: str = ""  # what the source is called in reports [default: its path]

    @property
    def label(self) -> str:
        """The source's name in reports and the manifest: its ``name``, else its path."""
        return self.name or self.path

    @property
    def mapping(self) -> Mapping | None:
        """The ``--field``/``--role`` mapping, or None when the source has none."""
        if not self.fields and not self.roles:
            return None
        return Mapping(dict(self.fields), dict(self.roles))

    @property
    def amount(self) -> str:
        """How much of the source is taken, in words."""
        if self.weight is not None:
            return f"weight {self.weight:g}"
        if self.rows is not None:
            return f"{self.rows} rows"
        if self.fraction is not None:
            return f"fraction {self.fraction:g}"
        return "every row"


@dataclass(frozen=True)
class Recipe:
    """Sources and the options of the prepare they amount to (None: prepare's default or
    the command line's). ``rows`` is what the weighted sources give together."""

    sources: tuple[Source, ...]
    seed: int = 0
    rows: int | None = None
    eval_fraction: float | None = None
    dedup: bool | None = None
    kind: str | None = None
    max_length: int | None = None
    chat_template: str | None = None
    pack: bool | None = None
    mask: str | None = None
    system: str | None = None
    tokenizer: str | None = None
    output: str | None = None
    engine: str | None = None
    address: str | None = None
    origin: str = ""  # the file the recipe was read from


# ---------------------------------------------------------------------------------------
# Reading our YAML


def _check_type(value: Any, kinds: tuple[type, ...], where: str, path: str, what: str) -> Any:
    # bool is an int in Python: a count or a weight given as `true` is refused.
    if isinstance(value, bool) and bool not in kinds:
        raise RecipeError(where, path, f"expected {what}, got {value!r}", "bad-value")
    if not isinstance(value, kinds):
        raise RecipeError(where, path, f"expected {what}, got {value!r}", "bad-value")
    return value


def _positive(value: Any, where: str, path: str, integer: bool = False) -> Any:
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    what = "a positive whole number" if integer else "a positive number"
    _check_type(value, kinds, where, path, what)
    if value <= 0:
        raise RecipeError(where, path, f"expected {what}, got {value!r}", "bad-value")
    return int(value) if integer else float(value)


def _choice(value: Any, choices: Sequence[str], where: str, path: str) -> str:
    if value not in choices:
        raise RecipeError(where, path, f"{value!r} is not one of {', '.join(choices)}", "bad-value")
    return value


def _text(value: Any, where: str, path: str) -> str:
    return _check_type(value, (str,), where, path, "a string")


def _pairs(value: Any, where: str, path: str, parse: Any, form: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise RecipeError(where, path, f"expected a mapping of {form}", "bad-value")
    try:
        parsed = parse([f"{k}={v}" for k, v in value.items()])
    except UsageError as e:
        raise RecipeError(where, path, str(e), "bad-mapping") from e
    return tuple(parsed.items())


def is_hub_id(text: str) -> bool:
    """Whether ``text`` names a Hub dataset (``hf://datasets/...``).

    >>> is_hub_id("hf://datasets/org/name"), is_hub_id("data/a.jsonl")
    (True, False)
    """
    return text.startswith(HUB_PREFIX)


_SOURCE_KEYS = (
    "path", "hub", "split", "subset", "revision", "format", "fields", "roles", "system",
    "mask", "weight", "rows", "fraction", "eval", "name",
)  # fmt: skip
_RECIPE_KEYS = (
    "sources", "seed", "rows", "eval_fraction", "dedup", "kind", "max_length",
    "chat_template", "pack", "mask", "system", "tokenizer", "output", "engine", "address",
)  # fmt: skip


def _unknown_keys(doc: Located, known: Sequence[str], name: str, prefix: str) -> None:
    for key in doc:
        if key not in known:
            where = f"{name}:{doc.line_of(key)}"
            raise RecipeError(
                where,
                f"{prefix}{key}",
                f"unknown key (known: {', '.join(known)})",
                "unknown-key",
            )


def _source(doc: Any, name: str, index: int, base: str) -> Source:
    prefix = f"sources[{index}]"
    if not isinstance(doc, Located):
        raise RecipeError(f"{name}:0", prefix, "expected a mapping with path or hub", "bad-value")
    _unknown_keys(doc, _SOURCE_KEYS, name, f"{prefix}.")

    def at(key: str) -> str:
        return f"{name}:{doc.line_of(key)}"

    if ("path" in doc) == ("hub" in doc):
        raise RecipeError(
            f"{name}:{doc.line}", prefix, "give exactly one of path and hub", "bad-source"
        )
    amounts = [k for k in ("weight", "rows", "fraction") if k in doc]
    if len(amounts) > 1:
        raise RecipeError(
            at(amounts[1]), f"{prefix}.{amounts[1]}",
            f"give at most one of weight, rows, fraction (also {amounts[0]})", "bad-source",
        )  # fmt: skip
    if "path" in doc:
        path = _text(doc["path"], at("path"), f"{prefix}.path")
        is_hub = is_hub_id(path)
        if not is_hub and not os.path.isabs(path) and path != "-":
            path = os.path.join(base, path)
    else:
        path = _text(doc["hub"], at("hub"), f"{prefix}.hub")
        is_hub = True
    kw: dict[str, Any] = {}
    for key in ("split", "subset", "revision", "system", "name"):
        if key in doc:
            kw[key] = _text(doc[key], at(key), f"{prefix}.{key}")
    if "format" in doc:
        kw["format"] = _choice(doc["format"], list(FORMATS), at("format"), f"{prefix}.format")
    if "mask" in doc:
        kw["mask"] = _choice(doc["mask"], MASKS, at("mask"), f"{prefix}.mask")
    if "fields" in doc:
        kw["fields"] = _pairs(doc["fields"], at("fields"), f"{prefix}.fields", parse_field_maps,
                              "our field: your key")  # fmt: skip
    if "roles" in doc:
        kw["roles"] = _pairs(doc["roles"], at("roles"), f"{prefix}.roles", parse_role_maps,
                             "your role: our role")  # fmt: skip
    if "weight" in doc:
        kw["weight"] = _positive(doc["weight"], at("weight"), f"{prefix}.weight")
    if "rows" in doc:
        kw["rows"] = _positive(doc["rows"], at("rows"), f"{prefix}.rows", integer=True)
    if "fraction" in doc:
        kw["fraction"] = _positive(doc["fraction"], at("fraction"), f"{prefix}.fraction")
    if "eval" in doc:
        kw["eval"] = _check_type(
            doc["eval"], (bool,), at("eval"), f"{prefix}.eval", "true or false"
        )
        if kw["eval"] and "weight" in doc:
            raise RecipeError(at("weight"), f"{prefix}.weight",
                              "an eval source takes rows or fraction, not a weight", "bad-source")  # fmt: skip
    return Source(path=path, is_hub=is_hub, where=f"{name}:{doc.line}", **kw)


def load_recipe(path: str) -> Recipe:
    """The recipe in our YAML file at ``path`` (see the module docstring); RecipeError
    (exit 2) naming ``file:line`` for anything it does not know or cannot take."""
    doc = read_located(path)
    if not isinstance(doc, Located):
        raise RecipeError(f"{path}:1", "", "expected a mapping with a sources list", "bad-recipe")
    _unknown_keys(doc, _RECIPE_KEYS, path, "")

    def at(key: str) -> str:
        return f"{path}:{line_of(doc, key)}"

    sources_doc = doc.get("sources")
    if not isinstance(sources_doc, list) or not sources_doc:
        raise RecipeError(at("sources") if "sources" in doc else f"{path}:1", "sources",
                          "expected a list of at least one source", "bad-recipe")  # fmt: skip
    base = os.path.dirname(os.path.abspath(path))
    sources = tuple(_source(s, path, i, base) for i, s in enumerate(sources_doc))
    kw: dict[str, Any] = {}
    if "seed" in doc:
        kw["seed"] = _check_type(doc["seed"], (int,), at("seed"), "seed", "a whole number")
    if "rows" in doc:
        kw["rows"] = _positive(doc["rows"], at("rows"), "rows", integer=True)
    if "max_length" in doc:
        kw["max_length"] = _positive(
            doc["max_length"], at("max_length"), "max_length", integer=True
        )
    if "eval_fraction" in doc:
        value = _check_type(doc["eval_fraction"], (int, float), at("eval_fraction"), "eval_fraction",
                            "a number in [0, 1)")  # fmt: skip
        if not 0 <= value < 1:
            raise RecipeError(
                at("eval_fraction"),
                "eval_fraction",
                f"expected a number in [0, 1), got {value!r}",
                "bad-value",
            )
        kw["eval_fraction"] = float(value)
    for key in ("dedup", "pack"):
        if key in doc:
            kw[key] = _check_type(doc[key], (bool,), at(key), key, "true or false")
    if "kind" in doc:
        kw["kind"] = _choice(doc["kind"], KINDS, at("kind"), "kind")
    if "mask" in doc:
        kw["mask"] = _choice(doc["mask"], MASKS, at("mask"), "mask")
    for key in ("chat_template", "system", "tokenizer", "output", "address"):
        if key in doc:
            kw[key] = _text(doc[key], at(key), key)
    if "engine" in doc:
        kw["engine"] = _choice(doc["engine"], ENGINES, at("engine"), "engine")
    return Recipe(sources=sources, origin=path, **kw)


# ---------------------------------------------------------------------------------------
# Mixing


def _counts(recipe: Recipe, rows_per_source: Sequence[int]) -> list[int]:
    """How many rows each source gives (before choosing which)."""
    counts = [0] * len(recipe.sources)
    weighted = []
    for i, (s, n) in enumerate(zip(recipe.sources, rows_per_source, strict=True)):
        if s.weight is not None:
            weighted.append(i)
        elif s.rows is not None:
            counts[i] = s.rows
        elif s.fraction is not None:
            counts[i] = round(s.fraction * n)
        else:
            counts[i] = n
    if weighted:
        total_weight = sum(recipe.sources[i].weight or 0.0 for i in weighted)
        shares = {i: (recipe.sources[i].weight or 0.0) / total_weight for i in weighted}
        if recipe.rows is not None:
            total = recipe.rows
        else:
            # The largest mix that keeps the ratios and repeats no row.
            total = min(int(rows_per_source[i] / shares[i] + 1e-9) for i in weighted)
        # Largest remainder: the counts keep the ratios and add up to the total exactly.
        exact = {i: shares[i] * total for i in weighted}
        for i in weighted:
            counts[i] = int(exact[i])
        left = total - sum(counts[i] for i in weighted)
        for i in sorted(weighted, key=lambda i: (-(exact[i] - int(exact[i])), i))[:left]:
            counts[i] += 1
    return counts


def _choose(n: int, k: int, rng: random.Random) -> list[int]:
    """``k`` row indices of ``n``, ascending: each row once when ``k <= n``, else every
    row ``k // n`` times and a sample of the rest (as LLaMA-Factory's ``num_samples``)."""
    if k == 0:
        return []
    if n == 0:
        raise UsageError(f"cannot take {k} rows of a source that has none")
    whole, part = divmod(k, n)
    chosen = list(range(n)) * whole + rng.sample(range(n), part)
    return sorted(chosen)


def plan_mix(recipe: Recipe, rows_per_source: Sequence[int]) -> list[list[int]]:
    """The row indices each source gives, ascending, given how many rows each has.

    Pure and deterministic: the same recipe, seed and counts give the same selection.
    Each source draws from its own generator (seeded by the recipe's seed, its position
    and its path), so changing one source's amount leaves the others' choices alone.

    >>> r = Recipe(sources=(Source("a", weight=1.0), Source("b", weight=3.0)), seed=1)
    >>> [len(ix) for ix in plan_mix(r, [100, 60])]
    [20, 60]
    >>> r = Recipe(sources=(Source("a", rows=5),), seed=1)
    >>> ix = plan_mix(r, [2])[0]  # every row twice, and one more drawn
    >>> len(ix), min(ix.count(0), ix.count(1))
    (5, 2)
    """
    if len(rows_per_source) != len(recipe.sources):
        raise ValueError("one row count per source is needed")
    plan = []
    for i, (s, n, k) in enumerate(
        zip(recipe.sources, rows_per_source, _counts(recipe, rows_per_source), strict=True)
    ):
        if k == n and s.weight is None and s.rows is None and s.fraction is None:
            plan.append(list(range(n)))
            continue
        rng = random.Random(f"{recipe.seed}\0{i}\0{s.path}")
        plan.append(_choose(n, k, rng))
    return plan
