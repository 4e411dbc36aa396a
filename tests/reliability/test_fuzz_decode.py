"""Property-based fuzzing of `sources.decode`: whatever bytes an attacker (or a broken disk)
puts in a log object, decoding either yields a JSON array of records or raises `BadObject`
with a one-line reason. Never another exception, never a hang, never a record lost between
the input and the array-plus-refusals that ingest hands to DuckDB.

Why this matters: decode is the first code that touches attacker-controlled bytes, and its
fast paths slice bytes without parsing them (see decode.py), which is exactly where an
off-by-one or an unexpected shape could silently drop records.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reliability.helpers import time_limit
from trailhound.sources.decode import BadObject, Decoded, decode, decode_strict

FUZZ = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

# Prefixes that steer arbitrary bytes into each of decode's branches.
PREFIXES = [b"", b"\x1f\x8b", b"\xef\xbb\xbf", b'{"Records":', b"[", b"{", b'{"eventID":"a"}\n']

json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=5),
    max_leaves=30,
)


def decode_like_ingest(data: bytes) -> Decoded:
    """decode(), then what ingest does when DuckDB refuses the optimistic array: strict."""
    dec = decode(data, name="fuzz")
    try:
        orjson.loads(dec.array)
    except orjson.JSONDecodeError:
        dec = decode_strict(data, name="fuzz")
    return dec


def check_decoded(dec: Decoded) -> None:
    assert isinstance(dec.array, bytes)
    assert b"\n" not in dec.array, "the array must be one NDJSON line for the batch file"
    for br in dec.bad_records:
        assert br.reason and "\n" not in br.reason and br.position


@FUZZ
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=2048))
@example(prefix=b'{"Records":', body=b"]}")
@example(prefix=b"", body=b"\x1f\x8b" + b"\x00" * 20)
def test_arbitrary_bytes_decode_or_refuse_with_a_reason(prefix: bytes, body: bytes) -> None:
    data = prefix + body
    with time_limit(10, "decode"):
        try:
            dec = decode_like_ingest(data)
        except BadObject as e:
            assert e.reason and "\n" not in e.reason
            return
    check_decoded(dec)
    # What decode calls good must be a JSON array (ingest would otherwise lose it silently).
    assert isinstance(orjson.loads(dec.array), list)


@FUZZ
@given(body=st.binary(max_size=2048))
def test_gzip_is_transparent(body: bytes) -> None:
    """Gzipped or not, the same bytes give the same records or the same refusal."""
    def outcome(data: bytes) -> tuple[str, Any]:
        try:
            d = decode_like_ingest(data)
        except BadObject as e:
            return ("bad", e.reason)
        return ("ok", (d.array, [(b.position, b.reason) for b in d.bad_records]))

    if body[:2] == b"\x1f\x8b":
        return  # already gzip by magic: compressing it again is a different object
    assert outcome(gzip.compress(body)) == outcome(body)


@settings(max_examples=60, deadline=2000)
@given(records=st.lists(json_values, min_size=1, max_size=5), cut=st.integers(min_value=1))
def test_truncated_gzip_is_refused_never_half_read(records: list[Any], cut: int) -> None:
    """A gzip object cut anywhere (an interrupted upload) is refused whole, with a reason;
    ingest quarantines it and re-reads it once it is complete, instead of storing half."""
    data = gzip.compress(json.dumps({"Records": records}).encode())
    cut = cut % (len(data) - 2) + 2  # at least the magic, so it is still gzip
    try:
        decode(data[:cut], name="cut")
    except BadObject as e:
        assert "gzip" in e.reason
    else:
        raise AssertionError(f"gzip cut at {cut} of {len(data)} bytes was accepted")


def layouts(records: list[Any]) -> dict[str, bytes]:
    """The same records in every layout trailhound reads."""
    return {
        "cloudtrail": orjson.dumps({"Records": records}),
        "cloudtrail-pretty": json.dumps({"Records": records}, indent=2).encode(),
        "array": orjson.dumps(records),
        "ndjson": b"\n".join(orjson.dumps(r) for r in records) + b"\n",
    }


@FUZZ
@given(records=st.lists(json_values, max_size=8), layout=st.sampled_from(
    ["cloudtrail", "cloudtrail-pretty", "array", "ndjson"]))
def test_every_record_is_kept_or_refused_with_a_reason(records: list[Any], layout: str
                                                       ) -> None:
    """Counts add up: records in the array + records refused == records in the object.

    (NDJSON is only counted when its first record is an object: that is how NDJSON is told
    apart from other text; otherwise the object may be refused whole, with a reason.)"""
    data = layouts(records)[layout]
    try:
        dec = decode_like_ingest(data)
    except BadObject as e:
        assert e.reason
        # Refusing a whole object is allowed only when it is not CloudTrail-shaped at all.
        assert layout == "ndjson" or not records, e.reason
        return
    check_decoded(dec)
    kept = orjson.loads(dec.array)
    if layout == "ndjson" and records and (not isinstance(records[0], dict) or any(
            isinstance(r, dict) and isinstance(r.get("Records"), list) for r in records)):
        return  # not told apart from an array file, or lines that are themselves wrappers
    assert len(kept) + len(dec.bad_records) == len(records), (layout, dec.format)
