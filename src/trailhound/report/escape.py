"""Escaping for every output format a log string can reach.

Log fields are written by the attacker: a user agent can carry Markdown links or images, a
bucket name HTML, a key name `=cmd|...` for a spreadsheet, any of them terminal escapes or
bidi overrides. Each renderer escapes through here, never ad hoc.
"""

from __future__ import annotations

import re

from trailhound.termsafe import safe

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&])")
_IPV4 = re.compile(r"^(\d{1,3}\.\d{1,3}\.\d{1,3})\.(\d{1,3})$")


def md(text: object, *, limit: int | None = 300) -> str:
    """Markdown inline text: control characters made visible, every markup character escaped,
    newlines folded, so the value renders as the literal it is and never as a link or tag."""
    s = safe(text, limit=limit)
    return _MD_SPECIAL.sub(r"\\\1", s)


def md_code(text: object, *, limit: int | None = 300) -> str:
    """A literal inside a code span, for identifiers (keys, ARNs). Backticks cannot close it:
    the span's fence is longer than any backtick run in the value. `|` is escaped because
    GFM ends a table cell at a pipe even inside a code span (and renders `\\|` there as `|`)."""
    s = safe(text, limit=limit).replace("|", "\\|")  # GFM splits table cells even in code
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def defang(value: object) -> str:
    """Indicators made unclickable for human-readable reports: 203.0.113[.]7, hxxp://a[.]b."""
    s = safe(value)
    m = _IPV4.match(s)
    if m:
        return f"{m.group(1)}[.]{m.group(2)}"
    if ":" in s and re.fullmatch(r"[0-9A-Fa-f:]+", s):
        return s.replace(":", "[:]")
    s = re.sub(r"(?i)^http", "hxxp", s)
    return re.sub(r"\.(?=[A-Za-z]{2,}\b)", "[.]", s)


_PLAIN_INDICATOR = re.compile(r"[0-9A-Za-z.:\[\]]*")


def md_defang(value: object) -> str:
    """`defang` for Markdown: an address stays readable (`203.0.113[.]7`); anything else a
    log could put where an address belongs (a tag, a link) is escaped as well."""
    s = defang(value)
    return s if _PLAIN_INDICATOR.fullmatch(s) else md(s, limit=None)


def csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not evaluate (OWASP: prefix formula starters)."""
    s = "" if value is None else str(value)
    if s[:1] in ("=", "+", "-", "@", "\t", "\r"):
        s = "'" + s
    return s
