"""`hunt`: ingest (when sources are given) + detect + correlate + report, in one go.

The output folder is the contract of CONTRACT.md: `incidents.json`, `alerts.ndjson`,
`evidence/<incident id>.ndjson`, `report.md` (and the other renderers as they exist). The
incidents are also kept in the store (`<store>/incidents.json`) so `investigate` and
`respond` can work from the store alone.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from trailhound.case import Case
from trailhound.case.write import write_case
from trailhound.correlate import Correlation, Incident, correlate
from trailhound.errors import ReportError, StoreError, UsageError
from trailhound.rules import DetectResult, load_rules
from trailhound.store.engine import Store
from trailhound.store.engines import Engine, open_engine
from trailhound.store.ingest import IngestStats
from trailhound.store.quarantine import damage_by_key
from trailhound.termsafe import json_bytes

SCHEMA_VERSION = 1
EVIDENCE_CHUNK = 20_000
SEVERITY_ORDER = ("low", "medium", "high", "critical")

EVIDENCE_FIELDS = (
    "event_id", "event_time", "event_name", "event_source", "account", "region",
    "access_key_id", "principal_arn", "source_ip", "user_agent", "error_code", "stage",
    "bucket", "object_key", "bytes_out", "attribution", "attribution_reason",
)


@dataclass
class HuntResult:
    out: Path
    store: Path
    events_analysed: int
    incidents: list[Incident]
    detect: DetectResult
    correlation: Correlation
    ingest: IngestStats | None
    timings: dict[str, float] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    details: dict[str, dict[str, Any]] = field(default_factory=dict)  # per incident, for reports

    def worst_severity(self) -> str | None:
        ranks = [SEVERITY_ORDER.index(i.severity) for i in self.incidents]
        return SEVERITY_ORDER[max(ranks)] if ranks else None


def load_tenants(path: Path | None) -> dict[str, str]:
    """Bucket -> tenant map, JSON or YAML (`{bucket: tenant}` or a list of pairs)."""
    if path is None:
        return {}
    try:
        text = path.read_text()
    except OSError as e:
        raise UsageError(f"{path}: cannot read tenant map ({e.strerror})") from None
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UsageError(f"{path}: tenant map is not JSON or YAML ({e})") from None
    if isinstance(data, dict):
        return {str(k): str(v) for k, v in data.items()}
    if isinstance(data, list):
        out: dict[str, str] = {}
        for item in data:
            if isinstance(item, dict) and "bucket" in item and "tenant" in item:
                out[str(item["bucket"])] = str(item["tenant"])
        return out
    raise UsageError(f"{path}: tenant map must map bucket names to tenants")


def _check_writable(out: Path) -> None:
    """Found before the analysis, not after it: an output folder nothing can be written to."""
    probe = out / f".trailhound-write-check-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"{out}: cannot write the outputs there ({e.strerror})") from None


def _nothing_loaded(sources: list[str], stats: IngestStats | None) -> str:
    """No CloudTrail at all is an input error, not "no incident": a wrong folder, a bucket
    prefix without logs or a file of another format must never read as a clean bill."""
    where = ", ".join(sources) or "the store"
    if stats is None:
        return f"{where}: the store holds no CloudTrail events"
    seen = stats.objects_loaded + stats.objects_quarantined + stats.objects_empty
    detail = (f"{seen:,} objects read: {stats.objects_quarantined:,} not CloudTrail or "
              f"unreadable (see the store's quarantine/), {stats.objects_empty:,} empty"
              if seen else "no log object found")
    return f"{where}: no CloudTrail records loaded ({detail})"


def hunt(sources: list[str], out: Path, *, store: Path | None = None,
         rule_paths: list[Path] | None = None, overrides: Path | None = None,
         tenants: dict[str, str] | None = None, include_sigma: bool = True,
         ci_markers: list[str] | None = None,
         progress: Callable[[str], None] | None = None,
         ingest_progress: Callable[[IngestStats], None] | None = None,
         engine: str | Engine = "duckdb", spark_master: str | None = None) -> HuntResult:
    """`engine`: "duckdb", "spark" (on `spark_master` or as Spark's configuration says), or
    an engine already open (`store.engines.open_engine`)."""
    timings: dict[str, float] = {}
    eng = open_engine(engine, spark_master=spark_master) if isinstance(engine, str) else engine
    store_path = Path(store) if store else Path(out) / "store"
    say = progress or (lambda _msg: None)
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{out}: cannot create output folder ({e.strerror})") from None
    _check_writable(Path(out))
    st = Store(store_path, create=bool(sources))
    try:
        stats = None
        if sources:
            say("ingest")
            t = time.perf_counter()
            stats = eng.ingest(sources, st, progress=ingest_progress)
            timings["ingest"] = time.perf_counter() - t
        conn = eng.connect(st)
        (events,) = conn.execute("SELECT count(*) FROM events").fetchone()
        if not events:
            conn.close()
            raise UsageError(_nothing_loaded(sources, stats))
        say("detect")
        t = time.perf_counter()
        ruleset = load_rules(rule_paths or [], include_sigma=include_sigma, overrides=overrides)
        det = eng.detect(conn, ruleset)
        try:
            if ci_markers:
                from trailhound.correlate.ciprofile import ci_key_alerts

                det.alerts.extend(ci_key_alerts(conn, ci_markers))
                det.alerts.sort(key=lambda a: (a.event_time, a.rule_id, a.access_key_id or ""))
            timings["detect"] = time.perf_counter() - t
            say("correlate")
            t = time.perf_counter()
            corr = correlate(conn, det.alerts, tenants=tenants or {},
                             damage=damage_by_key(st))
            timings["correlate"] = time.perf_counter() - t
            say("report")
            t = time.perf_counter()
            result = HuntResult(Path(out), store_path, int(events), corr.incidents, det, corr,
                                stats, timings)
            doc = incidents_document(result)
            write_case(conn, st.root, corr, doc)
            report_conn = eng.report_connection(conn, st)
            write_outputs(result, report_conn, st, doc)
            timings["report"] = time.perf_counter() - t
            if report_conn is not conn:
                report_conn.close()
        finally:
            # The alerts' event ids live in the engine until here (Spark: files in tmp/).
            det.release()
        conn.close()
    finally:
        st.close()
    return result


def incidents_document(result: HuntResult) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "events_analysed": result.events_analysed,
        "incidents": [i.to_dict() for i in result.incidents],
    }


def write_outputs(result: HuntResult, conn: Any, st: Store, doc: dict[str, Any]) -> None:
    """The contract files of CONTRACT.md from the Case written to `st` (`doc` is its
    incidents document); `conn` is a DuckDB connection with the events the reports read."""
    out = result.out
    Case(st.root).attach(conn)
    data = json_bytes(doc, indent=True) + b"\n"
    atomic_write(out / "incidents.json", data)
    atomic_write(st.root / "incidents.json", data)
    result.files.append(out / "incidents.json")

    # Streamed: an alert of a noisy rule can list a million event ids.
    with atomic_file(out / "alerts.ndjson") as fh:
        for n, a in enumerate(result.detect.alerts):
            fh.writelines(a.json_pieces(incident_id=result.correlation.alert_incident.get(n)))
            fh.write(b"\n")
    result.files.append(out / "alerts.ndjson")

    ev_dir = out / "evidence"
    ev_dir.mkdir(exist_ok=True)
    for inc in result.incidents:
        res = conn.execute("""
            SELECT event_id, event_time, event_name, event_source, account, aws_region AS region,
                   access_key_id, principal_arn, source_ip, user_agent, error_code, stage, bucket,
                   object_key, bytes_out, attribution, reason AS attribution_reason
            FROM (SELECT * FROM att_events WHERE incident = ?
                  QUALIFY row_number() OVER (PARTITION BY event_id
                      ORDER BY attribution = 'attacker' DESC) = 1)
            ORDER BY event_time, event_id
        """, [inc.id])
        path = ev_dir / f"{inc.id}.ndjson"
        # Streamed: a mass read is millions of attributed events. A reason is typed JSON
        # (CONTRACT.md); the few distinct ones are parsed once.
        reasons: dict[str, Any] = {}
        with atomic_file(path) as fh:
            while rows := res.fetchmany(EVIDENCE_CHUNK):
                buf = bytearray()
                for r in rows:
                    rec = dict(zip(EVIDENCE_FIELDS, r, strict=True))
                    rec["event_time"] = _iso(rec["event_time"])
                    why = rec["attribution_reason"]
                    if isinstance(why, str):
                        if why not in reasons:
                            reasons[why] = _reason(why)
                        rec["attribution_reason"] = reasons[why]
                    buf += json_bytes(rec) + b"\n"
                fh.write(buf)
        result.files.append(path)

    from trailhound import investigate
    from trailhound.report.html import render_model as render_html
    from trailhound.report.markdown import render_model as render_markdown
    from trailhound.report.model import build_model
    from trailhound.report.ocsf import render_ocsf
    from trailhound.report.stix import render_stix

    incidents_doc = {"incidents": doc["incidents"]}
    for inc in result.incidents:
        result.details[inc.id] = {
            "milestones": investigate.milestones(conn, inc.id),
            "daily": investigate.daily_activity(conn, inc.id),
            "stages": investigate.stage_summary(conn, inc.id),
            "investigation": investigate.investigate(
                conn, investigate.Subject("incident", inc.id), incidents=incidents_doc),
        }
    model = build_model(result)  # one content, two renderers
    atomic_write(out / "report.md", render_markdown(model).encode())
    result.files.append(out / "report.md")
    atomic_write(out / "report.html", render_html(model).encode())
    result.files.append(out / "report.html")
    atomic_write(out / "stix.json", render_stix(result).encode())
    result.files.append(out / "stix.json")
    atomic_write(out / "ocsf.json", render_ocsf(result).encode())
    result.files.append(out / "ocsf.json")


def load_incidents(store: Path) -> dict[str, Any]:
    """The incidents document the last hunt kept in the store."""
    path = Path(store) / "incidents.json"
    if not path.exists():
        raise StoreError("no incidents in this store yet (run `trailhound hunt` first)",
                         location=str(store))
    return orjson.loads(path.read_bytes())


def _reason(text: str) -> Any:
    """A stored reason: typed JSON, or (from a store written before reasons were typed) the
    sentence it was, as `{"kind": "context", "text": ...}`."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"kind": "context", "name": "legacy", "text": text}
    return value if isinstance(value, dict) else {"kind": "context", "name": "legacy",
                                                  "text": text}


def _iso(t: Any) -> str | None:
    if t is None:
        return None
    return t.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def atomic_write(path: Path, data: bytes) -> None:
    with atomic_file(path) as fh:
        fh.write(data)


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A file that appears at `path` whole, or not at all (the old one stays). The staging
    name is this writer's own: two hunts writing one `--out` never rename each other's file.
    A write that fails (disk full, folder gone) is one line naming the file, not a trace."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ReportError(f"cannot write ({e.strerror or e}); the previous file, if any, is "
                          "unchanged", location=str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
