"""Code that exists only for speed, kept apart from the plain logic it speeds up.

Each fast version must answer what its plain reference answers; a differential test holds
them equal on generated inputs.

============  =====================================  ========================================  ===================================
module        fast version                           reference (where the behaviour lives)     test that holds them equal
============  =====================================  ========================================  ===================================
``schema``    ``compile_schema``: a JSON Schema as   ``jsonschema``'s ``is_valid``             ``tests/dataprep/_fast/test_schema.py``
              closures (reached through              (``dataprep.validate.schema.
              ``validate.schema.fast_is_valid``)     reference_is_valid``)
``clean``     ``FAST_CLEAN[fmt](row)``: "certainly   the full row checks find nothing:         ``tests/dataprep/_fast/test_clean.py``
              clean" for common messages/sharegpt    ``dataprep.validate.rows.check_row(row,
              shapes (validate, convert, prepare)    fmt) == []``
``seen``      ``SeenRows``: row hash -> first line   ``dataprep.validate.seen.FirstLines``     ``tests/dataprep/_fast/test_seen.py``
              in two flat arrays                     (a dict)
``parallel``  ``split_jsonl``: byte ranges of a      reading the whole file in one go          ``tests/dataprep/_fast/test_parallel.py``
              JSONL file for forked workers          (``dataprep.reading.read_records``):
              (``Forked``, ``forked_all``)           every line once, in order
``pool``      ``run_ordered``: a forked pool with    the plain loop                            ``tests/dataprep/_fast/test_pool.py``
              results in input order (prepare        ``collect(key, task, work(key, task))``
              ``--num-proc``)                        (``prepare`` with ``--num-proc 1``)
============  =====================================  ========================================  ===================================
"""
