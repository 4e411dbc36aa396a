"""Make attacker-controlled text harmless on a terminal.

User agents, bucket names and request parameters come from the log, which the attacker
writes. Printed raw they can move the cursor, rewrite earlier lines, set the window title or
reorder text with bidi overrides (so `evil.com` reads as `moc.live`). `safe` replaces every
C0/C1 control character, DEL, and the bidi/zero-width format characters with a visible
`\\uXXXX` escape, so what a responder reads is what the log holds.
"""

from __future__ import annotations

import re

import orjson

# C0 except tab, DEL, C1, and Unicode format characters that reorder or hide text.
_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)


def safe(text: object, *, limit: int | None = None, keep_end: bool = False) -> str:
    """Escape unsafe characters; cut to `limit` keeping the start (or the end, for paths)."""
    s = "" if text is None else str(text)
    s = _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", s)
    if limit is not None and len(s) > limit:
        s = "…" + s[-(limit - 1):] if keep_end else s[: max(0, limit - 1)] + "…"
    return s


# What JSON leaves raw (it escapes only C0) and a terminal, pager or log viewer acts on.
_JSON_UNSAFE = re.compile(
    "[\x7f-\x9f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]")


def json_bytes(obj: object, *, indent: bool = False) -> bytes:
    """JSON (orjson) with DEL, C1 and bidi / zero-width format characters written as
    `\\uXXXX` escapes: the same value to any JSON reader, inert when a responder `cat`s or
    `jq`s the file on a terminal. For every JSON output that holds log fields."""
    text = orjson.dumps(obj, option=orjson.OPT_INDENT_2 if indent else 0).decode()
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode()


def rich_safe(text: object, *, limit: int | None = None, keep_end: bool = False) -> str:
    """`safe`, and also escaped for Rich markup (a bucket named `[bold]` stays literal)."""
    from rich.markup import escape

    return escape(safe(text, limit=limit, keep_end=keep_end))
