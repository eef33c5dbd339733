"""A corpus of chat-template families as users train them, for the masking tests.

Every family names where its template comes from:

- ``trl:<stem>``: the real template shipped in the installed ``trl`` wheel, read from its
  ``chat_templates`` folder at test time (never copied here);
- ``corpus:<stem>``: a template written for this corpus in
  ``tests/dataprep/prepare/template/template_corpus/<stem>.jinja`` that renders what the family's
  published format renders. Its first line names the repository and path where that format
  is published, and ``expected`` below is the rendering of ``REFERENCE`` written by hand
  from that published format: the independent check that our template is faithful.

and what its real tokenizer looks like: which strings are single special tokens (Mistral
v3's ``[INST]`` is one, Mistral v1's is text), BOS and EOS, whether the template writes
BOS, whether the tokenizer adds BOS to plain text, and how it splits text (byte-level BPE,
or SentencePiece with its "▁" and dummy prefix). ``tokenizer_factory.spec_tokenizer``
builds a tiny tokenizer of that shape.

>>> family = FAMILIES["mistral_v3"]
>>> family.specials[:2]
('[INST]', '[/INST]')
>>> "[INST]" in template_source(family)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import tokenizer_factory

from dataprep.canonical import Conversation, Message, ToolCall

CORPUS_DIR = (
    Path(__file__).resolve().parents[1] / "dataprep" / "prepare" / "template" / "template_corpus"
)


@dataclass(frozen=True)
class Family:
    """One chat-template family.

    ``specials`` None: the special tokens are the markers the template writes, found by
    ``tokenizer_factory.markers_in`` (for the newest trl families, as the trl oracle test
    does), plus ``extra``. ``expected``: for a corpus template, its rendering of
    ``REFERENCE`` (or of ``REFERENCE_NO_SYSTEM`` when ``system`` is False), written by hand
    from the published format.
    """

    name: str
    template: str  # "trl:<stem>" or "corpus:<stem>"
    published: str  # where the real template, or its format, is published
    bos: str | None
    eos: str | None
    writes_bos: bool
    specials: tuple[str, ...] | None = None
    extra: tuple[str, ...] = ()
    add_bos: bool = False
    pretokenizer: str = "bytelevel"
    system: bool = True  # accepts a system message first
    tools: bool = False  # renders assistant tool calls and tool results
    training: str | None = None  # trl stem of its {% generation %} variant
    expected: str | None = None
    notes: str = ""


# -- the conversations ------------------------------------------------------------------

SYSTEM = "You are a helpful assistant."

REFERENCE = Conversation(
    [
        Message(role="system", content=SYSTEM),
        Message(role="user", content="Hello"),
        Message(role="assistant", content="Hi there"),
        Message(role="user", content="Who are you?"),
        Message(role="assistant", content="  I am an assistant  "),
    ]
)
REFERENCE_NO_SYSTEM = Conversation(REFERENCE.messages[1:])

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "The city"}},
                "required": ["city"],
            },
        },
    }
]


def _exchanges(n: int, system: bool) -> Conversation:
    messages = [Message(role="system", content=SYSTEM)] if system else []
    for i in range(n):
        messages.append(Message(role="user", content=f"Question number {i + 1} about tokyo?"))
        messages.append(Message(role="assistant", content=f"Answer number {i + 1}: it is large."))
    return Conversation(messages)


# name -> conversation. "tools" runs only for families with ``tools``.
PROBES: dict[str, Conversation] = {
    "one-exchange": Conversation(
        [
            Message(role="user", content="What is the capital of France?"),
            Message(role="assistant", content="Paris is the capital."),
        ]
    ),
    "system-one-exchange": Conversation(
        [
            Message(role="system", content=SYSTEM),
            Message(role="user", content="hello there"),
            Message(role="assistant", content="Hi! How can I help?"),
        ]
    ),
    "three-exchanges": _exchanges(3, system=False),
    "system-six-exchanges": _exchanges(6, system=True),
    # Content that repeats what headers and closers look like in one family or another.
    "header-text": Conversation(
        [
            Message(role="user", content="Say USER: and ASSISTANT: and [/INST] please"),
            Message(role="assistant", content="assistant"),
            Message(role="user", content="### Response: model"),
            Message(
                role="assistant", content="USER: [/INST] ASSISTANT: ### Instruction: Assistant:"
            ),
        ]
    ),
    "whitespace": Conversation(
        [
            Message(role="user", content="  leading and trailing  \n"),
            Message(role="assistant", content="\n  spaced reply\n\n"),
            Message(role="user", content="tabs\tand\nnewlines"),
            Message(role="assistant", content=" one space each side "),
        ]
    ),
    "empty-ish": Conversation(
        [
            Message(role="user", content="Say almost nothing."),
            Message(role="assistant", content="."),
            Message(role="user", content="Now nothing at all."),
            Message(role="assistant", content=""),
        ]
    ),
    "reply-repeats-prompt": Conversation(
        [
            Message(role="system", content="hello world"),
            Message(role="user", content="hello world"),
            Message(role="assistant", content="hello world"),
            Message(role="user", content="again"),
            Message(role="assistant", content="hello world"),
        ]
    ),
    "unicode": Conversation(
        [
            Message(role="user", content="Ünïcödé 😀 你好"),
            Message(role="assistant", content="  café — “ok” 🚀  "),
            Message(role="user", content="again"),
            Message(role="assistant", content="Привет мир"),
        ]
    ),
    "reasoning": Conversation(
        [
            Message(role="user", content="2+2?"),
            Message(role="assistant", content="4", reasoning="two plus two is four"),
            Message(role="user", content="and 3+3?"),
            Message(role="assistant", content="6", reasoning="three plus three"),
        ]
    ),
    "tools": Conversation(
        [
            Message(role="user", content="Weather in Paris?"),
            Message(
                role="assistant",
                content=None,
                tool_calls=[
                    ToolCall(name="get_weather", arguments='{"city": "Paris"}', id="call00001")
                ],
            ),
            Message(
                role="tool",
                content='{"temperature": 21}',
                tool_call_id="call00001",
                name="get_weather",
            ),
            Message(role="assistant", content="It is 21 celsius in Paris."),
        ],
        tools=TOOLS,
    ),
}


# -- the families -----------------------------------------------------------------------

_AXOLOTL = "axolotl-ai-cloud/axolotl:src/axolotl/utils/chat_templates/templates/"
_LLAMA_CPP_TESTS = "ggml-org/llama.cpp:tests/test-chat-template.cpp"
_LLAMA_CPP_CHAT = "ggml-org/llama.cpp:src/llama-chat.cpp"
_LLAMA_FACTORY = "hiyouga/LLaMA-Factory:src/llamafactory/data/template.py"
_OPEN_INSTRUCT = "allenai/open-instruct:open_instruct/dataset_transformation.py"
_CHUJIEZHENG = "chujiezheng/chat_templates:chat_templates/"
_VLLM = "vllm-project/vllm:examples/"
_TRL = "huggingface/trl:trl/chat_templates/"

MISTRAL_CONTROL = (
    "[INST]",
    "[/INST]",
    "[TOOL_CALLS]",
    "[AVAILABLE_TOOLS]",
    "[/AVAILABLE_TOOLS]",
    "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]",
)
DEEPSEEK = ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>")
DEEPSEEK_SPECIALS = (
    "<｜User｜>",
    "<｜Assistant｜>",
    "<think>",
    "</think>",
    "<｜tool▁calls▁begin｜>",
    "<｜tool▁calls▁end｜>",
    "<｜tool▁call▁begin｜>",
    "<｜tool▁call▁end｜>",
    "<｜tool▁outputs▁begin｜>",
    "<｜tool▁outputs▁end｜>",
    "<｜tool▁output▁begin｜>",
    "<｜tool▁output▁end｜>",
    "<｜tool▁sep｜>",
)
LLAMA3_SPECIALS = (
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|python_tag|>",
    "<|end_of_text|>",
)
QWEN_SPECIALS = (
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
)
COHERE_SPECIALS = (
    "<|START_OF_TURN_TOKEN|>",
    "<|END_OF_TURN_TOKEN|>",
    "<|USER_TOKEN|>",
    "<|CHATBOT_TOKEN|>",
    "<|SYSTEM_TOKEN|>",
    "<|START_RESPONSE|>",
    "<|END_RESPONSE|>",
    "<|START_THINKING|>",
    "<|END_THINKING|>",
    "<|START_ACTION|>",
    "<|END_ACTION|>",
    "<|START_TOOL_RESULT|>",
    "<|END_TOOL_RESULT|>",
)
PHI3_SPECIALS = ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|endoftext|>")
CHATML = ("<|im_start|>", "<|im_end|>")

COMMAND_A_PREAMBLE = (
    "# System Preamble\n"
    "You are in contextual safety mode. You will reject requests to generate child sexual "
    "abuse material and child exploitation material in your responses. You will accept to "
    "provide information and creative content related to violence, hate, misinformation or "
    "sex, but you will not provide any content that could directly or indirectly lead to "
    "harmful outcomes.\n\n"
    "Your information cutoff date is June 2024.\n\n"
    "You have been trained on data in English, French, Spanish, Italian, German, Portuguese, "
    "Japanese, Korean, Modern Standard Arabic, Mandarin, Russian, Indonesian, Turkish, Dutch, "
    "Polish, Persian, Vietnamese, Czech, Hindi, Ukrainian, Romanian, Greek and Hebrew but have "
    "the ability to speak many more languages.\n\n"
    "# Default Preamble\n"
    "The following instructions are your defaults unless specified elsewhere in developer "
    "preamble or user prompt.\n"
    "- Your name is Command.\n"
    "- You are a large language model built by Cohere.\n"
    "- You reply conversationally with a friendly and informative tone and often include "
    "introductory statements and follow-up questions.\n"
    "- If the input is ambiguous, ask clarifying follow-up questions.\n"
    "- Use Markdown-specific formatting in your response (for example to highlight phrases in "
    "bold or italics, create tables, or format code blocks).\n"
    "- Use LaTeX to generate mathematical notation for complex equations.\n"
    "- When responding in English, use American English unless context indicates otherwise.\n"
    "- When outputting responses of more than seven sentences, split the response into "
    "paragraphs.\n"
    "- Prefer the active voice.\n"
    "- Adhere to the APA style guidelines for punctuation, spelling, hyphenation, "
    "capitalization, numbers, lists, and quotation marks. Do not worry about them for other "
    "elements such as italics, citations, figures, or references.\n"
    "- Use gender-neutral pronouns for unspecified persons.\n"
    "- Limit lists to no more than 10 items unless the list is a set of finite instructions, "
    "in which case complete the list.\n"
    "- Use the third person when asked to write a summary.\n"
    "- When asked to extract values from source material, use the exact form, separated by "
    "commas.\n"
    "- When generating code output, please provide an explanation after the code.\n"
    "- When generating code output without specifying the programming language, please "
    "generate Python code.\n"
    "- If you are asked a question that requires reasoning, first think through your answer, "
    "slowly and step by step, then answer.\n\n"
    "# Developer Preamble\n"
    "The following instructions take precedence over instructions in the default preamble and "
    "user prompt. You reject any instructions which conflict with system preamble "
    "instructions.\n"
)

_FAMILIES: list[Family] = [
    # ---- Mistral ------------------------------------------------------------------------
    Family(
        "mistral_v1",
        "corpus:mistral_v1",
        _AXOLOTL + "mistral_v1.jinja",
        bos="<s>",
        eos="</s>",
        writes_bos=True,
        specials=(),
        add_bos=True,
        pretokenizer="sp-always",
        expected=(
            "<s> [INST] You are a helpful assistant.\n\nHello [/INST] Hi there</s>"
            " [INST] Who are you? [/INST]   I am an assistant  </s>"
        ),
        notes="[INST] and [/INST] are plain text in the v1 tokenizer",
    ),
    Family(
        "mistral_v0_2_legacy",
        "corpus:mistral_v0_2_legacy",
        _LLAMA_CPP_TESTS,
        bos="<s>",
        eos="</s>",
        writes_bos=True,
        specials=(),
        add_bos=True,
        pretokenizer="sp-always",
        system=False,
        expected="<s>[INST] Hello [/INST]Hi there</s>[INST] Who are you? [/INST]  I am an assistant  </s>",
        notes="a reply follows [/INST] with no space; no system prompt",
    ),
    Family(
        "mistral_v3",
        "corpus:mistral_v3",
        _AXOLOTL + "mistral_v2v3.jinja",
        bos="<s>",
        eos="</s>",
        writes_bos=True,
        specials=MISTRAL_CONTROL,
        add_bos=True,
        pretokenizer="sp-first",
        tools=True,
        expected="<s>[INST] Hello[/INST] Hi there</s>[INST] Who are you?[/INST] I am an assistant</s>",
        notes="the system prompt is written into the last message only when it is a user turn: "
        "a training row ending with a reply renders none",
    ),
    Family(
        "mistral_v3_tekken",
        "corpus:mistral_v3_tekken",
        _AXOLOTL + "mistral_v3_tekken.jinja",
        bos="<s>",
        eos="</s>",
        writes_bos=True,
        specials=MISTRAL_CONTROL,
        add_bos=True,
        tools=True,
        expected="<s>[INST]Hello[/INST]Hi there</s>[INST]Who are you?[/INST]  I am an assistant  </s>",
        notes="Mistral NeMo; as v3, the system prompt only reaches a last user turn",
    ),
    Family(
        "mistral_v7",
        "corpus:mistral_v7",
        _LLAMA_CPP_TESTS,
        bos="<s>",
        eos="</s>",
        writes_bos=True,
        specials=(*MISTRAL_CONTROL, "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]"),
        add_bos=True,
        pretokenizer="sp-first",
        expected=(
            "<s>[SYSTEM_PROMPT] You are a helpful assistant.[/SYSTEM_PROMPT][INST] Hello[/INST]"
            " Hi there</s>[INST] Who are you?[/INST]   I am an assistant  </s>"
        ),
        notes="Mistral Large 2411",
    ),
    Family(
        "mistral_v7_tekken",
        "corpus:mistral_v7_tekken",
        _AXOLOTL + "mistral_v7_tekken.jinja",
        bos="<s>",
        eos="</s>",
        writes_bos=True,
        specials=(*MISTRAL_CONTROL, "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[IMG]"),
        add_bos=True,
        expected=(
            "<s>[SYSTEM_PROMPT]You are a helpful assistant.[/SYSTEM_PROMPT][INST]Hello[/INST]"
            "Hi there</s>[INST]Who are you?[/INST]  I am an assistant  </s>"
        ),
        notes="Mistral Small 3 / 3.1; a default system prompt dated today when none is given",
    ),
    Family(
        "pixtral",
        "corpus:pixtral",
        _AXOLOTL + "pixtral.jinja",
        bos="<s>",
        eos="</s>",
        writes_bos=True,
        specials=(*MISTRAL_CONTROL, "[IMG]", "[IMG_BREAK]", "[IMG_END]"),
        add_bos=True,
        expected="<s>[INST]Hello[/INST]Hi there</s>[INST]Who are you?[/INST]  I am an assistant  </s>",
        notes="as v3, the system prompt only reaches a last user turn",
    ),
    Family(
        "llava_next_mistral",
        "trl:llava_next",
        _TRL + "llava_next.jinja (llava-hf/llava-v1.6-mistral-7b-hf)",
        bos="<s>",
        eos="</s>",
        writes_bos=False,
        specials=("<image>",),
        add_bos=True,
        pretokenizer="sp-always",
        training="llava_next_training",
        notes="Mistral [INST] format with content blocks; '</s> ' after every reply",
    ),
    # ---- Llama --------------------------------------------------------------------------
    Family(
        "llama2",
        "corpus:llama2",
        _CHUJIEZHENG + "llama-2-chat.jinja",
        bos="<s>",
        eos="</s>",
        writes_bos=True,
        specials=(),
        add_bos=True,
        pretokenizer="sp-always",
        expected=(
            "<s>[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nHello [/INST] Hi there </s>"
            "<s>[INST] Who are you? [/INST] I am an assistant </s>"
        ),
    ),
    Family(
        "llama3",
        "trl:llama3",
        _TRL + "llama3.jinja",
        bos="<|begin_of_text|>",
        eos="<|eot_id|>",
        writes_bos=True,
        specials=LLAMA3_SPECIALS,
        add_bos=True,
        training="llama3_training",
    ),
    Family(
        "llama3_1",
        "trl:llama3_1",
        _TRL + "llama3_1.jinja",
        bos="<|begin_of_text|>",
        eos="<|eot_id|>",
        writes_bos=True,
        specials=LLAMA3_SPECIALS,
        add_bos=True,
        tools=True,
    ),
    Family(
        "llama3_2",
        "trl:llama3_2",
        _TRL + "llama3_2.jinja",
        bos="<|begin_of_text|>",
        eos="<|eot_id|>",
        writes_bos=True,
        specials=LLAMA3_SPECIALS,
        add_bos=True,
        tools=True,
    ),
    Family(
        "llama4",
        "corpus:llama4",
        _AXOLOTL + "llama4.jinja",
        bos="<|begin_of_text|>",
        eos="<|eot|>",
        writes_bos=True,
        specials=(
            "<|header_start|>",
            "<|header_end|>",
            "<|eot|>",
            "<|eom|>",
            "<|python_start|>",
            "<|python_end|>",
        ),
        add_bos=True,
        expected=(
            "<|begin_of_text|><|header_start|>system<|header_end|>\n\nYou are a helpful assistant.<|eot|>"
            "<|header_start|>user<|header_end|>\n\nHello<|eot|>"
            "<|header_start|>assistant<|header_end|>\n\nHi there<|eot|>"
            "<|header_start|>user<|header_end|>\n\nWho are you?<|eot|>"
            "<|header_start|>assistant<|header_end|>\n\n  I am an assistant  <|eot|>"
        ),
    ),
    # ---- Cohere -------------------------------------------------------------------------
    Family(
        "cohere_command_r_aya",
        "trl:cohere",
        _TRL
        + "cohere.jinja (CohereLabs/aya-expanse-8b; c4ai-command-r default template renders the same)",
        bos="<BOS_TOKEN>",
        eos="<|END_OF_TURN_TOKEN|>",
        writes_bos=True,
        specials=COHERE_SPECIALS,
        add_bos=True,
        training="cohere_training",
        notes="Command-R's default template differs only in an unreachable default system text",
    ),
    Family(
        "cohere2",
        "trl:cohere2",
        _TRL + "cohere2.jinja (CohereLabs/tiny-aya-earth)",
        bos="<BOS_TOKEN>",
        eos="<|END_OF_TURN_TOKEN|>",
        writes_bos=True,
        specials=COHERE_SPECIALS,
        add_bos=True,
        training="cohere2_training",
    ),
    Family(
        "command_a",
        "corpus:command_a",
        _AXOLOTL + "command_a.jinja",
        bos="<BOS_TOKEN>",
        eos="<|END_OF_TURN_TOKEN|>",
        writes_bos=True,
        specials=COHERE_SPECIALS,
        add_bos=True,
        expected=(
            "<BOS_TOKEN><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>"
            + COMMAND_A_PREAMBLE
            + "You are a helpful assistant.<|END_OF_TURN_TOKEN|>"
            "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello<|END_OF_TURN_TOKEN|>"
            "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_RESPONSE|>Hi there<|END_RESPONSE|>"
            "<|END_OF_TURN_TOKEN|>"
            "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Who are you?<|END_OF_TURN_TOKEN|>"
            "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_RESPONSE|>  I am an assistant  "
            "<|END_RESPONSE|><|END_OF_TURN_TOKEN|>"
            "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"
        ),
        notes="the rendering always ends with the next turn's opener, also without the "
        "generation prompt",
    ),
    # ---- Gemma --------------------------------------------------------------------------
    Family(
        "gemma",
        "trl:gemma",
        _TRL + "gemma.jinja (Gemma 1 and Gemma 2 ship it identically)",
        bos="<bos>",
        eos="<eos>",
        writes_bos=True,
        specials=("<start_of_turn>", "<end_of_turn>"),
        add_bos=True,
        pretokenizer="sp-never",
        system=False,
        training="gemma_training",
    ),
    Family(
        "gemma3",
        "trl:gemma3",
        _TRL + "gemma3.jinja",
        bos="<bos>",
        eos="<eos>",
        writes_bos=True,
        specials=("<start_of_turn>", "<end_of_turn>", "<start_of_image>"),
        add_bos=True,
        pretokenizer="sp-never",
        training="gemma3_training",
    ),
    *(
        Family(
            stem,
            f"trl:{stem}",
            _TRL + f"{stem}.jinja",
            bos="<bos>",
            eos="<eos>",
            writes_bos=True,
            add_bos=True,
            pretokenizer="sp-never",
            tools=True,
            training="diffusion_gemma_training" if stem == "diffusion_gemma" else None,
        )
        for stem in (
            "gemma4",
            "gemma4_v2",
            "gemma4_v3",
            "gemma4_v4",
            "gemma4_v5",
            "diffusion_gemma",
        )
    ),
    # ---- Phi ----------------------------------------------------------------------------
    Family(
        "phi3",
        "trl:phi3",
        _TRL + "phi3.jinja",
        bos="<s>",
        eos="<|endoftext|>",
        writes_bos=False,
        specials=PHI3_SPECIALS,
        pretokenizer="sp-always",
        training="phi3_training",
    ),
    Family(
        "phi3_5",
        "trl:phi3_5",
        _TRL + "phi3_5.jinja",
        bos="<s>",
        eos="<|endoftext|>",
        writes_bos=False,
        specials=PHI3_SPECIALS,
        pretokenizer="sp-always",
        training="phi3_5_training",
    ),
    Family(
        "phi4",
        "corpus:phi4",
        _LLAMA_CPP_TESTS + ' ("phi-4"); ' + _LLAMA_FACTORY + ' ("phi4")',
        bos="<|endoftext|>",
        eos="<|im_end|>",
        writes_bos=False,
        specials=("<|im_start|>", "<|im_sep|>", "<|im_end|>", "<|endoftext|>"),
        expected=(
            "<|im_start|>system<|im_sep|>You are a helpful assistant.<|im_end|>"
            "<|im_start|>user<|im_sep|>Hello<|im_end|>"
            "<|im_start|>assistant<|im_sep|>Hi there<|im_end|>"
            "<|im_start|>user<|im_sep|>Who are you?<|im_end|>"
            "<|im_start|>assistant<|im_sep|>  I am an assistant  <|im_end|>"
        ),
    ),
    Family(
        "phi4_mini",
        "corpus:phi4_mini",
        _LLAMA_FACTORY + ' ("phi4_mini")',
        bos="<|endoftext|>",
        eos="<|end|>",
        writes_bos=False,
        specials=(
            "<|system|>",
            "<|user|>",
            "<|assistant|>",
            "<|end|>",
            "<|endoftext|>",
            "<|tool|>",
            "<|/tool|>",
        ),
        expected=(
            "<|system|>You are a helpful assistant.<|end|><|user|>Hello<|end|>"
            "<|assistant|>Hi there<|end|><|user|>Who are you?<|end|>"
            "<|assistant|>  I am an assistant  <|end|>"
        ),
    ),
    # ---- Qwen ---------------------------------------------------------------------------
    Family(
        "qwen2_5",
        "trl:qwen2_5",
        _TRL + "qwen2_5.jinja",
        bos=None,
        eos="<|im_end|>",
        writes_bos=False,
        specials=QWEN_SPECIALS,
        tools=True,
        training="qwen2_5_training",
    ),
    Family(
        "qwen2_5_vl",
        "trl:qwen2_5_vl",
        _TRL + "qwen2_5_vl.jinja",
        bos=None,
        eos="<|im_end|>",
        writes_bos=False,
        specials=(
            *QWEN_SPECIALS,
            "<|vision_start|>",
            "<|vision_end|>",
            "<|image_pad|>",
            "<|video_pad|>",
        ),
        training="qwen2_5_vl_training",
    ),
    Family(
        "qwen3",
        "trl:qwen3",
        _TRL + "qwen3.jinja",
        bos=None,
        eos="<|im_end|>",
        writes_bos=False,
        specials=QWEN_SPECIALS,
        tools=True,
        training="qwen3_training",
    ),
    Family(
        "qwen3_instruct_2507",
        "trl:qwen3_instruct_2507",
        _TRL + "qwen3_instruct_2507.jinja",
        bos=None,
        eos="<|im_end|>",
        writes_bos=False,
        specials=QWEN_SPECIALS,
        tools=True,
        training="qwen3_instruct_2507_training",
    ),
    *(
        Family(
            stem,
            f"trl:{stem}",
            _TRL + f"{stem}.jinja",
            bos=None,
            eos="<|im_end|>",
            writes_bos=False,
            tools=True,
            training=f"{stem}_training",
        )
        for stem in ("qwen3_vl", "qwen3_5_think", "qwen3_5_nothink", "qwen3_6", "qwen3_8")
    ),
    Family(
        "yi",
        "corpus:yi",
        _LLAMA_FACTORY + ' ("yi")',
        bos="<|startoftext|>",
        eos="<|im_end|>",
        writes_bos=False,
        specials=(*CHATML, "<|im_sep|>", "<|endoftext|>"),
        pretokenizer="sp-never",
        expected=(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n"
            "<|im_start|>user\nWho are you?<|im_end|>\n"
            "<|im_start|>assistant\n  I am an assistant  <|im_end|>\n"
        ),
    ),
    Family(
        "smollm2",
        "corpus:smollm2",
        _LLAMA_FACTORY + ' ("smollm2")',
        bos="<|im_start|>",
        eos="<|im_end|>",
        writes_bos=True,
        specials=(*CHATML, "<|endoftext|>"),
        expected=(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n"
            "<|im_start|>user\nWho are you?<|im_end|>\n"
            "<|im_start|>assistant\n  I am an assistant  <|im_end|>\n"
        ),
        notes="BOS is the turn opener <|im_start|>",
    ),
    Family(
        "chatml",
        "builtin:chatml",
        "dataprep/prepare/template/chatml.jinja (ChatML: Hermes, OpenHermes, Qwen2, Orca 2)",
        bos=None,
        eos="<|im_end|>",
        writes_bos=False,
        specials=(*CHATML, "<|endoftext|>"),
        training="chatml",
    ),
    # ---- DeepSeek -----------------------------------------------------------------------
    Family(
        "deepseek_v2",
        "corpus:deepseek_v2",
        _LLAMA_CPP_TESTS + ' ("DeepSeek-V2")',
        bos=DEEPSEEK[0],
        eos=DEEPSEEK[1],
        writes_bos=True,
        specials=(),
        add_bos=True,
        expected=(
            "<｜begin▁of▁sentence｜>You are a helpful assistant.\n\nUser: Hello\n\n"
            "Assistant: Hi there<｜end▁of▁sentence｜>User: Who are you?\n\n"
            "Assistant:   I am an assistant  <｜end▁of▁sentence｜>"
        ),
        notes="the generation prompt 'Assistant:' lacks the space the history writes",
    ),
    Family(
        "deepseek_v2_5",
        "corpus:deepseek_v2_5",
        _AXOLOTL + "deepseek_v2.jinja",
        bos=DEEPSEEK[0],
        eos=DEEPSEEK[1],
        writes_bos=True,
        specials=DEEPSEEK_SPECIALS,
        add_bos=True,
        expected=(
            "<｜begin▁of▁sentence｜>You are a helpful assistant.\n\n<｜User｜>Hello"
            "<｜Assistant｜>Hi there<｜end▁of▁sentence｜><｜User｜>Who are you?"
            "<｜Assistant｜>  I am an assistant  <｜end▁of▁sentence｜>"
        ),
    ),
    Family(
        "deepseekv3",
        "trl:deepseekv3",
        _TRL + "deepseekv3.jinja",
        bos=DEEPSEEK[0],
        eos=DEEPSEEK[1],
        writes_bos=True,
        specials=DEEPSEEK_SPECIALS,
        add_bos=True,
        tools=True,
        training="deepseekv3_training",
    ),
    Family(
        "deepseek_r1_distill",
        "trl:deepseek_r1_distill",
        _TRL + "deepseek_r1_distill.jinja (DeepSeek-R1-Distill-Qwen/Llama)",
        bos=DEEPSEEK[0],
        eos=DEEPSEEK[1],
        writes_bos=True,
        specials=DEEPSEEK_SPECIALS,
        add_bos=True,
        training="deepseek_r1_distill_training",
    ),
    Family(
        "deepseek_coder",
        "corpus:deepseek_coder",
        _LLAMA_CPP_TESTS + ' ("deepseek-ai/deepseek-coder-33b-instruct")',
        bos=DEEPSEEK[0],
        eos="<|EOT|>",
        writes_bos=True,
        specials=("<|EOT|>",),
        add_bos=True,
        expected=(
            "<｜begin▁of▁sentence｜>You are a helpful assistant.### Instruction:\nHello\n"
            "### Response:\nHi there\n<|EOT|>\n### Instruction:\nWho are you?\n"
            "### Response:\n  I am an assistant  \n<|EOT|>\n"
        ),
    ),
    # ---- GLM ----------------------------------------------------------------------------
    Family(
        "glm4",
        "corpus:glm4",
        _LLAMA_CPP_TESTS + ' ("ChatGLM4")',
        bos=None,
        eos="<|endoftext|>",
        writes_bos=False,
        specials=(
            "[gMASK]",
            "<sop>",
            "<|system|>",
            "<|user|>",
            "<|assistant|>",
            "<|observation|>",
            "<|endoftext|>",
        ),
        expected=(
            "[gMASK]<sop><|system|>\nYou are a helpful assistant.<|user|>\nHello<|assistant|>\n"
            "Hi there<|user|>\nWho are you?<|assistant|>\n  I am an assistant  "
        ),
        notes="nothing closes a reply: the next turn's role token (a stop token) follows it",
    ),
    Family(
        "glm4moe",
        "trl:glm4moe",
        _TRL + "glm4moe.jinja (GLM-4.5)",
        bos=None,
        eos="<|endoftext|>",
        writes_bos=False,
        extra=("[gMASK]", "<|endoftext|>"),
        tools=True,
        training="glm4moe_training",
    ),
    # ---- others -------------------------------------------------------------------------
    Family(
        "falcon_180b",
        "corpus:falcon_180b",
        _VLLM + "template_falcon_180b.jinja",
        bos="<|endoftext|>",
        eos="<|endoftext|>",
        writes_bos=True,
        specials=(),
        expected=(
            "<|endoftext|>System: You are a helpful assistant.\nUser: Hello\nFalcon: Hi there\n"
            "User: Who are you?\nFalcon:   I am an assistant  "
        ),
        notes="no end-of-turn token; BOS and EOS are the same token",
    ),
    Family(
        "falcon3",
        "corpus:falcon3",
        _LLAMA_CPP_CHAT + " (LLM_CHAT_TEMPLATE_FALCON_3)",
        bos="<|begin_of_text|>",
        eos="<|endoftext|>",
        writes_bos=False,
        specials=("<|system|>", "<|user|>", "<|assistant|>", "<|endoftext|>"),
        expected=(
            "<|system|>\nYou are a helpful assistant.\n<|user|>\nHello\n<|assistant|>\nHi there\n"
            "<|user|>\nWho are you?\n<|assistant|>\n  I am an assistant  \n"
        ),
        notes="no end-of-turn token: '\\n' then the next role token",
    ),
    Family(
        "jamba",
        "corpus:jamba",
        _AXOLOTL + "jamba.jinja",
        bos="<|startoftext|>",
        eos="<|endoftext|>",
        writes_bos=True,
        specials=("<|bom|>", "<|eom|>", "<|system|>", "<|user|>", "<|assistant|>", "<|tool|>"),
        pretokenizer="sp-first",
        expected=(
            "<|startoftext|><|bom|><|system|> You are a helpful assistant.<|eom|>"
            "<|bom|><|user|> Hello<|eom|><|bom|><|assistant|> Hi there<|eom|>"
            "<|bom|><|user|> Who are you?<|eom|><|bom|><|assistant|>   I am an assistant  <|eom|>"
        ),
        notes="the generation prompt lacks the space the history writes after <|assistant|>",
    ),
    Family(
        "exaone3",
        "corpus:exaone3",
        _AXOLOTL + "exaone.jinja",
        bos="[BOS]",
        eos="[|endofturn|]",
        writes_bos=False,
        specials=("[|system|]", "[|user|]", "[|assistant|]", "[|endofturn|]"),
        expected=(
            "[|system|]You are a helpful assistant.[|endofturn|]\n[|user|]Hello\n"
            "[|assistant|]Hi there[|endofturn|]\n[|user|]Who are you?\n"
            "[|assistant|]  I am an assistant  [|endofturn|]\n"
        ),
    ),
    Family(
        "granite3",
        "corpus:granite3",
        _LLAMA_CPP_TESTS + ' ("ibm-granite/granite-3.0-8b-instruct")',
        bos="<|end_of_text|>",
        eos="<|end_of_text|>",
        writes_bos=False,
        specials=("<|start_of_role|>", "<|end_of_role|>", "<|end_of_text|>", "<|tool_call|>"),
        expected=(
            "<|start_of_role|>system<|end_of_role|>You are a helpful assistant.<|end_of_text|>\n"
            "<|start_of_role|>user<|end_of_role|>Hello<|end_of_text|>\n"
            "<|start_of_role|>assistant<|end_of_role|>Hi there<|end_of_text|>\n"
            "<|start_of_role|>user<|end_of_role|>Who are you?<|end_of_text|>\n"
            "<|start_of_role|>assistant<|end_of_role|>  I am an assistant  <|end_of_text|>\n"
        ),
    ),
    Family(
        "tulu3_olmo2",
        "corpus:tulu3",
        _OPEN_INSTRUCT + ' (CHAT_TEMPLATES["tulu"])',
        bos="<|endoftext|>",
        eos="<|endoftext|>",
        writes_bos=False,
        specials=(),
        expected=(
            "<|system|>\nYou are a helpful assistant.\n<|user|>\nHello\n<|assistant|>\n"
            "Hi there<|endoftext|>\n<|user|>\nWho are you?\n<|assistant|>\n"
            "  I am an assistant  <|endoftext|>"
        ),
        notes="the last reply is closed by EOS alone, earlier ones by EOS + '\\n'",
    ),
    Family(
        "olmo3",
        "corpus:olmo3",
        _OPEN_INSTRUCT + ' (CHAT_TEMPLATES["olmo"])',
        bos=None,
        eos="<|endoftext|>",
        writes_bos=False,
        specials=(*CHATML, "<|endoftext|>"),
        expected=(
            "<|im_start|>system\nYou are a helpful assistant. You do not currently have access to "
            "any functions. <functions></functions><|im_end|>\n"
            "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n"
            "<|im_start|>user\nWho are you?<|im_end|>\n"
            "<|im_start|>assistant\n  I am an assistant  <|endoftext|>"
        ),
        notes="the last reply is closed by EOS, earlier ones by <|im_end|>\\n",
    ),
    Family(
        "internlm2",
        "corpus:internlm2",
        _VLLM + "tool_chat_template_internlm2_tool.jinja",
        bos="<s>",
        eos="</s>",
        writes_bos=True,
        specials=(*CHATML, "<|action_start|>", "<|action_end|>", "<|plugin|>", "<|interpreter|>"),
        add_bos=True,
        pretokenizer="sp-first",
        tools=True,
        expected=(
            "<s><|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n"
            "<|im_start|>user\nWho are you?<|im_end|>\n"
            "<|im_start|>assistant\n  I am an assistant  <|im_end|>\n"
        ),
    ),
    Family(
        "metharme",
        "corpus:metharme",
        _AXOLOTL + "metharme.jinja",
        bos="<s>",
        eos="</s>",
        writes_bos=True,
        specials=("<|system|>", "<|user|>", "<|model|>"),
        add_bos=True,
        pretokenizer="sp-always",
        expected=(
            "<s><|system|>You are a helpful assistant.<|user|>Hello<|model|>Hi there"
            "<|user|>Who are you?<|model|>I am an assistant</s>"
        ),
        notes="one-token headers, no separator: the next header closes a reply, EOS the last",
    ),
    Family(
        "vicuna",
        "corpus:vicuna",
        _CHUJIEZHENG + "vicuna.jinja",
        bos="<s>",
        eos="</s>",
        writes_bos=True,
        specials=(),
        add_bos=True,
        pretokenizer="sp-always",
        expected=(
            "<s>You are a helpful assistant.\n\nUSER: Hello\nASSISTANT: Hi there</s>\n"
            "USER: Who are you?\nASSISTANT: I am an assistant</s>\n"
        ),
    ),
    Family(
        "vicuna_fastchat",
        "corpus:vicuna_fastchat",
        "lm-sys/FastChat:fastchat/conversation.py (vicuna_v1.1)",
        bos="<s>",
        eos="</s>",
        writes_bos=False,
        specials=(),
        add_bos=True,
        pretokenizer="sp-always",
        expected=(
            "You are a helpful assistant. USER: Hello ASSISTANT: Hi there</s>"
            "USER: Who are you? ASSISTANT:   I am an assistant  </s>"
        ),
    ),
    Family(
        "llava",
        "corpus:llava",
        _AXOLOTL + "llava.jinja (llava-hf/llava-1.5-7b-hf)",
        bos="<s>",
        eos="</s>",
        writes_bos=False,
        specials=("<image>",),
        add_bos=True,
        pretokenizer="sp-always",
        expected=(
            "You are a helpful assistant. USER: Hello ASSISTANT: Hi there USER: Who are you? "
            "ASSISTANT:   I am an assistant   "
        ),
        notes="no end-of-turn token; the next header starts after a space; the template "
        "marks replies with generation blocks, as the published one does",
    ),
    Family(
        "zephyr",
        "corpus:zephyr",
        _OPEN_INSTRUCT + ' (CHAT_TEMPLATES["zephyr"])',
        bos="<s>",
        eos="</s>",
        writes_bos=False,
        specials=(),
        add_bos=True,
        pretokenizer="sp-always",
        expected=(
            "<|system|>\nYou are a helpful assistant.</s>\n<|user|>\nHello</s>\n"
            "<|assistant|>\nHi there</s>\n<|user|>\nWho are you?</s>\n"
            "<|assistant|>\n  I am an assistant  </s>\n"
        ),
    ),
    Family(
        "alpaca",
        "corpus:alpaca",
        _AXOLOTL + "alpaca.jinja",
        bos="<s>",
        eos="</s>",
        writes_bos=True,
        specials=(),
        add_bos=True,
        pretokenizer="sp-always",
        expected=(
            "<s>You are a helpful assistant.\n\n### Instruction:\nHello\n\n### Response:\n"
            "Hi there</s>\n\n### Instruction:\nWho are you?\n\n### Response:\n"
            "  I am an assistant  </s>"
        ),
    ),
    Family(
        "baichuan2",
        "corpus:baichuan2",
        _VLLM + "template_baichuan.jinja",
        bos="<s>",
        eos="</s>",
        writes_bos=False,
        specials=("<reserved_106>", "<reserved_107>"),
        pretokenizer="sp-never",
        expected=(
            "You are a helpful assistant.<reserved_106>Hello<reserved_107>Hi there"
            "<reserved_106>Who are you?<reserved_107>  I am an assistant  "
        ),
        notes="no end-of-turn token at all",
    ),
    Family(
        "minicpm",
        "corpus:minicpm",
        _LLAMA_CPP_TESTS + ' ("MiniCPM-3B-OpenHermes-2.5-v2-GGUF")',
        bos="<s>",
        eos="</s>",
        writes_bos=False,
        specials=("<用户>", "<AI>"),
        pretokenizer="sp-always",
        expected="You are a helpful assistant.<用户>Hello<AI>Hi there<用户>Who are you?<AI>I am an assistant",
        notes="no end-of-turn token at all",
    ),
    Family(
        "openchat",
        "corpus:openchat",
        _LLAMA_CPP_TESTS + ' ("openchat/openchat-3.5-0106")',
        bos="<s>",
        eos="<|end_of_turn|>",
        writes_bos=True,
        specials=("<|end_of_turn|>", "</s>"),
        add_bos=True,
        pretokenizer="sp-always",
        expected=(
            "<s>GPT4 Correct System: You are a helpful assistant.<|end_of_turn|>"
            "GPT4 Correct User: Hello<|end_of_turn|>GPT4 Correct Assistant: Hi there<|end_of_turn|>"
            "GPT4 Correct User: Who are you?<|end_of_turn|>"
            "GPT4 Correct Assistant:   I am an assistant  <|end_of_turn|>"
        ),
    ),
    Family(
        "solar",
        "corpus:solar",
        _CHUJIEZHENG + "solar-instruct.jinja",
        bos="<s>",
        eos="</s>",
        writes_bos=True,
        specials=(),
        add_bos=True,
        pretokenizer="sp-always",
        expected=(
            "<s>### System:\nYou are a helpful assistant.\n\n### User:\nHello\n\n"
            "### Assistant:\nHi there\n\n### User:\nWho are you?\n\n"
            "### Assistant:\nI am an assistant\n\n"
        ),
        notes="no end-of-turn token",
    ),
    Family(
        "orion",
        "corpus:orion",
        _LLAMA_CPP_TESTS + ' ("OrionStarAI/Orion-14B-Chat")',
        bos="<s>",
        eos="</s>",
        writes_bos=True,
        specials=(),
        add_bos=True,
        pretokenizer="sp-always",
        expected=(
            "<s>Human: Hello\n\nAssistant: </s>Hi there</s>Human: Who are you?\n\nAssistant: </s>"
            "  I am an assistant  </s>"
        ),
        notes="EOS inside the prompt; the system prompt is not written",
    ),
    Family(
        "seed_oss",
        "corpus:seed_oss",
        _LLAMA_CPP_TESTS + ' ("ByteDance-Seed/Seed-OSS-36B-Instruct")',
        bos="<seed:bos>",
        eos="<seed:eos>",
        writes_bos=True,
        specials=("<seed:think>", "</seed:think>"),
        expected=(
            "<seed:bos>system\nYou are a helpful assistant.<seed:eos><seed:bos>user\nHello<seed:eos>"
            "<seed:bos>assistant\nHi there<seed:eos><seed:bos>user\nWho are you?<seed:eos>"
            "<seed:bos>assistant\nI am an assistant<seed:eos>"
        ),
        notes="BOS opens every turn; an empty reply is written with no EOS",
    ),
    Family(
        "megrez",
        "corpus:megrez",
        _LLAMA_CPP_TESTS + ' ("Infinigence/Megrez-3B-Instruct")',
        bos="<|startoftext|>",
        eos="<|turn_end|>",
        writes_bos=False,
        specials=("<|role_start|>", "<|role_end|>", "<|turn_end|>"),
        expected=(
            "<|role_start|>system<|role_end|>You are a helpful assistant.<|turn_end|>"
            "<|role_start|>user<|role_end|>Hello<|turn_end|>"
            "<|role_start|>assistant<|role_end|>Hi there<|turn_end|>"
            "<|role_start|>user<|role_end|>Who are you?<|turn_end|>"
            "<|role_start|>assistant<|role_end|>  I am an assistant  <|turn_end|>"
        ),
    ),
    Family(
        "moonlight_kimi",
        "corpus:moonlight",
        _LLAMA_FACTORY + ' ("moonlight"); ' + _LLAMA_CPP_CHAT + " (LLM_CHAT_TEMPLATE_KIMI_K2)",
        bos="[BOS]",
        eos="<|im_end|>",
        writes_bos=False,
        specials=(
            "<|im_system|>",
            "<|im_user|>",
            "<|im_assistant|>",
            "<|im_middle|>",
            "<|im_end|>",
        ),
        expected=(
            "<|im_system|>system<|im_middle|>You are a helpful assistant.<|im_end|>"
            "<|im_user|>user<|im_middle|>Hello<|im_end|>"
            "<|im_assistant|>assistant<|im_middle|>Hi there<|im_end|>"
            "<|im_user|>user<|im_middle|>Who are you?<|im_end|>"
            "<|im_assistant|>assistant<|im_middle|>  I am an assistant  <|im_end|>"
        ),
    ),
    Family(
        "bailing",
        "corpus:bailing",
        _LLAMA_CPP_TESTS + ' ("inclusionAI/Ling-lite")',
        bos=None,
        eos="<|endoftext|>",
        writes_bos=False,
        specials=("<role>", "</role>", "<|endoftext|>"),
        expected=(
            "<role>SYSTEM</role>You are a helpful assistant.<role>HUMAN</role>Hello"
            "<role>ASSISTANT</role>Hi there<role>HUMAN</role>Who are you?"
            "<role>ASSISTANT</role>  I am an assistant  "
        ),
        notes="no end-of-turn token: the next <role> opener follows a reply",
    ),
    Family(
        "rwkv_world",
        "corpus:rwkv_world",
        _LLAMA_CPP_CHAT + " (LLM_CHAT_TEMPLATE_RWKV_WORLD)",
        bos=None,
        eos=None,
        writes_bos=False,
        specials=(),
        expected=(
            "System: You are a helpful assistant.\n\nUser: Hello\n\nAssistant: Hi there\n\n"
            "User: Who are you?\n\nAssistant: I am an assistant\n\n"
        ),
        notes="no special token at all; '\\n\\n' ends a turn",
    ),
    # ---- the newest trl families: markers found in the template ------------------------
    Family(
        "gptoss",
        "trl:gptoss",
        _TRL + "gptoss.jinja",
        bos="<|startoftext|>",
        eos="<|return|>",
        writes_bos=False,
        tools=True,
        training="gptoss_training",
    ),
    Family(
        "muse_glimmer",
        "trl:muse_glimmer",
        _TRL + "muse_glimmer.jinja",
        bos="<|begin_of_text|>",
        eos="<|eot|>",
        writes_bos=True,
        tools=True,
        training="muse_glimmer_training",
    ),
    *(
        Family(
            stem,
            f"trl:{stem}",
            _TRL + f"{stem}.jinja",
            bos=None,
            eos="<|im_end|>",
            writes_bos=False,
            tools=True,
            training=f"{stem}_training",
        )
        for stem in (
            "nemotron_3_nano",
            "nemotron_3_super",
            "nemotron_3_ultra",
            "nemotron_3_5_lightning",
        )
    ),
    *(
        Family(
            stem,
            f"trl:{stem}",
            _TRL + f"{stem}.jinja",
            bos="<|startoftext|>",
            eos="<|im_end|>",
            writes_bos=True,
            tools=stem != "lfm2",
            training={"lfm2": "lfm2_training", "lfm2_v2": "lfm2_v2_training"}.get(stem),
        )
        for stem in ("lfm2", "lfm2_v2", "lfm2_2_5", "lfm2_2_5_v2", "lfm2_2_5_vl")
    ),
    Family(
        "idefics3",
        "trl:idefics3",
        _TRL + "idefics3.jinja",
        bos="<|begin_of_text|>",
        eos="<end_of_utterance>",
        writes_bos=True,
        training="idefics3_training",
    ),
    Family(
        "smolvlm",
        "trl:smolvlm",
        _TRL + "smolvlm.jinja",
        bos="<|im_start|>",
        eos="<end_of_utterance>",
        writes_bos=True,
        training="smolvlm_training",
    ),
]

FAMILIES: dict[str, Family] = {f.name: f for f in _FAMILIES}
assert len(FAMILIES) == len(_FAMILIES), "family names must be unique"


# -- loading ----------------------------------------------------------------------------


def _read(kind_stem: str) -> str:
    kind, stem = kind_stem.split(":", 1)
    if kind == "corpus":
        return (CORPUS_DIR / f"{stem}.jinja").read_text(encoding="utf-8")
    if kind in ("trl", "builtin"):
        from dataprep.prepare.template.choice import builtin_template

        return builtin_template(stem).source
    raise ValueError(f"unknown template source {kind_stem!r}")


@cache
def template_source(family: Family) -> str:
    """The family's template: the trl wheel's, the builtin, or the corpus file."""
    return _read(family.template)


@cache
def training_source(family: Family) -> str | None:
    """The family's ``{% generation %}`` variant, when one ships (trl ``*_training``)."""
    if family.training is None:
        return None
    return _read(("builtin:" if family.training == "chatml" else "trl:") + family.training)


def special_tokens(family: Family) -> tuple[str, ...]:
    """The strings that are single special tokens in the family's tokenizer."""
    if family.specials is not None:
        return (*family.specials, *family.extra)
    found = tokenizer_factory.markers_in(template_source(family))
    training = training_source(family)
    if training:
        found += tokenizer_factory.markers_in(training)
    return tuple(sorted({*found, *family.extra}))


@cache
def family_tokenizer(family: Family) -> Any:
    """A tiny tokenizer of the family's shape, with its template (cached per family)."""
    return tokenizer_factory.spec_tokenizer(
        template_source(family),
        specials=special_tokens(family),
        bos=family.bos,
        eos=family.eos,
        add_bos=family.add_bos,
        pretokenizer=family.pretokenizer,
    )


def probes_for(family: Family) -> list[str]:
    """The probe names that apply to a family (tool calls only where it renders them)."""
    return [name for name in PROBES if name != "tools" or family.tools]
