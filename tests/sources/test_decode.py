"""decode: every delivery format becomes one JSON array; broken objects get one-line reasons."""

from __future__ import annotations

import gzip
import json
import zlib

import orjson
import pytest

from trailhound.sources.decode import BadObject, decode, decode_strict, decompress

REC = {"eventID": "1", "eventTime": "2026-03-19T10:00:00Z", "eventName": "ListUsers"}
REC2 = {"eventID": "2", "eventTime": "2026-03-19T10:00:01Z", "eventName": "GetUser"}


def records_of(data: bytes) -> list:
    return orjson.loads(decode(data, name="x").array)


def test_cloudtrail_file_fast_path():
    d = decode(gzip.compress(json.dumps({"Records": [REC, REC2]}, separators=(",", ":"))
                             .encode()), name="x")
    assert d.format == "cloudtrail"
    assert orjson.loads(d.array) == [REC, REC2]


@pytest.mark.parametrize(
    "payload",
    [
        json.dumps({"Records": [REC, REC2]}, indent=2),  # pretty
        json.dumps({"Records": [REC, REC2]}),  # spaces after colons
        json.dumps([REC, REC2]),  # a JSON list (Stratus captures)
        json.dumps([REC, REC2], indent=1),
        json.dumps(REC) + "\n" + json.dumps(REC2) + "\n",  # NDJSON
        "\r\n".join([json.dumps(REC), json.dumps(REC2)]),  # NDJSON with CRLF
        "\ufeff" + json.dumps({"Records": [REC, REC2]}),  # BOM
    ],
    ids=["pretty", "spaced", "list", "pretty-list", "ndjson", "ndjson-crlf", "bom"],
)
def test_formats(payload):
    assert records_of(payload.encode()) == [REC, REC2]
    assert records_of(gzip.compress(payload.encode())) == [REC, REC2]


def test_single_record_object():
    assert records_of(json.dumps(REC, indent=2).encode()) == [REC]


def test_empty_object_is_empty_not_an_error():
    assert decode(b"  \n", name="x").format == "empty"


def test_truncated_gzip():
    data = gzip.compress(json.dumps({"Records": [REC] * 500}).encode())
    with pytest.raises(BadObject, match="truncated gzip"):
        decode(data[: len(data) // 2], name="x")


def test_corrupt_gzip():
    data = bytearray(gzip.compress(json.dumps({"Records": [REC] * 50}).encode()))
    data[20:40] = b"\x00" * 20
    with pytest.raises(BadObject, match="gzip"):
        decode(bytes(data), name="x")


def test_gzip_bomb_is_capped():
    bomb = gzip.compress(b"\x00" * (8 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 64 * 1024
    with pytest.raises(BadObject, match="gzip bomb"):
        decompress(bomb, name="x", max_bytes=1024 * 1024)


def test_concatenated_gzip_members():
    data = gzip.compress(b'{"Records":[') + gzip.compress(json.dumps(REC).encode() + b"]}")
    assert records_of(data) == [REC]


def test_not_json():
    with pytest.raises(BadObject, match="not valid JSON"):
        decode(b"<html>hello</html>", name="x")


def test_json_but_not_cloudtrail():
    with pytest.raises(BadObject, match="not CloudTrail"):
        decode(json.dumps({"foo": 1, "bar": [1]}).encode(), name="x")


def test_invalid_utf8_is_repaired_in_its_field_and_the_record_loaded():
    data = (b'{"Records":[{"eventID":"1"},{"eventID":"\xff\xfe","eventTime":"x"},'
            b'{"eventID":"3","userAgent":"a\x01b"}]}')
    d = decode_strict(data, name="x")
    records = orjson.loads(d.array)
    assert [r["eventID"] for r in records] == ["1", "\ufffd\ufffd", "3"]
    assert records[2]["userAgent"] == "a\x01b"  # a raw control char is kept
    (fixed,) = d.bad_records
    assert fixed.repaired and fixed.position == "record 1"
    assert "eventID" in fixed.reason and "invalid UTF-8" in fixed.reason
    assert b"\\udcff" in fixed.text  # the original bytes stay visible in the quarantine


def test_a_lone_surrogate_is_replaced_field_by_field_never_the_record_dropped():
    data = (b'[{"eventID":"1"},{"eventID":"2","userAgent":"x\\ud800y",'
            b'"requestParameters":{"key":"\\udfff","ok":"\\ud83d\\ude00"}}]')
    d = decode_strict(data, name="x")
    records = orjson.loads(d.array)
    assert [r["eventID"] for r in records] == ["1", "2"]
    assert records[1]["userAgent"] == "x\ufffdy"
    assert records[1]["requestParameters"] == {"key": "\ufffd", "ok": "\U0001f600"}
    (fixed,) = d.bad_records
    assert fixed.repaired and fixed.reason.startswith(
        "repaired: userAgent, requestParameters.key: ")


def test_what_cannot_be_repaired_is_still_refused():
    # Not a record at all: nothing to repair field by field.
    d = decode_strict(b'[{"eventID":"1"},"x\\ud800"]', name="x")
    assert [r["eventID"] for r in orjson.loads(d.array)] == ["1"]
    (bad,) = d.bad_records
    assert not bad.repaired and bad.position == "record 1"


def test_ndjson_bad_line_quarantined_with_offset():
    text = (json.dumps(REC) + "\n{not json\n" + json.dumps(REC2) + "\n").encode()
    d = decode_strict(text, name="x")
    assert orjson.loads(d.array) == [REC, REC2]
    assert len(d.bad_records) == 1
    assert d.bad_records[0].position.startswith("line 2 (byte ")
    assert "not valid JSON" in d.bad_records[0].reason


def test_non_object_records_are_refused_one_by_one():
    d = decode_strict(json.dumps({"Records": [REC, 5, "x"]}).encode(), name="x")
    assert orjson.loads(d.array) == [REC]
    assert [b.position for b in d.bad_records] == ["record 1", "record 2"]


def test_raw_deflate_is_not_mistaken_for_gzip():
    assert decompress(zlib.compress(b"x"), name="x")[:1] == b"x"  # no gzip magic: as-is
