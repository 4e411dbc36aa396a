"""How an event's origin is compared: source network and user-agent family, as SQL.

One legitimate CI runner pool spans a few addresses of one /24; a stolen key's new user sits
elsewhere. So attribution compares IPv4 /24 and IPv6 /48 networks, not single addresses, and
keeps AWS-internal origins ("ec2.amazonaws.com", "AWS Internal") as their own names, since a
service acting for the key is neither the owner's network nor the attacker's.

User agents are reduced to a family (tool + execution environment) because versions change
with every CI image update while the tool and environment of legitimate use do not.
"""

from __future__ import annotations

# Regexes stay inside SQL so the computation runs in the engine over millions of rows.
NETWORK_SQL = """CASE
    WHEN {ip} IS NULL OR {ip} = '' THEN 'unknown'
    WHEN regexp_full_match({ip}, '\\d{{1,3}}\\.\\d{{1,3}}\\.\\d{{1,3}}\\.\\d{{1,3}}')
        THEN regexp_extract({ip}, '^(\\d+\\.\\d+\\.\\d+)\\.', 1) || '.0/24'
    WHEN contains({ip}, ':') AND NOT contains({ip}, '.amazonaws.com')
        THEN array_to_string(list_slice(string_split(lower({ip}), ':'), 1, 3), ':') || '::/48'
    ELSE lower({ip})
END"""

# Ordered: first match wins. Validators and offensive tools first, since they often embed
# another tool's agent (TruffleHog reports the Go SDK as well).
_FAMILIES: tuple[tuple[str, str], ...] = (
    ("trufflehog", "trufflehog"),
    ("pacu", "pacu"),
    ("scoutsuite", "scoutsuite"),
    ("prowler", "prowler"),
    ("stratus-red-team", "stratus-red-team"),
    ("cloudfox", "cloudfox"),
    ("kali", "kali"),
    ("parrot", "parrot"),
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
    ("python-requests", "python-requests"),
    ("curl/", "curl"),
    ("go-http-client", "go-http-client"),
    ("mozilla/", "browser"),
)


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def network_sql(ip: str = "source_ip") -> str:
    return NETWORK_SQL.format(ip=ip)


def ua_family_sql(ua: str = "user_agent") -> str:
    """Tool family plus the `exec-env/...` marker when present (CI runners set it)."""
    whens = " ".join(f"WHEN contains(lower({ua}), {_lit(k)}) THEN {_lit(v)}"
                     for k, v in _FAMILIES)
    tool = (f"CASE WHEN {ua} IS NULL OR {ua} = '' THEN 'none' "
            f"WHEN ends_with(lower({ua}), '.amazonaws.com') THEN 'aws-service' {whens} "
            f"ELSE lower(regexp_extract({ua}, '^([A-Za-z0-9_.\\-]+)', 1)) END")
    env = f"regexp_extract({ua}, 'exec-env/([A-Za-z0-9_.\\-]+)', 1)"
    return f"({tool} || CASE WHEN {env} <> '' THEN '+' || {env} ELSE '' END)"


VALIDATOR_FAMILIES: frozenset[str] = frozenset(
    {"trufflehog", "pacu", "scoutsuite", "prowler", "stratus-red-team", "cloudfox", "kali",
     "parrot"})


def is_aws_origin(network: str) -> bool:
    """Origins that are AWS acting on the key's behalf, not a network anyone chose."""
    return network.endswith(".amazonaws.com") or network in ("aws internal", "unknown")
