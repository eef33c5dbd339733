"""TRL's two forms of the prompt formats: standard (strings) and conversational (message
lists), chosen with ``dataprep convert --to preference|kto|prompt-completion
--standard|--conversational``.

TRL's preference, KTO and prompt-completion rows each come in both forms, with the same
keys (https://huggingface.co/docs/trl/dataset_formats)::

    standard        {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}
    conversational  {"prompt": [{"role": "user", "content": "What color is the sky?"}],
                     "chosen": [{"role": "assistant", "content": "It is blue."}], ...}

Without a switch a row keeps the form it came in. ``to_form`` turns a canonical example
into the one the target's adapter writes in the form asked for; the adapters write
``plain`` examples as strings and the others as message lists.

Standard -> conversational loses nothing: the prompt string becomes a user message, each
answer an assistant message. A standard preference row with its prompt implicit in
``chosen`` and ``rejected`` (no prompt, as TRL allows) gets the prompt TRL's
``extract_prompt`` would find, the text both answers start with, cut at its last space
rather than inside a word, in both forms and also when no form is asked for (so the row
trains as TRL reads it; written with ``"prompt": ""`` it would not: TRL extracts a prompt
only where none is given; an empty prompt is taken as an implicit one) (``"The sky is"`` for ``"The sky is blue."`` and ``"The sky is
black."``, where TRL would cut after ``"bl"``); answers that share no word cannot be
split and are refused (``not-convertible``), as is a prompt-completion or KTO row with an
empty prompt: TRL's conversational form needs a user turn before the answer (its
``is_conversational`` reads the first message of a list), and there is none to write.

Conversational -> standard is exact when the prompt is one user message (or none) and
each answer one assistant message, text only. Anything else would be lost, and is
refused per row (``lossy``) unless ``allow_lossy``, which then drops it and says what:
a system message (a standard prompt is the user's text alone; prepending the system text
to it would train on words no user wrote), the turns before the last user message of a
multi-turn prompt, tool calls, tool results and tool definitions, and the fields strings
cannot hold (names, reasoning, train flags, a message's extra keys). Assistant texts left
side by side once tool use is gone are joined into one answer (``_shared.merge_runs``).
An answer that is not the assistant's, or holds a user turn, cannot be a string at all
(``not-convertible``), nor can a prompt with no user turn.

>>> from dataprep.canonical import Message, Preference
>>> pair = Preference([], [Message("assistant", "The sky is blue.")],
...                   [Message("assistant", "The sky is green.")], plain=True)
>>> chat, dropped, notes = to_form(pair, CONVERSATIONAL, "preference")
>>> [m.content for m in chat.prompt], chat.chosen[0].content, chat.plain, dropped
(['The sky is'], ' blue.', False, [])
>>> notes
['implicit prompt made explicit (the words chosen and rejected start with)']
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from dataprep.canonical import Example, Message, Preference, Unpaired
from dataprep.errors import RowError
from dataprep.formats import _shared

STANDARD, CONVERSATIONAL = "standard", "conversational"
FORMS = (STANDARD, CONVERSATIONAL)
# The targets whose rows TRL writes in both forms.
TARGETS = ("preference", "kto", "prompt-completion")

# The words of ``dropped`` this module adds to the adapters' (``dataprep.formats._shared``).
DROP_SYSTEM = "system messages"
DROP_EARLIER_TURNS = "prompt turns before the last user turn"
# A note: a preference row's implicit prompt written as an explicit one (no text lost).
NOTE_IMPLICIT_PROMPT = "implicit prompt made explicit (the words chosen and rejected start with)"


class Formed(NamedTuple):
    """An example ready for its target's adapter, what making it dropped (human words;
    the caller refuses the row unless lossy conversion is allowed), and what it changed
    without losing text (notes, counted apart)."""

    example: Example
    dropped: list[str]
    notes: list[str]


def to_form(example: Example, form: str, target: str) -> Formed:
    """``example`` as ``target``'s adapter must see it to write ``form``.

    Raises ``RowError`` (``not-convertible``) for an example the form cannot hold. An
    example of a kind ``target`` cannot hold at all (an SFT conversation to preference)
    is returned as it is, for the adapter to refuse.
    """
    dropped: list[str] = []
    notes: list[str] = []
    if target == "prompt-completion":
        conv = _shared.as_conversation(example, target, dropped)
        messages = conv.messages
        split = _split_completion(messages)
        if form == STANDARD:
            prompt, answer = _standard(messages[:split], messages[split:], conv, target, dropped)
            example = replace(conv, messages=prompt + answer, tools=None, plain=True)
        else:
            _need_user_turn(conv, messages[:split], target)
            example = replace(conv, plain=False)
        return Formed(example, dropped, notes)
    if isinstance(example, Preference) and target == "preference":
        if example.plain and not example.prompt:
            explicit = _extract_prompt(example, required=form == CONVERSATIONAL)
            if explicit is not example:
                notes.append(NOTE_IMPLICIT_PROMPT)
                example = explicit
        if form == STANDARD:
            prompt, chosen = _standard(example.prompt, example.chosen, example, target, dropped)
            _, rejected = _standard(example.prompt, example.rejected, example, target, dropped)
            example = replace(
                example, prompt=prompt, chosen=chosen, rejected=rejected, tools=None, plain=True
            )
        else:
            example = replace(example, plain=False)
        return Formed(example, dropped, notes)
    if isinstance(example, Unpaired) and target == "kto":
        if form == STANDARD:
            prompt, completion = _standard(
                example.prompt, example.completion, example, target, dropped
            )
            example = replace(example, prompt=prompt, completion=completion, tools=None, plain=True)
        else:
            _need_user_turn(example, example.prompt, target)
            example = replace(example, plain=False)
        return Formed(example, dropped, notes)
    return Formed(example, dropped, notes)


def _split_completion(messages: list[Message]) -> int:
    from dataprep.formats.prompt_completion import split_completion

    return split_completion(messages)


def _need_user_turn(example: Example, prompt: list[Message], target: str) -> None:
    if example.plain and not prompt:
        raise _shared.not_convertible(
            example,
            f"conversational {target}",
            "the prompt is empty, and the conversational form needs a user turn before "
            "the answer (keep the standard form, or give the rows a prompt)",
        )


def _extract_prompt(pair: Preference, *, required: bool) -> Preference:
    """A standard pair with an implicit prompt, given the words both answers start with
    as its prompt; ``pair`` itself where they share none, unless one is ``required``."""
    chosen, rejected = pair.chosen[0].content or "", pair.rejected[0].content or ""
    n = 0
    limit = min(len(chosen), len(rejected))
    while n < limit and chosen[n] == rejected[n]:
        n += 1
    # Back to the last whitespace inside the shared text; it stays with the answers, as
    # TRL moves its space.
    cut = n - 1
    while cut >= 0 and not chosen[cut].isspace():
        cut -= 1
    while cut > 0 and chosen[cut - 1].isspace():
        cut -= 1
    if cut <= 0:
        if not required:
            return pair  # what TRL's extract_prompt finds too: an empty prompt
        raise RowError(
            "",
            "a preference example cannot be written as conversational preference: chosen "
            "and rejected share no leading words, so no prompt can be taken from them for "
            "the user turn (give the rows an explicit prompt)",
            "no-shared-prompt",
        )
    return replace(
        pair,
        prompt=[Message("user", chosen[:cut], origin="chosen")],
        chosen=[replace(pair.chosen[0], content=chosen[cut:])],
        rejected=[replace(pair.rejected[0], content=rejected[cut:])],
    )


def _standard(
    prompt: list[Message],
    answer: list[Message],
    example: Example,
    target: str,
    dropped: list[str],
) -> tuple[list[Message], list[Message]]:
    """(prompt, answer) as strings hold them: ``[]`` or one user message, and one
    assistant message, text only; what goes is recorded in ``dropped``."""
    if example.tools:
        _shared.add(dropped, _shared.DROP_TOOLS)
    prompt = _shared.strip_tool_use(prompt, dropped)
    if any(m.role == "system" for m in prompt):
        _shared.add(dropped, DROP_SYSTEM)
        prompt = [m for m in prompt if m.role != "system"]
    prompt = _shared.merge_runs(prompt, dropped)
    if prompt:
        last_user = max((i for i, m in enumerate(prompt) if m.role == "user"), default=-1)
        if last_user < 0 or last_user != len(prompt) - 1:
            why = "holds no user turn" if last_user < 0 else "does not end with the user's turn"
            raise _shared.not_convertible(
                example, f"standard {target}", f"the prompt {why}, so it is no user text"
            )
        if last_user > 0:
            _shared.add(dropped, DROP_EARLIER_TURNS)
            prompt = prompt[last_user:]
    answer = _shared.merge_runs(_shared.strip_tool_use(answer, dropped), dropped)
    if [m.role for m in answer] != ["assistant"]:
        raise _shared.not_convertible(
            example,
            f"standard {target}",
            "an answer must be one assistant turn with text, once tool use is gone",
        )
    if any(m.content is None for m in prompt + answer):
        raise _shared.not_convertible(example, f"standard {target}", "a turn has no text")
    _shared.note_unheld(prompt + answer, dropped)
    return [_text_only(m) for m in prompt], [_text_only(m) for m in answer]


def _text_only(m: Message) -> Message:
    return Message(m.role, m.content, origin=m.origin)
