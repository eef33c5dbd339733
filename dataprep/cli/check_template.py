"""``dataprep check-template``: can the masks of this tokenizer and chat template be
trusted? What a user runs before a long training job."""

from __future__ import annotations

import sys
from typing import Any

import click

from dataprep.cli._options import system_option, tokenizer_option
from dataprep.cli._template import template_options


@click.command("check-template")
@tokenizer_option(required=True)
@template_options
@system_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def check_template(ctx: click.Context, tokenizer: str, chat_template: str | None,
                   system: str | None, thinking: str, template_kwargs: dict[str, Any],
                   as_json: bool) -> None:  # fmt: skip
    """Check which tokens a chat template trains, for one tokenizer.

    \b
    Two independent methods find the trained tokens of each assistant turn: the fast
    one prepare uses ({% generation %} blocks, or a walk over the turn headers and
    end-of-turn text) and render-diff (render a conversation twice with one turn's
    text swapped: what changes is that turn's; add the text that closes it). They are
    compared on probe conversations: with and without a system prompt, 1 to 6
    exchanges, tool calls, text that repeats the headers, whitespace at the edges.
    The report says how turns open and close, how BOS is handled, whether the template
    writes think blocks, which method is used and why, and shows one conversation
    with its trained tokens highlighted.

    \b
    Examples:
      dataprep check-template --tokenizer ./my-model
      dataprep check-template --tokenizer ./my-model --chat-template chatml --json
      dataprep check-template --tokenizer ./qwen3 --template-kwarg enable_thinking=false

    Exit codes: 0 the masks agree, 1 they could be wrong (prepare refuses this
    template), 2 usage error.
    """
    from dataprep.prepare.template.check import check_template as run_check
    from dataprep.prepare.template.choice import load_tokenizer, resolve_template
    from dataprep.prepare.template.special_tokens import add_template_tokens

    tok = load_tokenizer(tokenizer)
    template = resolve_template(tok, chat_template)
    add_template_tokens(tok, template)  # checked as prepare will use it
    report = run_check(
        tok,
        template,
        template_kwargs=template_kwargs,
        system=system,
        thinking=thinking,
    )
    if as_json:
        import orjson

        click.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(describe(report, tok, color=sys.stdout.isatty()))
    ctx.exit(0 if report["ok"] else 1)


def describe(report: dict[str, Any], tokenizer: Any, color: bool) -> str:
    """The report for a person."""
    from dataprep.cli.inspect import TRAINED_CLOSE, TRAINED_OPEN, highlighted

    masks, turns, bos, thinking = (
        report["masks"],
        report["turns"],
        report["bos"],
        report["thinking"],
    )
    verdict = "masks verified" if report["ok"] else "MASKS COULD BE WRONG"
    lines = [f"chat template {report['template']['name']}: {verdict}"]
    rows = [
        ("span method", f"{masks['method']}: {masks['why']}"),
        ("agreement", ", ".join(f"{m} {n}/{masks['probes']} probes" for m, n in masks["agreeing"].items()) or "-"),
        ("generation prompt", repr(turns["generation_prompt"])),
        ("assistant headers", ", ".join(map(repr, turns["headers"])) or "none (the reply follows the user turn)"),
        ("end of turn", ", ".join(map(repr, turns["end_of_turn"])) or "none"),
        ("BOS", f"{bos['token']!r}: template writes it: {_yes(bos['template_writes'])}, tokenizer adds it: {_yes(bos['tokenizer_adds'])}; rows start with {bos['rows_start_with']}"),
        ("empty think block", thinking["empty_block"]),
        ("reasoning rendered", f"{_yes(thinking['renders_reasoning'])} (--thinking {thinking['policy']})"),
        ("tool calls", report["tool_calls"]),
    ]  # fmt: skip
    width = max(len(k) for k, _ in rows)
    lines += [f"  {k.ljust(width)}  {v}" for k, v in rows]
    for problem in masks["problems"]:
        lines.append(f"{'disagreement' if report['ok'] else 'problem'}: {problem}")
    for warning in report["warnings"]:
        lines.append(f"warning: {warning}")
    for note in report["notes"]:
        lines.append(f"note: {note}")
    example = report["example"]
    if example:

        class _Text:
            def decode(self, ids: list[int]) -> str:
                return tokenizer.decode(ids, skip_special_tokens=False)

        trained = sum(t["trained"] for t in example["tokens"])
        lines.append(f"example ({len(example['tokens'])} tokens, {trained} trained):")
        if not color:
            lines.append(f"(trained text is {TRAINED_OPEN}between markers{TRAINED_CLOSE})")
        lines.append(highlighted(example["tokens"], _Text(), color))  # type: ignore[arg-type]
    return "\n".join(lines)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
