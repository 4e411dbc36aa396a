"""The object abstraction every reader yields, and the dispatch from a SOURCE argument."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from trailhound.errors import UsageError


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


def discover(sources: list[str], *, skipped: Callable[[str, str], None] | None = None
             ) -> Iterator[SourceObject]:
    """Yield every log object under the given sources, lazily and in a stable order.

    `skipped(name, why)` is told about objects seen but deliberately not read (digests,
    files that are not logs), so the summary can count them instead of hiding them.
    """
    from trailhound.sources import local

    for src in sources:
        if src.startswith(("s3://", "s3a://")):
            raise UsageError(f"{src}: s3:// sources are not supported yet in this build")
        yield from local.walk(src, skipped=skipped)
