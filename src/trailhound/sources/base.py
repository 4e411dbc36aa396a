"""The object abstraction every reader yields, and the dispatch from a SOURCE argument."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trailhound.sources.s3 import S3Options


@dataclass(frozen=True)
class SourceObject:
    """One log object. `name` is its identity in the manifest (absolute path or s3:// URL),
    `version` what changes when its content may have (mtime+size, or an S3 ETag)."""

    name: str
    size: int
    version: str
    reader: Callable[[], bytes] = field(repr=False, compare=False)

    def read(self) -> bytes:
        return self.reader()


def is_s3(src: str) -> bool:
    return src.startswith(("s3://", "s3a://"))


def discover(sources: list[str], *, skipped: Callable[[str, str], None] | None = None,
             s3: S3Options | None = None, known: Callable[[str, str], bool] | None = None
             ) -> Iterator[SourceObject]:
    """Yield every log object under the given sources, lazily and in a stable order.

    `skipped(name, why)` is told about objects seen but deliberately not read (digests,
    files that are not logs), so the summary can count them instead of hiding them.
    `s3` says how to reach and narrow `s3://`/`s3a://` sources. `known(name, version)` tells
    which objects the store already holds, so that S3 objects are not downloaded ahead only
    to be skipped (local files are read lazily anyway).
    """
    from trailhound.sources import local

    for src in sources:
        if is_s3(src):
            from trailhound.sources import s3 as s3_source

            yield from s3_source.walk(src, s3, skipped=skipped, known=known)
        else:
            yield from local.walk(src, skipped=skipped)
