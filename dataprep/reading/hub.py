"""Hugging Face Hub datasets as inputs: a Hub id resolved to local files our readers read.

A Hub dataset becomes the plain files of one subset and split (Parquet, JSON Lines, JSON,
CSV, possibly gzip/zstd compressed), downloaded into huggingface_hub's cache, in a
deterministic order. Every command then reads them with ``read_records`` as it reads any
file: rows stream, and problems keep their ``file:line`` (``file:row`` for Parquet);
``prepare`` hashes the files as it hashes any input, and records the repo id and the
resolved commit (``HubSource.revision``).

    >>> parse_hub_ref("hf://datasets/org/chat@v1.0/data/*.parquet")
    HubRef(repo_id='org/chat', revision='v1.0', path='data/*.parquet')
    >>> parse_hub_ref("./org/chat") is None, parse_hub_ref("rows.jsonl") is None
    (True, True)

Which files make a subset and a split is decided by ``datasets``' own rules for a Hub repo
(``configs:`` with ``data_files``/``data_dir`` in the README's YAML, else the default
patterns: ``data/{split}-00000-of-00001.parquet``, ``train.jsonl``/``test.jsonl``, a
``train/`` folder, ...). The rules run over the repo's file list, not over a download, so
only the files of the chosen split are fetched, and offline the cached file list (the
tree listing ``snapshot_download`` keeps) tells a complete cache from a partial one.

Offline (``HF_HUB_OFFLINE=1``) a dataset whose files are in the hub cache works; one that
is not raises ``HubDatasetError`` (exit 2) saying where the cache is and how to fetch it.
Arrow files that ``datasets.load_dataset`` wrote under ``HF_DATASETS_CACHE`` are not read:
they are a processed copy whose rows no longer point at a line of a file; we need the
repo's own files, in the hub cache.

Heavy imports (``datasets``, ``huggingface_hub``) happen only when a Hub id is resolved.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote

from dataprep.errors import InputError, UsageError
from dataprep.reading.inputs import names_local

# The data files our readers read (see dataprep.reading), with an optional compression
# suffix.
READABLE_SUFFIXES = (".parquet", ".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".txt")
_COMPRESSION_SUFFIXES = ("", ".gz", ".zst")
_DATA_SUFFIX = re.compile(
    r"\.(jsonl|ndjson|json|csv|tsv|parquet|pq|arrow|txt|gz|zst|zstd|gzip)$", re.IGNORECASE
)
# A Hub name part: letters, digits, "-", "_", "."; no "--" or ".." (huggingface_hub's
# validate_repo_id), not starting or ending with "-" or ".".
_PART = r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?"
_ID = re.compile(rf"(?P<repo>{_PART}/{_PART})(?:@(?P<rev>[^/@]+))?")
_HF_URL = re.compile(
    rf"hf://datasets/(?P<repo>{_PART}/{_PART})(?:@(?P<rev>[^/@]+))?(?:/(?P<path>.*))?"
)


class HubDatasetError(UsageError):
    """A Hub dataset that cannot be used as asked: not in the cache while offline, a split
    or subset that does not exist, a revision given twice. Exit 2, like every UsageError."""


@dataclass(frozen=True, slots=True)
class HubRef:
    """A dataset on the Hub as the user named it: ``repo_id``, and optionally a
    ``revision`` (branch, tag or commit) and a ``path`` (a file or glob inside the repo)."""

    repo_id: str
    revision: str | None = None
    path: str | None = None


@dataclass(frozen=True, slots=True)
class HubSource:
    """What a Hub id resolved to.

    ``revision`` is the commit sha; ``subset`` the config name (None where the repo
    declares no configs, or a ``path`` chose the files); ``split`` likewise; ``files`` the
    local paths to read, in order; ``repo_files`` the same files as paths inside the repo.
    """

    repo_id: str
    revision: str
    subset: str | None
    split: str | None
    files: tuple[str, ...]
    repo_files: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def url(self) -> str:
        """The exact source, for a manifest: ``hf://datasets/ORG/NAME@SHA``."""
        return f"hf://datasets/{self.repo_id}@{self.revision}"


def parse_hub_ref(text: str) -> HubRef | None:
    """The Hub dataset ``text`` names, or None where it names a local path.

    Hub ids: ``ORG/NAME``, ``ORG/NAME@REV``, ``hf://datasets/ORG/NAME[@REV][/PATH]`` (PATH a
    file or glob inside the repo; a REV holding "/" is written with ``%2F``, as
    huggingface_hub writes it). A local path that exists always wins over a Hub id: a
    folder ``org/name`` in the current directory is read as that folder. Not Hub ids:
    ``-``, paths starting with ``.``, ``/`` or ``~``, names ending in a data-file suffix
    (``org/rows.jsonl`` is a file that is missing), more than one ``/`` without ``hf://``.
    A malformed ``hf://`` URL raises UsageError, since it cannot be a local path.

    >>> parse_hub_ref("HuggingFaceH4/ultrachat_200k")
    HubRef(repo_id='HuggingFaceH4/ultrachat_200k', revision=None, path=None)
    >>> parse_hub_ref("org/name@refs%2Fconvert%2Fparquet").revision
    'refs/convert/parquet'
    """
    if text.startswith("hf://"):
        m = _HF_URL.fullmatch(text)
        if m is None or "--" in m["repo"] or ".." in m["repo"]:
            raise UsageError(
                f"{text}: not a Hub dataset URL: write hf://datasets/ORG/NAME[@REVISION][/PATH]"
            )
        rev = unquote(m["rev"]) if m["rev"] else None
        return HubRef(m["repo"], rev, m["path"].strip("/") or None if m["path"] else None)
    if names_local(text):
        return None
    m = _ID.fullmatch(text)
    if m is None or "--" in m["repo"] or ".." in m["repo"] or _DATA_SUFFIX.search(m["repo"]):
        return None
    return HubRef(m["repo"], unquote(m["rev"]) if m["rev"] else None)


def resolve_hub(
    ref: HubRef | str,
    *,
    split: str | None = None,
    subset: str | None = None,
    revision: str | None = None,
    cache_dir: str | None = None,
) -> HubSource:
    """The local files of one split of one subset of a Hub dataset, fetched if online.

    ``split`` defaults to ``train`` where the subset has one, else to its only split;
    ``subset`` to the repo's default config. ``revision`` (or ``@REV`` in the ref) picks a
    branch, tag or commit; the result always carries the commit sha. ``cache_dir``
    defaults to huggingface_hub's (``HF_HUB_CACHE``). Offline mode is huggingface_hub's
    (``HF_HUB_OFFLINE``). Raises HubDatasetError (exit 2) for what the user can fix by
    asking differently or fetching, InputError (exit 1) for a repo whose data files we
    cannot read (a loading script, images, ...).
    """
    from huggingface_hub import constants

    if isinstance(ref, str):
        parsed = parse_hub_ref(ref)
        if parsed is None:
            raise UsageError(f"{ref}: not a Hub dataset id (ORG/NAME or hf://datasets/ORG/NAME)")
        ref = parsed
    if ref.revision and revision and ref.revision != revision:
        raise HubDatasetError(
            f"{ref.repo_id}: revision given twice ({ref.revision!r} in the id, {revision!r} by "
            "--revision): give one"
        )
    if ref.path and (split or subset):
        raise HubDatasetError(
            f"{ref.repo_id}: the path {ref.path!r} chooses the files: drop --split/--subset"
        )
    rev = revision or ref.revision or "main"
    cache = cache_dir or constants.HF_HUB_CACHE
    offline = constants.HF_HUB_OFFLINE
    snapshot, repo_files = _snapshot(ref.repo_id, rev, cache, offline)
    sha = os.path.basename(snapshot)
    _refuse_loading_script(ref.repo_id, repo_files)

    names = repo_files if repo_files is not None else sorted(_walk(snapshot))
    readme = os.path.join(snapshot, "README.md")
    if ref.path:
        patterns, chosen_subset, chosen_split = {"train": [ref.path]}, None, None
    else:
        card = readme if os.path.isfile(readme) else None
        patterns, chosen_subset, chosen_split = _patterns(ref.repo_id, names, card, subset, split)
    wanted = _match(names, patterns)
    if not wanted:
        raise HubDatasetError(
            f"{ref.repo_id}@{sha}: no data files match {', '.join(patterns)}"
            + (f" (the path {ref.path!r})" if ref.path else "")
        )
    wanted = _readable(ref.repo_id, wanted)
    _fetch(ref.repo_id, sha, wanted, cache, offline)
    files = tuple(os.path.join(snapshot, *name.split("/")) for name in wanted)
    missing = [path for path in files if not os.path.isfile(path)]
    if missing:
        raise HubDatasetError(_not_cached(ref.repo_id, cache, f"{len(missing)} of its files"))
    notes: tuple[str, ...] = ()
    if offline and repo_files is None:
        notes = ("offline, with no cached file list: read the files found in the cache",)
    return HubSource(ref.repo_id, sha, chosen_subset, chosen_split, files, tuple(wanted), notes)


def resolve_folder(
    folder: str, *, split: str | None = None, subset: str | None = None
) -> tuple[str | None, str, list[str]]:
    """``(subset, split, files)`` of a local folder laid out like a Hub dataset repo, by the
    same rules as ``resolve_hub``.

    >>> import pathlib, tempfile
    >>> root = tempfile.mkdtemp()
    >>> for name in ("train.jsonl", "test.jsonl"):
    ...     _ = (pathlib.Path(root) / name).write_text('{"text": "a"}\\n')
    >>> subset, split, files = resolve_folder(root, split="test")
    >>> subset, split, [os.path.basename(f) for f in files]
    (None, 'test', ['test.jsonl'])
    """
    names = sorted(_walk(folder))
    _refuse_loading_script(folder, names)
    readme = os.path.join(folder, "README.md")
    card = readme if os.path.isfile(readme) else None
    patterns, chosen_subset, chosen_split = _patterns(folder, names, card, subset, split)
    wanted = _match(names, patterns)
    if not wanted:
        raise HubDatasetError(f"{folder}: no data files match {', '.join(patterns)}")
    wanted = _readable(folder, wanted)
    return chosen_subset, chosen_split, [os.path.join(folder, *n.split("/")) for n in wanted]


# --- the cache and the Hub -------------------------------------------------------------


def _snapshot(
    repo_id: str, revision: str, cache: str, offline: bool
) -> tuple[str, list[str] | None]:
    """The snapshot folder of ``revision`` (its name is the commit sha) and the repo's file
    list at that commit (None offline where no listing was cached).

    ``snapshot_download`` restricted to README.md resolves the revision to a commit,
    records the ref and the repo's tree listing in the cache (so a later offline run knows
    the full file list) and fetches the card; offline it finds all of this in the cache.
    """
    from huggingface_hub import get_cached_repo_tree, snapshot_download
    from huggingface_hub.errors import (
        CachedRepoTreeNotFoundError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        snapshot = snapshot_download(
            repo_id,
            repo_type="dataset",
            revision=revision,
            cache_dir=cache,
            allow_patterns=["README.md"],
            local_files_only=offline,
        )
    except RepositoryNotFoundError as e:
        raise HubDatasetError(
            f"{repo_id}: no such dataset on the Hub (or it is private: log in with `hf auth login`)"
        ) from e
    except RevisionNotFoundError as e:
        raise HubDatasetError(f"{repo_id}: no revision {revision!r} on the Hub") from e
    except LocalEntryNotFoundError as e:
        raise HubDatasetError(_not_cached(repo_id, cache, f"revision {revision!r}")) from e
    assert isinstance(snapshot, str)
    sha = os.path.basename(snapshot)
    try:
        tree = get_cached_repo_tree(repo_id, repo_type="dataset", revision=sha, cache_dir=cache)
    except CachedRepoTreeNotFoundError:
        # A cache filled by hf_hub_download alone (datasets does that) has no listing:
        # what is in the snapshot folder is all we can know offline.
        if not offline:
            raise
        return snapshot, None
    return snapshot, sorted(f.path for f in tree)


def _fetch(repo_id: str, sha: str, names: list[str], cache: str, offline: bool) -> None:
    """Download ``names`` at commit ``sha`` into the cache (offline: check they are there)."""
    from glob import escape

    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        snapshot_download(
            repo_id,
            repo_type="dataset",
            revision=sha,
            cache_dir=cache,
            # Exact names: escape the characters fnmatch reads as a pattern.
            allow_patterns=[escape(name) for name in names],
            local_files_only=offline,
        )
    except LocalEntryNotFoundError as e:
        raise HubDatasetError(_not_cached(repo_id, cache, f"the files of commit {sha}")) from e


def _not_cached(repo_id: str, cache: str, what: str) -> str:
    return (
        f"{repo_id}: {what} not in the Hugging Face cache ({cache}) and HF_HUB_OFFLINE is set: "
        f"fetch it with `hf download --repo-type dataset {repo_id}` (or run once online). "
        "Arrow files written by datasets.load_dataset are not enough: the repo's own files "
        "must be in the hub cache"
    )


# --- the layout rules (datasets') ------------------------------------------------------


def _patterns(
    where: str,
    names: list[str],
    card: str | None,
    subset: str | None,
    split: str | None,
) -> tuple[dict[str, list[str]], str | None, str]:
    """The data-file patterns of the chosen split, with the subset and split chosen.

    The rules are ``datasets``' own (``LocalDatasetModuleFactory.get_module`` and
    ``create_builder_configs_from_metadata_configs`` in datasets 5.2): the README's
    ``configs:`` if any, each with ``data_files`` or a ``data_dir`` under which the default
    patterns apply; else the default patterns over the whole repo.
    """
    from datasets.data_files import EmptyDatasetError, get_data_patterns, sanitize_patterns
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    configs = MetadataConfigs()
    if card is not None:
        try:
            configs = MetadataConfigs.from_dataset_card_data(DatasetCard.load(card).data)
        except (ValueError, TypeError) as e:
            raise InputError(
                f"{where}: README.md",
                f"has a configs: field that datasets cannot read: {e}",
                "unreadable",
            ) from e
    if configs:
        try:
            default = configs.get_default_config_name()
        except ValueError as e:
            raise InputError(f"{where}: README.md", str(e), "unreadable") from e
        chosen = subset or default
        if chosen is None or chosen not in configs:
            said = f"no subset {subset!r}" if subset else "several subsets and no default"
            raise HubDatasetError(
                f"{where}: {said}: pass --subset with one of {', '.join(configs)}"
            )
        params = configs[chosen]
        data_dir = params.get("data_dir")
        if params.get("data_files") is not None:
            patterns = sanitize_patterns(params["data_files"])
            if data_dir:
                patterns = {k: [f"{data_dir}/{p}" for p in v] for k, v in patterns.items()}
        else:
            patterns = _default_patterns(
                where, names, data_dir, get_data_patterns, EmptyDatasetError
            )
    else:
        if subset not in (None, "default"):
            raise HubDatasetError(
                f"{where}: no subset {subset!r}: the dataset declares no subsets (drop --subset)"
            )
        chosen = None
        patterns = _default_patterns(where, names, None, get_data_patterns, EmptyDatasetError)
    splits = [str(s) for s in patterns]
    if split is None:
        if "train" in splits or len(splits) == 1:
            split = "train" if "train" in splits else splits[0]
        else:
            raise HubDatasetError(
                f"{where}: several splits: pass --split with one of {', '.join(splits)}"
            )
    if split not in splits:
        in_subset = f" in subset {chosen!r}" if chosen else ""
        raise HubDatasetError(
            f"{where}: no split {split!r}{in_subset}: the splits are {', '.join(splits)}"
        )
    return (
        {split: [str(p) for p in patterns[next(s for s in patterns if str(s) == split)]]},
        chosen,
        split,
    )


def _default_patterns(where, names, data_dir, get_data_patterns, empty_error):
    with _FileList(names) as base:
        root = f"{base}/{data_dir}" if data_dir else base
        try:
            found = get_data_patterns(root)
        except empty_error as e:
            raise InputError(where, "holds no data files", "not-a-dataset") from e
    if data_dir:
        found = {k: [f"{data_dir}/{p}" for p in v] for k, v in found.items()}
    return found


def _match(names: list[str], patterns: dict[str, list[str]]) -> list[str]:
    """The repo paths the patterns match, in pattern order then path order, each once."""
    from datasets.data_files import DataFilesDict

    # datasets' list of the extensions of data files (a private name, datasets 5.2): what a
    # pattern such as "**" matches is filtered to it, as load_dataset filters it.
    from datasets.packaged_modules import _ALL_ALLOWED_EXTENSIONS

    with _FileList(names) as base:
        try:
            found = DataFilesDict.from_patterns(
                patterns, base_path=base, allowed_extensions=_ALL_ALLOWED_EXTENSIONS
            )
        except FileNotFoundError:
            return []
        prefix = base + "/"
        out: dict[str, None] = {}
        for files in found.values():
            for path in files:
                out[path[len(prefix) :] if path.startswith(prefix) else path] = None
    return list(out)


class _FileList:
    """A file list as an in-memory fsspec folder (empty files), so that ``datasets``'
    pattern rules run over the names alone, with the same glob as on a real folder."""

    def __init__(self, names: Iterable[str]):
        self.names = list(names)

    def __enter__(self) -> str:
        import uuid  # here: it imports platform, 2 ms on every command's start

        import fsspec

        self.fs = fsspec.filesystem("memory")
        self.root = f"/dataprep-hub-{uuid.uuid4().hex}"
        for name in self.names:
            self.fs.pipe_file(f"{self.root}/{name}", b"")
        return f"memory://{self.root}"

    def __exit__(self, *exc: object) -> None:
        if self.fs.exists(self.root):
            self.fs.rm(self.root, recursive=True)


def _walk(folder: str) -> Iterable[str]:
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            yield os.path.relpath(os.path.join(dirpath, name), folder).replace(os.sep, "/")


def _refuse_loading_script(where: str, names: list[str] | None) -> None:
    scripts = [n for n in names or [] if "/" not in n and n.endswith(".py")]
    if scripts:
        raise InputError(
            where,
            f"is a dataset with a loading script ({scripts[0]}), which datasets no longer runs "
            "and we do not read: use its Parquet export, e.g. "
            f"hf://datasets/{where}@refs%2Fconvert%2Fparquet/default/train/*.parquet",
            "unsupported-hub-layout",
        )


def _readable(where: str, names: list[str]) -> list[str]:
    """``names`` less Markdown, once every other file is found to be one our readers read."""
    # Markdown matches datasets' "**" pattern (it reads instruction.md files) but is a
    # repo's documentation here; every other file of the split must be one we read.
    bad = [n for n in names if not _is_readable(n) and not n.lower().endswith(".md")]
    if bad:
        kinds = sorted({os.path.splitext(n)[1] or n for n in bad})
        raise InputError(
            where,
            f"has data files we cannot read ({', '.join(kinds)}: e.g. {bad[0]}): only "
            f"{', '.join(READABLE_SUFFIXES)} files (gzip or zstd compressed or not) are read",
            "unsupported-hub-layout",
        )
    return [n for n in names if not n.lower().endswith(".md")]


def _is_readable(name: str) -> bool:
    lower = name.lower()
    return any(lower.endswith(s + c) for s in READABLE_SUFFIXES for c in _COMPRESSION_SUFFIXES)
