"""A tokenizer folder loaded with ``tokenizers`` alone, as transformers would load it.

Importing transformers costs about two seconds (it imports torch); a prepare run on a
small file costs less than that. Most tokenizer folders are a ``tokenizer.json`` (the Rust
tokenizer, complete) plus a ``tokenizer_config.json`` naming the special tokens and the
chat template. For those, transformers 5 (``TokenizersBackend``) reads the JSON file as it
is and adds the config's special tokens to it; ``LightTokenizer`` does the same steps, and
exposes the part of the transformers tokenizer that prepare uses (``backend_tokenizer``,
the special tokens and their ids, ``chat_template``, ``get_vocab``, ``len``,
``convert_*``, ``decode``, ``add_tokens``).

The rule (``light_refusal``): a folder is loaded light only when transformers would load it
with ``TokenizersBackend`` and nothing else decides its tokens:

- it is a local folder holding ``tokenizer.json`` and ``tokenizer_config.json``;
- the config's ``tokenizer_class`` is ``TokenizersBackend`` or ``PreTrainedTokenizerFast``
  (a model class such as ``Qwen2Tokenizer`` or ``LlamaTokenizer`` may rebuild the backend
  from the vocabulary with its own pre-tokenizer: only transformers knows how);
- a model folder's ``config.json`` names no ``model_type`` for which transformers picks
  a model's own tokenizer class whatever the config says (``CLASS_BY_MODEL_TYPE``: the
  types transformers 5.24 lists as having a wrong class on the Hub and maps to a class
  of their own); any other model type is loaded as the config's class says, so light.
  No ``tekken.json`` (Mistral's own format);
- the config has none of the keys that make transformers do more than read it
  (``_TRANSFORMERS_ONLY_KEYS``: remote code, another tokenizer file, GGUF, regex fixes).

Anything else (a Hub name, a sentencepiece or tiktoken folder, another class) goes to
transformers; nothing is guessed. The tests hold the two loaders equal on every tokenizer
they can build (``tests/dataprep/prepare/template/test_tokenizer.py``).

>>> light_refusal("samples/tiny-tokenizer") is None
True
>>> tok = load_light_tokenizer("samples/tiny-tokenizer")
>>> tok.eos_token, tok.convert_tokens_to_ids(tok.eos_token) == tok.eos_token_id
('<|im_end|>', True)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# The classes transformers 5 builds straight from tokenizer.json (``TokenizersBackend``;
# ``PreTrainedTokenizerFast`` is its alias).
LIGHT_CLASSES = ("TokenizersBackend", "PreTrainedTokenizerFast")

# tokenizer_config.json keys that make transformers do something we do not: load remote
# code, read another tokenizer file, convert GGUF, patch a pre-tokenizer. Other keys are
# stored by TokenizersBackend without changing a token (model_max_length, padding_side...).
_TRANSFORMERS_ONLY_KEYS = (
    "auto_map",
    "fast_tokenizer_files",
    "tokenizer_file",
    "gguf_file",
    "fix_mistral_regex",
    "model_specific_special_tokens",
    "init_inputs",
)

# Model types whose folders transformers 5.24 loads with the model's own tokenizer class
# even when tokenizer_config.json says TokenizersBackend: AutoTokenizer's
# MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS entries that TOKENIZER_MAPPING_NAMES maps to a
# class of their own (models/auto/tokenization_auto.py). That class may rebuild the
# backend from the vocabulary, so only transformers knows the tokens. Every other model
# type gets TokenizersBackend (a Llama 3, Mistral, Gemma or Phi-3 folder whose config says
# PreTrainedTokenizerFast is light). tests/dataprep/prepare/template/test_tokenizer.py
# derives this table from the installed transformers and checks it equal.
CLASS_BY_MODEL_TYPE = {
    "hyperclovax_vision_v2": "GPT2Tokenizer",
    "qwen2": "Qwen2Tokenizer",
    "qwen3_5": "Qwen3_5Tokenizer",
    "qwen3_5_moe": "Qwen3_5Tokenizer",
    "qwen3_5_moe_text": "Qwen3_5Tokenizer",
    "qwen4_exp": "Qwen3_5Tokenizer",
    "siglip2": "Siglip2Tokenizer",
}

# The named special tokens, in transformers' order (all_special_tokens keeps it).
SPECIAL_TOKENS_ATTRIBUTES = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)


def light_refusal(name_or_path: str) -> str | None:
    """Why ``name_or_path`` must be loaded by transformers, or None when the light loader
    reproduces it (the rule is in the module's notes)."""
    folder = Path(name_or_path).expanduser()
    if not folder.is_dir():
        return "not a local folder"
    for name in ("tokenizer.json", "tokenizer_config.json"):
        if not (folder / name).is_file():
            return f"no {name}"
    if (folder / "tekken.json").exists():
        return "tekken.json (Mistral's format)"
    model_config = folder / "config.json"
    if model_config.is_file():
        try:
            model_type = json.loads(model_config.read_text(encoding="utf-8")).get("model_type")
        except (OSError, ValueError, AttributeError):
            return "config.json unreadable"
        if isinstance(model_type, str) and model_type in CLASS_BY_MODEL_TYPE:
            return (
                f"config.json names model_type {model_type!r}, which transformers loads "
                f"with {CLASS_BY_MODEL_TYPE[model_type]}"
            )
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "tokenizer_config.json unreadable"
    if not isinstance(config, dict):
        return "tokenizer_config.json is not an object"
    cls = config.get("tokenizer_class")
    if cls not in LIGHT_CLASSES:
        return f"tokenizer_class {cls!r}"
    for key in _TRANSFORMERS_ONLY_KEYS:
        if config.get(key):
            return f"tokenizer_config.json sets {key}"
    return None


def load_light_tokenizer(folder: str) -> LightTokenizer:
    """The tokenizer in ``folder`` (which ``light_refusal`` accepts), as transformers 5.24's
    ``TokenizersBackend.from_pretrained`` builds it (``tokenization_utils_base._from_pretrained``
    and ``TokenizersBackend.__init__``), step for step."""
    from tokenizers import Tokenizer

    path = Path(folder).expanduser()
    config = _read_config(path)
    chat_template = _chat_templates(path, config)
    specific = _model_specific_tokens(config)
    added_decoder, added_map = _added_tokens(path, config, specific)
    specific = _resolve_added_tokens(config, added_map, specific)
    backend = Tokenizer.from_file(str(path / "tokenizer.json"))
    named, extras = _special_tokens(backend, config, specific)
    backend.encode_special_tokens = bool(config.get("split_special_tokens", False))
    _add_missing_tokens(backend, added_decoder, named, extras)
    _ensure_post_processor(backend)
    return LightTokenizer(
        name_or_path=folder,
        backend=backend,
        named=named,
        extras=extras,
        chat_template=chat_template,
        clean_up_spaces=bool(config.get("clean_up_tokenization_spaces", False)),
    )


def _read_config(path: Path) -> dict[str, Any]:
    config = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.pop("tokenizer_class", None)
    # With a tokenizer.json, the post-processor there decides BOS/EOS, not the config.
    config.pop("add_bos_token", None)
    config.pop("add_eos_token", None)
    return config


def _chat_templates(path: Path, config: dict[str, Any]) -> Any:
    """The chat template (a string, or a dict by name), also set in ``config``."""
    # chat_template.jinja and additional_chat_templates/*.jinja win over the config's.
    templates: dict[str, str] = {}
    if (path / "chat_template.jinja").is_file():
        templates["default"] = (path / "chat_template.jinja").read_text(encoding="utf-8")
    extra_dir = path / "additional_chat_templates"
    if extra_dir.is_dir():
        for file in extra_dir.glob("*.jinja"):
            templates[file.name.removesuffix(".jinja")] = file.read_text(encoding="utf-8")
    if len(templates) == 1 and "default" in templates:
        config["chat_template"] = templates["default"]
    elif templates:
        config["chat_template"] = templates
    chat_template = config.get("chat_template")
    if isinstance(chat_template, (list, tuple)):
        chat_template = {t["name"]: t["template"] for t in chat_template}
    return chat_template


def _model_specific_tokens(config: dict[str, Any]) -> dict[str, Any]:
    """Model-specific named tokens (image_token, ...), taken out of ``config``: any other
    *_token string, and a dict of extra_special_tokens."""
    if "additional_special_tokens" in config and not config.get("extra_special_tokens"):
        config["extra_special_tokens"] = config.pop("additional_special_tokens")
    specific: dict[str, Any] = {}
    for key in list(config):
        if (
            key not in SPECIAL_TOKENS_ATTRIBUTES
            and key.endswith("_token")
            and isinstance(config[key], str)
        ):
            specific[key] = config.pop(key)
    if isinstance(config.get("extra_special_tokens"), dict):
        specific.update(config.pop("extra_special_tokens"))
    return specific


def _added_tokens(
    path: Path, config: dict[str, Any], specific: dict[str, Any]
) -> tuple[dict[int, Any], dict[str, Any]]:
    """The added tokens by id and by content: the config's added_tokens_decoder, else the
    legacy files (which may also set special tokens in ``config`` and ``specific``)."""
    from tokenizers import AddedToken

    added_decoder: dict[int, Any] = {}
    added_map: dict[str, Any] = {}
    if "added_tokens_decoder" in config:
        for index, token in config["added_tokens_decoder"].items():
            token = AddedToken(**token) if isinstance(token, dict) else token
            added_decoder[int(index)] = token
            added_map[str(token)] = token
    else:
        # The legacy files, read only when the config has no added_tokens_decoder.
        _read_special_tokens_map(path, config, specific)
        _read_added_tokens_json(path, config, added_decoder, added_map)
        spec = json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))
        for serialized in spec.get("added_tokens", []):
            serialized = dict(serialized)
            index = serialized.pop("id")
            added_decoder[index] = AddedToken(**serialized)
            added_map[str(added_decoder[index])] = added_decoder[index]
    return added_decoder, added_map


def _read_special_tokens_map(path: Path, config: dict[str, Any], specific: dict[str, Any]) -> None:
    """Legacy special_tokens_map.json: its tokens go into ``config``."""
    special_map_file = path / "special_tokens_map.json"
    if not special_map_file.is_file():
        return
    for key, value in json.loads(special_map_file.read_text(encoding="utf-8")).items():
        if isinstance(value, dict) and key != "extra_special_tokens":
            value = _added(value, special=True)
        elif key == "extra_special_tokens" and isinstance(value, list):
            existing = list(config.get("extra_special_tokens") or [])
            for tok in value:
                tok = _added(tok, special=True) if isinstance(tok, dict) else tok
                if tok not in existing:
                    existing.append(tok)
            value = existing
        config[key] = value
    if isinstance(config.get("extra_special_tokens"), dict):
        specific.update(config.pop("extra_special_tokens"))


def _read_added_tokens_json(
    path: Path, config: dict[str, Any], added_decoder: dict[int, Any], added_map: dict[str, Any]
) -> None:
    """Legacy added_tokens.json: content -> id, special when the config names it."""
    from tokenizers import AddedToken

    added_file = path / "added_tokens.json"
    if not added_file.is_file():
        return
    specials = {str(config[k]) for k in SPECIAL_TOKENS_ATTRIBUTES if config.get(k)}
    specials.update(str(t) for t in (config.get("extra_special_tokens") or []))
    for content, index in json.loads(added_file.read_text(encoding="utf-8")).items():
        is_special = content in specials
        token = AddedToken(
            content,
            rstrip=False,
            lstrip=False,
            normalized=not is_special,
            special=is_special,
        )
        added_decoder[index] = token
        added_map[content] = token


def _added(value: Any, special: bool | None = None) -> Any:
    """A serialized token of special_tokens_map.json as an AddedToken (``special`` forced
    when given); anything else as it is."""
    from tokenizers import AddedToken

    if isinstance(value, dict) and value.get("__type") == "AddedToken":
        value = {k: v for k, v in value.items() if k != "__type"}
        return AddedToken(**value)
    if isinstance(value, dict) and special is not None:
        value = {k: v for k, v in value.items() if k != "special"}
        return AddedToken(**value, special=special)
    return value


def _resolve_added_tokens(
    config: dict[str, Any], added_map: dict[str, Any], specific: dict[str, Any]
) -> dict[str, Any]:
    """``config``'s tokens as AddedTokens (the added ones by content); the model-specific
    tokens with those that became AddedTokens."""
    from tokenizers import AddedToken

    for key in list(config):
        config[key] = _convert_added(config[key], AddedToken)
    for key in SPECIAL_TOKENS_ATTRIBUTES:
        if key in config and added_map and config[key] is not None:
            config[key] = added_map.get(str(config[key]), config[key])
    # In __init__, *_token values that became AddedTokens count as model-specific too
    # (listed first: transformers merges them as {**found_there, **found_before}).
    late = {
        key: config.pop(key)
        for key in list(config)
        if key not in SPECIAL_TOKENS_ATTRIBUTES
        and key.endswith("_token")
        and isinstance(config[key], (str, AddedToken))
    }
    return {**late, **specific}


def _special_tokens(
    backend: Any, config: dict[str, Any], specific: dict[str, Any]
) -> tuple[dict[str, Any], list[Any]]:
    """The named special tokens (transformers' attributes, then the model-specific ones) and
    the extra special tokens."""
    named: dict[str, Any] = dict.fromkeys(SPECIAL_TOKENS_ATTRIBUTES)
    if backend.padding is not None:
        config.setdefault("pad_token", backend.padding["pad_token"])
    for key in SPECIAL_TOKENS_ATTRIBUTES:
        if config.get(key) is not None:
            named[key] = config[key]
    extras = config.get("extra_special_tokens") or []
    if not isinstance(extras, (list, tuple)):
        extras = []
    extras = list(extras)
    named.update(specific)
    return named, extras


def _add_missing_tokens(
    backend: Any, added_decoder: dict[int, Any], named: dict[str, Any], extras: list[Any]
) -> None:
    """TokenizersBackend.__init__ re-adds every token of added_tokens_decoder, then the
    named and extra special tokens the backend lacks (as AddedTokens, special)."""
    from tokenizers import AddedToken

    to_add = [token for _, token in sorted(added_decoder.items(), key=lambda kv: kv[0])]
    have_decoder = backend.get_added_tokens_decoder()
    have = [have_decoder[i].content for i in sorted(have_decoder)]
    encoder = have + [str(t) for t in to_add]
    for value in [*named.values(), *extras]:
        if value is None:
            continue
        if str(value) not in encoder and value not in to_add:
            to_add.append(value)
    if to_add:
        named_strings = [str(t) for t in named.values() if t]
        tokens = []
        for token in to_add:
            if isinstance(token, str):
                token = AddedToken(token, special=True)
            elif not token.special and str(token) in named_strings:
                token.special = True
            tokens.append(token)
        backend.add_tokens(tokens)


def _ensure_post_processor(backend: Any) -> None:
    from tokenizers import processors

    if backend.post_processor is None:
        # transformers' update_post_processor with add_bos_token = add_eos_token = False.
        backend.post_processor = processors.TemplateProcessing(
            single="$A:0", pair="$A:0 $B:1", special_tokens=[]
        )


def _convert_added(value: Any, added_token: type) -> Any:
    """transformers' ``convert_added_tokens(save=False)``: serialized AddedTokens, anywhere
    in a config value, become AddedTokens."""
    if isinstance(value, dict) and value.get("__type") == "AddedToken":
        return added_token(**{k: v for k, v in value.items() if k != "__type"})
    if isinstance(value, (list, tuple)):
        return [_convert_added(v, added_token) for v in value]
    if isinstance(value, dict):
        return {k: _convert_added(v, added_token) for k, v in value.items()}
    return value


class LightTokenizer:
    """The slice of a transformers tokenizer that prepare, check-template and stats use,
    over a ``tokenizers.Tokenizer``. Built by ``load_light_tokenizer``."""

    def __init__(
        self,
        *,
        name_or_path: str,
        backend: Any,
        named: dict[str, Any],
        extras: list[Any],
        chat_template: str | dict[str, str] | None,
        clean_up_spaces: bool,
    ):
        self.name_or_path = name_or_path
        self._tokenizer = backend
        self._named = named
        self._extras = extras
        self.chat_template = chat_template
        self._clean_up_spaces = clean_up_spaces

    def __repr__(self) -> str:
        return f"LightTokenizer({self.name_or_path!r}, {len(self)} tokens)"

    @property
    def backend_tokenizer(self) -> Any:
        return self._tokenizer

    def _token(self, key: str) -> str | None:
        value = self._named.get(key)
        return None if value is None else str(value)

    def _token_id(self, key: str) -> int | None:
        token = self._token(key)
        return None if token is None else self.convert_tokens_to_ids(token)

    bos_token = property(lambda self: self._token("bos_token"))
    eos_token = property(lambda self: self._token("eos_token"))
    unk_token = property(lambda self: self._token("unk_token"))
    pad_token = property(lambda self: self._token("pad_token"))
    bos_token_id = property(lambda self: self._token_id("bos_token"))
    eos_token_id = property(lambda self: self._token_id("eos_token"))
    unk_token_id = property(lambda self: self._token_id("unk_token"))
    pad_token_id = property(lambda self: self._token_id("pad_token"))

    @property
    def special_tokens_map(self) -> dict[str, str]:
        """The named special tokens (model-specific ones too), as transformers 5 gives them."""
        return {k: str(v) for k, v in self._named.items() if v is not None}

    @property
    def extra_special_tokens(self) -> list[str]:
        return [str(t) for t in self._extras]

    @property
    def all_special_tokens(self) -> list[str]:
        seen: dict[str, None] = {}
        for value in [*self._named.values(), *self._extras]:
            if value is not None:
                seen.setdefault(str(value), None)
        return list(seen)

    def __len__(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=False)

    def get_vocab(self) -> dict[str, int]:
        return self._tokenizer.get_vocab(with_added_tokens=True)

    @property
    def added_tokens_decoder(self) -> dict[int, Any]:
        return self._tokenizer.get_added_tokens_decoder()

    def convert_tokens_to_ids(self, tokens: str | list[str]) -> Any:
        if isinstance(tokens, str):
            index = self._tokenizer.token_to_id(tokens)
            return self.unk_token_id if index is None else index
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | list[int]) -> Any:
        if isinstance(ids, int):
            return self._tokenizer.id_to_token(ids)
        return [self._tokenizer.id_to_token(int(i)) for i in ids]

    def decode(self, ids: int | list[int], skip_special_tokens: bool = False) -> str:
        if isinstance(ids, int):
            ids = [ids]
        text = self._tokenizer.decode(
            [int(i) for i in ids], skip_special_tokens=skip_special_tokens
        )
        if self._clean_up_spaces and type(self._tokenizer.model).__name__ != "BPE":
            # transformers' clean_up_tokenization (it skips BPE models, as here).
            for before, after in (
                (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
                (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
            ):  # fmt: skip
                text = text.replace(before, after)
        return text

    def _encoding(self, text: str, add_special_tokens: bool) -> Any:
        backend = self._tokenizer
        if backend.truncation is not None or backend.padding is not None:
            # transformers truncates and pads only when a call asks; so does this.
            from tokenizers import Tokenizer

            backend = Tokenizer.from_str(backend.to_str())
            backend.no_truncation()
            backend.no_padding()
        return backend.encode(text, add_special_tokens=add_special_tokens)

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """The ids of ``text``, with the post-processor's special tokens unless told not."""
        return self._encoding(text, add_special_tokens).ids

    def __call__(
        self, text: str, add_special_tokens: bool = True, return_offsets_mapping: bool = False
    ) -> dict[str, list[Any]]:
        """transformers' ``tokenizer(text)`` for one text: ``input_ids`` and
        ``attention_mask``, and ``offset_mapping`` when asked."""
        encoding = self._encoding(text, add_special_tokens)
        out: dict[str, list[Any]] = {
            "input_ids": encoding.ids,
            "attention_mask": encoding.attention_mask,
        }
        if return_offsets_mapping:
            out["offset_mapping"] = encoding.offsets
        return out

    def add_tokens(self, tokens: list[Any], special_tokens: bool = False) -> int:
        """As transformers: special tokens through the backend's ``add_special_tokens``
        (they are never split and are skipped in decoding), others through ``add_tokens``."""
        if special_tokens:
            return self._tokenizer.add_special_tokens(tokens)
        return self._tokenizer.add_tokens(tokens)
