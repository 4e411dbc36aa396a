"""Record shapes against real CloudTrail records (Stratus Red Team detonations): for every
event name and identity type both have, the simulator writes at least the fields AWS wrote."""

from __future__ import annotations

import json

from .conftest import distinct

OPTIONAL = {"errorCode", "errorMessage", "resources", "additionalEventData", "sharedEventID",
            "vpcEndpointId", "vpcEndpointAccountId", "sessionCredentialFromConsole",
            "apiVersion"}


def _shape(r: dict) -> tuple[frozenset, frozenset, frozenset]:
    ident = r["userIdentity"]
    ctx = ident.get("sessionContext") or {}
    # ec2RoleDelivery marks instance-profile sessions only: whether it appears depends on who
    # called, not on the event's shape.
    return (frozenset(set(r) - OPTIONAL), frozenset(ident),
            frozenset(set(ctx) - {"ec2RoleDelivery"}))


def test_shapes_match_real_records(fixtures_dir, corpus):
    real: dict[tuple[str, str], list[dict]] = {}
    for f in sorted((fixtures_dir / "stratus-detonations").glob("*.json")):
        for r in json.loads(f.read_text()):
            if not r.get("errorCode"):
                real.setdefault((r["eventName"], r["userIdentity"]["type"]), []).append(r)
    ours: dict[tuple[str, str], dict] = {}
    for scenario in ("full", "cross-account"):
        for r in distinct(corpus(scenario)[0]).values():
            if not r.get("errorCode"):
                ours.setdefault((r["eventName"], r["userIdentity"]["type"]), r)
    common = sorted(set(real) & set(ours))
    assert len(common) >= 5, common
    assert ("CreateAccessKey", "IAMUser") in common and ("AssumeRole", "IAMUser") in common
    for k in common:
        top, ident, ctx = _shape(ours[k])
        for rr in real[k]:
            rtop, rident, rctx = _shape(rr)
            assert rtop <= top, (k, sorted(rtop - top))
            assert rident <= ident, (k, sorted(rident - ident))
            assert rctx <= ctx, (k, sorted(rctx - ctx))
