"""LLaMA-Factory's ``dataset_info.json`` with ``--dataset NAME[,NAME...]``, read as a recipe.

Each named stanza becomes a source whose ``--field``/``--role`` maps make our readers see
the rows as LLaMA-Factory does (its ``data/README.md`` and ``data/parser.py``,
``DatasetAttr``):

- where: ``hf_hub_url`` (a Hub source; ``folder`` is a path inside it), else
  ``file_name`` (relative to the dataset folder); ``ms_hub_url``, ``om_hub_url``,
  ``script_url`` and ``cloud_file_name`` are named as not honoured when they are the
  only way to the data (ignored when ``hf_hub_url`` is there too);
- ``subset``, ``split``, ``num_samples`` (a row count), ``revision``;
- ``formatting: alpaca`` (default): ``columns`` ``prompt``, ``query``, ``response``,
  ``history``, ``system`` map to our ``instruction``, ``input``, ``output``, ``history``,
  ``system``; a stanza whose only column is ``prompt`` is plain text (pre-training);
- ``formatting: sharegpt``/``openai``: ``columns.messages`` and the ``tags``
  (``role_tag``, ``content_tag``, ``user_tag``, ``assistant_tag``, ``observation_tag``,
  ``function_tag``, ``system_tag``) map onto our ShareGPT reader (``conversations`` of
  ``from``/``value`` turns, roles human, gpt, observation, function_call, system);
  ``system`` and ``tools`` columns likewise;
- ``ranking: true`` makes a preference source (``chosen``/``rejected`` columns) and
  ``columns.kto_tag`` a KTO one (the label column);
- ``images``, ``videos``, ``audios`` columns are refused: we do not train on media, and
  dropping them would train on text that refers to media the model never sees.

>>> import json, os, tempfile
>>> d = tempfile.mkdtemp()
>>> info = {"chats": {"file_name": "c.json", "formatting": "sharegpt",
...                   "columns": {"messages": "messages"},
...                   "tags": {"role_tag": "role", "content_tag": "content",
...                            "user_tag": "user", "assistant_tag": "assistant"}}}
>>> from pathlib import Path
>>> _ = Path(d, "dataset_info.json").write_text(json.dumps(info))
>>> recipe, report = read_dataset_info(os.path.join(d, "dataset_info.json"), ["chats"])
>>> s = recipe.sources[0]
>>> s.format, dict(s.fields), dict(s.roles)
('sharegpt', {'conversations': 'messages', 'from': 'role', 'value': 'content'}, {'user': 'human', 'assistant': 'gpt'})
>>> report.fails
False
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from dataprep.errors import UsageError
from dataprep.recipe._yaml import Located, read_located
from dataprep.recipe.model import Recipe, Source
from dataprep.recipe.report import Report

MEDIA = ("images", "videos", "audios")
ALPACA_COLUMNS = {  # theirs -> ours (alpaca reader), with LLaMA-Factory's default column
    "prompt": ("instruction", "instruction"),
    "query": ("input", "input"),
    "response": ("output", "output"),
    "history": ("history", None),
}
# tag -> (our ShareGPT spelling, LLaMA-Factory's default)
ROLE_TAGS = {
    "user_tag": ("human", "human"),
    "assistant_tag": ("gpt", "gpt"),
    "observation_tag": ("observation", "observation"),
    "function_tag": ("function_call", "function_call"),
    "system_tag": ("system", "system"),
}
# openai formatting: LLaMA-Factory reads role/content messages with OpenAI's role names.
OPENAI_TAGS = {
    "role_tag": "role",
    "content_tag": "content",
    "user_tag": "user",
    "assistant_tag": "assistant",
    "observation_tag": "tool",
    "function_tag": "function",
    "system_tag": "system",
}
STANZA_KEYS = (
    "hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name", "file_name",
    "formatting", "ranking", "subset", "split", "folder", "num_samples", "revision",
    "columns", "tags",
)  # fmt: skip


def read_dataset_info(
    path: str, names: Sequence[str], dataset_dir: str | None = None
) -> tuple[Recipe, Report]:
    """The recipe the datasets ``names`` of ``path`` amount to, and the mapping report.

    ``dataset_dir`` is where ``file_name`` is looked for (LLaMA-Factory's
    ``--dataset_dir``; default: the folder of ``path``). UsageError (exit 2) for a name
    the file does not define."""
    info = read_located(path)
    if not isinstance(info, dict):
        raise UsageError(f"{path}:1: expected a JSON object of dataset stanzas [bad-config]")
    if not names:
        raise UsageError(
            f"{path}: name the datasets to read with --dataset NAME[,NAME...] "
            f"(it defines {len(info)}: {', '.join(list(info)[:8])}{', ...' if len(info) > 8 else ''})"
        )
    base = dataset_dir if dataset_dir is not None else os.path.dirname(os.path.abspath(path))
    report = Report()
    sources = []
    kinds = set()
    for name in names:
        if name not in info:
            raise UsageError(
                f"{path}: no dataset named {name!r} in it (--dataset) [unknown-dataset]"
            )
        stanza = info[name]
        line = info.line_of(name) if isinstance(info, Located) else 0
        if not isinstance(stanza, dict):
            raise UsageError(f"{path}:{line}: {name}: expected an object [bad-config]")
        source, kind = _stanza(stanza, name, path, line, base, report)
        sources.append(source)
        kinds.add(kind)
    if len(kinds) > 1:
        report.not_honoured(path, "--dataset", f"the datasets are of different kinds "
                            f"({', '.join(sorted(kinds))}); one run trains one kind",
                            changes_training=True)  # fmt: skip
    kind = kinds.pop() if len(kinds) == 1 else None
    return Recipe(sources=tuple(sources), kind=kind, origin=path), report


def _stanza(
    stanza: dict[str, Any], name: str, path: str, line: int, base: str, report: Report
) -> tuple[Source, str]:
    r = _StanzaReading(stanza, name, path, line, report)
    _ignore_unknown_keys(r)
    where, is_hub = _location(stanza, name, r.at, base, report)
    kw = _options(r, is_hub)
    formatting = _formatting(r)
    ranking = stanza.get("ranking", False)
    kto_col = r.columns.get("kto_tag")
    _refuse_media(r)
    kind, fmt = _kind(r, formatting, ranking, kto_col)
    _pair_columns(r, ranking, kto_col)
    if formatting == "alpaca":
        if _is_plain_text(r.columns, ranking, kto_col):
            fmt = "text"
            _plain_text_column(r)
        else:
            _alpaca_columns(r, ranking)
        _alpaca_other_columns(r)
    else:
        _sharegpt_columns(r, formatting)
    _ignore_unknown_columns_and_tags(r, formatting)

    source = Source(
        path=where, is_hub=is_hub, format=fmt, fields=tuple(r.fields.items()),
        roles=tuple(r.roles.items()), where=f"{path}:{line}", name=name, **kw,
    )  # fmt: skip
    return source, kind


class _StanzaReading:
    """One stanza being read: where its keys are, and the ``--field``/``--role`` maps its
    keys fill."""

    def __init__(
        self, stanza: dict[str, Any], name: str, path: str, line: int, report: Report
    ) -> None:
        self.stanza, self.name, self.path, self.line, self.report = (
            stanza, name, path, line, report,
        )  # fmt: skip
        self.columns = stanza.get("columns") or {}
        self.tags = stanza.get("tags") or {}
        self.fields: dict[str, str] = {}
        self.roles: dict[str, str] = {}

    def at(self, key: str, doc: Any = None) -> str:
        doc = self.stanza if doc is None else doc
        return f"{self.path}:{doc.line_of(key) if isinstance(doc, Located) else self.line}"

    def col_at(self, key: str) -> str:
        return (
            self.at(key, self.columns) if isinstance(self.columns, Located) else self.at("columns")
        )

    def tag_at(self, key: str) -> str:
        return self.at(key, self.tags) if isinstance(self.tags, Located) else self.at("tags")

    def column(self, key: str, ours: str) -> None:
        """Column ``key`` read as our field ``ours``."""
        name, report, value = self.name, self.report, self.columns[key]
        if not isinstance(value, str):
            report.not_honoured(self.col_at(key), f"{name}.columns.{key}", f"{value!r} is not a column name",
                                changes_training=True)  # fmt: skip
            return
        if value != ours:
            self.fields[ours] = value
        report.mapped(self.col_at(key), f"{name}.columns.{key}",
                      f"--field {ours}={value}" if value != ours else f"our {ours} (no mapping needed)")  # fmt: skip


def _ignore_unknown_keys(r: _StanzaReading) -> None:
    for key in r.stanza:
        if key not in STANZA_KEYS:
            r.report.ignored(r.at(key), f"{r.name}.{key}", "LLaMA-Factory does not read it either")


def _options(r: _StanzaReading, is_hub: bool) -> dict[str, Any]:
    """The source's subset, split, revision and row count."""
    stanza, name, report = r.stanza, r.name, r.report
    kw: dict[str, Any] = {}
    for key, ours in (("subset", "subset"), ("split", "split"), ("revision", "revision")):
        if key in stanza:
            kw[ours] = str(stanza[key])
            report.mapped(r.at(key), f"{name}.{key}", f"{ours} {stanza[key]}")
    if "split" not in stanza and is_hub:
        kw["split"] = "train"  # LLaMA-Factory's default
    if "num_samples" in stanza:
        n = stanza["num_samples"]
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            kw["rows"] = n
            report.mapped(r.at("num_samples"), f"{name}.num_samples",
                          f"rows {n} (drawn with the recipe's seed; more than the file has repeats rows, as LLaMA-Factory does)")  # fmt: skip
        else:
            report.not_honoured(r.at("num_samples"), f"{name}.num_samples",
                                f"{n!r} is not a positive whole number", changes_training=True)  # fmt: skip
    return kw


def _formatting(r: _StanzaReading) -> str:
    formatting = r.stanza.get("formatting", "alpaca")
    if "formatting" in r.stanza and formatting not in ("alpaca", "sharegpt", "openai"):
        r.report.not_honoured(r.at("formatting"), f"{r.name}.formatting",
                              f"unknown formatting {formatting!r} (alpaca, sharegpt, openai)", changes_training=True)  # fmt: skip
    return formatting


def _refuse_media(r: _StanzaReading) -> None:
    for media in MEDIA:
        if media in r.columns:
            r.report.refused(r.col_at(media), f"{r.name}.columns.{media}",
                             f"{media} are not supported yet; rows with media are refused, never trained without them")  # fmt: skip


def _kind(r: _StanzaReading, formatting: str, ranking: Any, kto_col: Any) -> tuple[str, str]:
    """The training kind and our format, from ``ranking``, ``kto_tag`` and ``formatting``."""
    stanza, name, report = r.stanza, r.name, r.report
    if ranking and kto_col:
        report.not_honoured(r.at("ranking"), f"{name}.ranking", "a stanza with both ranking and kto_tag",
                            changes_training=True)  # fmt: skip
    if ranking:
        kind, fmt = "dpo", "preference"
        report.mapped(r.at("ranking"), f"{name}.ranking", "preference pairs (--kind dpo)")
    elif kto_col:
        kind, fmt = "kto", "kto"
    else:
        kind, fmt = "sft", formatting if formatting != "openai" else "sharegpt"
    if "formatting" in stanza:
        report.mapped(r.at("formatting"), f"{name}.formatting",
                      f"read with our {'ShareGPT' if formatting != 'alpaca' else 'alpaca'} reader")  # fmt: skip
    if "ranking" in stanza and not ranking:
        report.mapped(r.at("ranking"), f"{name}.ranking", "false: not preference data")
    return kind, fmt


def _pair_columns(r: _StanzaReading, ranking: Any, kto_col: Any) -> None:
    """The KTO label column, and the chosen/rejected columns of a ranking stanza."""
    name, report = r.name, r.report
    if kto_col is not None:
        if kto_col in ("label", "kto_tag"):
            report.mapped(
                r.col_at("kto_tag"), f"{name}.columns.kto_tag", f"KTO label {kto_col} (--kind kto)"
            )
        else:
            r.column("kto_tag", "label")
    for key in ("chosen", "rejected"):
        if key in r.columns:
            if ranking:
                r.column(key, key)
            else:
                report.ignored(
                    r.col_at(key), f"{name}.columns.{key}", "read only with ranking: true"
                )


def _is_plain_text(columns: Any, ranking: Any, kto_col: Any) -> bool:
    return set(columns) - set(MEDIA) == {"prompt"} and not ranking and kto_col is None


def _plain_text_column(r: _StanzaReading) -> None:
    r.column("prompt", "text")
    r.report.note(r.col_at("prompt"), f"{r.name}.columns.prompt",
                  "read as plain text, as LLaMA-Factory's pre-training stage reads it")  # fmt: skip


def _alpaca_columns(r: _StanzaReading, ranking: Any) -> None:
    """prompt/query/response/history, as our alpaca reader or preference prompt reads them."""
    stanza, name, report, columns = r.stanza, r.name, r.report, r.columns
    for key, (ours, _default) in ALPACA_COLUMNS.items():
        if ranking and key == "prompt":
            ours = "prompt"
        if ranking and key in ("query", "response", "history"):
            if key in columns:
                report.not_honoured(r.col_at(key), f"{name}.columns.{key}",
                                    "our preference rows have one prompt string and no history; "
                                    "LLaMA-Factory joins it into the prompt", changes_training=True)  # fmt: skip
            continue
        if key in columns:
            r.column(key, ours)
    if ranking and "prompt" not in columns:
        r.fields["prompt"] = "instruction"
        report.mapped(
            r.at("ranking"),
            f"{name}.columns.prompt",
            "--field prompt=instruction (LLaMA-Factory's default)",
        )
    if ranking:
        report.note(r.at("ranking"), f"{name}.columns.query",
                    "a non-empty input column is not joined into the prompt as LLaMA-Factory does")  # fmt: skip
    elif "query" in columns or "prompt" in columns or not columns:
        report.note(r.at("formatting") if "formatting" in stanza else f"{r.path}:{r.line}",
                    f"{name}.formatting",
                    'instruction and input are joined by a blank line; LLaMA-Factory joins them by one "\\n"')  # fmt: skip


def _alpaca_other_columns(r: _StanzaReading) -> None:
    """system, and what alpaca formatting does not read: tools, messages, the tags."""
    name, report, columns = r.name, r.report, r.columns
    for key in ("system",):
        if key in columns:
            r.column(key, key)
    if "tools" in columns:
        report.not_honoured(r.col_at("tools"), f"{name}.columns.tools",
                            "our alpaca reader has no tools column", changes_training=True)  # fmt: skip
    if "messages" in columns:
        report.ignored(
            r.col_at("messages"), f"{name}.columns.messages", "read only with sharegpt formatting"
        )
    for key in r.tags:
        report.ignored(r.tag_at(key), f"{name}.tags.{key}", "read only with sharegpt formatting")


def _sharegpt_columns(r: _StanzaReading, formatting: str) -> None:
    """sharegpt/openai formatting: the messages, system and tools columns and the tags."""
    name, report, columns, tags = r.name, r.report, r.columns, r.tags
    defaults = OPENAI_TAGS if formatting == "openai" else {}
    messages_col = columns.get("messages", "conversations")
    if "messages" in columns:
        r.column("messages", "conversations")
    elif messages_col != "conversations":
        r.fields["conversations"] = messages_col
    for key in ("system", "tools"):
        if key in columns:
            r.column(key, key)
    for key in ("prompt", "query", "response", "history"):
        if key in columns:
            report.ignored(
                r.col_at(key), f"{name}.columns.{key}", "read only with alpaca formatting"
            )
    for tag, ours in (("role_tag", "from"), ("content_tag", "value")):
        value = tags.get(tag, defaults.get(tag, ours))
        if value != ours:
            r.fields[ours] = value
        if tag in tags:
            report.mapped(r.tag_at(tag), f"{name}.tags.{tag}",
                          f"--field {ours}={value}" if value != ours else f"our {ours}")  # fmt: skip
    for tag, (ours, default) in ROLE_TAGS.items():
        value = tags.get(tag, defaults.get(tag, default))
        if value != ours:
            r.roles[value] = ours
        if tag in tags:
            report.mapped(r.tag_at(tag), f"{name}.tags.{tag}",
                          f"--role {value}={ours}" if value != ours else f"our {ours}")  # fmt: skip


def _ignore_unknown_columns_and_tags(r: _StanzaReading, formatting: str) -> None:
    for key in r.columns:
        if key not in (
            *ALPACA_COLUMNS,
            "messages",
            "system",
            "tools",
            "chosen",
            "rejected",
            "kto_tag",
            *MEDIA,
        ):
            r.report.ignored(
                r.col_at(key), f"{r.name}.columns.{key}", "LLaMA-Factory does not read it either"
            )
    for key in r.tags:
        if formatting != "alpaca" and key not in (*ROLE_TAGS, "role_tag", "content_tag"):
            r.report.ignored(
                r.tag_at(key), f"{r.name}.tags.{key}", "LLaMA-Factory does not read it either"
            )


def _location(
    stanza: dict[str, Any], name: str, at: Any, base: str, report: Report
) -> tuple[str, bool]:
    """Where the data is, as LLaMA-Factory's ``get_dataset_list`` decides it."""
    hub = stanza.get("hf_hub_url")
    others = [
        k for k in ("ms_hub_url", "om_hub_url", "script_url", "cloud_file_name") if k in stanza
    ]
    if hub:
        report.mapped(at("hf_hub_url"), f"{name}.hf_hub_url", f"Hub dataset {hub}")
        for key in others:
            report.ignored(
                at(key), f"{name}.{key}", "hf_hub_url is used, as LLaMA-Factory does by default"
            )
        if "file_name" in stanza:
            report.ignored(
                at("file_name"),
                f"{name}.file_name",
                "LLaMA-Factory ignores it when a hub url is given",
            )
        where = str(hub)
        if "folder" in stanza:
            where = f"hf://datasets/{hub}/{stanza['folder']}"
            report.mapped(
                at("folder"), f"{name}.folder", f"the folder {stanza['folder']} of the Hub dataset"
            )
        return where, True
    for key in others:
        report.not_honoured(at(key), f"{name}.{key}",
                            "only Hugging Face Hub ids and local files are read", changes_training=True)  # fmt: skip
    if others:
        return str(stanza[others[0]]), True
    if "folder" in stanza:
        report.ignored(at("folder"), f"{name}.folder", "used only with a hub url")
    file_name = stanza.get("file_name")
    if not isinstance(file_name, str):
        report.not_honoured(f"{at('file_name') if 'file_name' in stanza else at('')}", f"{name}.file_name",
                            "no file_name or hf_hub_url: nothing says where the data is", changes_training=True)  # fmt: skip
        return "", False
    full = file_name if os.path.isabs(file_name) else os.path.join(base, file_name)
    report.mapped(at("file_name"), f"{name}.file_name", f"local file {full}")
    return full, False
