"""YAML with line numbers, safely.

Workflow files are attacker-controlled (a pull request can change them), so they are only
ever *composed* with `yaml.SafeLoader` (no object construction, no tags that run code) and
turned into plain containers that remember where they came from:

- `LMap` (a dict with `line` and `key_lines`), `LList` (a list with `line`) and `LStr` (a
  str with `line`). Lines are 1-based, as editors and SARIF count.
- Every scalar stays a string (`null`/`~`/empty becomes None). This sidesteps YAML 1.1's
  `on:` -> True surprise and makes every check compare text with text.
- Anchors, aliases and `<<` merge keys (GitLab uses them a lot) are resolved; a node reached
  twice is converted once, so alias bombs cost nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

SAFE_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's C build of the *safe* loader when PyYAML has it (about 10x faster: 200 workflows
in well under a second), else the pure-Python `yaml.SafeLoader`. Both only compose nodes
here; neither can construct Python objects from tags. Tests check both give the same lines."""

MAX_BYTES = 2_000_000
"""Refuse bigger files: no real pipeline is that large, and a YAML bomb might be."""


class LStr(str):
    """A scalar with its line."""

    line: int
    block: bool
    __slots__ = ("block", "line")

    def line_at(self, offset: int) -> int:
        """The file line of character `offset` inside this scalar (block scalars start on
        the line after their `|`/`>` indicator; flow scalars are taken as one line)."""
        if not getattr(self, "block", False):
            return self.line
        return self.line + 1 + self.count("\n", 0, max(0, offset))


class LMap(dict[str, Any]):
    """A mapping with its own line and the line of each key."""

    line: int
    key_lines: dict[str, int]


class LList(list[Any]):
    """A sequence with its line."""

    line: int


class YamlError(ValueError):
    """The text is not YAML we can read; the message is one line."""


_NULLS = {"", "~", "null", "Null", "NULL"}


def _scalar(node: yaml.ScalarNode) -> LStr | None:
    if node.tag == "tag:yaml.org,2002:null" or (node.style is None and node.value in _NULLS):
        return None
    s = LStr(node.value)
    s.line = node.start_mark.line + 1
    s.block = node.style in ("|", ">")
    return s


def _convert(node: yaml.Node, memo: dict[int, Any]) -> Any:
    key = id(node)
    if key in memo:
        return memo[key]
    if isinstance(node, yaml.ScalarNode):
        out: Any = _scalar(node)
        memo[key] = out
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = LList()
        seq.line = node.start_mark.line + 1
        memo[key] = seq
        seq.extend(_convert(n, memo) for n in node.value)
        return seq
    if isinstance(node, yaml.MappingNode):
        m = LMap()
        m.line = node.start_mark.line + 1
        m.key_lines = {}
        memo[key] = m
        merges: list[LMap] = []
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                continue  # complex keys never appear in pipelines; skip rather than fail
            if knode.tag == "tag:yaml.org,2002:merge" or knode.value == "<<":
                v = _convert(vnode, memo)
                merges.extend(x for x in (v if isinstance(v, list) else [v])
                              if isinstance(x, LMap))
                continue
            k = str(knode.value)
            m[k] = _convert(vnode, memo)
            m.key_lines[k] = knode.start_mark.line + 1
        for src in merges:
            for k, v in src.items():
                if k not in m:
                    m[k] = v
                    m.key_lines[k] = src.key_lines.get(k, src.line)
        return m
    raise YamlError(f"unsupported YAML node {type(node).__name__}")


def load(text: str, *, loader: type | None = None) -> Any:
    """Compose `text` safely and return LMap/LList/LStr/None; raise `YamlError`."""
    if len(text) > MAX_BYTES:
        raise YamlError(f"file larger than {MAX_BYTES:,} bytes")
    try:
        node = yaml.compose(text, Loader=loader or SAFE_LOADER)
    except yaml.MarkedYAMLError as e:
        where = f"line {e.problem_mark.line + 1}: " if e.problem_mark else ""
        raise YamlError(f"{where}{' '.join(str(e.problem or e).split())}") from None
    except yaml.YAMLError as e:
        raise YamlError(" ".join(str(e).split())) from None
    except RecursionError:
        raise YamlError("nesting too deep") from None
    if node is None:
        return None
    try:
        return _convert(node, {})
    except RecursionError:
        raise YamlError("nesting too deep") from None


def line_of(value: Any, default: int = 1) -> int:
    """The line a converted value came from (`default` for None or plain values)."""
    return int(getattr(value, "line", default) or default)


def key_line(m: Any, key: str, default: int = 1) -> int:
    """The line of `key` in mapping `m` (else the mapping's line, else `default`)."""
    if isinstance(m, LMap):
        return m.key_lines.get(key, m.line)
    return default


def as_map(v: Any) -> LMap:
    """`v` if it is a mapping, else an empty one (so checks never crash on odd shapes)."""
    if isinstance(v, LMap):
        return v
    e = LMap()
    e.line = line_of(v)
    e.key_lines = {}
    return e


def as_list(v: Any) -> list[Any]:
    """`v` if a list, `[v]` for a single value, `[]` for None."""
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def text(v: Any) -> str:
    """Scalar as text; '' for None or containers."""
    return v if isinstance(v, str) else ""


def iter_strings(v: Any) -> Iterator[str]:
    """Every string inside `v`, visiting each container once: an alias-heavy document
    shares nodes, and walking it naively would expand a 'billion laughs' again."""
    seen: set[int] = set()
    stack = [v]
    while stack:
        x = stack.pop()
        if isinstance(x, str):
            yield x
        elif isinstance(x, (dict, list)):
            if id(x) in seen:
                continue
            seen.add(id(x))
            stack.extend(reversed(list(x.values() if isinstance(x, dict) else x)))
