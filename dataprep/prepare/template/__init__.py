"""The chat template of a run: which one, rendering it safely, its special tokens.

``choice`` picks the template and loads the tokenizer; ``rendering`` renders it in
``sandbox`` under ``budget``; ``special_tokens`` adds the markers a template writes and
the tokenizer lacks; ``check`` is check-template's report.
"""
