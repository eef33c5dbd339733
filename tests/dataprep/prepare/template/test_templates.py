"""Finding the chat template: the tokenizer's own, a file, or a builtin name."""

from __future__ import annotations

import hashlib

import pytest
import tokenizer_factory

from dataprep.errors import PrepareError, UsageError
from dataprep.prepare.template.choice import (
    builtin_template,
    builtin_template_names,
    load_tokenizer,
    resolve_template,
)
from dataprep.prepare.template.rendering import compile_template, render, to_template_messages


def test_builtin_names_are_chatml_and_every_trl_template():
    names = builtin_template_names()
    assert names[0] == "chatml"
    assert set(tokenizer_factory.trl_templates()) <= set(names)


@pytest.mark.parametrize("name", ["chatml", "qwen2_5", "llama3_training"])
def test_builtin_template(name):
    t = builtin_template(name)
    assert t.name == name
    assert t.sha256 == hashlib.sha256(t.source.encode()).hexdigest()
    assert t.has_generation == ("{% generation %}" in t.source or "{%- generation %}" in t.source)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("no_such_template", "no builtin chat template named 'no_such_template'"),
        ("/no/such/file.jinja", "cannot read chat template"),
    ],
)
def test_resolve_errors(given, message):
    with pytest.raises(PrepareError, match=message):
        resolve_template(None, given)


def test_resolve_file_and_syntax_error(tmp_path):
    good = tmp_path / "t.jinja"
    good.write_text("{% for m in messages %}{{ m.content }}{% endfor %}")
    assert resolve_template(None, str(good)).name == str(good)
    bad = tmp_path / "bad.jinja"
    bad.write_text("{% for m in messages %}")
    with pytest.raises(PrepareError, match=r"bad\.jinja: line 1"):
        resolve_template(None, str(bad))


def test_tokenizer_without_template_names_the_flag():
    tok = tokenizer_factory.family_tokenizer(builtin_template("chatml").source)
    assert resolve_template(tok, None).name == "tokenizer"
    tok.chat_template = None
    with pytest.raises(PrepareError, match=r"--chat-template.*chatml"):
        resolve_template(tok, None)


def test_load_tokenizer(tmp_path):
    tok = tokenizer_factory.family_tokenizer(builtin_template("chatml").source)
    folder = tokenizer_factory.save_tokenizer(tok, tmp_path / "tok")
    loaded = load_tokenizer(str(folder))
    assert loaded.encode("hello world") == tok.encode("hello world")
    # A path that does not exist is a usage error (exit 2); a name not in the cache is not.
    with pytest.raises(UsageError, match=r"missing: no such folder"):
        load_tokenizer(str(tmp_path / "missing"))
    with pytest.raises(PrepareError, match=r"cannot load tokenizer .* offline"):
        load_tokenizer("no-such-org/no-such-model")


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ x | tojson }}", '{"a": "é<>&"}'),
        ("{{ x | tojson(indent=2) }}", '{\n  "a": "é<>&"\n}'),
        ("{% for i in [1,2,3] %}{% if i == 2 %}{% break %}{% endif %}{{ i }}{% endfor %}", "1"),
        ("{% set ns = namespace(n=1) %}{% set ns.n = 2 %}{{ ns.n }}", "2"),
    ],
)
def test_environment_like_transformers(template, expected):
    out = compile_template(template).render(x={"a": "é<>&"})
    assert out == expected


def test_sandbox_and_raise_exception():
    import jinja2

    with pytest.raises(jinja2.exceptions.TemplateError, match="nope"):
        compile_template("{{ raise_exception('nope') }}").render()
    with pytest.raises(jinja2.exceptions.SecurityError):
        compile_template("{{ ''.__class__.__mro__ }}").render()


def test_generation_spans_are_offsets_of_the_rendering():
    t = compile_template(builtin_template("chatml").source)
    from dataprep.canonical import Message

    msgs = to_template_messages(
        [
            Message("user", "Hi"),
            Message("assistant", "Yo"),
            Message("user", "Again"),
            Message("assistant", "Sure"),
        ]
    )
    r = render(t, msgs)
    assert [r.text[s:e] for s, e in r.generation_spans] == ["Yo<|im_end|>\n", "Sure<|im_end|>\n"]
