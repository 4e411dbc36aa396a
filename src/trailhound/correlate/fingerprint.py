"""What a CloudTrail record says about where a call came from and what made it, as SQL.

A use context is (credential owner, network, client). The network is the IPv4 /24 or IPv6 /48
of the source address (one runner pool or office spans a few addresses of one), or the AWS
service acting for the credential ("ec2.amazonaws.com", "AWS Internal"), kept by name since a
service is neither the owner's network nor an attacker's. The client is the user agent's tool
family plus its execution environment (`exec-env/...`): versions change with every CI image,
the tool and the environment of legitimate use do not. Neither alone is trusted: attribution
compares both, and the behaviour, with the owner's history.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

import duckdb

from trailhound.correlate.policy import policy

# Regexes stay inside SQL so the computation runs in the engine over millions of rows.
NETWORK_SQL = """CASE
    WHEN {ip} IS NULL OR {ip} = '' THEN 'unknown'
    WHEN regexp_full_match({ip}, '\\d{{1,3}}\\.\\d{{1,3}}\\.\\d{{1,3}}\\.\\d{{1,3}}')
        THEN regexp_extract({ip}, '^(\\d+\\.\\d+\\.\\d+)\\.', 1) || '.0/24'
    WHEN contains({ip}, ':') AND NOT contains({ip}, '.amazonaws.com')
        THEN array_to_string(list_slice(string_split(lower({ip}), ':'), 1, 3), ':') || '::/48'
    ELSE lower({ip})
END"""

# Ordered: first match wins. Named tools (the policy's offensive and audit tools) come first,
# since they often embed another tool's agent (TruffleHog reports the Go SDK as well).
_FAMILIES: tuple[tuple[str, str], ...] = (
    ("signin.amazonaws.com", "console"),
    ("console.amazonaws.com", "console"),
    ("console.ec2.amazonaws.com", "console"),
    ("aws-internal", "aws-internal"),
    ("aws-cli/", "aws-cli"),
    ("boto3/", "boto3"),
    ("botocore/", "boto3"),
    ("aws-sdk-go", "aws-sdk-go"),
    ("aws-sdk-java", "aws-sdk-java"),
    ("aws-sdk-js", "aws-sdk-js"),
    ("aws-sdk-nodejs", "aws-sdk-js"),
    ("aws-sdk-dotnet", "aws-sdk-dotnet"),
    ("aws-sdk-ruby", "aws-sdk-ruby"),
    ("aws-sdk-php", "aws-sdk-php"),
    ("aws-sdk-rust", "aws-sdk-rust"),
    ("terraform", "terraform"),
    ("hashicorp", "terraform"),
    ("aws-cdk", "aws-cdk"),
    ("cloudformation", "cloudformation"),
    ("rclone", "rclone"),
    ("python-requests", "python-requests"),
    ("curl/", "curl"),
    ("go-http-client", "go-http-client"),
    ("mozilla/", "browser"),
)


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def network_sql(ip: str = "source_ip") -> str:
    return NETWORK_SQL.format(ip=ip)


def families() -> tuple[tuple[str, str], ...]:
    """(substring, family) in matching order: the policy's named tools, then the rest."""
    tools = sorted(policy().tools, key=lambda t: (-len(t), t))
    return tuple((t, t) for t in tools) + _FAMILIES


def client_sql(ua: str = "user_agent") -> str:
    """Tool family plus the `exec-env/...` marker when present (CI runners set it)."""
    whens = " ".join(f"WHEN contains(lower({ua}), {_lit(k)}) THEN {_lit(v)}"
                     for k, v in families())
    tool = (f"CASE WHEN {ua} IS NULL OR {ua} = '' THEN 'none' "
            f"WHEN ends_with(lower({ua}), '.amazonaws.com') THEN 'aws-service' {whens} "
            f"ELSE lower(regexp_extract({ua}, '^([A-Za-z0-9_.\\-]+)', 1)) END")
    env = f"regexp_extract({ua}, 'exec-env/([A-Za-z0-9_.\\-]+)', 1)"
    return f"({tool} || CASE WHEN {env} <> '' THEN '+' || {env} ELSE '' END)"


def ua_print_sql(ua: str = "user_agent") -> str:
    """The user agent without what changes call by call (the CLI's `command/...` or
    `md/command#...`, the SDK's `api/...`): the fingerprint of one installation, which the
    attacker's copy of a tool shows on every call and the owner's differs from."""
    return (f"trim(regexp_replace({ua}, '\\s(md/)?command[/#]\\S*|\\sapi/\\S*', '', 'g'))")


_DESKTOP = re.compile(r"(?i)\b(darwin/|windows(_nt)?/|os/macos|os/windows|macintosh)")


def is_desktop(fingerprint: str) -> bool:
    """A client installed on a desktop or laptop (macOS, Windows), not in a CI runner:
    somebody's own machine, which goes where its owner goes."""
    return bool(_DESKTOP.search(fingerprint)) and "exec-env/" not in fingerprint


def tool_of(client: str) -> str:
    """The tool part of a client family (`aws-cli+GitHubActions` -> `aws-cli`)."""
    return client.split("+", 1)[0]


def is_offensive(client: str) -> bool:
    return tool_of(client) in policy().offensive_tools


def is_audit_tool(client: str) -> bool:
    return tool_of(client) in policy().audit_tools


def is_ci_client(client: str) -> bool:
    """A client carrying a CI runner's execution environment."""
    _, _, env = client.partition("+")
    return bool(env) and any(env.lower() == e.lower() for e in policy().ci_envs)


def is_aws_origin(network: str) -> bool:
    """Origins that are AWS acting on the credential's behalf, not a network anyone chose."""
    return network.endswith(".amazonaws.com") or network in ("aws internal", "unknown")


@lru_cache(maxsize=65536)
def is_private(network: str) -> bool:
    """RFC 1918 and unique-local networks: reachable only from inside a VPC (VPC endpoints).
    Explicit ranges: Python's `is_private` also counts the documentation ranges, which real
    trails (and traps) use as public addresses."""
    base = network.split("/", 1)[0]
    try:
        addr = ipaddress.ip_address(base + "0" if base.endswith("::") else base)
    except ValueError:
        return False
    return any(addr in net for net in _PRIVATE if net.version == addr.version)


_PRIVATE = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))


def is_routable(network: str) -> bool:
    """An internet network someone chose to call from (not AWS's, not a VPC's)."""
    return not is_aws_origin(network) and not is_private(network)


def build_lookups(conn: duckdb.DuckDBPyConnection) -> None:
    """`fp_ua` (user agent -> fingerprint, client) and `fp_ip` (address -> network), over the
    distinct values of the store: a trail has a few thousand of each and millions of events,
    so the regexes run once per value, and every later question joins on them."""
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE fp_ua AS
        SELECT ua, {ua_print_sql('ua')} AS fp, {client_sql('ua')} AS cli
        FROM (SELECT DISTINCT user_agent AS ua FROM events WHERE user_agent IS NOT NULL)""")
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE fp_ip AS
        SELECT ip, {network_sql('ip')} AS net
        FROM (SELECT DISTINCT source_ip AS ip FROM events WHERE source_ip IS NOT NULL)""")
