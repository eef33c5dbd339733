"""The formats, in one table.

Each format is a module holding small pure functions over one row; none opens a file:

    NAME: str                 the format's name, as on the command line
    KIND: str                 "sft", "preference" or "kto": what to_canonical returns
    detect(row) -> bool       does this row have this format's shape (keys and types)?
    to_canonical(row) -> Conversation | Preference | Unpaired     (raises RowError)
    from_canonical(example, *, allow_lossy=False) -> tuple[dict, list[str]]
                              the row, and what was dropped (human words, empty when
                              nothing); raises LossyConversion when something would be
                              dropped and allow_lossy is False, RowError when the example
                              cannot be expressed at all (e.g. preference -> kto).
    DETECT_KEYS: frozenset    row keys of which at least one must be present for detect()
                              to be True; detection asks only the formats whose keys a row
                              has (a test checks no claiming format is skipped).

Its JSON Schema is ``schemas/<NAME>.schema.json``; its sample is ``samples/<NAME>.jsonl``.
A test keeps this table, the schemas and the samples in step.

>>> from dataprep.formats import FORMATS
>>> FORMATS["alpaca"].detect({"instruction": "Add 2 and 2", "output": "4"})
True
"""

from __future__ import annotations

from types import ModuleType

from dataprep.formats import (
    alpaca,
    chatml,
    kto,
    messages,
    preference,
    prompt_completion,
    sharegpt,
    text,
)

# Order matters only for display and for breaking ties in detection: the more specific
# shape first (kto has every key prompt-completion has, plus label).
FORMATS: dict[str, ModuleType] = {
    "messages": messages,
    "sharegpt": sharegpt,
    "alpaca": alpaca,
    "chatml": chatml,
    "kto": kto,
    "preference": preference,
    "prompt-completion": prompt_completion,
    "text": text,
}
