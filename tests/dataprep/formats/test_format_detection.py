"""Detection across all formats at once: each row is claimed by exactly the formats listed
(one, for a well-formed row; none, for a near miss that fits no format)."""

from __future__ import annotations

import pytest

from dataprep.formats import FORMATS

CASES = [
    # messages
    ({"messages": [{"role": "user", "content": "Hi"}]}, ["messages"]),
    ({"messages": []}, ["messages"]),
    ({"messages": [{"role": "user", "content": "Hi"}], "text": "Hi"}, ["messages"]),
    ({"messages": [{"from": "human", "value": "Hi"}]}, []),
    ({"messages": "Hi"}, []),
    ({"messages": ["Hi"]}, []),
    # sharegpt
    ({"conversations": [{"from": "human", "value": "Hi"}]}, ["sharegpt"]),
    ({"conversations": [], "system": "Be brief."}, ["sharegpt"]),
    # role/content turns under conversations: the messages dialect, so the messages format
    ({"conversations": [{"role": "user", "content": "Hi"}]}, ["messages"]),
    # LLaMA-Factory's sharegpt preference belongs to preference, not sharegpt
    (
        {
            "conversations": [{"from": "human", "value": "Hi"}],
            "chosen": {"from": "gpt", "value": "Hello"},
            "rejected": {"from": "gpt", "value": "Go away"},
        },
        ["preference"],
    ),
    # alpaca
    ({"instruction": "Add 2 and 2", "output": "4"}, ["alpaca"]),
    ({"instruction": "Add", "input": "2 and 2", "output": "4", "history": []}, ["alpaca"]),
    ({"instruction": "Add 2 and 2", "response": "4"}, []),
    ({"instruction": "Add 2 and 2", "output": "4", "text": "Add 2 and 2: 4"}, ["alpaca"]),
    # chatml and text share the key; the markup decides
    ({"text": "<|im_start|>user\nHi<|im_end|>\n"}, ["chatml"]),
    ({"text": "Once upon a time"}, ["text"]),
    ({"text": ""}, ["text"]),
    ({"text": "[INST] Hi [/INST]"}, ["text"]),
    ({"text": 42}, []),
    (
        {"text": "<|im_start|>user\nHi<|im_end|>\n", "completion": "x", "prompt": "y"},
        ["prompt-completion"],
    ),
    # prompt-completion, kto, preference share prompt
    ({"prompt": "2+2=", "completion": "4"}, ["prompt-completion"]),
    ({"prompt": [], "completion": [{"role": "assistant", "content": "4"}]}, ["prompt-completion"]),
    ({"prompt": "2+2=", "completion": "4", "label": True}, ["kto"]),
    ({"prompt": "2+2=", "completion": "4", "label": 1}, ["kto"]),
    ({"prompt": "2+2=", "chosen": "4", "rejected": "5"}, ["preference"]),
    ({"chosen": "4", "rejected": "5"}, ["preference"]),
    ({"chosen_messages": [], "rejected_messages": []}, ["preference"]),
    ({"prompt": "2+2=", "chosen": "4"}, []),
    ({"prompt": "2+2="}, []),
    ({"completion": "4"}, []),
    ({}, []),
]


@pytest.mark.parametrize(("row", "expected"), CASES)
def test_detect_claims_exactly(row, expected):
    assert [name for name, module in FORMATS.items() if module.detect(row)] == expected
