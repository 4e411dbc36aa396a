"""Parquet parts written on a background thread, then the batch committed to the manifest.

DuckDB normalizes batch k+1 while this thread encodes and writes batch k (PyArrow releases
the GIL while compressing), which keeps both cores busy. The commit order is the batch
order, and at most one batch waits, so memory stays bounded. A failure (disk full, say) is
raised in the ingest thread at the next hand-over, with the store still consistent: the
batch that failed was never committed and its parts are orphans the next run removes.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from trailhound.errors import StoreError
from trailhound.store.engine import Store
from trailhound.store.manifest import ObjectRow, QuarantineRow

# Columns worth dictionary-encoding: few distinct values per part. High-cardinality text
# (ids, raw JSON, parameters) is cheaper to write and no larger without a dictionary.
_DICT_COLUMNS = [
    "event_source", "event_name", "event_type", "event_category", "event_version", "aws_region",
    "recipient_account_id", "source_ip", "user_agent", "error_code", "identity_type",
    "principal_arn", "account_id", "access_key_id", "user_name", "session_issuer_arn",
    "invoked_by", "target_user", "bucket", "source_object",
]


# How every part is encoded, whether written whole (ingest) or streamed (compaction).
PART_OPTIONS: dict = {"compression": "zstd", "compression_level": 1,
                      "use_dictionary": _DICT_COLUMNS, "write_statistics": True}


def write_part(table: pa.Table, tmp: Path, dest: Path) -> None:
    """One Parquet part, staged then renamed into place (a reader never sees half a file)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, tmp, **PART_OPTIONS)
    os.replace(tmp, dest)


def open_part(tmp: Path, schema: pa.Schema) -> pq.ParquetWriter:
    """A part written batch by batch to `tmp`; the caller renames it into place when whole."""
    return pq.ParquetWriter(tmp, schema, **PART_OPTIONS)


@dataclass
class PendingCommit:
    batch_id: str
    partitions: list[tuple[str, str, pa.Table]]  # (account, date, rows)
    objects: list[ObjectRow]
    quarantine: list[QuarantineRow]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class PartWriter:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: PendingCommit | None = None
        self._thread: threading.Thread | None = None

    def submit(self, job: PendingCommit) -> None:
        self.wait()
        self._pending = job
        self._thread = threading.Thread(target=self._run, args=(job,), daemon=True,
                                        name="trailhound-writer")
        self._thread.start()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        job, self._pending = self._pending, None
        if job is not None and job.error is not None:
            e = job.error
            if isinstance(e, OSError):
                raise StoreError(f"cannot write the store ({e.strerror or e}); "
                                 "the batch was not committed and will be re-read next run",
                                 location=str(self.store.root)) from e
            raise e

    def _run(self, job: PendingCommit) -> None:
        try:
            parts: list[tuple[str, int | None]] = []
            for n, (account, date, table) in enumerate(job.partitions):
                rel = Path("events") / f"account={account}" / f"date={date}" / (
                    f"part-{job.batch_id}-{n}.parquet")
                if "h" in table.column_names:
                    table = table.drop_columns(["h"])
                write_part(table, self.store.tmp_dir / f"{job.batch_id}-{n}.parquet",
                           self.store.root / rel)
                parts.append((rel.as_posix(), table.num_rows))
            self.store.manifest.commit_batch(job.batch_id, parts, job.objects, job.quarantine)
        except BaseException as e:  # handed back to the ingest thread
            job.error = e
        finally:
            job.partitions = []
            job.done.set()
