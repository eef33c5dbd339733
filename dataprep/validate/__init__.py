"""Validating dataset files: schema, then meaning; every problem collected, then counted.

Each row goes through three stages, each of which can only report, never crash:

1. the format's JSON Schema (``dataprep.validate.schema.Validator``): code ``schema``, with the
   field path jsonschema gives;
2. the format's adapter (``to_canonical``): its ``RowError`` with path and code;
3. meaning checks on the canonical example, each with a stable code:

   ============================  =========================================================
   ``no-messages``               a conversation with no messages
   ``unknown-role``              a role that is not system, user, assistant or tool
   ``null-content``              content null (an assistant turn that only calls tools
                                 may have none)
   ``empty-content``             content empty or only whitespace
   ``non-string-content``        content that is not a string
   ``consecutive-roles``         two user or two assistant turns in a row: an error where
                                 the format forbids it (sharegpt), else a warning
   ``no-final-assistant``        a conversation (or chosen/rejected/completion) that does
                                 not end with an assistant turn
   ``no-user-turn``              a warning: assistant turns and no user turn at all
   ``system-not-first``          a system message after the first message
   ``orphan-tool-result``        a tool message that answers no earlier tool call
   ``bad-tool-arguments``        tool-call arguments that are a string but not a JSON object
   ``tool-args-double-encoded``  tool-call arguments JSON-encoded twice: a JSON string whose
                                 value is the object's JSON text
   ``undeclared-tool``           a tool call to a tool the row's ``tools`` do not declare
   ``missing-tool-argument``     a tool call without an argument its tool's schema requires
   ``wrong-tool-argument-type``  a tool-call argument of the wrong JSON type, outside its
                                 ``enum``, or one the schema does not allow
                                 (``dataprep.validate.tools``)
   ``chosen-equals-rejected``    a preference pair whose two answers are the same
   ``prompt-mismatch``           chosen and rejected that start from different prompts
   ``leaked-control-token``      a chat-template control token inside a message's text
   ``duplicate-row``             a warning: the same row as an earlier line
   ``unknown-format``            a row that no format fits (format not forced)
   ``mixed-formats``             rows of a file that disagree with the file's main format
   ``ambiguous-format``          every row fits several formats; ``--format`` chooses
   ============================  =========================================================

The format. With ``format=`` forced, every row is checked as that format. Without it,
each row is checked as the format its own shape shows (``dataprep.detect``), in the same
single pass that gathers the evidence for the file's format; a file whose rows disagree
is reported as mixed at the end, at the lines of the minority kinds. One pass means
stdin needs no buffering and a large file is read once.

Rows that cannot be read keep the reader's codes (``invalid-json``, ``nul-byte``, ...);
a ``--field`` mapping that would overwrite a key is ``mapping-conflict``.

Keys of a message that no format field claims (``id``, ``timestamp``, ...) are data
(``Message.extra``): no check looks at them, and they raise no problem.

Where. ``files`` checks files (rows in order, detection, duplicates, the counts); ``rows``
one row (schema, adapter, meaning); ``tools`` tool calls against declared tools;
``schema`` the JSON Schemas; ``problems`` the problem log. This package's own module
imports none of them, so a command that needs one row check loads only that.

Speed. The plain logic is in ``files`` and ``rows`` (one row: schema, adapter, meaning) and
``seen`` (the duplicate table as a dict); the fast versions validate runs live in
``dataprep._fast``, each held equal to its reference by a test: ``FAST_CLEAN`` vouches for
the common clean shapes so that they skip the full path, ``SeenRows`` keeps the row
hashes in 16-32 bytes a row, and large plain JSONL files are split into byte ranges
checked by worker processes (``jobs``; by default as the load allows).

``prepare`` runs the same row checks on every row it trains (``dataprep.prepare.encode.gate``).
The other commands read a row into the canonical model with ``canonical_row.to_canonical``,
which gives the code and message validate gives for a row that cannot be read; tool
calls are checked against the row's declared tools in ``tools``.
"""
