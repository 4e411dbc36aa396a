"""Local files and folders, walked lazily in sorted order so runs are reproducible."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator

from trailhound.errors import UsageError
from trailhound.sources import layout
from trailhound.sources.base import SourceObject


def _object(path: str, st: os.stat_result) -> SourceObject:
    def read() -> bytes:
        with open(path, "rb") as fh:
            return fh.read()

    return SourceObject(
        name=path, size=st.st_size, version=f"{st.st_size}:{st.st_mtime_ns}", reader=read
    )


def walk(src: str, *, skipped: Callable[[str, str], None] | None = None
         ) -> Iterator[SourceObject]:
    path = os.path.abspath(src)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{src}: no such file or directory") from None
    except OSError as e:
        raise UsageError(f"{src}: cannot read ({e.strerror})") from None
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        # A FIFO or a device would block the reader or never end (/dev/zero).
        raise UsageError(f"{src}: not a regular file or folder (a pipe, socket or device); "
                         "give log files or folders")
    if not os.path.isdir(path):
        # A file named explicitly is read whatever its extension: the user asked for it.
        if layout.is_digest(path):
            if skipped:
                skipped(path, "CloudTrail digest file")
            return
        yield _object(path, st)
        return
    yield from _walk_dir(path, skipped)


def _walk_dir(top: str, skipped: Callable[[str, str], None] | None) -> Iterator[SourceObject]:
    # os.scandir per directory keeps memory at one directory's listing, not the whole tree.
    try:
        entries = sorted(os.scandir(top), key=lambda e: e.name)
    except OSError as e:
        if skipped:
            skipped(top, f"folder not readable ({e.strerror})")
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            if entry.name == "CloudTrail-Digest":
                if skipped:
                    skipped(entry.path, "CloudTrail digest folder")
                continue
            yield from _walk_dir(entry.path, skipped)
        elif entry.is_file(follow_symlinks=False):
            if layout.is_digest(entry.path):
                if skipped:
                    skipped(entry.path, "CloudTrail digest file")
                continue
            if not layout.looks_like_log(entry.path):
                if skipped:
                    skipped(entry.path, "not a log file (extension)")
                continue
            yield _object(entry.path, entry.stat())
        elif skipped:
            # Never followed inside a folder (a link can lead out of it, or in a loop), and
            # never silent: a folder of links to the logs must not read as "no logs".
            skipped(entry.path, "symbolic link (not followed; name the target instead)"
                    if entry.is_symlink() else "not a regular file (pipe, socket, device)")
