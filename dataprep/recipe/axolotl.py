"""An Axolotl config's ``datasets:`` / ``test_datasets:`` read as a recipe.

Keys as Axolotl's ``src/axolotl/utils/schemas/datasets.py`` (``SFTDataset``,
``DPODataset``, ``KTODataset``) and ``docs/dataset-formats/`` define them:

- per stanza: ``path`` (a Hub id, or a local file or folder), ``split``, ``name`` (the
  subset), ``revision``, ``data_files`` (one source per file), ``ds_type`` (read by the
  file's extension), ``type``:
  ``chat_template`` (``field_messages``, ``message_property_mappings`` or the older
  ``message_field_role``/``message_field_content``, ``roles``, ``roles_to_train``,
  ``train_on_eos``, ``message_field_training``; ``message_field_training_detail`` and
  ``drop_system_message`` are not honoured), ``alpaca``, ``sharegpt`` (+
  ``conversation``, ``field_human``, ``field_model``), ``completion`` (+ ``field``),
  the DPO types (``chatml.*``/``llama3.*`` ``argilla``, ``argilla_chat``, ``icr``,
  ``intel``, ``prompt_pairs``, ``ultra``, ``chat_template.default``) and the KTO types
  (``chatml.*``/``llama3.*`` ``argilla``, ``argilla_chat``, ``intel``,
  ``prompt_pairs``, ``ultra``); ``input_output`` and ``shards`` are not honoured;
- top level: ``chat_template`` (+ ``chat_template_jinja``), ``sequence_len``,
  ``sample_packing``, ``val_set_size``, ``dataset_prepared_path``, ``train_on_inputs``,
  ``rl``, ``base_model`` (the tokenizer); other top-level keys are training settings,
  named as ignored here (they are ``train``'s business).

>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> p = os.path.join(d, "axo.yaml")
>>> from pathlib import Path
>>> _ = Path(p).write_text('''
... sequence_len: 2048
... datasets:
...   - path: org/chats
...     type: chat_template
...     field_messages: conversation
...     message_property_mappings: {role: speaker, content: text}
... ''')
>>> recipe, report = read_axolotl(p)
>>> s = recipe.sources[0]
>>> recipe.max_length, s.path, s.is_hub, s.format, dict(s.fields)
(2048, 'org/chats', True, 'messages', {'messages': 'conversation', 'role': 'speaker', 'content': 'text'})
>>> report.fails
False
"""

from __future__ import annotations

import os
from typing import Any

from dataprep.errors import UsageError
from dataprep.formats.mapping import MESSAGE_FIELDS, TARGET_ROLES
from dataprep.recipe._yaml import Located, read_located
from dataprep.recipe.model import Recipe, Source
from dataprep.recipe.report import Report

# Top-level keys about the data, handled one by one below.
DATA_KEYS = (
    "datasets", "test_datasets", "chat_template", "chat_template_jinja", "sequence_len",
    "sample_packing", "val_set_size", "dataset_prepared_path", "train_on_inputs", "rl",
    "base_model", "tokenizer_config",
)  # fmt: skip
# The prompt column of the DPO/KTO strategies of chatml.py and llama3.py, by name.
PROMPT_KEY = {"argilla": "instruction", "intel": "question", "icr": "input",
              "prompt_pairs": "prompt", "ultra": "prompt"}  # fmt: skip
TRAIN_ON_EOS_OURS = "turn"  # we train the end of every trained turn, as Axolotl's "turn"
ASSISTANT_ONLY = ({"assistant"}, {"assistant", "gpt"}, {"gpt"})


def read_axolotl(path: str) -> tuple[Recipe, Report]:
    """The recipe an Axolotl config amounts to, and the mapping report."""
    cfg = read_located(path)
    if not isinstance(cfg, Located):
        raise UsageError(f"{path}:1: expected an Axolotl config (a mapping) [bad-config]")
    if not cfg.get("datasets") and not cfg.get("test_datasets"):
        raise UsageError(f"{path}: no datasets: or test_datasets: list in it [bad-config]")
    report = Report()
    base = os.path.dirname(os.path.abspath(path))

    def at(key: str, doc: Any = cfg) -> str:
        return f"{path}:{doc.line_of(key) if isinstance(doc, Located) else 0}"

    rl = cfg.get("rl")
    kind = {
        "dpo": "dpo",
        "ipo": "dpo",
        "orpo": "dpo",
        "simpo": "dpo",
        "kto": "kto",
        None: "sft",
    }.get(rl)
    if "rl" in cfg:
        if kind is None:
            report.not_honoured(at("rl"), "rl", f"{rl!r} data is not prepared here (sft, dpo, kto)",
                                changes_training=True)  # fmt: skip
        else:
            report.mapped(
                at("rl"),
                "rl",
                f"--kind {kind}"
                + (" (the loss is train's choice)" if rl not in ("dpo", "kto") else ""),
            )
    opts: dict[str, Any] = {"kind": kind if "rl" in cfg else None}
    _top_level(cfg, at, report, opts)

    sources: list[Source] = []
    for list_key, is_eval in (("datasets", False), ("test_datasets", True)):
        stanzas = cfg.get(list_key) or []
        if not isinstance(stanzas, list):
            raise UsageError(f"{at(list_key)}: {list_key}: expected a list [bad-config]")
        for i, stanza in enumerate(stanzas):
            prefix = f"{list_key}[{i}]"
            if not isinstance(stanza, Located):
                raise UsageError(f"{at(list_key)}: {prefix}: expected a mapping [bad-config]")
            sources += _stanza(stanza, prefix, path, base, kind or "sft", is_eval, report)
    for key in cfg:
        if key not in DATA_KEYS:
            report.ignored(
                at(key), key, "a training setting, not about the data (train's business)"
            )
    return Recipe(sources=tuple(sources), origin=path, **opts), report


def _looks_like_hub_id(text: str) -> bool:
    """``ORG/NAME`` (no extension, not a relative or absolute path).

    >>> [_looks_like_hub_id(t) for t in ("org/name", "/tmp/a.jsonl", "data/a.jsonl", "./x/y")]
    [True, False, False, False]
    """
    parts = text.split("/")
    return (
        len(parts) == 2
        and all(parts)
        and not text.startswith(".")
        and "." not in os.path.splitext(parts[1])[1]
    )


def _top_level(cfg: Located, at: Any, report: Report, opts: dict[str, Any]) -> None:
    if "sequence_len" in cfg:
        opts["max_length"] = cfg["sequence_len"]
        report.mapped(at("sequence_len"), "sequence_len", f"--max-length {cfg['sequence_len']}")
    if "sample_packing" in cfg:
        opts["pack"] = bool(cfg["sample_packing"])
        report.mapped(
            at("sample_packing"), "sample_packing", "--pack" if opts["pack"] else "--no-pack"
        )
    if "dataset_prepared_path" in cfg:
        opts["output"] = str(cfg["dataset_prepared_path"])
        report.mapped(at("dataset_prepared_path"), "dataset_prepared_path", f"-o {opts['output']}")
    for key in ("base_model", "tokenizer_config"):
        if key in cfg:
            opts["tokenizer"] = str(cfg[key])
            report.mapped(at(key), key, f"--tokenizer {cfg[key]}")
    if "val_set_size" in cfg:
        v = cfg["val_set_size"]
        if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1:
            opts["eval_fraction"] = float(v)
            report.mapped(at("val_set_size"), "val_set_size", f"--eval-fraction {v}")
        else:
            report.not_honoured(at("val_set_size"), "val_set_size",
                                f"{v!r} rows: only a fraction below 1 is taken (--eval-fraction)",
                                changes_training=True)  # fmt: skip
    if "train_on_inputs" in cfg:
        if cfg["train_on_inputs"]:
            opts["mask"] = "all"
            report.mapped(at("train_on_inputs"), "train_on_inputs", "--mask all")
        else:
            report.mapped(at("train_on_inputs"), "train_on_inputs", "false: our default mask")
    template = _template(cfg, "chat_template", "chat_template_jinja", at, report, "")
    if template:
        opts["chat_template"] = template


def _template(
    doc: Any, key: str, jinja_key: str, at: Any, report: Report, prefix: str
) -> str | None:
    """The --chat-template a chat_template (+ chat_template_jinja) key amounts to."""
    from dataprep.prepare.template.choice import builtin_template_names

    name = doc.get(key)
    jinja = doc.get(jinja_key)
    if jinja is not None:
        if isinstance(jinja, str) and jinja.endswith(".jinja") and "\n" not in jinja:
            report.mapped(at(jinja_key, doc), f"{prefix}{jinja_key}", f"--chat-template {jinja}")
            return jinja
        report.not_honoured(at(jinja_key, doc), f"{prefix}{jinja_key}",
                            "an inline template: save it as a .jinja file and name that file",
                            changes_training=True)  # fmt: skip
        return None
    if name is None:
        return None
    if name == "tokenizer_default":
        report.mapped(at(key, doc), f"{prefix}{key}", "the tokenizer's template (our default)")
        return None
    if name in builtin_template_names():
        report.mapped(at(key, doc), f"{prefix}{key}", f"--chat-template {name}")
        return str(name)
    report.not_honoured(at(key, doc), f"{prefix}{key}",
                        f"no builtin template {name!r} here (builtin: {', '.join(builtin_template_names())}); "
                        "give the tokenizer that carries it, or a .jinja file", changes_training=True)  # fmt: skip
    return None


def _stanza(
    st: Located, prefix: str, path: str, base: str, kind: str, is_eval: bool, report: Report
) -> list[Source]:
    def at(key: str) -> str:
        return f"{path}:{st.line_of(key)}"

    seen: set[str] = set()

    def mapped(key: str, detail: str) -> None:
        seen.add(key)
        report.mapped(at(key), f"{prefix}.{key}", detail)

    def not_honoured(key: str, why: str, changes: bool = True) -> None:
        seen.add(key)
        report.not_honoured(at(key), f"{prefix}.{key}", why, changes_training=changes)

    def ignored(key: str, why: str) -> None:
        seen.add(key)
        report.ignored(at(key), f"{prefix}.{key}", why)

    fields: dict[str, str] = {}
    roles: dict[str, str] = {}
    kw: dict[str, Any] = {"eval": is_eval}
    where = st.get("path")
    if not isinstance(where, str):
        raise UsageError(f"{path}:{st.line}: {prefix}: needs a path [bad-config]")
    local = os.path.join(base, where) if not os.path.isabs(where) else where
    # Axolotl tries a local path first, then the Hub; a path that exists nowhere and does
    # not look like ORG/NAME stays local (so the check says it is missing).
    is_hub = not os.path.exists(local) and _looks_like_hub_id(where)
    seen.add("path")
    report.mapped(at("path"), f"{prefix}.path",
                  f"Hub dataset {where}" if is_hub else f"local {local}")  # fmt: skip
    for key, ours in (("split", "split"), ("name", "subset"), ("revision", "revision")):
        if key in st:
            kw[ours] = str(st[key])
            mapped(key, f"{ours} {st[key]}")
    if "ds_type" in st:
        ignored("ds_type", "files are read by their extension and content")
    if "shards" in st or "shards_idx" in st:
        for key in ("shards", "shards_idx"):
            if key in st:
                not_honoured(key, "every row is taken: sharding is not done here")
    for key in ("trust_remote_code", "preprocess_shards"):
        if key in st:
            ignored(key, "no loading script is run; preparing is ours")

    fmt = _type(
        st, at, prefix, kind, fields, roles, kw, report, seen, mapped, not_honoured, ignored
    )
    kw["format"] = fmt
    template = _template(
        st, "chat_template", "chat_template_jinja", lambda k, d: at(k), report, f"{prefix}."
    )
    seen |= {"chat_template", "chat_template_jinja"}
    if template:
        report.note(at("chat_template"), f"{prefix}.chat_template",
                    "one template per run here: pass it as the recipe's chat_template")  # fmt: skip
    for key in st:
        if key not in seen:
            not_honoured(key, "not read here", changes=False)

    files = st.get("data_files")
    paths: list[str]
    if files is None:
        paths = [where if is_hub else local]
    else:
        files = [files] if isinstance(files, str) else list(files)
        if is_hub:
            paths = [f"hf://datasets/{where}/{f}" for f in files]
        else:
            paths = [f if os.path.isabs(f) else os.path.join(base, f) for f in files]
        report.mapped(
            at("data_files"), f"{prefix}.data_files", f"one source per file ({len(paths)})"
        )
    return [
        Source(path=p, is_hub=is_hub, fields=tuple(fields.items()), roles=tuple(roles.items()),
               where=f"{path}:{st.line}",
               name=prefix if len(paths) == 1 else f"{prefix}.data_files[{j}]", **kw)
        for j, p in enumerate(paths)
    ]  # fmt: skip


def _type(st, at, prefix, kind, fields, roles, kw, report, seen, mapped, not_honoured, ignored):
    """The format of one stanza, filling ``fields``/``roles``/``kw`` from its keys."""
    seen.add("type")
    t = st.get("type")
    if isinstance(t, dict):
        return _user_defined(t, at, prefix, kind, fields, report)
    t = str(t) if t is not None else None
    if kind in ("dpo", "kto") and t is not None:
        return _pair_type(st, t, at, prefix, kind, fields, roles, report, mapped, not_honoured)
    if t == "chat_template":
        return _chat_template_type(st, fields, roles, mapped, not_honoured)
    if t in ("alpaca", "alpaca_chat", "alpaca_w_system"):
        return _alpaca_type(at, prefix, report, mapped)
    if t is not None and t.split(":")[0] == "sharegpt":
        return _sharegpt_type(st, at, prefix, fields, roles, report, seen, mapped)
    if t == "completion":
        return _completion_type(st, fields, seen, mapped)
    if t == "input_output":
        not_honoured(
            "type", "input_output segments (text with per-segment label) are not read here"
        )
        return None
    if t is None:
        report.note(at("path"), f"{prefix}.type", "no type: the format is detected from the rows")
        return None
    not_honoured("type", f"type {t!r} is not read here")
    return None


def _pair_type(st, t, at, prefix, kind, fields, roles, report, mapped, not_honoured):
    """A DPO or KTO stanza's type: chat_template.default, or a chatml/llama3 strategy."""
    strategy, _, variant = t.rpartition(".")
    if t == "chat_template.default" and kind == "dpo":
        return _preference_messages_type(st, fields, roles, mapped, not_honoured)
    if strategy in ("chatml", "llama3") and variant in (*PROMPT_KEY, "argilla_chat"):
        return _strategy_type(
            strategy, variant, at, prefix, kind, fields, report, mapped, not_honoured
        )
    not_honoured("type", f"{kind} type {t!r} is not read here")
    return None


def _preference_messages_type(st, fields, roles, mapped, not_honoured):
    # prompt messages + one chosen and one rejected message: LLaMA-Factory's
    # ShareGPT preference shape, which our preference reader takes.
    fields["conversations"] = str(st.get("field_messages", "messages"))
    mapped("type", "preference: messages and one chosen/rejected message each")
    for key, ours in (
        ("field_messages", "conversations"),
        ("field_chosen", "chosen"),
        ("field_rejected", "rejected"),
    ):
        if key in st:
            if key != "field_messages" and st[key] != ours:
                fields[ours] = str(st[key])
            mapped(key, f"--field {ours}={st[key]}")
    props = _properties(st, mapped, not_honoured)
    fields["from"] = props.get("role", "role")
    fields["value"] = props.get("content", "content")
    _roles(st, roles, mapped, not_honoured)
    return "preference"


def _strategy_type(strategy, variant, at, prefix, kind, fields, report, mapped, not_honoured):
    """chatml.* / llama3.* DPO and KTO types, by the variant's prompt column."""
    if variant == "argilla_chat":
        if kind == "dpo":
            mapped("type", "preference: chosen and rejected conversations, the prompt shared")
            return "preference"
        fields["messages"] = "completion"
        mapped(
            "type",
            "KTO: the completion conversation with its label (--field messages=completion)",
        )
        return "kto"
    if kind == "dpo" and variant == "ultra":
        # A prompt string beside chosen/rejected conversations: our reader takes
        # all strings or all lists, and which to drop is not ours to guess.
        not_honoured(
            "type",
            "ultra rows (a prompt string beside chosen/rejected conversations) are not read here",
        )
        return None
    if PROMPT_KEY[variant] != "prompt":
        fields["prompt"] = PROMPT_KEY[variant]
    mapped(
        "type",
        f"{'preference' if kind == 'dpo' else 'KTO'} strings, prompt from {PROMPT_KEY[variant]}",
    )
    report.note(at("type"), f"{prefix}.type",
                f"Axolotl writes {strategy} markup into the text itself; here the chat template renders it"
                + (" (give chat_template: chatml to match)" if strategy == "chatml" else ""))  # fmt: skip
    return "preference" if kind == "dpo" else "kto"


def _chat_template_type(st, fields, roles, mapped, not_honoured):
    """type: chat_template, read by our messages reader."""
    mapped("type", "our messages reader")
    if "field_messages" in st:
        if st["field_messages"] != "messages":
            fields["messages"] = str(st["field_messages"])
        mapped("field_messages", f"--field messages={st['field_messages']}")
    props = _properties(st, mapped, not_honoured)
    for ours, theirs in props.items():
        if ours != theirs:
            fields[ours] = theirs
    _roles(st, roles, mapped, not_honoured)
    _training_keys(st, fields, mapped, not_honoured)
    return "messages"


def _training_keys(st, fields, mapped, not_honoured):
    """What a chat_template stanza trains: roles_to_train, train_on_eos, the per-message
    flag, system messages."""
    if "roles_to_train" in st:
        wanted = set(st["roles_to_train"] or [])
        if wanted in ASSISTANT_ONLY:
            mapped("roles_to_train", "--mask assistant (our default)")
        else:
            not_honoured(
                "roles_to_train",
                f"training {sorted(wanted)}: our masks train assistant turns, the last one, or all",
            )
    if "train_on_eos" in st:
        if st["train_on_eos"] == TRAIN_ON_EOS_OURS:
            mapped("train_on_eos", "turn: the end of every trained turn is trained (ours)")
        else:
            not_honoured(
                "train_on_eos",
                f"{st['train_on_eos']!r}: we train the end of every trained turn (turn)",
            )
    if "message_field_training" in st:
        if st["message_field_training"] != "train":
            fields["train"] = str(st["message_field_training"])
        mapped(
            "message_field_training",
            f"per-message train flag --field train={st['message_field_training']}",
        )
    if "message_field_training_detail" in st:
        not_honoured(
            "message_field_training_detail", "training parts of a message is not supported"
        )
    if "drop_system_message" in st:
        if st["drop_system_message"]:
            not_honoured("drop_system_message", "system messages are kept")
        else:
            mapped("drop_system_message", "false: system messages kept")


def _alpaca_type(at, prefix, report, mapped):
    mapped("type", "our alpaca reader")
    report.note(at("type"), f"{prefix}.type",
                "Axolotl renders alpaca with the Alpaca prompt text; here the chat template renders it")  # fmt: skip
    return "alpaca"


def _sharegpt_type(st, at, prefix, fields, roles, report, seen, mapped):
    """sharegpt (and sharegpt:...) types: our ShareGPT reader, with the role and field keys."""
    mapped("type", "our ShareGPT reader")
    if "conversation" in st:
        if st["conversation"] == "chatml":
            mapped("conversation", "chatml: give chat_template: chatml (the run's template)")
        else:
            report.note(at("conversation"), f"{prefix}.conversation",
                        f"{st['conversation']!r} markup: here the chat template renders the turns")  # fmt: skip
            seen.add("conversation")
    for key, ours in (("field_human", "human"), ("field_model", "gpt")):
        if key in st:
            roles[str(st[key])] = ours
            mapped(key, f"--role {st[key]}={ours}")
    if "field_messages" in st:
        fields["conversations"] = str(st["field_messages"])
        mapped("field_messages", f"--field conversations={st['field_messages']}")
    return "sharegpt"


def _completion_type(st, fields, seen, mapped):
    """type: completion, plain text from ``field``."""
    field = str(st.get("field", "text"))
    if field != "text":
        fields["text"] = field
    mapped("type", "plain text" + (f" (--field text={field})" if field != "text" else ""))
    if "field" in st:
        seen.add("field")
    return "text"


def _properties(st, mapped, not_honoured) -> dict[str, str]:
    """message_property_mappings (or the older message_field_role/_content): ours -> theirs."""
    props: dict[str, str] = {}
    for key, ours in (("message_field_role", "role"), ("message_field_content", "content")):
        if key in st:
            props[ours] = str(st[key])
            mapped(key, f"--field {ours}={st[key]}")
    pm = st.get("message_property_mappings")
    if pm is not None:
        ok = {k: str(v) for k, v in pm.items() if k in MESSAGE_FIELDS}
        props.update(ok)
        bad = sorted(set(pm) - set(ok))
        if bad:
            not_honoured("message_property_mappings", f"message properties {bad} are not ours")
        else:
            mapped(
                "message_property_mappings", ", ".join(f"--field {k}={v}" for k, v in ok.items())
            )
    return props


def _roles(st, roles: dict[str, str], mapped, not_honoured) -> None:
    theirs = st.get("roles")
    if theirs is None:
        return
    bad = [r for r in theirs if r not in TARGET_ROLES]
    for ours, names in theirs.items():
        if ours in TARGET_ROLES:
            for name in names or []:
                if name != ours:
                    roles[str(name)] = ours
    if bad:
        not_honoured("roles", f"roles {bad} are not ours (user, assistant, system, tool)")
    else:
        mapped("roles", ", ".join(f"--role {k}={v}" for k, v in roles.items()) or "our role names")


def _user_defined(
    t: dict[str, Any], at: Any, prefix: str, kind: str, fields: dict[str, str], report: Report
) -> str | None:
    """``type:`` given as a mapping (Axolotl's user-defined prompt types)."""
    table = {
        "sft": {
            "field_instruction": "instruction",
            "field_input": "input",
            "field_output": "output",
            "field_system": "system",
        },
        "dpo": {
            "field_prompt": "prompt",
            "field_chosen": "chosen",
            "field_rejected": "rejected",
            "field_system": "system",
        },
        "kto": {
            "field_prompt": "prompt",
            "field_completion": "completion",
            "field_label": "label",
            "field_system": "system",
        },
    }[kind]
    fmt = {"sft": "alpaca", "dpo": "preference", "kto": "kto"}[kind]
    for key, value in t.items():
        where = f"{at('type')}"
        if key in table:
            if value != table[key]:
                fields[table[key]] = str(value)
            report.mapped(where, f"{prefix}.type.{key}", f"--field {table[key]}={value}")
        elif key.endswith("format") or key == "system_prompt":
            report.not_honoured(where, f"{prefix}.type.{key}",
                                "a prompt format string: here the chat template renders the rows", changes_training=True)  # fmt: skip
        else:
            report.not_honoured(
                where, f"{prefix}.type.{key}", "not read here", changes_training=True
            )
    return fmt
