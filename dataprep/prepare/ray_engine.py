"""``prepare --engine ray``: the encode stage on a Ray cluster; everything else as locally.

What runs where:

    driver (this process)                         Ray workers (one actor per CPU)
    plan_inputs: tokenizer, template, formats,
      masks verified                      ──job, tokenizer, template──>  Worker(job, ...)
    plan_blocks: each input cut into blocks
      (a plain JSONL file: byte ranges ending
      on a line; any other file: one block)
    Ray Data: from_items(blocks)
      .map_batches(EncodeBlocks, one block a call) ──>  read the block (our reader),
                                                        Worker.run on each batch of it
    <── per block, in order (preserve_order): the batches' BatchResults and their
        records (line, problem; the row itself only where the driver may write it to
        rejects.jsonl)
    collect(): line numbers made the file's, rejects, dedup, counts, spill
    pack_and_write, build_manifest: the local code, unchanged

The driver calls the same ``collect`` with the same (input, records, BatchResult) in the
same order as the local engine, so the packing plan (one best-fit-decreasing over all the
document lengths), the Arrow shards, ``rejects.jsonl`` and the manifest are the local
code's and hold the same bytes; only the manifest's ``engine`` and ``seconds`` differ.
The AtomicFolder around the run is the driver's: a failed job leaves no folder behind.

Why Ray Data, and how it keeps order and line numbers: Ray Data streams the blocks
through an actor pool with backpressure (the object store bounds what is in flight), keeps
their order (``preserve_order``), and restarts a worker that dies and retries its block
(``max_restarts``/``max_task_retries``, which Ray Data sets to unlimited for an actor
pool; ``Attempts`` stops a block that kills its worker every time after ``MAX_ATTEMPTS``).
Its own file readers are not used: they know neither our formats' quirks (a
``.json`` holding JSON Lines, UTF-16, CSV cells holding JSON, blank lines kept in the
numbering) nor line numbers, and ``file:line`` of every reject must be what the local
engine reports. So the blocks are descriptors (file, byte range) that our reader reads
inside the actor. A range of a JSONL file numbers its lines from 1
(``dataprep._fast.parallel.split_jsonl``): the driver adds the lines of the ranges before
it, which it knows because it receives the blocks in order.

A recipe's mix picks rows by their position in the file: a file it picks from and that is
cut into ranges has its ranges' records counted first (one Ray Data pass), so that each
range gets its share of the picks.

The workers must be able to import the same dataprep as the driver (install
``dataprep[ray,train]`` on every node), and read the inputs at the paths the driver names
(a shared filesystem, as Ray Data needs for local paths): a worker that cannot is a usage
error that names the node. The tokenizer and template are the driver's, sent pickled to
each actor (the same objects the masks were verified with; no node needs the files).

    prepare(PrepareOptions(inputs=["data/*.jsonl"], tokenizer="./tok", max_length=2048,
                           output="prepared", engine="ray", address="10.0.0.1:6379"))
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

import dataprep
from dataprep.errors import DataprepError, InternalError, PrepareError, UsageError
from dataprep.prepare.encode.workers import BatchResult, Job, Worker, batches_of
from dataprep.prepare.identity import Input
from dataprep.reading.records import Record

INSTALL = 'pip install "dataprep[ray]"'

# A block is what one actor call reads and encodes. Blocks are sized so that each worker
# gets several (a worker that finishes early takes the next; a retried block costs
# little), but not so small that Ray's per-call cost (a few ms: scheduling, pickling the
# results into the object store) shows: between 1 and 32 MiB of input.
BLOCK_MIN_BYTES = 1 << 20
BLOCK_MAX_BYTES = 32 << 20
BLOCKS_PER_WORKER = 4
# Calls of one block before the run stops: the first, and two retries after its worker died.
MAX_ATTEMPTS = 3


def require_ray() -> None:
    """Raise the usage error that says how to install Ray, when it is not installed."""
    try:
        import ray
        import ray.data  # noqa: F401 (Ray Data comes with the extra, not with ray)
    except ImportError as e:
        raise UsageError(f"--engine ray needs Ray: {INSTALL}") from e


@dataclass(frozen=True)
class Block:
    """One actor call's input: a whole input file, or a byte range of a plain JSONL file
    (``start``/``end``; its lines numbered from 1), with a recipe's picks for its records."""

    index: int  # the block's position in the run
    input_index: int
    read_from: str
    start: int | None = None
    end: int | None = None
    picks: np.ndarray | None = None  # times each of the block's records is taken

    @property
    def is_range(self) -> bool:
        return self.start is not None


def block_bytes(inputs: list[Input], workers: int) -> int:
    """The size of a JSONL range: the input shared in ``BLOCKS_PER_WORKER`` blocks per
    worker, within ``BLOCK_MIN_BYTES`` and ``BLOCK_MAX_BYTES``.

    >>> block_bytes([Input("a", "a", "", 100 << 20, None)], 2)
    13107200
    """
    total = sum(item.size for item in inputs)
    return max(BLOCK_MIN_BYTES, min(BLOCK_MAX_BYTES, total // (workers * BLOCKS_PER_WORKER)))


def plan_blocks(inputs: list[Input], size: int) -> list[Block]:
    """The blocks of the run, in the local engine's order: inputs in order, each plain
    UTF-8 JSONL file larger than ``size`` cut into ranges of about ``size`` that end on a
    line (``split_jsonl``), any other input one block (read as ``read_records`` reads it)."""
    from dataprep._fast.parallel import split_jsonl

    blocks: list[Block] = []
    for i, item in enumerate(inputs):
        # Absolute: a Ray worker does not run in the driver's folder.
        path = os.path.abspath(item.read_from)
        if item.size > size and _is_plain_jsonl(path):
            n = -(-item.size // size)
            for chunk in split_jsonl(path, n):
                blocks.append(Block(len(blocks), i, path, chunk.start, chunk.end))
        else:
            blocks.append(Block(len(blocks), i, path))
    return blocks


def _is_plain_jsonl(path: str) -> bool:
    """Whether ``path`` is JSON Lines that can be read from any line on (no compression,
    UTF-8); ``split_jsonl`` skips a byte-order mark."""
    from dataprep.reading import sniff_input

    if os.path.isdir(path):
        return False
    info = sniff_input(path)
    return info.kind == "jsonl" and info.compression is None and info.encoding == "utf-8"


def block_records(block: Block) -> Iterator[Record]:
    """The records of a block, by the reader the local engine uses."""
    from dataprep.reading import JsonlChunk, read_jsonl_chunk, read_records

    if block.is_range:
        return read_jsonl_chunk(JsonlChunk(block.read_from, block.start, block.end, 1))
    return iter(read_records(block.read_from))


def with_picks(
    blocks: list[Block], picks: list[np.ndarray | None], counts: list[int]
) -> list[Block]:
    """The blocks with their share of a recipe's picks (``counts``: each block's records)."""
    out = []
    start = dict.fromkeys(range(len(picks)), 0)
    for block, count in zip(blocks, counts, strict=True):
        taken = picks[block.input_index]
        if taken is not None:
            at = start[block.input_index]
            block = replace(block, picks=taken[at : at + count])
            start[block.input_index] = at + count
        out.append(block)
    return out


# --- on a Ray worker ---------------------------------------------------------------------


class EncodeBlocks:
    """A Ray Data actor: one ``Worker`` for the process (tokenizer, template and encoders
    built once), reading and encoding one block a call.

    A ``DataprepError`` (a file a node cannot read, a damaged file) is sent back and
    raised again by the driver, as the local engine raises it; anything else is Ray's to
    report (and a killed process Ray's to retry).
    """

    def __init__(
        self,
        job: Job,
        tokenizer: Any,
        template: Any,
        max_row_bytes: int,
        keep_values: bool,
        version: str,
        attempts: Any = None,
    ):
        from dataprep.reading.limits import set_max_row_bytes

        self.failure: bytes | None = None
        self.keep_values = keep_values
        self.attempts = attempts  # the run's ``Attempts`` actor
        try:
            if version != dataprep.__version__:
                raise UsageError(
                    f"the Ray worker on {socket.gethostname()} runs dataprep "
                    f"{dataprep.__version__}, the driver {version}: install the same "
                    "version on every node"
                )
            set_max_row_bytes(max_row_bytes)  # the driver's --max-row-bytes
            self.worker = Worker(job, tokenizer, template)
        except DataprepError as e:
            self.failure = _error_payload(e)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        results = [self.encode(pickle.loads(b)) for b in batch["block"]]
        return {"index": batch["index"], "result": results}

    def encode(self, block: Block) -> bytes:
        if self.failure is not None:
            return self.failure
        try:
            if self._attempt(block.index) > MAX_ATTEMPTS:
                raise PrepareError(
                    f"{_where(block)}: a Ray worker died on this block {MAX_ATTEMPTS} times "
                    "(killed, out of memory, or crashed): stopped instead of retrying it "
                    "without end; the logs of the Ray nodes say why"
                )
            if not os.path.exists(block.read_from):
                raise UsageError(
                    f"{block.read_from}: not found on the Ray node {socket.gethostname()}: "
                    "the inputs must be at the same path on every node (a shared filesystem)"
                )
            batches = []
            read = _LastLine(block_records(block))
            for records in batches_of(read, block.picks):
                result = self.worker.run(block.input_index, _payload(records))
                batches.append((self._slim(records, result), result))
        except DataprepError as e:
            return _error_payload(e)
        # The line of the block's last record, taken or not: the lines of a range.
        return pickle.dumps(("ok", read.line, batches), protocol=pickle.HIGHEST_PROTOCOL)

    def _attempt(self, index: int) -> int:
        """Which call this is for block ``index`` (1: the first; more: Ray retried it)."""
        if self.attempts is None:
            return 1
        import ray

        return ray.get(self.attempts.start.remote(index))

    def _slim(self, records: list[Record], result: BatchResult) -> list[Record]:
        """The records as the driver needs them: line and problem always; the row only
        where it may go to rejects.jsonl (an error, or with --dedup any row); the raw
        bytes only of a row that could not be read."""
        errors = result.errors
        return [
            Record(
                r.source,
                r.line,
                r.value if self.keep_values or pos in errors else None,
                r.raw if r.problem is not None else None,
                r.problem,
            )
            for pos, r in enumerate(records)
        ]


class Attempts:
    """The calls each block got, counted in one Ray actor for the run.

    Ray Data restarts an actor that dies and retries its block without end: a block that
    kills its worker every time (out of memory on a huge row, a crash in native code)
    would loop forever. Counted here, its ``MAX_ATTEMPTS + 1``-th call stops the run with
    an error naming the block."""

    def __init__(self) -> None:
        self.calls: dict[int, int] = {}

    def start(self, index: int) -> int:
        self.calls[index] = self.calls.get(index, 0) + 1
        return self.calls[index]


def _where(block: Block) -> str:
    if block.is_range:
        return f"{block.read_from} (bytes {block.start}-{block.end})"
    return block.read_from


class _LastLine:
    """Records as they are read, remembering the line of the last one (``line``)."""

    def __init__(self, records: Iterator[Record]):
        self._records = records
        self.line = 0

    def __iter__(self) -> Iterator[Record]:
        for record in self._records:
            self.line = record.line
            yield record


def count_records(batch: dict[str, Any]) -> dict[str, Any]:
    """A Ray Data task: how many records each block gives (for a recipe's picks)."""
    counts = [sum(1 for _ in block_records(pickle.loads(b))) for b in batch["block"]]
    return {"index": batch["index"], "count": np.array(counts, dtype=np.int64)}


def _payload(records: list[Record]) -> list[Any]:
    return [r.value if r.problem is None else None for r in records]


def _error_payload(error: DataprepError) -> bytes:
    # Our errors take their own constructor arguments: sent as type and attributes.
    return pickle.dumps(("error", type(error), error.args, vars(error)))


def _raise_error(kind: type[DataprepError], args: tuple[Any, ...], attrs: dict[str, Any]) -> None:
    error = kind.__new__(kind)
    Exception.__init__(error, *args)
    error.__dict__.update(attrs)
    raise error


# --- on the driver -----------------------------------------------------------------------


Collect = Callable[[int, list[Any], BatchResult], None]


def encode_on_ray(options: Any, plan: Any, inputs: list[Input], collect: Collect) -> None:
    """The encode stage's loop on Ray: every block read and encoded by the actors, each
    batch handed to ``collect`` in the local engine's order, line numbers the file's."""
    from dataprep.reading.limits import max_row_bytes

    with ray_session(options.address) as ray:
        workers = options.num_proc or max(1, int(ray.cluster_resources().get("CPU", 1)))
        blocks = plan_blocks(inputs, block_bytes(inputs, workers))
        picks = plan.selection.picks if plan.selection is not None else None
        if picks is not None:
            blocks = with_picks(blocks, picks, _counts(ray, blocks, picks, workers))
        dataset = _dataset(ray, blocks).map_batches(
            EncodeBlocks,
            fn_constructor_args=(
                plan.job,
                plan.tokenizer,
                plan.template,
                max_row_bytes(),
                options.dedup,
                dataprep.__version__,
                ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(Attempts).remote(),
            ),
            batch_size=1,
            num_cpus=1,
            # Up to ``workers`` actors, as many as the cluster has room for: --num-proc
            # above the cluster's CPUs waits for none of them.
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=workers, initial_size=workers),
        )
        offsets = [0] * len(inputs)  # lines of a file read in the ranges before
        for row in _in_order(dataset.iter_rows(), "result"):
            block = blocks[row["index"]]
            status, *rest = pickle.loads(row["result"])
            if status == "error":
                _raise_error(*rest)
            last_line, batches = rest
            offset = offsets[block.input_index]
            for records, result in batches:
                if offset:
                    for record in records:
                        record.line += offset
                collect(block.input_index, records, result)
            if block.is_range:
                offsets[block.input_index] = offset + last_line


def _counts(
    ray: Any, blocks: list[Block], picks: list[np.ndarray | None], workers: int
) -> list[int]:
    """Each block's records where a recipe picks from a file cut into ranges (0 elsewhere,
    where no count is needed: a whole file's picks are all of them)."""
    counted = [b for b in blocks if b.is_range and picks[b.input_index] is not None]
    counts = [0] * len(blocks)
    if counted:
        dataset = _dataset(ray, counted).map_batches(
            count_records, batch_size=1, num_cpus=1, concurrency=workers
        )
        for row in _in_order(dataset.iter_rows(), "count"):
            counts[counted[row["index"]].index] = int(row["count"])
    for block in blocks:
        if not block.is_range and picks[block.input_index] is not None:
            counts[block.index] = len(picks[block.input_index])
    return counts


def _dataset(ray: Any, blocks: list[Block]) -> Any:
    """A Ray Data dataset of one row per block (its position in ``blocks``, and itself)."""
    items = [{"index": i, "block": pickle.dumps(b)} for i, b in enumerate(blocks)]
    return ray.data.from_items(items, override_num_blocks=len(items))


def _in_order(rows: Any, key: str) -> Iterator[dict[str, Any]]:
    """The rows by their index, 0, 1, 2...: Ray Data keeps the order (``preserve_order``);
    this holds it to that instead of trusting it."""
    for expected, row in enumerate(rows):
        if int(row["index"]) != expected:
            raise InternalError(
                f"Ray Data gave block {row['index']} where block {expected} was due "
                "(preserve_order was not honoured)"
            )
        yield {"index": expected, key: row[key]}


CONNECT_SECONDS = 10


def check_reachable(address: str | None) -> None:
    """A usage error when nothing answers at a ``HOST:PORT`` address (Ray itself retries
    for minutes, saying little); other forms (``auto``, ``ray://``) are Ray's to check.

    >>> check_reachable("127.0.0.1:1")
    Traceback (most recent call last):
    dataprep.errors.UsageError: --engine ray: nothing answers at 127.0.0.1:1 (Connection refused): start the cluster (ray start --head --port 1) or fix --address
    """
    if not address or "://" in address or address.count(":") != 1:
        return
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise UsageError(f"--address {address}: expected HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise UsageError(
            f"--engine ray: nothing answers at {address} ({why}): start the cluster "
            f"(ray start --head --port {port}) or fix --address"
        ) from e


@contextmanager
def ray_session(address: str | None) -> Iterator[Any]:
    """Ray, connected to the cluster at ``address`` (None: ``RAY_ADDRESS``, else a Ray
    started for this run), with Ray Data set to keep the blocks' order and to stay quiet;
    disconnected (and a Ray started here stopped) at the end."""
    require_ray()
    with warnings.catch_warnings():
        # Ray's own deprecations (its DataContext sets deprecated fields as it starts)
        # are not the user's business.
        warnings.simplefilter("ignore", DeprecationWarning)
        import ray
        import ray.data

        started = not ray.is_initialized()
        if started:
            check_reachable(address or os.environ.get("RAY_ADDRESS"))
            try:
                ray.init(
                    address=address,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                    runtime_env={"env_vars": {"TOKENIZERS_PARALLELISM": "false"}},
                )
            except (ConnectionError, ValueError, RuntimeError) as e:
                where = address or os.environ.get("RAY_ADDRESS") or "this machine"
                raise UsageError(f"--engine ray: cannot start or reach Ray at {where}: {e}") from e
        context = ray.data.DataContext.get_current()
        saved = (context.execution_options.preserve_order, context.enable_progress_bars)
        data_logger = logging.getLogger("ray.data")
        level = data_logger.level
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        data_logger.setLevel(logging.ERROR)
        try:
            yield ray
        finally:
            context.execution_options.preserve_order, context.enable_progress_bars = saved
            data_logger.setLevel(level)
            if started:
                ray.shutdown()
