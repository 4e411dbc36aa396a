"""CloudTrail record -> one typed event row, done as SQL inside DuckDB.

Per-record work in Python caps ingest near 30 k events/s; DuckDB's JSON reader and
`json_transform` do the same work in C++ on every core. So this module owns the *SQL* that
turns a relation of raw records `(f, i, rec)` (source object id, position in it, the record
as JSON text) into the event schema of ARCHITECTURE.md, and the Arrow schema of the result.
Both the ingest path (records straight out of `read_json`) and tests or rule self-tests
(records handed in as Python dicts) go through `normalize_relation`, so there is one
definition of every column.

Columns lifted from request/response (target_user, created_access_key_id, ...) exist for
lineage and impact; the whole record stays in `raw` so no field is ever lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import duckdb
import orjson
import pyarrow as pa

# Records larger than this are quarantined: CloudTrail itself omits oversized request and
# response bodies, so a multi-megabyte record is either corruption or someone stuffing the log.
MAX_RECORD_BYTES = 4 * 1024 * 1024
# What a usable eventTime is: CloudTrail did not exist before 1970 and ISO-8601 / Python /
# JSON writers downstream cannot hold a year past 9999 (or BC, or infinity).
MIN_EVENT_TIME = "1970-01-01"
MAX_EVENT_TIME = "10000-01-01"
# One request moves at most one S3 object (5 TiB); a negative or larger count is not a size,
# and summed it would turn an incident's total negative or past 64 bits.
MAX_TRANSFER_BYTES = 5 * 1024**4
# User agents are attacker-chosen and end up in every aggregate: real ones are a few hundred
# characters; the stored column keeps this many (the whole record stays in `raw`).
MAX_USER_AGENT = 2048


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    arrow_type: pa.DataType
    doc: str


COLUMNS: tuple[Column, ...] = (
    Column("event_id", "VARCHAR", pa.string(), "eventID"),
    Column("event_time", "TIMESTAMP", pa.timestamp("us"), "eventTime, UTC"),
    Column("event_source", "VARCHAR", pa.string(), "eventSource"),
    Column("event_name", "VARCHAR", pa.string(), "eventName"),
    Column("event_type", "VARCHAR", pa.string(), "eventType"),
    Column("event_category", "VARCHAR", pa.string(), "eventCategory"),
    Column("event_version", "VARCHAR", pa.string(), "eventVersion"),
    Column("read_only", "BOOLEAN", pa.bool_(), "readOnly"),
    Column("management_event", "BOOLEAN", pa.bool_(), "managementEvent"),
    Column("aws_region", "VARCHAR", pa.string(), "awsRegion"),
    Column("recipient_account_id", "VARCHAR", pa.string(), "recipientAccountId"),
    Column("source_ip", "VARCHAR", pa.string(), "sourceIPAddress"),
    Column("user_agent", "VARCHAR", pa.string(), "userAgent"),
    Column("error_code", "VARCHAR", pa.string(), "errorCode"),
    Column("error_message", "VARCHAR", pa.string(), "errorMessage"),
    Column("request_id", "VARCHAR", pa.string(), "requestID"),
    Column("shared_event_id", "VARCHAR", pa.string(), "sharedEventID (cross-account twin)"),
    Column("identity_type", "VARCHAR", pa.string(), "userIdentity.type"),
    Column("principal_arn", "VARCHAR", pa.string(), "userIdentity.arn"),
    Column("principal_id", "VARCHAR", pa.string(), "userIdentity.principalId"),
    Column("account_id", "VARCHAR", pa.string(), "userIdentity.accountId"),
    Column("access_key_id", "VARCHAR", pa.string(), "userIdentity.accessKeyId"),
    Column("user_name", "VARCHAR", pa.string(), "userIdentity.userName or sessionIssuer"),
    Column("session_issuer_arn", "VARCHAR", pa.string(), "sessionContext.sessionIssuer.arn"),
    Column("mfa_authenticated", "BOOLEAN", pa.bool_(), "sessionContext.attributes"),
    Column("session_creation_date", "TIMESTAMP", pa.timestamp("us"), "session creationDate"),
    Column("invoked_by", "VARCHAR", pa.string(), "userIdentity.invokedBy"),
    Column("request_parameters", "VARCHAR", pa.string(), "requestParameters, JSON text"),
    Column("response_elements", "VARCHAR", pa.string(), "responseElements, JSON text"),
    Column("additional_event_data", "VARCHAR", pa.string(), "additionalEventData, JSON"),
    Column("resources", "VARCHAR", pa.string(), "resources, JSON text"),
    Column("bytes_out", "BIGINT", pa.int64(), "additionalEventData.bytesTransferredOut"),
    Column("bytes_in", "BIGINT", pa.int64(), "additionalEventData.bytesTransferredIn"),
    Column("target_user", "VARCHAR", pa.string(), "requestParameters.userName"),
    Column("created_access_key_id", "VARCHAR", pa.string(), "CreateAccessKey response key"),
    Column("assumed_role_arn", "VARCHAR", pa.string(), "AssumeRole* role / session arn"),
    Column("session_access_key_id", "VARCHAR", pa.string(), "ASIA key of issued credentials"),
    Column("bucket", "VARCHAR", pa.string(), "requestParameters.bucketName"),
    Column("object_key", "VARCHAR", pa.string(), "requestParameters.key"),
    Column("source_object", "VARCHAR", pa.string(), "log object the event came from"),
    Column("raw", "VARCHAR", pa.string(), "the whole record, JSON text"),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)

# Partition columns: hive directories in the store, and columns of every query's `events` view.
PARTITION_COLUMNS: tuple[Column, ...] = (
    Column("account", "VARCHAR", pa.string(), "recipientAccountId or 'unknown'"),
    Column("date", "DATE", pa.date32(), "UTC date of eventTime"),
)

ARROW_SCHEMA = pa.schema([pa.field(c.name, c.arrow_type) for c in COLUMNS])

# What json_transform extracts in one parse of each record. Nested objects we keep as text are
# typed JSON; everything that does not fit its type becomes NULL (non-strict transform), so a
# record with a retyped field (userIdentity as a string, say) still loads with that column NULL.
_STRUCTURE = orjson.dumps(
    {
        "eventID": "VARCHAR",
        "eventTime": "VARCHAR",
        "eventSource": "VARCHAR",
        "eventName": "VARCHAR",
        "eventType": "VARCHAR",
        "eventCategory": "VARCHAR",
        "eventVersion": "VARCHAR",
        "readOnly": "VARCHAR",
        "managementEvent": "VARCHAR",
        "awsRegion": "VARCHAR",
        "recipientAccountId": "VARCHAR",
        "sourceIPAddress": "VARCHAR",
        "userAgent": "VARCHAR",
        "errorCode": "VARCHAR",
        "errorMessage": "VARCHAR",
        "requestID": "VARCHAR",
        "sharedEventID": "VARCHAR",
        "userIdentity": {
            "type": "VARCHAR",
            "arn": "VARCHAR",
            "principalId": "VARCHAR",
            "accountId": "VARCHAR",
            "accessKeyId": "VARCHAR",
            "userName": "VARCHAR",
            "invokedBy": "VARCHAR",
            "sessionContext": {
                "sessionIssuer": {"arn": "VARCHAR", "userName": "VARCHAR"},
                "attributes": {"mfaAuthenticated": "VARCHAR", "creationDate": "VARCHAR"},
            },
        },
        "requestParameters": "JSON",
        "responseElements": "JSON",
        "additionalEventData": "JSON",
        "resources": "JSON",
    }
).decode()

_ISO_8601 = (r"\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d{1,9})?)?)?"
             r"(Z|[+-](0\d|1[0-4])(:?[0-5]\d)?)?")


def _ts(expr: str) -> str:
    """ISO-8601 text -> naive UTC TIMESTAMP, NULL when it is not a timestamp."""
    return f"timezone('UTC', TRY_CAST({expr} AS TIMESTAMPTZ))"


def _bool(expr: str) -> str:
    return f"CASE lower({expr}) WHEN 'true' THEN true WHEN 'false' THEN false END"


def _bytes(expr: str) -> str:
    # bytesTransferredOut is written as 1234 or 1234.0 by S3; anything else is not a size.
    return f"TRY_CAST(TRY_CAST({expr} AS DOUBLE) AS BIGINT)"


def normalize_sql(source: str, *, max_record_bytes: int = MAX_RECORD_BYTES) -> str:
    """SQL over `source` (a relation with columns f, i, rec, src) giving event columns plus
    `account`, `date`, and `reject` (NULL for a good record, else why it is quarantined).

    `src` is the log object's name, carried into `source_object`.
    """
    u = "s.userIdentity"
    sc = f"{u}.sessionContext"
    return f"""
WITH p AS (
    SELECT f, i, src, rec, strlen(rec) AS rec_len,
           json_transform(CASE WHEN strlen(rec) <= {int(max_record_bytes)}
                               THEN rec END, '{_STRUCTURE}') AS s
    FROM {source}
), q AS (
    SELECT *, {_ts("s.eventTime")} AS ts,
        -- Lifted only for the events they exist on (CASE evaluates lazily): a second JSON
        -- parse of every record costs as much as the first.
        CASE WHEN s.additionalEventData IS NOT NULL
             THEN {_bytes("json_extract_string(s.additionalEventData, '$.bytesTransferredOut')")}
        END AS bo,
        CASE WHEN s.additionalEventData IS NOT NULL
             THEN {_bytes("json_extract_string(s.additionalEventData, '$.bytesTransferredIn')")}
        END AS bi
    FROM p
)
SELECT
    f, i,
    CASE
        WHEN rec_len > {int(max_record_bytes)}
            THEN 'record larger than {int(max_record_bytes)} bytes'
        WHEN NOT starts_with(ltrim(rec), '{{') THEN 'record is not a JSON object'
        WHEN s.eventID IS NULL OR s.eventID = '' THEN 'record has no eventID'
        WHEN s.eventTime IS NULL THEN 'record has no eventTime'
        WHEN ts IS NULL
             -- DuckDB also casts words ('epoch') and offsets past +-14:00; CloudTrail's own
             -- form (20 characters, ending in Z) skips the pattern.
             OR (NOT (strlen(s.eventTime) = 20 AND ends_with(s.eventTime, 'Z'))
                 AND NOT regexp_full_match(s.eventTime, '{_ISO_8601}'))
            THEN 'eventTime is not an ISO-8601 timestamp'
        WHEN NOT isfinite(ts) OR ts < TIMESTAMP '{MIN_EVENT_TIME}'
             OR ts >= TIMESTAMP '{MAX_EVENT_TIME}'
            THEN 'eventTime is outside the years {MIN_EVENT_TIME[:4]}-{int(MAX_EVENT_TIME[:5]) - 1}'
    END AS reject,
    -- A field that cannot be what it claims is replaced, never a reason to drop the record
    -- (batch.py reports it with the record's original text).
    nullif(concat_ws('; ',
        CASE WHEN NOT bo BETWEEN 0 AND {MAX_TRANSFER_BYTES}
             THEN 'bytesTransferredOut ' || bo || ' is not a possible size: stored as NULL' END,
        CASE WHEN NOT bi BETWEEN 0 AND {MAX_TRANSFER_BYTES}
             THEN 'bytesTransferredIn ' || bi || ' is not a possible size: stored as NULL' END,
        CASE WHEN strlen(s.userAgent) > {MAX_USER_AGENT}
             THEN 'userAgent of ' || strlen(s.userAgent) || ' characters: first '
                  || {MAX_USER_AGENT} || ' kept' END), '') AS repair,
    s.eventID AS event_id,
    ts AS event_time,
    s.eventSource AS event_source,
    s.eventName AS event_name,
    s.eventType AS event_type,
    s.eventCategory AS event_category,
    s.eventVersion AS event_version,
    {_bool("s.readOnly")} AS read_only,
    {_bool("s.managementEvent")} AS management_event,
    s.awsRegion AS aws_region,
    s.recipientAccountId AS recipient_account_id,
    s.sourceIPAddress AS source_ip,
    CASE WHEN strlen(s.userAgent) > {MAX_USER_AGENT} THEN left(s.userAgent, {MAX_USER_AGENT})
         ELSE s.userAgent END AS user_agent,
    s.errorCode AS error_code,
    s.errorMessage AS error_message,
    s.requestID AS request_id,
    s.sharedEventID AS shared_event_id,
    {u}.type AS identity_type,
    {u}.arn AS principal_arn,
    {u}.principalId AS principal_id,
    {u}.accountId AS account_id,
    {u}.accessKeyId AS access_key_id,
    coalesce({u}.userName, {sc}.sessionIssuer.userName) AS user_name,
    {sc}.sessionIssuer.arn AS session_issuer_arn,
    {_bool(f"{sc}.attributes.mfaAuthenticated")} AS mfa_authenticated,
    CASE WHEN {sc}.attributes.creationDate IS NOT NULL
         THEN {_ts(f"{sc}.attributes.creationDate")} END AS session_creation_date,
    {u}.invokedBy AS invoked_by,
    s.requestParameters::VARCHAR AS request_parameters,
    s.responseElements::VARCHAR AS response_elements,
    s.additionalEventData::VARCHAR AS additional_event_data,
    s.resources::VARCHAR AS resources,
    CASE WHEN bo BETWEEN 0 AND {MAX_TRANSFER_BYTES} THEN bo END AS bytes_out,
    CASE WHEN bi BETWEEN 0 AND {MAX_TRANSFER_BYTES} THEN bi END AS bytes_in,
    CASE WHEN s.eventSource = 'iam.amazonaws.com' AND s.requestParameters IS NOT NULL
         THEN json_extract_string(s.requestParameters, '$.userName') END AS target_user,
    CASE WHEN s.eventName = 'CreateAccessKey'
         THEN json_extract_string(s.responseElements, '$.accessKey.accessKeyId')
    END AS created_access_key_id,
    CASE WHEN s.eventName LIKE 'AssumeRole%'
         THEN coalesce(json_extract_string(s.responseElements, '$.assumedRoleUser.arn'),
                       json_extract_string(s.requestParameters, '$.roleArn'))
         WHEN s.eventName = 'GetFederationToken'
         THEN json_extract_string(s.responseElements, '$.federatedUser.arn')
    END AS assumed_role_arn,
    CASE WHEN s.responseElements IS NOT NULL AND contains(s.responseElements, '"credentials"')
         THEN json_extract_string(s.responseElements, '$.credentials.accessKeyId')
    END AS session_access_key_id,
    CASE WHEN s.requestParameters IS NOT NULL AND s.eventSource = 's3.amazonaws.com'
         THEN json_extract_string(s.requestParameters, '$.bucketName') END AS bucket,
    CASE WHEN s.requestParameters IS NOT NULL AND s.eventSource = 's3.amazonaws.com'
         THEN json_extract_string(s.requestParameters, '$.key') END AS object_key,
    src AS source_object,
    rec AS raw,
    -- The partition key names a folder: only a real account id (12 digits) may, never a
    -- log-supplied string (too long for a file name, or '../' out of the store).
    CASE WHEN regexp_full_match(s.recipientAccountId, '[0-9]{{12}}') THEN s.recipientAccountId
         WHEN regexp_full_match({u}.accountId, '[0-9]{{12}}') THEN {u}.accountId
         ELSE 'unknown' END AS account,
    CAST(ts AS DATE) AS date
FROM q
"""


def select_event_columns(alias: str = "") -> str:
    """The stored columns in schema order, for SELECT lists."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + n for n in (*COLUMN_NAMES, "account", "date"))


def records_relation(
    conn: duckdb.DuckDBPyConnection, records: Iterable[dict | str | bytes], *, src: str = "memory"
) -> duckdb.DuckDBPyRelation:
    """Normalize records given in Python (rule self-tests, fixtures) through the same SQL."""
    texts: list[str] = []
    for r in records:
        if isinstance(r, dict | list):
            texts.append(orjson.dumps(r).decode())
        elif isinstance(r, bytes):
            texts.append(r.decode("utf-8", errors="replace"))
        else:
            texts.append(r)
    table = pa.table(
        {
            "f": pa.array([0] * len(texts), pa.uint64()),
            "i": pa.array(range(len(texts)), pa.uint64()),
            "src": pa.array([src] * len(texts), pa.string()),
            "rec": pa.array(texts, pa.string()),
        }
    )
    rel = conn.from_arrow(table)
    name = f"_records_{id(table)}"
    rel.create_view(name)
    return conn.sql(normalize_sql(name))
