"""The chat-template options ``prepare`` and ``check-template`` share, declared once:
``--chat-template``, ``--thinking`` and ``--template-kwarg`` (parsed to a dict here).
``stats`` takes ``--chat-template`` alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def parse_template_kwargs(items: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs, each VALUE read as YAML (``true``, ``3``, ``text``).

    >>> parse_template_kwargs(("enable_thinking=false", "name=Ada"))
    {'enable_thinking': False, 'name': 'Ada'}
    """
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise click.BadParameter(
                f"{item!r} is not KEY=VALUE with KEY a name", param_hint="--template-kwarg"
            )
        try:
            out[key.strip()] = yaml.safe_load(value) if value else ""
        except yaml.YAMLError as e:
            raise click.BadParameter(f"{item!r}: {e}", param_hint="--template-kwarg") from e
    return out


def template_options(f: F) -> F:
    """Put ``--chat-template``, ``--thinking`` and ``--template-kwarg`` on a command; the
    command receives ``chat_template``, ``thinking`` and ``template_kwargs`` (a dict)."""
    f = click.option(
        "--template-kwarg",
        "template_kwargs",
        multiple=True,
        metavar="KEY=VALUE",
        callback=lambda ctx, param, value: parse_template_kwargs(value),
        help="A variable for the chat template, VALUE read as YAML (e.g. enable_thinking=false).",
    )(f)
    f = click.option(
        "--thinking",
        type=click.Choice(["keep", "last", "drop"]),
        default="keep",
        show_default=True,
        help="Reasoning of assistant turns: kept in every turn, in the last only (as Qwen3 and "
        "DeepSeek-R1 templates render history), or removed. The template may drop more.",
    )(f)
    return chat_template_option(f)


def chat_template_option(f: F) -> F:
    """``--chat-template``; the command receives ``chat_template`` (None: the tokenizer's)."""
    return click.option(
        "--chat-template",
        help="A .jinja file or a builtin name (chatml, ...) [default: the tokenizer's].",
    )(f)
