"""``dataprep prepare``: canonical rows -> token ids and labels for one model, in a folder.

``pipeline`` runs the stages top to bottom; beside it, ``options`` (what a run takes) and
``identity`` (the hashes behind the cache fingerprint).

``template/``  which chat template, rendered in a metered sandbox the way transformers
               does; the template's own special tokens; ``check`` (check-template's report)
``encode/``    rows -> documents: the row gate (validate's checks), the ``Encoder``
               (rendering -> masks -> labels, verified against a render-diff reference),
               the length policy, the worker processes
``packing``    best-fit-decreasing packing of whole documents
``output``     Arrow shards, ``dataprep.json``, ``rejects.jsonl``, written atomically
"""
