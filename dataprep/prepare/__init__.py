"""``dataprep prepare``: chat templates, tokenization, masks, DPO encoding, packing, output.

``templates`` finds the chat template to use, ``rendering`` renders it in a sandbox the
way transformers does, ``masks`` finds the trained character spans in one rendering and
turns them into token labels, ``encoding`` ties them into the ``Encoder`` that the
pipeline calls on batches of canonical examples.
"""
