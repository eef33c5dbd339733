"""Which chat template to render with, and the tokenizer it belongs to.

A template is the tokenizer's own (the default: chat templates belong to the model), a
``.jinja`` file, or a builtin name: ``chatml`` (shipped here) or any template that ships
inside the installed ``trl`` package (``qwen2_5``, ``llama3``, ``gemma_training``, ...).
The ``trl`` ones are read from its folder without importing it (importing trl imports
torch).

>>> "chatml" in builtin_template_names()
True
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from dataprep.errors import PrepareError, UsageError

_HERE = Path(__file__).parent
_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")


@dataclass(frozen=True)
class ChatTemplate:
    """A chat template's source and identity.

    ``name`` is the builtin name, the file path, or ``"tokenizer"`` for the tokenizer's
    own; ``sha256`` (of the UTF-8 source) goes into the manifest and the cache key;
    ``has_generation`` says whether it marks generated text with ``{% generation %}``.
    """

    name: str
    source: str
    sha256: str
    has_generation: bool

    @classmethod
    def from_source(cls, name: str, source: str) -> ChatTemplate:
        return cls(
            name=name,
            source=source,
            sha256=hashlib.sha256(source.encode("utf-8")).hexdigest(),
            has_generation=bool(_GENERATION_TAG.search(source)),
        )


def _trl_template_dir() -> Path | None:
    # find_spec locates the package without running its __init__ (which imports torch).
    spec = importlib.util.find_spec("trl")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "chat_templates"
    return folder if folder.is_dir() else None


@lru_cache(maxsize=1)
def _builtin_paths() -> dict[str, Path]:
    paths: dict[str, Path] = {}
    trl_dir = _trl_template_dir()
    if trl_dir is not None:
        paths.update({p.stem: p for p in sorted(trl_dir.glob("*.jinja"))})
    # Ours last, so "chatml" is always ours.
    paths.update({p.stem: p for p in sorted(_HERE.glob("*.jinja"))})
    return paths


def builtin_template_names() -> list[str]:
    """``chatml`` and every template stem shipped in the installed ``trl`` package."""
    return sorted(_builtin_paths(), key=lambda name: (name != "chatml", name))


def builtin_template(name: str) -> ChatTemplate:
    """A builtin template by name; PrepareError listing the names when unknown."""
    path = _builtin_paths().get(name)
    if path is None:
        raise PrepareError(
            f"no builtin chat template named {name!r}; builtin: {', '.join(builtin_template_names())}"
        )
    return ChatTemplate.from_source(name, path.read_text(encoding="utf-8"))


def needs_chat_template(formats: Iterable[str | None]) -> bool:
    """Whether inputs of these formats (None: not known) need a chat template: all but
    plain ``text`` documents, which are tokenized as they are with EOS appended.

    >>> needs_chat_template(["text", "text"]), needs_chat_template(["text", "messages"])
    (False, True)
    """
    return any(fmt != "text" for fmt in formats)


def resolve_template(
    tokenizer: Any, chat_template: str | None, *, required: bool = True
) -> ChatTemplate | None:
    """The template to render with: ``None`` for the tokenizer's own, a ``.jinja`` path,
    or a builtin name. The template is compiled here so a broken one fails early.

    A tokenizer with no template of its own is a PrepareError, or, when not ``required``
    (plain text only: ``needs_chat_template``), None.

    >>> resolve_template(None, "chatml").has_generation
    True
    >>> resolve_template(None, None, required=False) is None
    True
    """
    if chat_template is None:
        own = getattr(tokenizer, "chat_template", None)
        if isinstance(own, dict):
            # Tokenizers may ship named variants; "default" is what apply_chat_template uses.
            own = own.get("default")
        if not own and not required:
            return None
        if not own:
            where = getattr(tokenizer, "name_or_path", "") or "this tokenizer"
            raise PrepareError(
                f"{where} has no chat template. Pass --chat-template with a .jinja file or a "
                f"builtin name ({', '.join(builtin_template_names())}); "
                "chatml suits most base models."
            )
        template = ChatTemplate.from_source("tokenizer", own)
    elif chat_template in _builtin_paths() and not chat_template.endswith(".jinja"):
        template = builtin_template(chat_template)
    elif (
        chat_template.endswith(".jinja") or os.sep in chat_template or Path(chat_template).is_file()
    ):
        path = Path(chat_template)
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise PrepareError(f"cannot read chat template {chat_template}: {e}") from e
        template = ChatTemplate.from_source(str(path), source)
    else:
        template = builtin_template(chat_template)
    _check_compiles(template)
    _check_budget(template, tokenizer)
    return template


def _check_compiles(template: ChatTemplate) -> None:
    import jinja2

    from dataprep.prepare.template.rendering import compile_template

    try:
        compile_template(template.source)
    except jinja2.TemplateSyntaxError as e:
        raise PrepareError(f"chat template {template.name}: line {e.lineno}: {e.message}") from e


def _check_budget(template: ChatTemplate, tokenizer: Any) -> None:
    """Refuse a template that goes past its rendering budget on a two-message probe: it
    would on every row (see ``budget``). Other failures are the encoder's to judge."""
    from dataprep.prepare.template.budget import TemplateBudgetExceeded
    from dataprep.prepare.template.rendering import compile_template, render

    probe = [
        {"role": "user", "content": "Probe question"},
        {"role": "assistant", "content": "Probe answer"},
    ]
    variables = dict(getattr(tokenizer, "special_tokens_map", None) or {})
    try:
        render(compile_template(template.source), probe, variables=variables)
    except TemplateBudgetExceeded as e:
        raise PrepareError(
            f"chat template {template.name} is refused: on a two-message probe "
            f"conversation it went past its rendering budget ({e.what})"
        ) from None
    except Exception:
        pass  # the encoder reports a failing template, row by row


def _looks_like_path(name: str) -> bool:
    """A path rather than a Hub name (``org/model``): ``./tok``, ``/data/tok``, ``a/b/c``."""
    return (
        name.startswith(("/", ".", "~"))
        or name.count("/") > 1
        or (os.sep != "/" and os.sep in name)
    )


def load_tokenizer(name_or_path: str) -> Any:
    """Load a fast tokenizer from a local folder (or the local Hugging Face cache), offline.

    A folder that ``tokenizer.light_refusal`` accepts (``tokenizer.json`` with a plain
    ``TokenizersBackend`` config) is loaded with ``tokenizers`` alone, in milliseconds and
    without importing transformers or torch; any other goes to transformers
    (``load_transformers_tokenizer``). Both give the same tokens, special tokens, template
    and vocabulary (tests/dataprep/prepare/template/test_tokenizer.py).
    """
    from dataprep.prepare.template.tokenizer import light_refusal, load_light_tokenizer

    if light_refusal(name_or_path) is None:
        try:
            return load_light_tokenizer(name_or_path)
        except Exception:  # a damaged folder: transformers says what is wrong with it
            pass
    return load_transformers_tokenizer(name_or_path)


def load_transformers_tokenizer(name_or_path: str) -> Any:
    """Load a tokenizer with transformers' ``AutoTokenizer``, offline.

    Never touches the network: ``HF_HUB_OFFLINE`` is set before transformers is imported.
    A tokenizer that cannot be loaded, or has no fast (Rust) backend, is a PrepareError
    that says what to give instead.
    """
    if _looks_like_path(name_or_path) and not Path(name_or_path).expanduser().exists():
        raise UsageError(
            f"tokenizer {name_or_path}: no such folder; pass --tokenizer with a folder "
            "holding tokenizer.json (or a name in the Hugging Face cache)"
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import warnings

    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except Exception as e:  # transformers raises OSError, ValueError, KeyError... for bad input
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PrepareError(
            f"cannot load tokenizer {name_or_path!r} offline ({first_line}). Give a local folder "
            "holding tokenizer.json and tokenizer_config.json, or a name already in the "
            "Hugging Face cache."
        ) from e
    finally:
        hf_logging.set_verbosity(verbosity)
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise PrepareError(
            f"tokenizer {name_or_path!r} has no fast (Rust) tokenizer: prepare needs a "
            "tokenizer.json (convert it once with transformers and save_pretrained)."
        )
    return tokenizer
