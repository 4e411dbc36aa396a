"""stix.json: the hunt's indicators as a STIX 2.1 bundle for CERTs and threat-intel platforms.

Built with the `stix2` library, which validates every object as it is made (required
properties, types, references), and then parsed back strictly (`allow_custom=False`) before it
is written. Per incident:

- `identity` of the producer (trailhound) and one per AWS account where activity was sighted;
- `incident` (a STIX 2.1 stub: name, description, external reference to the incident id);
- `indicator`s with STIX patterns: attacker IPs (`ipv4-addr`/`ipv6-addr`), user agents
  (`network-traffic` HTTP request header, the spec's place for a User-Agent), access keys;
- access keys as `user-account` observables (`user_id` = the key id, `account_login` = the IAM
  user, `account_type` `aws-access-key`): STIX has no credential object; a key identifies one
  IAM identity's programmatic login, which is what `user-account` describes, and the secret
  (`credential`) is never known nor shared. Standard objects only, no custom extension, so
  any STIX consumer can read them;
- `attack-pattern`s with ATT&CK external references;
- `observed-data` wrapping the observables, `sighting`s of each indicator (first/last seen,
  count, where sighted), and `relationship`s: indicator `indicates` attack-pattern, and
  incident `related-to` each indicator and attack pattern.

Ids are UUIDv5 of the incident and value, so a re-run updates the same objects in a TIP
instead of duplicating them. Pattern values are escaped per the STIX patterning grammar
(backslash and quote).
"""

from __future__ import annotations

import ipaddress
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import stix2

from trailhound.report.attack import technique_name, technique_url

if TYPE_CHECKING:
    from trailhound.correlate.incident import Incident
    from trailhound.hunt import HuntResult

NAMESPACE = uuid.UUID("5d6f4c1e-3b0e-4f55-9a57-7472616968f1")  # trailhound's, fixed forever
PRODUCER_ID = f"identity--{uuid.uuid5(NAMESPACE, 'trailhound')}"


def pattern_literal(value: str) -> str:
    """A STIX pattern string literal: `'...'` with `\\` and `'` escaped (STIX 2.1 Patterning,
    "String literals")."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _id(kind: str, *parts: str) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, '|'.join((kind, *parts)))}"


def _when(t: datetime | None, default: datetime) -> datetime:
    return (t or default).replace(tzinfo=UTC)


def build_bundle(result: HuntResult, *, now: datetime | None = None) -> stix2.Bundle:
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    producer = stix2.Identity(id=PRODUCER_ID, name="trailhound", identity_class="system",
                              description="CloudTrail stolen-key hunter", created=now,
                              modified=now)
    objects: list[Any] = [producer]
    for inc in result.incidents:
        objects += _incident_objects(inc, producer, now)
    return stix2.Bundle(objects=objects, id=_id("bundle", *[i.id for i in result.incidents],
                                                  now.isoformat()))


def _incident_objects(inc: Incident, producer: stix2.Identity, now: datetime) -> list[Any]:
    first, last = _when(inc.first_seen, now), _when(inc.last_seen, now)
    common = {"created_by_ref": producer.id, "created": now, "modified": now}
    out: list[Any] = []
    accounts = [stix2.Identity(id=_id("identity", "aws-account", a), name=f"AWS account {a}",
                               identity_class="organization", **common)
                for a in inc.accounts]
    out += accounts
    incident = stix2.Incident(
        id=_id("incident", inc.id), name=inc.title or inc.id,
        description=(f"Severity {inc.severity} (confidence {inc.confidence:.2f}). Attacker "
                     f"activity {first:%Y-%m-%dT%H:%M:%SZ} to {last:%Y-%m-%dT%H:%M:%SZ}; "
                     f"stages: {', '.join(inc.stages)}; {inc.bytes_out} bytes read from "
                     f"{len(inc.buckets)} S3 bucket(s)."),
        external_references=[{"source_name": "trailhound", "external_id": inc.id}], **common)
    out.append(incident)

    patterns = [stix2.AttackPattern(
        id=_id("attack-pattern", tid), name=technique_name(tid),
        external_references=[{"source_name": "mitre-attack", "external_id": tid,
                              "url": technique_url(tid)}], **common) for tid in inc.techniques]
    out += patterns

    indicators: list[tuple[stix2.Indicator, list[Any]]] = []
    for ip in inc.source_ips:
        kind = _address_kind(ip)
        sco = {"ipv4-addr": stix2.IPv4Address, "ipv6-addr": stix2.IPv6Address,
               "domain-name": stix2.DomainName}[kind](value=ip)
        indicators.append((stix2.Indicator(
            id=_id("indicator", inc.id, "ip", ip), name=f"Attacker IP address {ip}",
            pattern=f"[{kind}:value = {pattern_literal(ip)}]", pattern_type="stix",
            valid_from=first, indicator_types=["malicious-activity"], **common), [sco]))
    for ua in inc.user_agents:
        header = "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'"
        indicators.append((stix2.Indicator(
            id=_id("indicator", inc.id, "ua", ua), name="Attacker user agent",
            description=ua, pattern=f"[{header} = {pattern_literal(ua)}]",
            pattern_type="stix", valid_from=first, indicator_types=["malicious-activity"],
            **common), []))
    users = {k: u for k, u in inc.created_keys}
    for key in inc.access_keys:
        login = users.get(key) or _owner(inc, key)
        sco = stix2.UserAccount(user_id=key, account_type="aws-access-key",
                                account_login=login, display_name=login)
        indicators.append((stix2.Indicator(
            id=_id("indicator", inc.id, "key", key), name=f"Compromised AWS access key {key}",
            pattern=f"[user-account:user_id = {pattern_literal(key)}]", pattern_type="stix",
            valid_from=first, indicator_types=["compromised"], **common), [sco]))

    where = [a.id for a in accounts] or [producer.id]
    for ind, scos in indicators:
        out.append(ind)
        out += scos
        obs_refs = []
        if scos:
            obs = stix2.ObservedData(
                id=_id("observed-data", ind.id), first_observed=first, last_observed=last,
                number_observed=1, object_refs=[s.id for s in scos], **common)
            out.append(obs)
            obs_refs = [obs.id]
        out.append(stix2.Sighting(
            id=_id("sighting", ind.id), sighting_of_ref=ind.id, first_seen=first,
            last_seen=last, count=max(1, inc.attacker_events), where_sighted_refs=where,
            observed_data_refs=obs_refs or None, **common))
        out.append(stix2.Relationship(
            id=_id("relationship", incident.id, ind.id), relationship_type="related-to",
            source_ref=incident.id, target_ref=ind.id, **common))
        for ap in patterns:
            out.append(stix2.Relationship(
                id=_id("relationship", ind.id, ap.id), relationship_type="indicates",
                source_ref=ind.id, target_ref=ap.id, **common))
    for ap in patterns:
        out.append(stix2.Relationship(
            id=_id("relationship", incident.id, ap.id), relationship_type="related-to",
            source_ref=incident.id, target_ref=ap.id, **common))
    return out


def _owner(inc: Incident, key: str) -> str | None:
    if key == inc.root_access_key:
        created = {u for _, u in inc.created_keys}
        return next((p.rsplit("/", 1)[-1] for p in inc.principals
                     if ":user/" in p and p.rsplit("/", 1)[-1] not in created), None)
    return None


def _address_kind(value: str) -> str:
    """CloudTrail's sourceIPAddress is an address, or a service name for calls AWS made."""
    try:
        return "ipv6-addr" if ipaddress.ip_address(value).version == 6 else "ipv4-addr"
    except ValueError:
        return "domain-name"


def render_stix(result: HuntResult, *, now: datetime | None = None) -> str:
    """The bundle as JSON, after a strict parse proves it is valid STIX 2.1."""
    bundle = build_bundle(result, now=now)
    text = bundle.serialize(pretty=True)
    stix2.parse(text, allow_custom=False)
    return text + "\n"
