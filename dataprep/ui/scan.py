"""The validation of one file for the ui, in a child process: ``validate``'s own run
(detection with its evidence, every problem counted, the first ``--keep`` kept), printed
as one JSON document on stdout.

A child process, so that a long validation of a large file neither holds the server's
interpreter lock (pages keep answering) nor grows the server's memory, and so that
validate may fork its workers as it does on the command line (a threaded server must not).

    python -m dataprep.ui.scan FILE [--keep N] [--format F] [--field O=Y] [--role Y=O]
"""

from __future__ import annotations

import argparse
import sys

import orjson

KEEP = 5000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dataprep.ui.scan")
    parser.add_argument("file")
    parser.add_argument("--keep", type=int, default=KEEP)
    parser.add_argument("--format")
    parser.add_argument("--field", action="append", default=[])
    parser.add_argument("--role", action="append", default=[])
    args = parser.parse_args(argv)

    from dataprep.errors import DataprepError
    from dataprep.validate.files import validate_files

    try:
        mapping = None
        if args.field or args.role:
            from dataprep.formats.mapping import Mapping

            mapping = Mapping.from_specs(fields=args.field, roles=args.role)
        result = validate_files(
            [args.file], fmt=args.format, mapping=mapping, max_errors=args.keep
        ).to_json()
        out: dict = {"validation": result}
    except DataprepError as e:
        out = {"error": str(e)}
    sys.stdout.buffer.write(orjson.dumps(out, default=str))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
