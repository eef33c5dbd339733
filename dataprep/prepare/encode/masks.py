"""Finding the trained text of each assistant turn in ONE rendering, and turning character
spans into token labels.

Why these spans: a trained turn is exactly what the model must generate after the
generation prompt: its content, tool calls and reasoning, and the end-of-turn marker that
makes it stop. The role header before it is the prompt's (``add_generation_prompt`` writes
it at inference), so it is never trained.

Two ways to find them, both over a single rendering of the whole conversation, so cost is
linear in its length:

a) the template marks generated text with ``{% generation %}`` blocks: the renderer records
   their character spans (as ``transformers`` does for ``return_assistant_tokens_mask``);
b) the usual case, the model's ORIGINAL template, without marks: learn once per template
   (probing with a tiny synthetic conversation, never per row) the assistant generation
   header H and the end-of-turn suffix S, then walk the messages in order with a cursor,
   locating each message's anchor (its content, or tool names for a tool-call-only turn).
   A turn's span starts right after the last H before its first anchor and ends after the
   first S after its last anchor. A turn that cannot be located this way is a
   ``mask-unlocatable`` row error: we never guess.

When H does not precede a turn (DeepSeek-V3 writes no ``<｜Assistant｜>`` after tool
outputs), the one honest definition is used as a fallback for that turn alone: render the
messages before it with ``add_generation_prompt=True``; if the conversation starts with
that text, the turn starts where it ends.

Templates without one of H or S are walked with what they do write: with no header
(Mistral's reply follows ``[/INST]``), the text every reply follows (the cue); with no
end-of-turn text, the token or text that opens the next message, which ends the turn and
is never trained (GLM-4's ``<|user|>``, Vicuna's `` USER: ``). Either way one render a
row. Whatever the walk finds is checked against an independent method before a run
(``verify``: render-diff), and a template on which the two disagree is not used.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from dataprep.contract import IGNORE_INDEX
from dataprep.errors import RowError

Span = tuple[int, int]

# Probe texts: plain words no template rewrites, no tokenizer merges with markup.
_PROBE = ("Probe question one", "Probe answer one", "Probe question two", "Probe answer two")


@dataclass(frozen=True)
class TurnMarkers:
    """What opens and closes an assistant turn in a template's rendering.

    ``headers`` are H (e.g. ``"<|im_start|>assistant\\n"``), longest first: a template may
    open the last turn differently from turns in history (Qwen3.5 without thinking writes
    an empty think block after the header of the last turn only). ``ends`` are the
    end-of-turn suffixes tried in order: S (e.g. ``"<|im_end|>\\n"``), S without trailing
    whitespace, then the tokenizer's end-of-sequence / end-of-turn tokens. ``headers`` is
    empty for a template whose generation prompt writes nothing (LLaVA-NeXT: the reply
    follows ``[/INST]``); ``ends`` for one that writes nothing after a reply (GLM-4: the
    next header ends it). Both then fall back to rendering the messages before a turn.
    """

    headers: tuple[str, ...]  # longest first
    ends: tuple[str, ...]
    # The whole text the generation prompt writes (``"<|im_start|>assistant\n<think>\n"``):
    # a turn starts where the rendering stops following it after a header, so what the
    # generation prompt writes is never trained and what the template adds that it does
    # not write (an empty think block of a final turn) is.
    prompt: str = ""
    # Shorter cuts of ``prompt`` (whole tokens, longest first), tried when no header
    # precedes a turn: a training template writes an empty think block in every header,
    # which a turn with reasoning fills.
    fallbacks: tuple[str, ...] = ()
    # When ``ends`` is empty: the tokens that open a message; a turn ends before the next.
    openers: tuple[str, ...] = ()
    # When ``headers`` is empty: the text every reply follows (Mistral's ``[/INST]``), so a
    # reply's text is never looked for inside a prompt. Not a header: nothing after it is
    # known to be the prompt's.
    cue: str = ""
    # When nothing closes a turn and no token opens the next: the whole texts that come
    # between a reply and the next message, and what of them closes the reply (a space).
    nexts: tuple[str, ...] = ()
    close: str = ""


def common_prefix_len(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _common_suffix_len(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[-1 - i] == b[-1 - i]:
        i += 1
    return i


def _token_boundaries(text: str, offsets: Callable[[str], list[Span]]) -> list[int]:
    """Character positions where a token of ``text`` starts, plus its end."""
    starts = sorted({start for start, _ in offsets(text)} | {len(text)})
    return [s for s in starts if 0 <= s <= len(text)]


def _snap_down(pos: int, boundaries: list[int]) -> int:
    """The largest token boundary <= pos: never cut a token (a marker) in half."""
    best = 0
    for b in boundaries:
        if b <= pos:
            best = b
    return best


def probe_markers(
    render: Callable[[list[dict[str, Any]], bool], str],
    offsets: Callable[[str], list[Span]],
    stop_tokens: Sequence[str] = (),
    content: Callable[[str], Any] = lambda text: text,
    special_tokens: Sequence[str] = (),
) -> TurnMarkers:
    """Learn H and S for a template from a tiny synthetic conversation.

    ``render(messages, add_generation_prompt)`` renders template dicts; ``offsets(text)``
    gives the character offsets of its tokens (to cut H and S at token boundaries);
    ``stop_tokens`` are the tokenizer's eos / end-of-turn tokens, the last fallback for S;
    ``content`` builds a message's content (a string, or text blocks for templates that
    only read those); ``special_tokens`` are the added tokens the template writes (of
    which those that open a message end a turn in a template that writes no end-of-turn
    text). Raises ``ValueError`` saying what could not be learned.

    H is where rendering with the generation prompt departs from rendering without it,
    cut back to a token boundary, then shortened (by whole tokens) to what also appears
    before a reply in a rendered conversation, both for the last reply and for one in the
    middle (DeepSeek's generation prompt is ``<｜Assistant｜><think>\\n`` but a reply in
    history follows ``<｜Assistant｜>`` alone). S is what follows the final reply, shortened
    to what also follows a reply in the middle of a conversation (phi-3 writes EOS after
    the final turn only).
    """
    u1, a1, u2, a2 = _PROBE
    user1 = {"role": "user", "content": content(u1)}
    asst1 = {"role": "assistant", "content": content(a1)}
    with_gen = render([user1], True)
    without = render([user1], False)
    two = render([user1, asst1], False)
    four = render(
        [
            user1,
            asst1,
            {"role": "user", "content": content(u2)},
            {"role": "assistant", "content": content(a2)},
        ],
        False,
    )
    depart = _snap_down(common_prefix_len(with_gen, without), _token_boundaries(with_gen, offsets))
    header_full = with_gen[depart:]
    at = two.find(a1)
    mid_at = four.find(a1)
    next_at = four.find(u2, mid_at + len(a1)) if mid_at >= 0 else -1
    if at < 0 or mid_at < 0 or next_at < 0:
        raise ValueError("the template does not render the text of messages")
    cuts = list(reversed(_token_boundaries(header_full, offsets)))
    headers = []
    for before_reply in (two[depart:at], four[four.find(u1) + len(u1) : mid_at]):
        for cut in cuts:
            candidate = header_full[:cut]
            if candidate.strip() and candidate in before_reply:
                headers.append(candidate)
                break
    if header_full.strip() and not headers:
        raise ValueError(f"the assistant header {header_full!r} does not precede a reply")

    end_final = two[at + len(a1) :]
    end_mid = four[mid_at + len(a1) : next_at]
    shared = common_prefix_len(end_final, end_mid)
    end = end_final[: _snap_down(shared, _token_boundaries(end_final, offsets))]
    ends = [e for e in (end, end.rstrip()) if e.strip()]
    ends += [t for t in stop_tokens if t and t not in ends]
    openers: list[str] = []
    nexts: list[str] = []
    if not end.strip():
        # No end-of-turn text in history (GLM-4; Metharme writes EOS after the last reply
        # only): a turn ends where the next message opens, and what opens it (<|user|>,
        # <|observation|>) is never trained. Its first token, after a reply followed by a
        # user turn and by a tool result.
        follows = [end_mid]
        try:
            tool = render([user1, asst1, {"role": "tool", "content": content(u2)}], False)
            t_at = tool.find(u2, tool.find(a1) + len(a1))
            if t_at >= 0:
                follows.append(tool[tool.find(a1) + len(a1) : t_at])
        except Exception:  # a template may refuse a tool turn here; the user turn suffices
            pass
        for f in follows:
            cut = _token_boundaries(f, offsets)
            first = f[: cut[1]] if len(cut) > 1 else ""
            if first.strip() and first in special_tokens:
                openers.append(first)
        if not openers:
            # Plain-text headers (" USER: ", "\n\n### User:\n"): the whole text between a
            # reply and the next message, found once per turn; the turn ends after the
            # part of it that also follows a final reply (``end``, whitespace).
            nexts = [f for f in follows if f.strip()]
        if not openers and not nexts and not headers and not ends:
            # Nothing marks a turn at all (contents joined as they are).
            raise ValueError("nothing in the template ends an assistant turn")
    headers = sorted(set(headers), key=len, reverse=True)
    # Only cuts that keep a special token: a cut of plain text ("ASSIST", "A") would be
    # found inside ordinary words.
    fallbacks = [
        header_full[:cut]
        for cut in cuts
        if header_full[:cut] not in headers and any(t in header_full[:cut] for t in special_tokens)
    ]
    cue = ""
    if not headers:
        # What precedes the first reply and the second alike (the user texts before them
        # differ), cut back to whole tokens: "[/INST] ".
        second = four.find(a2, next_at)
        if second >= 0:
            cue = two[at - _common_suffix_len(two[:at], four[:second]) : at]
    return TurnMarkers(
        headers=tuple(headers),
        ends=tuple(dict.fromkeys(ends)),
        prompt=header_full,
        fallbacks=tuple(fallbacks),
        openers=tuple(dict.fromkeys(openers)),
        cue=cue if cue.strip() else "",
        nexts=tuple(dict.fromkeys(nexts)),
        close=end if nexts else "",
    )


def _text_of(content: Any) -> str | None:
    """A message content's text: the string, or its text blocks joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return None


def _content_candidates(text: str | None) -> list[str]:
    """How a message's text may appear once rendered: as is, stripped (templates that
    ``trim``), or only its part after ``</think>`` (templates that move reasoning)."""
    if not text:
        return []
    out = [text]
    stripped = text.strip()
    if stripped and stripped != text:
        out.append(stripped)
    if "</think>" in text:
        tail = text.split("</think>")[-1].strip()
        if tail:
            out.append(tail)
    # Templates that write a tool result with ``| tojson`` (gpt-oss) escape it.
    escaped = json.dumps(stripped, ensure_ascii=False)[1:-1]
    if escaped != stripped:
        out.append(escaped)
    return out


def reasoning_anchor(message: dict[str, Any]) -> list[str]:
    """How an assistant message's reasoning may appear once rendered (empty if none)."""
    reasoning = message.get("reasoning_content")
    return _content_candidates(reasoning) if isinstance(reasoning, str) else []


def message_anchors(message: dict[str, Any]) -> list[list[str]]:
    """The texts that locate a template message, in rendering order, each with its
    alternatives: the content, then the name of each tool call; reasoning only when the
    message has nothing else to find it by (``locate_turns`` also tries it first, since
    most templates write reasoning before the content, when they write it at all)."""
    anchors = []
    content = _text_of(message.get("content"))
    if content and content.strip():
        anchors.append(_content_candidates(content))
    for call in message.get("tool_calls") or ():
        fn = call.get("function", call)
        name = fn.get("name") if isinstance(fn, dict) else None
        if name:
            anchors.append([name])
    if not anchors and message.get("reasoning_content"):
        anchors.append(_content_candidates(message["reasoning_content"]))
    return anchors


def _find_first(text: str, candidates: list[str], start: int, stop: int) -> tuple[int, int]:
    """(start, end) of the first candidate found in text[start:stop], in candidate order."""
    for c in candidates:
        i = text.find(c, start, stop)
        if i >= 0:
            return i, i + len(c)
    return -1, -1


@dataclass(slots=True)
class Located:
    """Where each message landed in the rendering: its anchors' extent (None when its
    text is not rendered), and for assistant turns the trained span."""

    anchors: list[Span | None]
    turns: list[Span | None]


def _unlocatable(index: int, why: str) -> RowError:
    return RowError(
        f"messages[{index}]",
        f"cannot locate this assistant turn in the rendered template ({why}); "
        "its trained tokens would be a guess",
        "mask-unlocatable",
    )


class PrefixRenderer(Protocol):
    def __call__(self, count: int, add_generation_prompt: bool) -> str:
        """The rendering of the first ``count`` messages."""
        ...


def locate_turns(
    text: str,
    messages: list[dict[str, Any]],
    markers: TurnMarkers,
    render_prefix: PrefixRenderer | None = None,
) -> Located:
    """Walk ``messages`` through ``text`` and find each assistant turn's trained span.

    ``render_prefix(k, add_generation_prompt)`` renders ``messages[:k]``: the fallback for
    a turn that no H precedes, or that no end marker closes (then the turn ends where the
    rendering of the messages up to it ends; this costs a render per such turn). Raises
    RowError ``mask-unlocatable``.

    >>> m = TurnMarkers(("<|im_start|>assistant\\n",), ("<|im_end|>\\n",))
    >>> t = "<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\nHello<|im_end|>\\n"
    >>> loc = locate_turns(t, [{"role": "user", "content": "Hi"},
    ...                        {"role": "assistant", "content": "Hello"}], m)
    >>> t[slice(*loc.turns[1])]
    'Hello<|im_end|>\\n'
    """
    headers = markers.headers
    cursor = 0
    n = len(messages)
    anchors_of = [message_anchors(m) for m in messages]
    roles = [m.get("role") for m in messages]
    located = Located(anchors=[None] * n, turns=[None] * n)
    for i, message in enumerate(messages):
        anchors = anchors_of[i]
        if message.get("role") != "assistant":
            if not anchors:
                continue
            # Never look past the next assistant header: a message whose text the template
            # does not render (a system prompt moved to the top) is skipped, not matched
            # against a later turn.
            # With no header (Mistral: the reply follows [/INST]), a match is taken only
            # when the next reply is rendered after it: Mistral v3 moves the system prompt
            # into the LAST user turn, or drops it.
            if headers or markers.cue:
                stop = text.find(headers[-1] if headers else markers.cue, cursor)
                a, b = _find_first(text, anchors[0], cursor, len(text) if stop < 0 else stop)
            else:
                a, b = _find_first(text, anchors[0], cursor, len(text))
                if a >= 0 and not _reply_follows(text, anchors_of, roles, i, b):
                    a = -1  # its text is rendered later (moved), past the next reply
            if a >= 0:
                located.anchors[i] = (a, b)
                cursor = b
            continue

        if anchors:
            start, first_at, last_end = _locate_assistant_start(
                text, anchors[0], cursor, markers, i, render_prefix
            )
            # Reasoning the template writes before the content (often under a header of
            # its own, as gpt-oss does) belongs to the turn: start from there.
            thought = reasoning_anchor(message)
            if thought and len(anchors) and anchors[0] is not thought:
                a, _ = _find_first(text, thought, cursor, first_at)
                if a >= 0:
                    start, _, _ = _locate_assistant_start(
                        text, thought, cursor, markers, i, render_prefix
                    )
            for alternatives in anchors[1:]:
                a, b = _find_first(text, alternatives, last_end, len(text))
                if a < 0:
                    raise _unlocatable(i, f"{alternatives[0]!r} is not rendered after its content")
                last_end = b
            located.anchors[i] = (first_at, last_end)
        else:
            # Nothing to find it by (an empty reply): its header is the next one.
            found = [(h, text.find(h, cursor)) for h in headers]
            found = [(h, at) for h, at in found if at >= 0]
            if found:
                h, at = min(found, key=lambda f: (f[1], -len(f[0])))
                start = last_end = at + len(h)
            else:
                start = last_end = _prompt_end(text, i, cursor, render_prefix)
        located.turns[i] = (
            start,
            _locate_end(text, anchors_of, i, last_end, markers, render_prefix),
        )
        cursor = located.turns[i][1]
    return located


def _reply_follows(
    text: str, anchors_of: list[list[list[str]]], roles: list[Any], index: int, at: int
) -> bool:
    """Whether the next assistant message after ``index`` (with text of its own) is
    rendered after ``at``; True when there is none."""
    for j in range(index + 1, len(anchors_of)):
        if roles[j] == "assistant" and anchors_of[j]:
            return _find_first(text, anchors_of[j][0], at, len(text))[0] >= 0
    return True


def _locate_end(
    text: str,
    anchors_of: list[list[list[str]]],
    index: int,
    last_end: int,
    markers: TurnMarkers,
    render_prefix: PrefixRenderer | None,
) -> int:
    """Where turn ``index`` ends: after the first end marker following its last anchor and
    before the next message's text."""
    stop = len(text)
    if index + 1 < len(anchors_of) and anchors_of[index + 1]:
        a, _ = _find_first(text, anchors_of[index + 1][0], last_end, len(text))
        if a >= 0:
            stop = a
    best = None
    for marker in markers.ends:
        e = text.find(marker, last_end, stop)
        if e >= 0 and (best is None or e < best[0] or (e == best[0] and len(marker) > best[1])):
            best = (e, len(marker))
    if best is not None:
        return best[0] + best[1]
    if markers.nexts:
        found = [e for e in (text.find(f, last_end, stop) for f in markers.nexts) if e >= 0]
        if found:
            e = min(found)
            return e + (len(markers.close) if text.startswith(markers.close, e) else 0)
        if index + 1 == len(anchors_of):
            return len(text)
    if markers.openers:
        found = [e for e in (text.find(o, last_end, stop) for o in markers.openers) if e >= 0]
        if found:
            return min(found)
        if index + 1 == len(anchors_of):
            return len(text)
    if render_prefix is not None:
        through = render_prefix(index + 1, False)
        if text.startswith(through) and last_end <= len(through):
            return len(through)
    raise _unlocatable(index, "no end-of-turn marker after it")


def _find_outside_headers(
    text: str, candidates: list[str], start: int, headers: Sequence[str]
) -> tuple[int, int]:
    """``_find_first``, skipping matches that begin inside a header: a reply that is just
    ``assistant`` is not the ``assistant`` of ``<|im_start|>assistant\n``."""
    a, b = _find_first(text, candidates, start, len(text))
    while a >= 0:
        inside = [
            h + len(header)
            for header in headers
            if header
            for h in [text.rfind(header, max(0, a - len(header) + 1), a + len(header))]
            if 0 <= h < a < h + len(header)
        ]
        if not inside:
            break
        a, b = _find_first(text, candidates, max(inside), len(text))
    return a, b


def _locate_assistant_start(
    text: str,
    first: list[str],
    cursor: int,
    markers: TurnMarkers,
    index: int,
    render_prefix: PrefixRenderer | None,
) -> tuple[int, int, int]:
    """(span start, first anchor start, first anchor end) of assistant turn ``index``.

    The span starts after the last header before the anchor, and after as much more of
    the generation prompt as the rendering follows there (Nemotron's prompt writes
    ``<think>\n``; a reply in history follows ``<think>`` alone)."""
    headers = markers.headers
    a, b = _find_outside_headers(text, first, cursor, (*headers, markers.prompt))
    if not headers and markers.cue:
        # The reply's text right after the cue every reply follows, not inside a prompt.
        # Preferred, not required: a reply after a tool result follows something else.
        cue = markers.cue.rstrip()
        a2, b2 = a, b
        while a2 >= 0 and not text[cursor:a2].rstrip().endswith(cue):
            a2, b2 = _find_first(text, first, a2 + 1, len(text))
        if a2 >= 0:
            a, b = a2, b2
    if a < 0:
        raise _unlocatable(index, f"{first[0][:40]!r} is not in the rendered text")
    for header in (*headers, *markers.fallbacks):
        h = text.rfind(header, cursor, a)
        if h >= 0:
            follows = common_prefix_len(markers.prompt, text[h:a])
            return h + max(len(header), follows), a, b
    if not headers and markers.cue:
        # No header, but the cue every reply follows (Mistral's [/INST]): the turn starts
        # where the cue ends, what the generation prompt (empty) leaves to the model. One
        # find per turn, so a long conversation costs no render per turn.
        cue = markers.cue.rstrip()
        before = text[cursor:a].rstrip()
        if before.endswith(cue):
            return cursor + len(before), a, b
    # No header between the previous message and this reply: either the template writes
    # another cue here (DeepSeek after tool outputs), or the reply's text also occurs
    # inside the header (a reply "a" inside "assistant"). The prefix rendering decides.
    if render_prefix is not None:
        prompt = render_prefix(index, True)
        if text.startswith(prompt) and len(prompt) >= cursor:
            if len(prompt) <= a:
                return len(prompt), a, b
            a2, b2 = _find_first(text, first, len(prompt), len(text))
            if a2 >= 0:
                return len(prompt), a2, b2
    if not headers:
        # The template writes no header (Mistral: the reply follows [/INST]) and the
        # messages before render differently alone (v3 moves the system prompt into the
        # last user turn): the turn starts with its own text.
        return a, a, b
    for header in headers:
        h0 = text.find(header, cursor)
        if h0 >= 0:
            a2, b2 = _find_first(text, first, h0 + len(header), len(text))
            if a2 >= 0:
                h = text.rfind(header, h0, a2)
                follows = common_prefix_len(markers.prompt, text[h:a2])
                return h + max(len(header), follows), a2, b2
    raise _unlocatable(index, "no assistant header before it")


def _prompt_end(text: str, index: int, cursor: int, render_prefix: PrefixRenderer | None) -> int:
    """Where the generation prompt for turn ``index`` ends, by rendering the messages
    before it (for templates whose generation prompt writes no header of its own)."""
    if render_prefix is not None:
        prompt = render_prefix(index, True)
        if text.startswith(prompt) and len(prompt) >= cursor:
            return len(prompt)
    raise _unlocatable(index, "an empty reply with no assistant header")


def owner_of_spans(spans: list[Span], located: Located, roles: list[str]) -> list[int]:
    """For each generation span, the index of the assistant message it belongs to: the
    last message whose text starts before the span ends, or the assistant before it
    (DiffusionGemma closes a model turn after its embedded tool responses); -1 if none."""
    starts = [(s[0], i) for i, s in enumerate(located.anchors) if s is not None]
    starts += [(s[0], i) for i, s in enumerate(located.turns) if s is not None]
    starts.sort()
    keys = np.array([s for s, _ in starts], dtype=np.int64)
    owners = []
    for _, end in spans:
        k = int(np.searchsorted(keys, end, side="left")) - 1
        owner = starts[k][1] if k >= 0 else -1
        while owner >= 0 and roles[owner] != "assistant":
            owner -= 1
        owners.append(owner)
    return owners


def merge_spans(spans: list[Span]) -> list[Span]:
    """Sorted, non-overlapping, non-empty spans."""
    out: list[Span] = []
    for s, e in sorted(sp for sp in spans if sp[1] > sp[0]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def token_ranges(encoding: Any, spans: list[Span]) -> list[tuple[int, int]]:
    """Token index ranges [t0, t1) of the tokens overlapping each character span.

    A token is trained when its characters overlap a span, as transformers decides for
    ``return_assistant_tokens_mask``. The edges are found by binary search over the
    encoding's token->chars map, so the cost is O(spans x log tokens): no offsets list is
    built (that costs more than tokenizing), and ``char_to_token`` is a linear scan.
    """
    n = len(encoding)
    chars = _Chars(encoding)
    out = []
    for start, end in spans:
        # first token ending after the span starts .. first token starting at its end
        t0 = _bisect(n, lambda t, start=start: chars.end(t) > start)
        t1 = _bisect(n, lambda t, end=end: chars.start(t) >= end)
        if t0 < t1:
            out.append((t0, t1))
    return out


class _Chars:
    """Character extent of token t; tokens the post-processor added (BOS, EOS) have none
    and sit at the edge of their neighbours."""

    def __init__(self, encoding: Any):
        self._enc = encoding

    def _get(self, t: int) -> tuple[int, int]:
        c = self._enc.token_to_chars(t)
        if c is not None:
            return c
        if t == 0:
            return (0, 0)
        prev = self._get(t - 1)
        return (prev[1], prev[1])

    def start(self, t: int) -> int:
        return self._get(t)[0]

    def end(self, t: int) -> int:
        return self._get(t)[1]


def _bisect(n: int, pred: Callable[[int], bool]) -> int:
    """The smallest t in [0, n] with pred(t) true, for a pred monotonic in t."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def labels_from_ranges(ids: np.ndarray, ranges: list[tuple[int, int]]) -> np.ndarray:
    """Labels: the id where trained, -100 elsewhere."""
    labels = np.full(ids.shape, IGNORE_INDEX, dtype=np.int32)
    for t0, t1 in ranges:
        labels[t0:t1] = ids[t0:t1]
    return labels


def token_snapper(encoding: Any) -> Callable[[int, int], int]:
    """``snap(pos, floor)``: ``pos`` moved down to the start of the token that straddles it,
    unless that token starts before ``floor``. A turn's closing text ends there, so a token
    it shares with the next header (a closing space merged into `` USER``) stays
    untrained, while a token it shares with the turn's own text stays trained.

    Found by binary search over the encoding, as ``token_ranges`` does."""
    n = len(encoding)
    chars = _Chars(encoding)

    def snap(pos: int, floor: int) -> int:
        t = _bisect(n, lambda t: chars.end(t) > pos)  # first token ending after pos
        if t < n and chars.start(t) < pos and chars.start(t) >= floor:
            return chars.start(t)
        return pos

    return snap
