"""Coverage-guided fuzz target (atheris/libFuzzer) over decode + normalize: `make fuzz`.

Each input is one log object's bytes. It goes through what ingest does with it: `decode`
(gzip, BOM, the CloudTrail/array/NDJSON fast paths), `decode_strict` when the optimistic array
does not parse, then the normalization SQL on every record. Allowed outcomes: records with an
event or a reject reason each, or `BadObject` with a one-line reason. Anything else (another
exception, a record that vanished between decode and normalize) is a crash libFuzzer saves in
fuzz/crashes/. Complements the Hypothesis tests in tests/reliability, which are bounded to run
in `make test`; this one runs for a fixed time and keeps a growing corpus.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import orjson

    from trailhound.normalize import records_relation
    from trailhound.sources.decode import BadObject, decode, decode_strict
    from trailhound.store.engine import new_connection

CONN = new_connection(memory_limit="256MB", threads=1)
RUNS = [0]
REJECTS = ("record larger than", "record is not a JSON object", "record has no eventID",
           "record has no eventTime", "eventTime is not an ISO-8601 timestamp")


def one_input(data: bytes) -> None:
    try:
        dec = decode(data, name="fuzz", max_bytes=8 * 1024 * 1024)
        try:
            records = orjson.loads(dec.array)
        except orjson.JSONDecodeError:
            dec = decode_strict(data, name="fuzz", max_bytes=8 * 1024 * 1024)
            records = orjson.loads(dec.array)
    except BadObject as e:
        assert e.reason and "\n" not in e.reason
        return
    assert isinstance(records, list) and b"\n" not in dec.array
    for br in dec.bad_records:
        assert br.reason and "\n" not in br.reason
    if not records:
        return
    try:
        texts = [orjson.dumps(r).decode() for r in records]
    except orjson.JSONEncodeError:
        return  # orjson parsed it but will not re-encode (nesting > 255): ingest keeps bytes
    global CONN
    RUNS[0] += 1
    if RUNS[0] % 2000 == 0:  # a fresh connection now and then keeps the RSS flat
        CONN.close()
        CONN = new_connection(memory_limit="256MB", threads=1)
    rows = records_relation(CONN, texts).project("i, reject, event_id").fetchall()
    assert sorted(r[0] for r in rows) == list(range(len(records))), "a record vanished"
    for _, reject, event_id in rows:
        assert (reject is None and event_id) or (reject or "").startswith(REJECTS), reject


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
