"""dataprep: detect, validate, convert and prepare fine-tuning data.

The packages, in the order data flows through them::

    reading/     bytes -> records: JSON Lines, JSON arrays, CSV, Parquet, stdin; limits
    formats/     records <-> the canonical model: one adapter per format, field/role
                 mapping, media refusal
    detect.py    which format a file holds, with the evidence
    validate/    every problem of a file collected: schema, adapter, row meaning checks
    convert/     canonical rows written as another format, nothing lost silently
    prepare/     canonical rows -> token ids and labels for one model: template/, encode/,
                 packing, output (the folder ``train`` reads)
    cli/         thin click commands over the above

At the bottom, imported by all of them: ``canonical`` (the one model every format maps
to), ``errors`` (the error tree the CLI translates once), ``atomic`` and ``failures``
(outputs that appear whole or not at all; OS errors in words). ``_fast/`` holds code
that exists only for speed, each piece held equal to its plain reference by a test.
"""

__version__ = "0.1.0"
