"""One batch of decoded objects through DuckDB: parse, normalize, refuse, de-duplicate.

Records go from DuckDB's JSON reader straight into the normalization SQL (no intermediate
table of raw records), so the reader's parallelism carries through. De-duplication works on
narrow keys (f, i, event_id) and never copies the wide rows. A duplicate delivery has the
same account and eventTime as the original, so only the batch's own partitions of the store
are consulted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from trailhound.normalize import normalize_sql, select_event_columns
from trailhound.sources import SourceObject
from trailhound.sources.decode import (
    REPAIRED,
    BadObject,
    BadRecord,
    Decoded,
    decode_strict,
)
from trailhound.store.engine import Store, sql_literal

_EMPTY_SOURCE = ("(SELECT NULL::UBIGINT AS f, NULL::UBIGINT AS i, NULL::VARCHAR AS src, "
                 "NULL::VARCHAR AS rec WHERE false)")


@dataclass
class Pending:
    """One object read and decoded, waiting in a batch."""

    fid: int
    obj: SourceObject
    sha256: str
    decoded: Decoded | None
    bad: BadObject | None = None
    data: bytes | None = None  # kept only until the batch is processed (for strict retries)
    same_as: str | None = None


@dataclass
class BatchResult:
    per_file: dict[int, tuple[int, int]]  # fid -> (valid records, records kept as new events)
    bad_records: dict[int, list[BadRecord]]
    object_bad: dict[int, str]
    partitions: list[tuple[str, str, pa.Table]] = field(default_factory=list)
    # Dropped duplicates whose content differs from the copy kept (counted as duplicates,
    # also listed in the quarantine so they are never silent).
    conflicts: dict[int, list[BadRecord]] = field(default_factory=dict)


def run_batch(conn: duckdb.DuckDBPyConnection, items: list[Pending], store: Store, work: Path,
              *, max_record_bytes: int, in_flight: pa.Table | None = None) -> BatchResult:
    """`in_flight`: event ids of the batch still being written (not yet in the manifest)."""
    object_bad, bad_records = normalize_items(conn, items, work,
                                              max_record_bytes=max_record_bytes)
    existing = _existing_parts(conn, store)
    in_store = ""
    if existing:
        files = "[" + ", ".join(sql_literal(p) for p in existing) + "]"
        in_store = (
            " UNION SELECT n.f, n.i FROM norm n WHERE n.reject IS NULL AND n.event_id IN "
            f"(SELECT event_id FROM read_parquet({files}))"
        )
    if in_flight is not None and in_flight.num_rows:
        conn.register("in_flight_ids", in_flight)
        in_store += (" UNION SELECT n.f, n.i FROM norm n WHERE n.reject IS NULL AND n.event_id "
                     "IN (SELECT event_id FROM in_flight_ids)")
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE dropk AS SELECT f, i FROM ("
        "SELECT f, i, row_number() OVER (PARTITION BY event_id ORDER BY f, i) AS rn "
        f"FROM norm WHERE reject IS NULL) WHERE rn > 1 {in_store}"
    )
    conflicts = _conflicting_duplicates(conn, existing, in_flight)
    conflict_records: dict[int, list[BadRecord]] = {}
    for f, i, eid, text in conflicts:
        conflict_records.setdefault(f, []).append(BadRecord(
            f"record {i}", f"same eventID {eid} as an event already kept, different content "
            "(first copy kept; this one saved here)", text.encode()))
    per_file = {
        int(f): (int(valid), int(valid) - int(dropped))
        for f, valid, dropped in conn.execute(
            "SELECT n.f, count(*), count(d.f) FROM norm n LEFT JOIN dropk d "
            "ON d.f = n.f AND d.i = n.i WHERE n.reject IS NULL GROUP BY n.f"
        ).fetchall()
    }
    partitions: list[tuple[str, str, pa.Table]] = []
    keys = conn.execute(
        "SELECT DISTINCT account, date FROM norm WHERE reject IS NULL ORDER BY 1, 2").fetchall()
    for account, date in keys:
        rel = conn.sql(
            f"SELECT {select_event_columns()}, {_CONTENT_SQL} AS h FROM norm n "
            "WHERE reject IS NULL "
            "AND account = $account AND date = $date "
            "AND NOT EXISTS (SELECT 1 FROM dropk d WHERE d.f = n.f AND d.i = n.i)",
            params={"account": account, "date": date},
        )
        table = rel.to_arrow_table().drop_columns(["account", "date"])
        # The content hash travels with the table for the next batch's conflict check;
        # the writer drops it before Parquet.
        if table.num_rows:
            partitions.append((account, str(date), table))
    return BatchResult(per_file, bad_records, object_bad, partitions, conflict_records)


def normalize_items(conn: duckdb.DuckDBPyConnection, items: list[Pending], work: Path, *,
                    max_record_bytes: int
                    ) -> tuple[dict[int, str], dict[int, list[BadRecord]]]:
    """Parse and normalize decoded objects into the temp table `norm` (good records and
    refused ones, with `reject` saying why); return the objects found unreadable and the
    records refused, per object id. Shared by this batch and by the Spark ingest's executors,
    so both engines store exactly the same rows for the same bytes."""
    object_bad: dict[int, str] = {p.fid: p.bad.reason for p in items if p.bad is not None}
    bad_records: dict[int, list[BadRecord]] = {}
    conn.execute("CREATE OR REPLACE TEMP TABLE norm AS "
                 f"{normalize_sql(_EMPTY_SOURCE, max_record_bytes=max_record_bytes)}")
    loadable = [p for p in items if p.decoded is not None]
    _load(conn, loadable, work, object_bad, bad_records, max_record_bytes)
    for p in loadable:
        if p.decoded is not None and p.decoded.bad_records:
            bad_records.setdefault(p.fid, []).extend(p.decoded.bad_records)

    for f, i, reason, text in conn.execute(
        "SELECT f, i, coalesce(reject, ? || repair), left(raw, 65536) FROM norm "
        "WHERE reject IS NOT NULL OR repair IS NOT NULL ORDER BY f, i", [REPAIRED]
    ).fetchall():
        bad_records.setdefault(int(f), []).append(
            BadRecord(f"record {i}", reason, (text or "").encode()))
    return object_bad, bad_records


# What makes two deliveries of one eventID the same event. Compared on normalized columns, not
# on raw text, so a re-export with other key order or float formatting is not a conflict.
_CONTENT_SQL = ("hash(event_time, event_source, event_name, source_ip, user_agent, "
                "principal_arn, access_key_id, error_code, recipient_account_id, bytes_out, "
                "request_parameters, response_elements)")


def _conflicting_duplicates(conn: duckdb.DuckDBPyConnection, existing: list[str],
                            in_flight: pa.Table | None) -> list[tuple[int, int, str, str]]:
    """Dropped duplicates whose content differs from the copy kept: reported, not silent.

    A tampered or corrupted re-delivery of an event must not vanish as "just a duplicate"."""
    kept = [f"SELECT event_id, {_CONTENT_SQL} AS h FROM norm n WHERE reject IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM dropk d WHERE d.f = n.f AND d.i = n.i)"]
    if existing:
        files = "[" + ", ".join(sql_literal(p) for p in existing) + "]"
        kept.append(f"SELECT event_id, {_CONTENT_SQL} FROM read_parquet({files}) WHERE "
                    "event_id IN (SELECT n.event_id FROM norm n JOIN dropk d "
                    "ON d.f = n.f AND d.i = n.i)")
    if in_flight is not None and in_flight.num_rows and "h" in in_flight.column_names:
        kept.append("SELECT event_id, h FROM in_flight_ids")
    rows = conn.execute(f"""
        SELECT DISTINCT n.f, n.i, n.event_id, left(n.raw, 65536) FROM norm n
        JOIN dropk d ON d.f = n.f AND d.i = n.i
        JOIN ({' UNION ALL '.join(kept)}) k ON k.event_id = n.event_id
        WHERE {_CONTENT_SQL.replace('hash(', 'hash(n.').replace(', ', ', n.')} <> k.h
        ORDER BY 1, 2
    """).fetchall()
    return [(int(f), int(i), str(e), t or "") for f, i, e, t in rows]


def _load(conn: duckdb.DuckDBPyConnection, items: list[Pending], work: Path,
          object_bad: dict[int, str], bad_records: dict[int, list[BadRecord]],
          max_record_bytes: int) -> None:
    """Normalize the batch into `norm`; on a parse error, split to find the culprit object."""
    if not items:
        return
    try:
        _insert(conn, items, work, max_record_bytes)
        return
    except duckdb.Error as e:
        first_error = str(e).splitlines()[0]
    if len(items) > 1:
        mid = len(items) // 2
        _load(conn, items[:mid], work, object_bad, bad_records, max_record_bytes)
        _load(conn, items[mid:], work, object_bad, bad_records, max_record_bytes)
        return
    # One object that DuckDB could not read: parse it record by record in Python.
    p = items[0]
    if p.decoded is not None and p.decoded.format == "parsed":
        _insert_one_by_one(conn, p, work, bad_records, max_record_bytes)
        return
    try:
        p.decoded = decode_strict(p.data or b"", name=p.obj.name)
    except BadObject as e:
        object_bad[p.fid] = e.reason
        return
    try:
        _insert(conn, [p], work, max_record_bytes)
    except duckdb.Error:
        _insert_one_by_one(conn, p, work, bad_records, max_record_bytes)
    del first_error


def _insert_one_by_one(conn: duckdb.DuckDBPyConnection, p: Pending, work: Path,
                       bad_records: dict[int, list[BadRecord]], max_record_bytes: int) -> None:
    """Valid JSON for orjson but not for DuckDB (deep nesting, odd numbers): each record alone."""
    records = orjson.loads(p.decoded.array) if p.decoded else []
    for n, rec in enumerate(records):
        text = orjson.dumps(rec)
        single = Pending(p.fid, p.obj, p.sha256, Decoded(b"[" + text + b"]", "parsed"))
        try:
            _insert(conn, [single], work, max_record_bytes, first_index=n)
        except duckdb.Error as e:
            bad_records.setdefault(p.fid, []).append(
                BadRecord(f"record {n}", _duck_reason(str(e).splitlines()[0]), text))


def _insert(conn: duckdb.DuckDBPyConnection, items: list[Pending], work: Path,
            max_record_bytes: int, first_index: int = 0) -> None:
    path = work / "lines.ndjson"
    longest = 0
    with open(path, "wb") as fh:
        for p in items:
            assert p.decoded is not None
            line = (b'{"f":' + str(p.fid).encode() + b',"s":' + orjson.dumps(p.obj.name)
                    + b',"r":' + p.decoded.array + b"}\n")
            longest = max(longest, len(line))
            fh.write(line)
    source = (
        f"(SELECT f, i + {int(first_index)} AS i, s AS src, rec FROM ("
        "SELECT f, s, unnest(r) AS rec, unnest(range(len(r))) AS i "
        f"FROM read_json({sql_literal(str(path))}, format='newline_delimited', "
        "columns={'f': 'UBIGINT', 's': 'VARCHAR', 'r': 'JSON[]'}, "
        f"maximum_object_size={max(longest + 1024, 16 * 1024 * 1024)})))"
    )
    conn.execute(f"INSERT INTO norm {normalize_sql(source, max_record_bytes=max_record_bytes)}")


def _duck_reason(msg: str) -> str:
    msg = msg.replace("Invalid Input Error: ", "")
    # DuckDB names our staging file; the user cares about the object, named elsewhere.
    if "Malformed JSON" in msg and ":" in msg:
        msg = "malformed JSON:" + msg.rsplit(":", 1)[-1]
    return msg.strip()[:200]


def _existing_parts(conn: duckdb.DuckDBPyConnection, store: Store) -> list[str]:
    """Committed parts in the partitions this batch writes to: the only place a duplicate
    of one of its events can be, because a duplicate has the same account and eventTime."""
    keys = conn.execute(
        "SELECT DISTINCT account, date FROM norm WHERE reject IS NULL").fetchall()
    committed = store.manifest.committed_parts()
    out: list[str] = []
    for account, date in keys:
        prefix = f"events/account={account}/date={date}/"
        out.extend(str(store.root / p) for p in sorted(committed) if p.startswith(prefix))
    return out
