"""The couplings of ``train/_upstream.py`` still hold in the installed packages.

Each coupling is probed (what it relies on is there, with the parameters used, at a
version in the declared range) and, where a tiny model on the CPU makes it cheap,
exercised. A failure names the coupling and both versions: the message to expect after
upgrading TRL, transformers, torch or Liger.
"""

from __future__ import annotations

import importlib.metadata
import math

import pytest
import torch

from train import _upstream

CPU_LIGHT = [name for name in _upstream.COUPLINGS if name != "liger_kernels"]
# Imported as train imports them (without TRL's experimental-API warning), for the damage
# below to reach them by module name.
_upstream.trl_experimental("orpo"), _upstream.trl_experimental("cpo")


def _skip_unless_installed(name: str) -> None:
    coupling = _upstream.COUPLINGS[name]
    if _upstream.installed_version(coupling.package) is None:
        pytest.skip(f"{coupling.package} is not installed: coupling {name} cannot be probed here")


@pytest.mark.parametrize("name", sorted(_upstream.COUPLINGS))
def test_coupling_holds_in_the_installed_package(name):
    _skip_unless_installed(name)
    found = _upstream.problems(name)
    assert not found, "\n".join(found)


# --- the checks can fail, and say so loudly ------------------------------------------------


def _remove(target: str):
    """A monkeypatch step that removes ``module:Class.attribute``."""

    def apply(monkeypatch):
        import importlib

        module, _, path = target.partition(":")
        owner_name, _, attribute = path.rpartition(".")
        owner = importlib.import_module(module)
        for part in owner_name.split(".") if owner_name else ():
            owner = getattr(owner, part)
        monkeypatch.delattr(owner, attribute)

    return apply


def _replace(module: str, owner: str, attribute: str, value):
    """A monkeypatch step that sets ``module.owner.attribute`` (``owner`` "" for the module)."""

    def apply(monkeypatch):
        import importlib

        target = importlib.import_module(module)
        if owner:
            target = getattr(target, owner)
        monkeypatch.setattr(target, attribute, value)

    return apply


class _NoRegister:
    pass


def _forward_without_kwargs(self, input_ids=None):
    return None


def _init_that_tokenizes_later(self, model=None, args=None, train_dataset=None, **kwargs):
    self.train_dataset = train_dataset  # a TRL that would prepare the data elsewhere


@pytest.mark.parametrize(
    ("name", "damage", "expected"),
    [
        (
            "dpo_prepare_dataset",
            _remove("trl:DPOTrainer._prepare_dataset"),
            "dpo_prepare_dataset was written against trl 1.16.0; installed trl 1.16.0 "
            "lacks DPOTrainer._prepare_dataset",
        ),
        (
            "kto_prepare_dataset",
            _remove("trl:KTOTrainer._prepare_dataset"),
            "kto_prepare_dataset was written against trl 1.16.0; installed trl 1.16.0 "
            "lacks KTOTrainer._prepare_dataset",
        ),
        (
            "reward_prepare_dataset",
            _remove("trl:RewardTrainer._prepare_dataset"),
            "lacks RewardTrainer._prepare_dataset",
        ),
        (
            "orpo_tokenize_row",
            _replace(
                "trl.experimental.orpo", "ORPOTrainer", "__init__", _init_that_tokenizes_later
            ),
            "no longer has `train_dataset.map(self.tokenize_row` in ORPOTrainer.__init__",
        ),
        (
            "cpo_tokenize_row",
            _replace("trl.experimental.cpo", "CPOTrainer", "__init__", _init_that_tokenizes_later),
            "no longer has `train_dataset.map(self.tokenize_row` in CPOTrainer.__init__",
        ),
        (
            "running_loss",
            _remove("transformers:Trainer._inner_training_loop"),
            "lacks Trainer._inner_training_loop",
        ),
        (
            "attention_functions",
            _replace("transformers.masking_utils", "", "AttentionMaskInterface", _NoRegister),
            "lacks masking_utils.AttentionMaskInterface.register",
        ),
        (
            "unpadding_forward",
            _replace("transformers", "LlamaModel", "forward", _forward_without_kwargs),
            "lacks **kwargs in LlamaModel.forward",
        ),
        (
            "varlen_kernel",
            _remove("torch.nn.attention.varlen:varlen_attn"),
            "varlen_kernel was written against torch 2.13.0; installed torch "
            + importlib.metadata.version("torch"),
        ),
    ],
)
def test_a_missing_internal_is_named_with_both_versions(monkeypatch, name, damage, expected):
    damage(monkeypatch)
    found = "\n".join(_upstream.problems(name))
    assert found.startswith(f"train/_upstream.py: {name} was written against ")
    assert expected in found
    # ...and a run stops on it before it gets to TRL.
    monkeypatch.setattr(_upstream, "_checked", set())
    with pytest.raises(_upstream.UpstreamChanged, match=name):
        _upstream.check(name)


def test_a_version_outside_the_range_is_named(monkeypatch):
    monkeypatch.setattr(_upstream, "installed_version", lambda package: "1.17.0")
    found = _upstream.problems("dpo_prepare_dataset")
    assert found == [
        "train/_upstream.py: dpo_prepare_dataset was written against trl 1.16.0; installed "
        "trl 1.17.0 is outside the range declared compatible (>=1.16,<1.17): check that it "
        "still sends every dataset through DPOTrainer._prepare_dataset from __init__ and "
        "evaluate, then widen the range"
    ]


@pytest.mark.parametrize(
    ("version", "specifier", "inside"),
    [
        ("2.13.0+cpu", "==2.13.0", True),  # a local build label is not another version
        ("2.13.1", "==2.13.0", False),
        ("1.16.3", ">=1.16,<1.17", True),
        ("1.17.0", ">=1.16,<1.17", False),
    ],
)
def test_version_ranges(version, specifier, inside):
    assert _upstream._in_range(version, specifier) is inside


def test_a_changed_signature_is_named(monkeypatch):
    import trl

    def _prepare_dataset(self, dataset, args):  # lost processing_class and dataset_name
        return dataset

    monkeypatch.setattr(trl.DPOTrainer, "_prepare_dataset", _prepare_dataset)
    assert _upstream.problems("dpo_prepare_dataset") == [
        "train/_upstream.py: dpo_prepare_dataset was written against trl 1.16.0; installed "
        "trl 1.16.0 lacks parameters processing_class, dataset_name of "
        "DPOTrainer._prepare_dataset"
    ]


# --- exercised on the CPU -----------------------------------------------------------------


def _tiny_llama(**overrides):
    from transformers import LlamaConfig

    values = dict(
        vocab_size=32,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=64,
    )
    return LlamaConfig(**{**values, **overrides})


@pytest.mark.parametrize(("trainer", "name"), [("DPOTrainer", "dpo"), ("KTOTrainer", "kto")])
def test_takes_prepared_data_replaces_trls_step(trainer, name):
    # What TRL's __init__ and evaluate call reaches our hook, with the split's name.
    import trl

    seen = []

    class Probe(_upstream.TakesPreparedData, getattr(trl, trainer)):
        coupling = f"{name}_prepare_dataset"

        def prepared_dataset(self, dataset, args, dataset_name):
            seen.append((dataset, dataset_name))
            return "prepared"

    probe = Probe.__new__(Probe)  # TRL's __init__ needs a model; the dispatch does not
    assert probe._prepare_dataset("rows", "tokenizer", "args", "eval") == "prepared"
    assert seen == [("rows", "eval")]


def test_running_loss_is_the_trainers_sum_since_the_last_log(tmp_path):
    from transformers import Trainer, TrainerCallback, TrainingArguments

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor(1.0))

        def forward(self, x):
            return {"loss": (self.w * x).sum()}

    seen = []

    class Record(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            seen.append(float(_upstream.running_loss(trainer).detach()))

    data = [{"x": torch.tensor(2.0)} for _ in range(3)]
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=1,
        learning_rate=0.0,  # the loss stays 2.0 a step
        logging_steps=100,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = Trainer(model=Model(), args=args, train_dataset=data, callbacks=[Record()])
    trainer.train()
    assert [math.isclose(v, 2.0 * (i + 1)) for i, v in enumerate(seen)] == [True] * 3


def test_attention_implementation_of_a_loaded_model():
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM._from_config(_tiny_llama(), attn_implementation="eager")
    assert _upstream.attention_implementation_of(model.config) == "eager"


def test_varlen_keywords_reach_a_registered_attention_function():
    # A backbone's forward passes the document boundaries to the attention function, and
    # the mask builder is called with sdpa_mask's keywords.
    from transformers import LlamaModel

    got: dict = {}

    def record(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kw):
        got["boundaries"] = _upstream.varlen_boundaries(kw)
        return _upstream.sdpa_attention(
            module, query, key, value, None, dropout=dropout, scaling=scaling
        )

    def mask(batch_size, q_length, kv_length, q_offset=0, kv_offset=0, **kw):
        got["mask"] = (batch_size, q_length, kv_length)
        return None

    _upstream.register_attention("upstream_probe", record, mask)
    model = LlamaModel(_tiny_llama())
    model.set_attn_implementation("upstream_probe")
    cu = torch.tensor([0, 3, 5], dtype=torch.int32)
    out = model(
        input_ids=torch.tensor([[1, 2, 3, 4, 5]]),
        position_ids=torch.tensor([[0, 1, 2, 0, 1]]),
        **_upstream.varlen_keywords(cu, 3),
    )
    assert got["boundaries"][0] is cu and got["boundaries"][1] == 3
    assert got["mask"] == (1, 5, 5)
    assert out.last_hidden_state.shape == (1, 5, 16)


def test_replace_forward_runs_instead_once_and_follows_a_copy():
    import copy

    from transformers import LlamaModel

    calls = []

    def forward(self, *args, **kwargs):
        calls.append(self)
        return type(self).forward(self, *args, **kwargs)

    model = LlamaModel(_tiny_llama())
    assert _upstream.replace_forward(model, forward) is True
    assert _upstream.replace_forward(model, forward) is False
    twin = copy.deepcopy(model)
    ids = torch.tensor([[1, 2, 3]])
    model(input_ids=ids)
    twin(input_ids=ids)
    assert calls == [model, twin]


def test_flash_varlen_calls_the_installed_signature(monkeypatch):
    # The call built from torch 2.13.0's own signature (the kernel itself needs a GPU).
    import torch.nn.attention.varlen as varlen

    real = varlen.varlen_attn
    calls = []

    def fake(*args, **kwargs):
        calls.append((len(args), kwargs))
        return torch.zeros_like(args[0])

    fake.__signature__ = __import__("inspect").signature(real)
    monkeypatch.setattr(varlen, "varlen_attn", fake)
    _upstream._varlen_signature.cache_clear()
    try:
        q, kv = torch.zeros(5, 4, 8), torch.zeros(5, 2, 8)
        _upstream.flash_varlen(q, kv, kv, torch.tensor([0, 3, 5], dtype=torch.int32), 3, 0.5, True)
    finally:
        _upstream._varlen_signature.cache_clear()
    # enable_gqa where the installed kernel takes it (torch 2.13); before (2.11) the key
    # heads are repeated instead, and the call has no such keyword.
    expected = {"scale": 0.5, "window_size": (-1, 0)}
    if "enable_gqa" in __import__("inspect").signature(real).parameters:
        expected["enable_gqa"] = True
    assert calls == [(7, expected)]


def test_params4bit_counts_two_weights_a_stored_value():
    import warnings

    pytest.importorskip("bitsandbytes", reason="bitsandbytes is the QLoRA extra")

    with warnings.catch_warnings():
        # bitsandbytes notes on import that it has no GPU kernels here; not a problem.
        warnings.simplefilter("ignore")
        from bitsandbytes.nn import Params4bit

        packed = Params4bit(torch.zeros(8, 1, dtype=torch.uint8), requires_grad=False)
    assert _upstream.stored_values(packed) == 16
    assert _upstream.stored_values(torch.nn.Parameter(torch.zeros(8))) == 8


def test_safetensors_io_error_is_recognised(tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(Exception) as caught:
        save_file({"a": torch.zeros(1)}, str(tmp_path / "missing" / "model.safetensors"))
    text = _upstream.safetensors_io_error(caught.value)
    assert text is not None and "(os error 2)" in text
    assert _upstream.safetensors_io_error(OSError("I/O error")) is None


def test_liger_kernels_symbols():
    pytest.importorskip("liger_kernel", reason="liger-kernel is not installed (a GPU extra)")
    assert _upstream.problems("liger_kernels") == []
    assert "llama" in _upstream.liger_model_types()


def test_dpo_loss_types_are_read_from_the_trainer():
    names = _upstream.dpo_loss_types()
    assert {"sigmoid", "ipo", "sft"} <= set(names)
    assert len(names) == len(set(names))


def test_tokenized_in_init_trains_on_the_data_given():
    # TRL's __init__ maps its tokenization over empty stand-ins; the trainer then holds
    # the prepared splits themselves, and marks the batches as its own collator's.
    import datasets

    seen = {}

    class Stub:
        def __init__(self, *, train_dataset, eval_dataset, **kwargs):
            seen["train"] = train_dataset.map(lambda row: {"touched": 1})
            seen["eval"] = eval_dataset

    class Probe(_upstream.TokenizedInInit, Stub):
        coupling = "orpo_tokenize_row"

    train = datasets.Dataset.from_dict({"prompt_ids": [[1, 2]], "chosen_ids": [[3]]})
    probe = Probe(train_dataset=train, eval_dataset=None)
    assert len(seen["train"]) == 0 and seen["eval"] is None
    assert probe.train_dataset is train and probe.eval_dataset is None
    assert probe.use_dpo_data_collator is True
