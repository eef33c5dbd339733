"""Canonical examples -> token ids and labels (SFT), or prompt / chosen / rejected ids (DPO).

One render and one tokenization per conversation; trained spans come from the rendering
(``masks``) and the tokenizer's char->token map, so cost is linear in tokens. Texts of a
batch are tokenized together by the Rust tokenizer (``encode_batch``, multi-threaded);
long ones in pieces cut before special tokens (``pieces``: same ids, and a cost per token
that does not grow with the conversation).

Our ids for a chat equal ``tokenizer.apply_chat_template(messages, tools=...)["input_ids"]``
with the same template: the rendering is tokenized without the tokenizer's own special
tokens, because chat templates write them (a template that writes BOS and a tokenizer that
adds another would otherwise give two; ``notes`` says so once).

Plain (non-chat) conversations are not templated: the text is the contents joined as
they are, tokenized like any text (with the tokenizer's BOS if it adds one), and EOS is
appended so the model learns to stop.

>>> from dataprep.canonical import Conversation, Message
>>> from dataprep.prepare.template.choice import load_tokenizer, resolve_template
>>> tokenizer = load_tokenizer("samples/tiny-tokenizer")
>>> enc = Encoder(tokenizer, resolve_template(tokenizer, "chatml"))
>>> [row] = enc.encode_sft([Conversation([Message(role="user", content="Hi"),
...                                       Message(role="assistant", content="Hello!")])])
>>> tokenizer.decode(row.input_ids[row.labels != -100])
'Hello!<|im_end|>\\n'
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2
import numpy as np

from dataprep.canonical import Conversation, Message, Preference, Unpaired
from dataprep.contract import IGNORE_INDEX, MASK_POLICIES
from dataprep.errors import PrepareError, RowError
from dataprep.prepare.encode.masks import (
    Located,
    Span,
    TurnMarkers,
    common_prefix_len,
    labels_from_ranges,
    locate_turns,
    merge_spans,
    owner_of_spans,
    probe_markers,
    token_ranges,
    token_snapper,
)
from dataprep.prepare.encode.pieces import PIECE_CHARS, PieceTokenizer
from dataprep.prepare.template.choice import ChatTemplate
from dataprep.prepare.template.rendering import compile_template, render, to_template_messages

# Reasoning of assistant turns: kept in every turn, in the last only, or removed (before
# the template sees it; the template may drop more, as Qwen3's drops it from history).
THINKING_POLICIES = ("keep", "last", "drop")
NO_TEMPLATE = (
    "a conversation, and the tokenizer has no chat template (plain text needs none): "
    "pass --chat-template (chatml suits most base models)"
)

# Tokens that end a turn in common families, tried after the template's own suffix when
# locating a turn's end (only those the tokenizer knows are used).
_END_OF_TURN_TOKENS = (
    "<|im_end|>",
    "<|eot_id|>",
    "<|end|>",
    "<end_of_turn>",
    "<|END_OF_TURN_TOKEN|>",
    "<|return|>",
    "<|call|>",
    "<turn|>",
)


@dataclass
class SFTEncoded:
    input_ids: np.ndarray  # int32
    labels: np.ndarray  # int32, -100 where no loss


@dataclass
class DPOEncoded:
    prompt_ids: np.ndarray  # int32
    chosen_ids: np.ndarray  # int32, without the prompt
    rejected_ids: np.ndarray  # int32, without the prompt


@dataclass
class KTOEncoded:
    prompt_ids: np.ndarray  # int32
    completion_ids: np.ndarray  # int32, without the prompt
    label: bool


@dataclass
class _Rendered:
    """One chat conversation rendered, before tokenization."""

    messages: list[dict[str, Any]]
    text: str
    generation_spans: list[Span] = field(default_factory=list)
    tools: list[dict[str, Any]] | None = None


class Encoder:
    """Encode canonical examples for one tokenizer and chat template.

    ``mask``: ``assistant`` trains every assistant turn; ``last`` the last one; ``all``
    every token (but messages flagged ``train=False``); ``completion`` the completion of
    prompt-completion data: everything from the first assistant turn after the last
    user/tool message to the end. A message's ``train`` flag wins over the policy:
    False is never trained, True always (its text, for a non-assistant message).

    ``template`` None encodes plain text only: a chat row is a ``no-chat-template`` error.
    ``system`` is a default system prompt for conversations that have none.
    ``template_kwargs`` are extra template variables (``enable_thinking=False``, ...).
    ``spans``: ``auto`` uses ``{% generation %}`` marks when the template has them, else
    the header/end-of-turn walk; ``walk`` forces the walk (to compare both).

    ``piece_chars``: renderings longer than this are tokenized in pieces cut before the
    template's special tokens (same ids, flat cost per token; see ``pieces``).

    ``drop_longer_than``: under ``--overlong drop``, the maximum length: a rendering
    certainly longer than that many tokens (by its characters, see ``bounds``) is
    rejected as ``too-long`` without being tokenized.

    ``notes`` collects things to tell the user once (double BOS, argument form, ...).
    """

    def __init__(
        self,
        tokenizer: Any,
        template: ChatTemplate | None,
        *,
        mask: str = "assistant",
        system: str | None = None,
        template_kwargs: dict[str, Any] | None = None,
        spans: str = "auto",
        piece_chars: int = PIECE_CHARS,
        thinking: str = "keep",
        verify: bool = True,
        drop_longer_than: int | None = None,
    ):
        if mask not in MASK_POLICIES:
            raise PrepareError(f"unknown mask policy {mask!r}; one of {', '.join(MASK_POLICIES)}")
        if spans not in ("auto", "walk", "generation"):
            raise PrepareError(f"unknown span method {spans!r}")
        if thinking not in THINKING_POLICIES:
            raise PrepareError(
                f"unknown thinking policy {thinking!r}; one of {', '.join(THINKING_POLICIES)}"
            )
        if spans == "generation" and (template is None or not template.has_generation):
            raise PrepareError(
                f"chat template {template and template.name} has no {{% generation %}} blocks"
            )
        self.tokenizer = tokenizer
        self.template = template
        self.mask = mask
        self.system = system
        self.thinking = thinking
        self.notes: list[str] = []
        self._backend = _untruncated(tokenizer.backend_tokenizer)
        self._eos = tokenizer.eos_token
        self._eos_id = tokenizer.eos_token_id
        self._bos_id = tokenizer.bos_token_id
        self._markers: TurnMarkers | None = None
        self._markers_error: str | None = None
        if template is None:
            # Plain text needs no template (``text`` rows); a chat row is refused alone.
            self._compiled = None
            self._use_generation = self._content_blocks = self._arguments_as_string = False
            self._drops_tool_calls = False
            self._template_tokens: list[str] = []
        else:
            self._compiled = compile_template(template.source)
            self._variables = {**tokenizer.special_tokens_map, **(template_kwargs or {})}
            self._use_generation = template.has_generation and spans != "walk"
            self._content_blocks = self._probe_content_form()
            self._arguments_as_string = self._probe_argument_form()
            self._drops_tool_calls = self._probe_drops_tool_calls()
            # The added tokens the template writes: turn openers for the walk, cut points
            # for long renderings.
            self._template_tokens = self._template_special_tokens()
            self._learn_markers()
            self._check_bos()
        self._pieces = PieceTokenizer(self._backend, self._template_tokens, piece_chars=piece_chars)
        self._max_chars: int | None = None  # longer texts are certainly too long
        if drop_longer_than is not None:
            from dataprep.prepare.encode.bounds import max_token_chars

            self._drop_longer_than = drop_longer_than
            per_token = max_token_chars(self._backend)
            if per_token is not None:
                self._max_chars = drop_longer_than * per_token
        self.span_check: Any = None
        if spans == "auto" and verify and template is not None:
            self._verify_spans()

    def _verify_spans(self) -> None:
        """Check the span methods against render-diff (``verify``) once per tokenizer,
        template and template variables, and use the first that agrees; refuse the
        template when none does: its masks would be guesses."""
        from dataprep.prepare.encode.verify import cached_check

        check = cached_check(self)
        self.span_check = check
        if not check.ok:
            why = "; ".join(check.problems[:3]) or "no span method agrees with render-diff"
            raise PrepareError(
                f"chat template {self.template.name}: cannot verify which tokens to train with "
                f"this tokenizer ({why}). Run `dataprep check-template` for the details, or "
                "pass another template (--chat-template)."
            )
        self._use_generation = check.method == "generation"
        if self.template.has_generation and check.method != "generation":
            self._note_once(
                f"chat template {self.template.name}: its {{% generation %}} blocks disagree "
                "with the rendering (they train what the generation prompt writes); masks "
                "come from the turn walk, which agrees"
            )

    def with_method(self, method: str) -> Encoder:
        """This encoder with its span method forced (``generation`` or ``walk``): a shallow
        copy sharing everything probed, for comparing the methods (``verify``) and showing
        an example (``template_check``). Without the run's length bound: a probe is never
        too long, it is compared."""
        if method not in ("generation", "walk"):
            raise PrepareError(f"unknown span method {method!r}")
        other = copy.copy(self)
        other._use_generation = method == "generation"
        other._max_chars = None
        return other

    # -- template probing (once per encoder) ---------------------------------------------

    def _render_dicts(self, messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
        return render(
            self._compiled,
            messages,
            tools=None,
            add_generation_prompt=add_generation_prompt,
            variables=self._variables,
        ).text

    def _probe_content_form(self) -> bool:
        """True when the template only renders content given as text blocks (the
        vision-language templates: ``message['content'][0]['type']``)."""
        probe = [Message("user", "Probe question"), Message("assistant", "Probe answer")]
        for blocks in (False, True):
            try:
                text = self._render(
                    to_template_messages(probe, content_blocks=blocks), None, False
                ).text
            except (jinja2.TemplateError, TypeError, ValueError, KeyError, AttributeError):
                continue
            # (a template slicing a list of blocks renders its Python repr: not a match)
            if "Probe answer" in text and "'type'" not in text:
                if blocks:
                    self.notes.append(
                        f"chat template {self.template.name} reads content as text blocks: "
                        "passing each message's text as one block"
                    )
                return blocks
        return False

    def _offsets(self, text: str) -> list[Span]:
        return self._backend.encode(text, add_special_tokens=False).offsets

    def _learn_markers(self) -> None:
        # End-of-turn tokens the template writes (literally, or EOS through eos_token).
        src = self.template.source
        stop = [t for t in _END_OF_TURN_TOKENS if t in src and self._is_token(t)]
        if self._eos and self._is_token(self._eos) and ("eos_token" in src or self._eos in src):
            stop.append(self._eos)
        self._stop_tokens = stop
        try:
            self._markers = probe_markers(
                self._render_dicts,
                self._offsets,
                stop,
                content=(lambda t: [{"type": "text", "text": t}]) if self._content_blocks else str,
                # Every added token: a template may build its markers ('<|' + role + '|>').
                special_tokens=[
                    t.content for t in self._backend.get_added_tokens_decoder().values()
                ],
            )
        except (ValueError, jinja2.TemplateError, TypeError) as e:
            # Only fatal when the walk is needed; then every row says why.
            self._markers_error = f"chat template {self.template.name}: {e}"
            if not self._use_generation:
                raise PrepareError(
                    f"{self._markers_error}; cannot tell which tokens to train. Use a template "
                    "with {% generation %} blocks (--chat-template), e.g. chatml."
                ) from e

    def _template_special_tokens(self) -> list[str]:
        """The tokenizer's added tokens that appear in the template's text."""
        added = self._backend.get_added_tokens_decoder().values()
        return [t.content for t in added if t.content and t.content in self.template.source]

    def _is_token(self, text: str) -> bool:
        return self._backend.token_to_id(text) is not None

    def _probe_argument_form(self) -> bool:
        """True when the template needs tool-call arguments as a JSON string.

        Most templates write ``arguments | tojson`` and want an object; a few concatenate
        them (``'...' + tool['function']['arguments']``) and fail on one. Decided once per
        template, so a row never renders differently depending on the rows before it.
        """
        from dataprep.canonical import ToolCall

        probe = [
            Message("user", "Probe question"),
            Message("assistant", "Probe call", tool_calls=[ToolCall("probe_tool", '{"x": 1}')]),
            Message("tool", "Probe result", name="probe_tool"),
            Message("assistant", "Probe answer"),
        ]
        tools = [{"type": "function", "function": {"name": "probe_tool", "parameters": {}}}]
        blocks = self._content_blocks
        try:
            self._render(to_template_messages(probe, content_blocks=blocks), tools, False)
            return False
        except TypeError:
            pass
        except (jinja2.TemplateError, ValueError, KeyError, AttributeError):
            return False
        try:
            self._render(
                to_template_messages(probe, arguments_as_string=True, content_blocks=blocks),
                tools,
                False,
            )
        except (TypeError, jinja2.TemplateError, ValueError, KeyError, AttributeError):
            return False
        self.notes.append(
            f"chat template {self.template.name} joins tool-call arguments as text: "
            "passing them as JSON strings"
        )
        return True

    def _probe_drops_tool_calls(self) -> bool:
        """True when the template renders a conversation with tool calls but writes no call
        (Llama 3's original, Qwen2.5-VL): such rows would lose their calls silently."""
        from dataprep.canonical import ToolCall

        name = "probe_tool_name"
        probe = [
            Message(role="user", content="Probe question"),
            Message(role="assistant", content="Probe call", tool_calls=[ToolCall(name, "{}")]),
        ]
        tools = [{"type": "function", "function": {"name": name, "parameters": {}}}]
        dicts = to_template_messages(
            probe,
            arguments_as_string=self._arguments_as_string,
            content_blocks=self._content_blocks,
        )
        try:
            text = self._render(dicts, tools, False).text
        except (jinja2.TemplateError, TypeError, ValueError, KeyError, AttributeError):
            return False  # refused: rows with calls get the template's own error
        return name not in text.replace("Probe call", "")

    def _check_bos(self) -> None:
        bos = self.tokenizer.bos_token
        if bos is None or self._bos_id is None:
            return
        try:
            probe = [Message("user", "Probe"), Message("assistant", "Probe")]
            text = self._render_dicts(
                to_template_messages(probe, content_blocks=self._content_blocks), False
            )
        except (jinja2.TemplateError, TypeError):
            return
        with_special = self._backend.encode("Probe", add_special_tokens=True).ids
        adds_bos = bool(with_special) and with_special[0] == self._bos_id
        writes_bos = text.startswith(bos)
        if writes_bos and adds_bos:
            self.notes.append(
                f"the chat template writes {bos} and the tokenizer adds another: tokenizing "
                "without the tokenizer's special tokens, so each row starts with one "
                "(as apply_chat_template does)"
            )
        elif adds_bos and not writes_bos:
            self.notes.append(
                f"the tokenizer adds {bos} to plain text but the chat template writes none: "
                "following the template (as apply_chat_template does)"
            )

    # -- rendering -------------------------------------------------------------------------

    def _render(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        add_generation_prompt: bool,
    ) -> Any:
        return render(
            self._compiled,
            messages,
            tools=tools,
            add_generation_prompt=add_generation_prompt,
            variables=self._variables,
        )

    def template_messages(self, messages: list[Message]) -> list[dict[str, Any]]:
        """Canonical messages as this encoder hands them to the template (with the default
        system prompt, and tool-call arguments in the form the template takes)."""
        if self.system is not None and not any(m.role == "system" for m in messages):
            messages = [Message(role="system", content=self.system), *messages]
        if self.thinking != "keep":
            messages = _without_reasoning(messages, keep_last=self.thinking == "last")
        return to_template_messages(
            messages,
            arguments_as_string=self._arguments_as_string,
            content_blocks=self._content_blocks,
        )

    def _render_row(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None,
        add_generation_prompt: bool = False,
    ) -> _Rendered:
        if self._compiled is None:
            raise RowError("", NO_TEMPLATE, "no-chat-template")
        for i, m in enumerate(messages):
            if m.role == "assistant" and not (m.content or "").strip() and not m.tool_calls:
                # Nothing to train but an end-of-turn token, and templates differ on it
                # (GLM-4 leaves the turn out): refused even where --accept empty-content
                # keeps rows with an empty system or user message.
                raise RowError(
                    f"messages[{i}].content",
                    "an empty assistant reply: nothing to train in it",
                    "empty-reply",
                )
        dicts = self.template_messages(messages)
        try:
            r = self._render(dicts, tools, add_generation_prompt)
        except jinja2.TemplateError as e:
            raise RowError("", f"the chat template refused this row: {e}", "template-error") from e
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            raise RowError(
                "",
                f"the chat template failed on this row: {type(e).__name__}: {e}",
                "template-error",
            ) from e
        if self._drops_tool_calls and any(m.tool_calls for m in messages):
            raise RowError(
                "",
                f"chat template {self.template.name} does not write tool calls: this row's "
                "calls would be lost; use a template that supports tools (--chat-template)",
                "tool-calls-dropped",
            )
        return _Rendered(dicts, r.text, r.generation_spans, tools)

    def _refuse_overlong(self, text: str) -> None:
        """Reject a text certainly longer than ``drop_longer_than`` tokens, untokenized."""
        if self._max_chars is not None and len(text) > self._max_chars:
            at_least = len(text) * self._drop_longer_than // self._max_chars
            raise RowError(
                "",
                f"at least {at_least} tokens ({len(text)} characters), longer than "
                f"--max-length {self._drop_longer_than} (use --overlong truncate or split to "
                "keep it)",
                "too-long",
            )

    def _encode_chat(self, texts: list[str]) -> list[Any]:
        encodings = self._pieces.encode_batch(texts)
        if self._pieces.note:
            self._note_once(self._pieces.note)
        return encodings

    # -- SFT -------------------------------------------------------------------------------

    def encode_sft(self, examples: list[Conversation]) -> list[SFTEncoded | RowError]:
        """Encode a batch of conversations; a row that cannot be encoded is its RowError."""
        results: list[SFTEncoded | RowError | None] = [None] * len(examples)
        texts: list[str] = []
        jobs: list[tuple[int, Any, bool]] = []  # (row, rendered or plain spans, is_plain)
        for i, conv in enumerate(examples):
            try:
                if conv.plain:
                    text, spans = self._plain_text(conv)
                    entry: tuple[int, Any, bool] = (i, (spans, len(text)), True)
                else:
                    rendered = self._render_row(conv.messages, conv.tools)
                    text = rendered.text
                    entry = (i, rendered, False)
                self._refuse_overlong(text)
                jobs.append(entry)
                texts.append(text)
            except RowError as e:
                results[i] = e
        plain_texts = [t for t, (_, _, p) in zip(texts, jobs, strict=True) if p]
        chat_texts = [t for t, (_, _, p) in zip(texts, jobs, strict=True) if not p]
        chat_enc = iter(self._encode_chat(chat_texts))
        plain_enc = iter(self._backend.encode_batch(plain_texts, add_special_tokens=True))
        for i, job, is_plain in jobs:
            try:
                if is_plain:
                    row = self._plain_row(next(plain_enc), *job)
                else:
                    row = self._chat_row(next(chat_enc), job, examples[i])
                results[i] = row
            except RowError as e:
                results[i] = e
        return results  # type: ignore[return-value]

    def _chat_row(self, encoding: Any, rendered: _Rendered, conv: Conversation) -> SFTEncoded:
        ids = np.asarray(encoding.ids, dtype=np.int32)
        spans = self.trained_spans(rendered, conv, token_snapper(encoding))
        labels = labels_from_ranges(ids, token_ranges(encoding, spans))
        if len(ids) > 1 and self._bos_id is not None and ids[0] == ids[1] == self._bos_id:
            # The rendering itself starts with two BOS (a template that writes one and
            # data that starts with another): keep one.
            ids, labels = ids[1:], labels[1:]
            self._note_once("rows starting with two BOS tokens: removed the duplicate")
        return SFTEncoded(ids, labels)

    def _note_once(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)

    def trained_spans(
        self, rendered: _Rendered, conv: Conversation, snap: Any = None
    ) -> list[Span]:
        """Character spans of ``rendered.text`` that are trained, under this encoder's
        mask policy and the messages' train flags."""
        messages = rendered.messages
        flags = self._flags(conv.messages, len(messages))
        roles = [m["role"] for m in messages]
        if self.mask == "all" and not any(f is False for f in flags):
            return [(0, len(rendered.text))]
        if self._use_generation and self.mask == "assistant" and all(f is None for f in flags):
            return merge_spans(rendered.generation_spans)

        located = self._locate(rendered)
        if self._use_generation:
            owners = owner_of_spans(rendered.generation_spans, located, roles)
            per_message: dict[int, list[Span]] = {}
            for span, owner in zip(rendered.generation_spans, owners, strict=True):
                per_message.setdefault(owner, []).append(span)
        else:
            per_message = {
                i: [_snapped_turn(s, located.anchors[i], snap)]
                for i, s in enumerate(located.turns)
                if s is not None
            }

        assistants = [i for i, r in enumerate(roles) if r == "assistant"]
        if self.mask == "assistant":
            chosen = set(assistants)
        elif self.mask == "last":
            chosen = {assistants[-1]} if assistants else set()
        elif self.mask == "completion":
            last_prompt = max((i for i, r in enumerate(roles) if r in ("user", "tool")), default=-1)
            chosen = {i for i in assistants if i > last_prompt}
        else:  # all, with some messages flagged train=False
            chosen = set(range(len(messages)))
        chosen |= {i for i, f in enumerate(flags) if f is True}
        chosen -= {i for i, f in enumerate(flags) if f is False}

        spans: list[Span] = []
        if self.mask == "all":
            excluded = merge_spans(
                [
                    s
                    for i, f in enumerate(flags)
                    if f is False
                    for s in self._message_spans(i, per_message, located)
                ]
            )
            pos = 0
            for s, e in excluded:
                spans.append((pos, s))
                pos = e
            spans.append((pos, len(rendered.text)))
            return merge_spans(spans)
        for i in sorted(chosen):
            spans.extend(self._message_spans(i, per_message, located))
        if self.mask == "completion" and spans:
            # The completion runs to the end: what a template writes after the last turn
            # (phi-3's EOS) is what the model produces after the prompt too.
            first = min(s for s, _ in spans)
            return merge_spans([*spans, (first, len(rendered.text))])
        return merge_spans(spans)

    @staticmethod
    def _message_spans(i: int, per_message: dict[int, list[Span]], located: Located) -> list[Span]:
        if i in per_message:
            return per_message[i]
        anchor = located.anchors[i]
        return [anchor] if anchor is not None else []

    def _flags(self, messages: list[Message], n: int) -> list[bool | None]:
        flags = [m.train for m in messages]
        # The default system prompt, when added, comes first and is never flagged.
        return [None] * (n - len(flags)) + flags

    def _locate(self, rendered: _Rendered) -> Located:
        if self._markers is None:
            raise RowError("", self._markers_error or "no turn markers", "mask-unlocatable")
        messages = rendered.messages

        def render_prefix(count: int, add_generation_prompt: bool) -> str:
            return self._render(messages[:count], rendered.tools, add_generation_prompt).text

        return locate_turns(rendered.text, messages, self._markers, render_prefix)

    # -- plain text ------------------------------------------------------------------------

    def _plain_text(self, conv: Conversation) -> tuple[str, list[Span]]:
        """The text of a plain conversation and its trained character spans."""
        pieces, spans, pos = [], [], 0
        has_completion = any(m.role == "assistant" for m in conv.messages)
        for m in conv.messages:
            text = m.content or ""
            trained = m.train
            if trained is None:
                if self.mask == "all" or not has_completion:
                    trained = True  # plain text: language modelling on all of it
                else:
                    trained = m.role == "assistant"
            if trained and text:
                spans.append((pos, pos + len(text)))
            pieces.append(text)
            pos += len(text)
        return "".join(pieces), spans

    def _plain_row(self, encoding: Any, spans: list[Span], length: int) -> SFTEncoded:
        ids = np.asarray(encoding.ids, dtype=np.int32)
        labels = labels_from_ranges(ids, token_ranges(encoding, merge_spans(spans)))
        if self._eos_id is not None and (len(ids) == 0 or ids[-1] != self._eos_id):
            ids = np.append(ids, np.int32(self._eos_id))
            # EOS is trained when the text before it is: the model learns to stop there.
            eos_label = self._eos_id if spans and spans[-1][1] >= length else IGNORE_INDEX
            labels = np.append(labels, np.int32(eos_label))
        return SFTEncoded(ids.astype(np.int32), labels.astype(np.int32))

    # -- DPO / KTO -------------------------------------------------------------------------

    def encode_dpo(self, examples: list[Preference]) -> list[DPOEncoded | RowError]:
        """Encode preference pairs: the prompt's ids, and chosen / rejected ids without it.

        The prompt is rendered with the generation prompt; each continuation as the whole
        conversation. The prompt's text must start the whole rendering and its tokens
        must start the whole tokenization, otherwise the row is a ``prompt-not-prefix``
        error that says what differed: a split in the middle of a token would train the
        model on a context it never sees.
        """
        results: list[DPOEncoded | RowError | None] = [None] * len(examples)
        triples: list[tuple[int, list[str], bool]] = []
        for i, ex in enumerate(examples):
            try:
                triples.append(
                    (i, self._pair_texts(ex.prompt, [ex.chosen, ex.rejected], ex), ex.plain)
                )
            except RowError as e:
                results[i] = e
        encoded = self._encode_groups(triples)
        for (i, texts, _), encs in zip(triples, encoded, strict=True):
            try:
                prompt_ids, (chosen, rejected) = self._split_prompt(texts, encs)
                results[i] = DPOEncoded(prompt_ids, chosen, rejected)
            except RowError as e:
                results[i] = e
        return results  # type: ignore[return-value]

    def encode_kto(self, examples: list[Unpaired]) -> list[KTOEncoded | RowError]:
        """Encode unpaired examples (KTO): prompt ids, completion ids without it, label.
        The same prefix check as ``encode_dpo``."""
        results: list[KTOEncoded | RowError | None] = [None] * len(examples)
        triples: list[tuple[int, list[str], bool]] = []
        for i, ex in enumerate(examples):
            try:
                triples.append((i, self._pair_texts(ex.prompt, [ex.completion], ex), ex.plain))
            except RowError as e:
                results[i] = e
        encoded = self._encode_groups(triples)
        for (i, texts, _), encs in zip(triples, encoded, strict=True):
            try:
                prompt_ids, (completion,) = self._split_prompt(texts, encs)
                results[i] = KTOEncoded(prompt_ids, completion, examples[i].label)
            except RowError as e:
                results[i] = e
        return results  # type: ignore[return-value]

    def _pair_texts(
        self, prompt: list[Message], continuations: Sequence[list[Message]], ex: Any
    ) -> list[str]:
        """[prompt text, prompt+continuation text, ...]."""
        if ex.plain:
            head = "".join(m.content or "" for m in prompt)
            texts = [head, *(head + "".join(m.content or "" for m in c) for c in continuations)]
            for text in texts[1:]:
                self._refuse_overlong(text)
            return texts
        texts = [self._render_row(prompt, ex.tools, add_generation_prompt=True).text]
        for name, c in zip(("chosen", "rejected"), continuations, strict=False):
            full = self._render_row([*prompt, *c], ex.tools).text
            if not full.startswith(texts[0]):
                at = common_prefix_len(texts[0], full)
                raise RowError(
                    name,
                    "the chat template renders the prompt differently when a reply follows: "
                    f"prompt alone has {texts[0][at : at + 40]!r} where the conversation has "
                    f"{full[at : at + 40]!r}",
                    "prompt-not-prefix",
                )
            self._refuse_overlong(full)
            texts.append(full)
        return texts

    def _encode_groups(self, groups: list[tuple[int, list[str], bool]]) -> list[list[Any]]:
        """Tokenize every text of every group in two batches (chat, plain)."""
        chat = [t for _, texts, plain in groups if not plain for t in texts]
        plain = [t for _, texts, plain in groups if plain for t in texts]
        chat_it = iter(self._encode_chat(chat))
        plain_it = iter(self._backend.encode_batch(plain, add_special_tokens=True))
        out = []
        for _, texts, is_plain in groups:
            it = plain_it if is_plain else chat_it
            encs = [next(it) for _ in texts]
            out.append([(enc, is_plain) for enc in encs])
        return out

    def _split_prompt(
        self, texts: list[str], encs: list[tuple[Any, bool]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        prompt = np.asarray(encs[0][0].ids, dtype=np.int32)
        conts = []
        for name, (enc, is_plain) in zip(
            ("chosen", "rejected", "completion"), encs[1:], strict=False
        ):
            full = np.asarray(enc.ids, dtype=np.int32)
            if (
                is_plain
                and self._eos_id is not None
                and (len(full) == 0 or full[-1] != self._eos_id)
            ):
                full = np.append(full, np.int32(self._eos_id))
            n = len(prompt)
            if len(full) < n or not np.array_equal(full[:n], prompt):
                at = int(np.argmax(full[: min(n, len(full))] != prompt[: min(n, len(full))]))
                if len(full) >= n and np.array_equal(full[:n], prompt):
                    at = n
                got = self.tokenizer.convert_ids_to_tokens(full[at : at + 3].tolist())
                want = self.tokenizer.convert_ids_to_tokens(prompt[at : at + 3].tolist())
                raise RowError(
                    name if len(encs) == 3 else "completion",
                    f"the prompt's tokens are not a prefix of prompt+{name}: at token {at} the "
                    f"prompt has {want} but the whole has {got} (tokens merge across the "
                    "boundary; end the prompt at a word's end or a newline, and start the reply "
                    "with its space)",
                    "prompt-not-prefix",
                )
            conts.append(full[n:].astype(np.int32))
        return prompt, conts


def _snapped_turn(turn: Span, anchor: Span | None, snap: Any) -> Span:
    """A walked turn whose end is moved down off a token it shares with the next header
    (a closing space merged into `` USER`` or ``▁[``), never below its own text."""
    if snap is None:
        return turn
    floor = anchor[1] if anchor is not None else turn[0]
    return (turn[0], max(snap(turn[1], floor), turn[0]))


def _without_reasoning(messages: list[Message], *, keep_last: bool) -> list[Message]:
    """``messages`` with the reasoning of assistant turns removed (all, or all but the last
    assistant turn's)."""
    last = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
    out = []
    for i, m in enumerate(messages):
        if m.reasoning is not None and not (keep_last and i == last):
            m = copy.copy(m)
            m.reasoning = None
        out.append(m)
    return out


def _untruncated(backend: Any) -> Any:
    """The backend tokenizer without the truncation or padding its tokenizer.json may carry
    (transformers turns them off per call; we call the backend directly). A copy, so the
    caller's tokenizer is left as it was."""
    if backend.truncation is None and backend.padding is None:
        return backend
    from tokenizers import Tokenizer

    copy = Tokenizer.from_str(backend.to_str())
    copy.no_truncation()
    copy.no_padding()
    return copy
