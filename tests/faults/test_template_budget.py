"""Hostile chat templates: each is stopped by its budget (or fails as a template error),
quickly and without a traceback; normal templates render as plain jinja renders them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jinja2
import pytest
from faultrun import SAMPLES, TOKENIZER, in_child
from jinja2.sandbox import ImmutableSandboxedEnvironment

from dataprep.prepare.template import budget
from dataprep.prepare.template.rendering import compile_template, render
from dataprep.prepare.template.sandbox import BudgetedEnvironment, metering

MESSAGES = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
BIG = "{% set s = 'a' * 20000000 %}"

# (template, what the budget says): each asks for gigabytes or billions of steps.
HOSTILE = {
    "repeat": ("{{ 'a' * 10**10 }}", "a string of 10,000,000,000 characters"),
    "repeat-list": ("{{ [1] * 10**9 }}", "a list of 1,000,000,000 items"),
    "power": ("{{ 7 ** (10**8) }}", "an integer of"),
    "nested-range": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "steps",
    ),
    "nested-loop-over-a-range": (
        "{% set r = range(100000) %}{% for i in r %}{% for j in r %}{% endfor %}{% endfor %}",
        "steps",
    ),
    "nested-loop-over-a-string": (
        "{% set s = 'a' * 100000 %}{% for x in s %}{% for y in s %}{% endfor %}{% endfor %}",
        "steps",
    ),
    "range-too-long": ("{{ range(10**9)|length }}", "a range of 1,000,000,000 items"),
    "strftime": ("{{ strftime_now('%Y' * 10**7) }}", "a strftime_now format"),
    "concat-doubling": (
        BIG + "{% set b = s ~ s %}{% set c = b ~ b %}{% set d = c ~ c %}{{ d|length }}",
        "a string of",
    ),
    "plus-doubling": (
        BIG + "{% set b = s + s %}{% set c = b + b %}{% set d = c + c %}{{ d|length }}",
        "a string of",
    ),
    "namespace-doubling": (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        "characters",
    ),
    "macro-doubling": (
        "{% macro m(n) %}{% if n %}{{ m(n-1) }}{{ m(n-1) }}{% else %}xxxxxxxx{% endif %}"
        "{% endmacro %}{{ m(40) }}",
        "characters for one conversation",
    ),
    "shared-list-printed": (
        "{% set a = ['x' * 1000000] %}{% set b = [a,a,a,a,a,a,a,a] %}"
        "{% set c = [b,b,b,b,b,b,b,b] %}{{ [c,c,c,c,c,c,c,c] }}",
        "printed as text",
    ),
    "loop-into-a-block": (
        "{% set s = 'a' * 10000000 %}{% set y %}{% for i in range(100000) %}{{ s }}"
        "{% endfor %}{% endset %}{{ y|length }}",
        "",
    ),
    "loop-output": (
        "{% set s = 'a' * 10000000 %}{% for i in range(100000) %}{{ s }}{% endfor %}",
        "",
    ),
    "center": ("{{ 'a'|center(10**10) }}", "a width or count"),
    "ljust": ("{{ 'a'.ljust(10**10) }}", "a width or count"),
    "format-width": ("{{ '{:>1000000000}'.format(1) }}", "a format width"),
    "percent-width": ("{{ '%1000000000s' % 'a' }}", "a format width"),
    "replace": (BIG + "{{ s|replace('a', 'aaaa') }}", "a string of"),
    "join": (BIG + "{{ ([s] * 100)|join }}", "printed as text"),
    "indent": ("{{ ('\n' * 10000000)|indent(100) }}", "an indented string"),
    "expandtabs": ("{{ ('\t' * 1000000).expandtabs(100000) }}", "a string of"),
    "tojson-indent": ("{{ messages|tojson(indent=10**9) }}", "a tojson indent"),
    "sum-of-lists": ("{{ ([[1] * 3000] * 3000)|sum(start=[]) }}", "a sum of"),
    "recursion": ("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "recursed"),
}


@pytest.mark.parametrize(("source", "says"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_template_is_stopped_by_its_budget(source, says):
    # In a child with 1 GiB more address space and a minute: without the budget, the
    # child dies or overruns, not the test session.
    with pytest.raises(budget.TemplateBudgetExceeded) as raised:
        in_child(_render, source)
    assert raised.value.code == "template-budget"
    assert says in str(raised.value)


def _render(source: str) -> str:
    return render(compile_template(source), MESSAGES).text


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ 1e308 * 1e308 * 10 ** 400 }}", "OverflowError"),
        ("{{ raise_exception('no') }}", "no"),
        ("{{ messages[5].content.x() }}", "no element"),
    ],
)
def test_a_failing_template_is_a_template_error(source, error):
    with pytest.raises((jinja2.TemplateError, TypeError)) as raised:
        render(compile_template(source), MESSAGES)
    assert error in str(raised.value)


# A sample of the templates that ship with trl, of different families (every one of them
# is compared with transformers' rendering in tests/dataprep/prepare/test_oracle_trl.py).
SAMPLE = ("llama3", "qwen3", "gptoss", "deepseekv3", "gemma3", "phi3", "cohere2", "glm4moe",
          "smolvlm", "nemotron_3_nano")  # fmt: skip


def trl_templates() -> list[Path]:
    import importlib.util

    spec = importlib.util.find_spec("trl")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations))) / "chat_templates"
    return [folder / f"{name}.jinja" for name in SAMPLE if (folder / f"{name}.jinja").is_file()]


CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
    [
        {"role": "system", "content": "Be brief."},
        *[
            m
            for i in range(4)
            for m in (
                {"role": "user", "content": f"Question {i}?"},
                {"role": "assistant", "content": f"Answer {i}.", "reasoning_content": "Think."},
            )
        ],
    ],
    [
        {"role": "user", "content": "Call it"},
        {
            "role": "assistant",
            "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}],
        },
        {"role": "tool", "content": "42", "name": "f"},
        {"role": "assistant", "content": "Done"},
    ],
]


def plain_render(env: jinja2.Environment, source: str, messages: list, **kw: object) -> str:
    try:
        return env.from_string(source).render(messages=messages, **kw)
    except Exception as e:  # compared as text: both must fail alike
        return f"{type(e).__name__}: {e}"


@pytest.mark.parametrize("path", trl_templates(), ids=lambda p: p.stem)
def test_metering_renders_as_plain_jinja(path):
    """The control: the same template through jinja's plain sandbox and through the
    metered one gives the same text (or the same error) for every probe conversation."""
    from dataprep.prepare.template.rendering import _environment

    options = {
        "trim_blocks": True,
        "lstrip_blocks": True,
        "extensions": ["jinja2.ext.loopcontrols"],
    }
    plain = ImmutableSandboxedEnvironment(**options)
    ours = BudgetedEnvironment(**options)
    for env in (plain, ours):  # transformers' additions (tojson, raise_exception, ...)
        env.filters["tojson"] = _environment().filters["tojson"]
        for name in ("raise_exception", "strftime_now", "dict", "namespace"):
            env.globals[name] = _environment().globals[name]
    source = path.read_text()
    source = source.replace("{%- generation %}", "").replace("{%- endgeneration %}", "")
    source = source.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    for messages in CONVERSATIONS:
        for gen in (False, True):
            kw = {"add_generation_prompt": gen, "tools": tools, "bos_token": "<s>"}
            with metering():
                got = plain_render(ours, source, messages, **kw)
            assert got == plain_render(plain, source, messages, **kw)


def test_the_budget_does_not_stop_a_long_conversation():
    """A conversation of a few megabytes renders: the limits are far from real data."""
    long = [{"role": "user", "content": "word " * 400_000}, {"role": "assistant", "content": "ok"}]
    chatml = Path(__file__).parents[2] / "dataprep/prepare/template/chatml.jinja"
    text = render(compile_template(chatml.read_text()), long * 20).text
    assert len(text) > budget.MAX_OUTPUT  # allowed: the conversation itself is that long


# --- end to end: prepare refuses a template (exit 1) or rejects its rows --------------


def bomb_template(tmp_path: Path, condition: str) -> Path:
    chatml = (Path(__file__).parents[2] / "dataprep/prepare/template/chatml.jinja").read_text()
    bomb = f"{{%- if {condition} %}}{{{{ 'a' * 10**10 }}}}{{% endif %}}"
    out = tmp_path / "bomb.jinja"
    out.write_text(chatml.replace("{{- message.content }}", "{{- message.content }}" + bomb, 1))
    return out


def test_prepare_refuses_a_template_past_its_budget_on_the_probe(run, tmp_path):
    template = bomb_template(tmp_path, "true")
    r = run("prepare", SAMPLES / "messages.jsonl", "--tokenizer", TOKENIZER, "--max-length",
            "512", "--chat-template", template, "-o", tmp_path / "out").check_clean(1)  # fmt: skip
    assert "is refused" in r.err and "rendering budget" in r.err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("num_proc", ["1", "2"])
def test_prepare_rejects_the_rows_that_blow_the_budget(run, tmp_path, num_proc):
    template = bomb_template(tmp_path, "'BOMB' in message.content")
    rows = tmp_path / "rows.jsonl"
    good = (SAMPLES / "messages.jsonl").read_text()
    bomb = {
        "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "BOMB"}]
    }
    rows.write_text(good + json.dumps(bomb) + "\n" + good)
    r = run("prepare", rows, "--tokenizer", TOKENIZER, "--max-length", "4096", "--chat-template",
            template, "--num-proc", num_proc, "-o", tmp_path / "out").check_clean(0)  # fmt: skip
    rejects = [
        json.loads(line) for line in (tmp_path / "out/rejects.jsonl").read_text().splitlines()
    ]
    assert [(x["line"], x["code"]) for x in rejects] == [
        (len(good.splitlines()) + 1, "template-budget")
    ]
    assert "template-budget" in r.out
    assert os.path.isfile(tmp_path / "out/dataprep.json")
