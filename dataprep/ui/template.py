"""The template check page: ``check-template``'s report for a tokenizer (a given
tokenizer folder, or the one a prepared folder was made with), computed once per input.

transformers is imported here only, when such a page is first asked for: the ui starts
without it, and without the train extra this page alone says how to get it.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from dataprep.ui.catalog import Catalog

_lock = threading.Lock()
_reports: dict[int, dict[str, Any]] = {}


def template_page(catalog: Catalog, number: int) -> dict[str, Any]:
    entry = catalog.entry(number, "tokenizer", "prepared")
    with _lock:
        if number not in _reports:
            _reports[number] = _check(*_what_to_check(entry.path, entry.kind))
        return {"page": "template", "input": entry.to_json(), **_reports[number]}


def _what_to_check(path: str, kind: str) -> tuple[str, str | None, dict[str, Any], str]:
    """(tokenizer, chat template or None for the tokenizer's, template kwargs, thinking)."""
    if kind == "tokenizer":
        return path, None, {}, "keep"
    from dataprep.contract import read_manifest
    from dataprep.prepare.template.choice import builtin_template_names

    m = read_manifest(path)
    tok = m.tokenizer.folder if m.tokenizer.folder and os.path.isdir(m.tokenizer.folder) else None
    tokenizer = tok or m.tokenizer.name_or_path or ""
    ct = m.chat_template
    name = ct.name if ct else None
    template = name if name and (name in builtin_template_names() or os.path.isfile(name)) else None
    return (
        tokenizer,
        template,
        dict(ct.template_kwargs) if ct else {},
        (ct.thinking if ct else None) or "keep",
    )


def _check(tokenizer: str, chat_template: str | None, kwargs: dict[str, Any],
           thinking: str) -> dict[str, Any]:  # fmt: skip
    from dataprep.prepare.template.check import check_template
    from dataprep.prepare.template.choice import load_tokenizer, resolve_template
    from dataprep.prepare.template.special_tokens import add_template_tokens

    tok = load_tokenizer(tokenizer)
    template = resolve_template(tok, chat_template)
    add_template_tokens(tok, template)  # checked as prepare uses it, as check-template does
    report = check_template(tok, template, template_kwargs=kwargs, thinking=thinking)
    if report.get("example"):
        from dataprep.ui.folder import whole_characters

        class _Text:
            def decode(self, ids: list[int]) -> str:
                return tok.decode(ids, skip_special_tokens=False)

        whole_characters(report["example"]["tokens"], _Text())
    return {"tokenizer": tokenizer, "chat_template": chat_template, "report": report}
