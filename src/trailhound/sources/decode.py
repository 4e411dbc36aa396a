"""Bytes of one log object -> one line of JSON holding its records, or a reason to quarantine.

The ingest hands DuckDB one NDJSON line per object, `{"f": <id>, "r": [<records>]}`, so that
records are parsed in C++ and never walked in Python. This module only decides, from cheap
byte checks, how to turn an object into that array:

- CloudTrail's own files are `{"Records":[...]}` on one line: the wrapper is sliced off.
- A one-line JSON array of records (Stratus Red Team captures, exports) passes as it is.
- NDJSON (one record a line) is joined into an array.
- Anything else (pretty-printed files, a single record, odd wrappers) is parsed with orjson.

The fast paths are optimistic: if a sliced or joined array is not valid JSON, DuckDB rejects
the batch, the ingest narrows the failure down to the object, and `decode_strict` parses it
record by record here, quarantining only what is really broken.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

import orjson

# A gzip bomb expands a few kB into gigabytes; CloudTrail objects are tens of MB at most.
DEFAULT_MAX_OBJECT_BYTES = 1024 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_RECORDS_PREFIX = b'{"Records":'


class BadObject(Exception):
    """The whole object is unreadable; `reason` is the one line shown to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class BadRecord:
    """A record refused (quarantined) or, when `reason` starts with `REPAIRED`, loaded with
    a field repaired; either way its original text is kept in the quarantine."""

    position: str  # "record 12" or "line 40 (byte 8812)"
    reason: str
    text: bytes

    @property
    def repaired(self) -> bool:
        return self.reason.startswith(REPAIRED)


# The reason of a record loaded with fields repaired: it travels with the refused ones (same
# quarantine, same path through both engines) and is counted apart from them.
REPAIRED = "repaired: "


@dataclass
class Decoded:
    array: bytes  # a JSON array of records, no newline inside
    format: str  # cloudtrail | array | ndjson | parsed
    bad_records: list[BadRecord] = field(default_factory=list)
    raw_bytes: int = 0  # decompressed size, for MB/s figures


def decompress(data: bytes, *, name: str, max_bytes: int = DEFAULT_MAX_OBJECT_BYTES) -> bytes:
    """Gunzip when the bytes are gzip (by magic, not by name), capping the output size."""
    if data[:2] != b"\x1f\x8b":
        if len(data) > max_bytes:
            raise BadObject(f"object larger than {max_bytes} bytes")
        return data
    out: list[bytes] = []
    total = 0
    buf = data
    while buf:
        d = zlib.decompressobj(wbits=31)
        try:
            while buf:
                chunk = d.decompress(buf, max_bytes + 1 - total)
                out.append(chunk)
                total += len(chunk)
                if total > max_bytes:
                    raise BadObject(
                        f"gzip expands past {max_bytes} bytes (possible gzip bomb); not read"
                    )
                buf = d.unconsumed_tail
                if d.eof:
                    break
        except zlib.error as e:
            raise BadObject(f"corrupt gzip data after {total} bytes ({e})") from None
        if not d.eof:
            raise BadObject(f"truncated gzip: stream ends after {total} decompressed bytes")
        # Concatenated gzip members are legal; anything else after the stream is not ours.
        buf = d.unused_data
        if buf and buf[:2] != b"\x1f\x8b":
            if buf.strip(b"\x00") == b"":
                break
            raise BadObject(f"trailing garbage after gzip stream ({len(buf)} bytes)")
    return b"".join(out)


def decode(data: bytes, *, name: str, max_bytes: int = DEFAULT_MAX_OBJECT_BYTES) -> Decoded:
    """Fast path: turn an object into a JSON array of records with byte operations only."""
    raw = decompress(data, name=name, max_bytes=max_bytes)
    text = raw[3:] if raw.startswith(_BOM) else raw
    text = text.strip()
    if not text:
        return Decoded(array=b"[]", format="empty", raw_bytes=len(raw))
    one_line = b"\n" not in text
    if one_line and text.startswith(_RECORDS_PREFIX) and text.endswith(b"]}"):
        return Decoded(array=text[len(_RECORDS_PREFIX):-1], format="cloudtrail",
                       raw_bytes=len(raw))
    if one_line and text.startswith(b"[") and text.endswith(b"]"):
        return Decoded(array=text, format="array", raw_bytes=len(raw))
    if not one_line and text.startswith(b"{") and not text.startswith(_RECORDS_PREFIX):
        first, _, _ = text.partition(b"\n")
        first = first.strip()
        if first.endswith(b"}") and _is_json(first):
            lines = [ln.strip() for ln in text.split(b"\n")]
            return Decoded(array=b"[" + b",".join(ln for ln in lines if ln) + b"]",
                           format="ndjson", raw_bytes=len(raw))
    return decode_strict(data, name=name, max_bytes=max_bytes, raw=raw)


def decode_strict(data: bytes, *, name: str, max_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
                  raw: bytes | None = None) -> Decoded:
    """Slow path: parse in Python, keep every good record, quarantine the bad ones."""
    if raw is None:
        raw = decompress(data, name=name, max_bytes=max_bytes)
    text = raw[3:] if raw.startswith(_BOM) else raw
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        if _looks_ndjson(text):
            return _decode_ndjson_lines(text, raw_len=len(raw))
        doc = _loads_tolerant(text)
        if doc is None:
            raise BadObject(f"not valid JSON ({_short(e)})") from None
    records = _records_of(doc)
    if records is None:
        raise BadObject(_not_cloudtrail_reason(doc))
    good: list[bytes] = []
    bad: list[BadRecord] = []
    for n, rec in enumerate(records):
        dumped = _dumps(rec)
        if dumped is None:
            dumped = _repair(rec, f"record {n}", bad)
            if dumped is None:
                bad.append(BadRecord(f"record {n}", _UNENCODABLE, _escaped(rec)))
                continue
        if not isinstance(rec, dict):
            bad.append(BadRecord(f"record {n}", "record is not a JSON object", dumped))
            continue
        good.append(dumped)
    return Decoded(array=b"[" + b",".join(good) + b"]", format="parsed", bad_records=bad,
                   raw_bytes=len(raw))


def _decode_ndjson_lines(text: bytes, *, raw_len: int) -> Decoded:
    good: list[bytes] = []
    bad: list[BadRecord] = []
    offset = 0
    for lineno, line in enumerate(text.split(b"\n"), start=1):
        start = offset
        offset += len(line) + 1
        stripped = line.strip()
        if not stripped:
            continue
        try:
            rec = orjson.loads(stripped)
        except orjson.JSONDecodeError as e:
            rec = _loads_tolerant(stripped)
            if rec is None:
                bad.append(BadRecord(f"line {lineno} (byte {start})",
                                     f"not valid JSON ({_short(e)})", stripped))
                continue
        inner = _records_of(rec) if isinstance(rec, dict) and "Records" in rec else None
        for r in inner if inner is not None else [rec]:
            dumped = _dumps(r)
            if dumped is None and isinstance(r, dict):
                dumped = _repair(r, f"line {lineno} (byte {start})", bad)
            if dumped is None:
                bad.append(BadRecord(f"line {lineno} (byte {start})", _UNENCODABLE, stripped))
            elif isinstance(r, dict):
                good.append(dumped)
            else:
                bad.append(BadRecord(f"line {lineno} (byte {start})",
                                     "record is not a JSON object", stripped))
    return Decoded(array=b"[" + b",".join(good) + b"]", format="ndjson", bad_records=bad,
                   raw_bytes=raw_len)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _repair(rec: object, position: str, bad: list[BadRecord]) -> bytes | None:
    """A record whose only fault is unencodable text (a lone surrogate escape, bytes that are
    not UTF-8): each such string becomes U+FFFD in place, the record is loaded, and its
    original goes to the quarantine as repaired. An attacker who controls one field (a user
    agent, an object key) must not be able to take the whole record out of the analysis."""
    if not isinstance(rec, dict):
        return None
    paths: list[str] = []

    def fix(v: object, path: str) -> object:
        if isinstance(v, str):
            if _SURROGATE.search(v):
                paths.append(path or "(record)")
                return _SURROGATE.sub("\ufffd", v)
            return v
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                key = fix(k, path) if isinstance(k, str) else k
                out[key] = fix(x, f"{path}.{key}" if path else str(key))
            return out
        if isinstance(v, list):
            return [fix(x, f"{path}[{i}]") for i, x in enumerate(v)]
        return v

    fixed = fix(rec, "")
    dumped = _dumps(fixed)
    if dumped is None or not paths:
        return None
    fields = ", ".join(dict.fromkeys(p.split("[")[0] for p in paths))[:300]
    bad.append(BadRecord(position, f"{REPAIRED}{fields}: text no JSON parser accepts (a lone "
                         "surrogate or invalid UTF-8) replaced with U+FFFD; record loaded",
                         _escaped(rec)))
    return dumped


_UNENCODABLE = ("record holds text no JSON parser accepts (invalid UTF-8 or a lone "
                "surrogate); kept here, its neighbours loaded")


def _loads_tolerant(text: bytes) -> object | None:
    """Parse what orjson refuses only because of one bad string (invalid UTF-8, a lone
    surrogate escape, a raw control character), so that one hostile field cannot hide the
    other records of its object. Invalid bytes become lone surrogates, which `_dumps` then
    refuses for that record alone."""
    import json

    try:
        return json.loads(text.decode("utf-8", errors="surrogateescape"), strict=False)
    except (ValueError, RecursionError):
        return None


def _dumps(rec: object) -> bytes | None:
    try:
        return orjson.dumps(rec)
    except (orjson.JSONEncodeError, TypeError):
        return None


def _escaped(rec: object) -> bytes:
    import json

    return json.dumps(rec, ensure_ascii=True).encode()


def _records_of(doc: object) -> list | None:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        recs = doc.get("Records")
        if isinstance(recs, list):
            return recs
        if "eventID" in doc or "eventName" in doc or "eventVersion" in doc:
            return [doc]
    return None


def _not_cloudtrail_reason(doc: object) -> str:
    if isinstance(doc, dict):
        keys = ", ".join(sorted(str(k) for k in doc)[:5])
        return f"JSON but not CloudTrail: no Records array (top-level keys: {keys})"
    return f"JSON but not CloudTrail: top level is {type(doc).__name__}"


def _looks_ndjson(text: bytes) -> bool:
    first = text.lstrip().partition(b"\n")[0].strip()
    return first.startswith(b"{") and first.endswith(b"}") and b"\n" in text.strip()


def _is_json(b: bytes) -> bool:
    try:
        orjson.loads(b)
    except orjson.JSONDecodeError:
        return False
    return True


def _short(e: Exception) -> str:
    return str(e).splitlines()[0][:160]
