"""Find the model files under the repository roots.

Runs in a worker thread (plain ``os.scandir``): the walk is cheap per entry and does
not belong on the event loop. Symlinks are followed only where they stay inside a
root (unless asked), each directory is entered once (no loops) and each file is
counted once however many links lead to it.
"""

from __future__ import annotations

import dataclasses
import errno
import fnmatch
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..core import ModelFile, Status

LFS_PREFIX = b"version https://git-lfs.github.com/spec/v1"
LFS_MAX_SIZE = 1024  # Git LFS pointer files are smaller than this by specification
SKIP_DIRS = {".git", ".hg", ".svn"}
PATH_MAX = os.pathconf("/", "PC_PATH_MAX")  # the longest path the system calls take


@dataclass(frozen=True)
class WalkOptions:
    include: Sequence[str] = ("*.om",)
    exclude: Sequence[str] = ()
    follow_outside: bool = False  # follow symlinks that leave the roots

    def __post_init__(self) -> None:
        for glob in (*self.include, *self.exclude):
            check_glob(glob)


def check_glob(glob: str) -> None:
    """ValueError for a glob that cannot mean what was typed: fnmatch would take an
    unclosed ``[`` for a literal bracket, so ``--include '['`` would silently match
    nothing (and the scope of the scan with it)."""
    if not glob:
        raise ValueError("an empty glob matches nothing")
    start = glob.find("[")
    while start >= 0:
        end = start + 1
        end += glob.startswith("!", end)
        end += glob.startswith("]", end)  # a "]" first in the set is a member
        close = glob.find("]", end)
        if close < 0:
            raise ValueError(
                f"{glob!r}: '[' at {start + 1} is never closed (for a literal '[' write '[[]')"
            )
        start = glob.find("[", close + 1)


def _pattern(globs: Sequence[str]) -> re.Pattern[str] | None:
    """One regular expression for a list of globs (fnmatch's own translation)."""
    if not globs:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(os.path.normcase(g))})" for g in globs))


class Matcher:
    """Whether a file is wanted: an include glob matches the path inside the root or the
    file name alone, and no exclude glob does. Compiled once per walk."""

    def __init__(self, options: WalkOptions) -> None:
        self.include = _pattern(options.include)
        self.exclude = _pattern(options.exclude)

    def __call__(self, relpath: str) -> bool:
        name = os.path.basename(relpath)

        def hit(pattern: re.Pattern[str] | None) -> bool:
            return pattern is not None and bool(pattern.match(relpath) or pattern.match(name))

        return hit(self.include) and not hit(self.exclude)


def _inside(path: str, roots: Sequence[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == root or real.startswith(root + os.sep) for root in roots)


@dataclass(frozen=True)
class Subtree:
    """Where a walk goes: ``start`` (relative; "" for all of it) inside the repository at
    ``repository``, not entering ``prune``: directories (relative to the repository)
    that are repositories of their own."""

    repository: str
    start: str = ""
    prune: frozenset[str] = frozenset()

    @property
    def path(self) -> str:
        return os.path.join(self.repository, self.start) if self.start else self.repository


class Seen:
    """The files (or directories) a walk has met, by device and inode: reached again
    through a link, one is not listed twice. A set of inodes per device, since a
    ``(device, inode)`` tuple per file costs 150 bytes (45 MB at 300,000 files)."""

    def __init__(self) -> None:
        self._inodes: dict[int, set[int]] = {}

    def first(self, info: os.stat_result) -> bool:
        """Whether ``info``'s file is met for the first time (and is now met)."""
        inodes = self._inodes.setdefault(info.st_dev, set())
        if info.st_ino in inodes:
            return False
        inodes.add(info.st_ino)
        return True


def walk(roots: Sequence[str | Subtree], options: WalkOptions) -> Iterator[ModelFile]:
    """Every matching file under ``roots`` (a path is a repository of its own), in a
    stable order; each file's ``root`` is its repository and ``relpath`` is relative to it."""
    parts = [r if isinstance(r, Subtree) else Subtree(os.path.realpath(r)) for r in roots]
    paths = [part.path for part in parts]
    seen_dirs, seen_files = Seen(), Seen()
    matches = Matcher(options)
    for part in parts:
        yield from _walk_root(part, paths, options, matches, seen_dirs, seen_files)


def _walk_root(
    part: Subtree,
    roots: Sequence[str],
    options: WalkOptions,
    matches: Matcher,
    seen_dirs: Seen,
    seen_files: Seen,
) -> Iterator[ModelFile]:
    root = part.repository
    stack = [part.start]
    while stack:
        reldir = stack.pop()
        directory = os.path.join(root, reldir)
        try:
            info = os.stat(directory)
            if not seen_dirs.first(info):
                continue
            with os.scandir(directory) as scanner:
                entries = sorted(scanner, key=lambda e: e.name)
        except OSError as exc:
            yield ModelFile(
                root,
                reldir or ".",
                status=Status.UNREADABLE,
                error=_why(exc, "directory", directory),
                directory=True,
            )
            continue
        subdirs = []
        for entry in entries:
            relpath = os.path.join(reldir, entry.name)
            if entry.is_symlink() and not options.follow_outside and not _inside(entry.path, roots):
                continue
            if _is_dir(entry):
                # Stat'ed once, when entered (a directory it cannot enter, a path past
                # PATH_MAX among them, is recorded then, whatever the globs).
                if entry.name not in SKIP_DIRS and relpath not in part.prune:
                    subdirs.append(relpath)
                continue
            try:
                info = entry.stat()
            except OSError as exc:
                if matches(relpath):
                    why = _why(exc, "file", entry.path)
                    yield ModelFile(root, relpath, status=Status.UNREADABLE, error=why)
                continue
            if stat.S_ISREG(info.st_mode) and matches(relpath) and seen_files.first(info):
                yield file_record(root, relpath, info)
        stack.extend(reversed(subdirs))


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """A directory, or a link to one, by the listing's own type: no system call but for
    a link (a directory takes one stat as it is entered, not two). One whose type cannot
    be told is not a directory: its stat then fails the same way and says why."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def file_record(root: str, relpath: str, info: os.stat_result) -> ModelFile:
    """The record of the regular file ``relpath`` of ``root``, stat ``info``."""
    return ModelFile(root, relpath, info.st_size, info.st_mtime_ns, info.st_ino, info.st_dev)


def classify(entry: ModelFile) -> ModelFile:
    """Recognise an empty file, and a Git LFS pointer by its first bytes. Called only
    for files about to be read anyway, so an unchanged tree costs no reads."""
    if entry.status is not None or entry.size >= LFS_MAX_SIZE:
        return entry
    if entry.size == 0:
        return _with(entry, Status.EMPTY, "empty file (a placeholder, not a model)")
    try:
        with open(entry.path, "rb") as handle:
            head = handle.read(len(LFS_PREFIX))
    except OSError as exc:
        return _with(entry, Status.UNREADABLE, _why(exc, "file", entry.path))
    if head == LFS_PREFIX:
        return _with(entry, Status.LFS_POINTER, "Git LFS pointer: the model itself was not fetched")
    return entry


def _with(entry: ModelFile, status: Status, error: str) -> ModelFile:
    return dataclasses.replace(entry, status=status, error=error)


def _why(exc: OSError, what: str, path: str = "") -> str:
    if exc.errno == errno.ENAMETOOLONG and len(os.fsencode(path)) >= PATH_MAX:
        length = len(os.fsencode(path))
        return f"cannot read {what}: its path is {length} bytes, longer than PATH_MAX ({PATH_MAX})"
    return f"cannot read {what}: {exc.strerror or exc}"
