"""`ingest --engine spark` writes the store the DuckDB ingest writes: the same rows, the same
manifest (statuses, counts, reasons), the same quarantine; it resumes and de-duplicates against
what either engine stored before."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

import cloudtrail as ct
from spark.compare import manifest_of, rows_of
from trailhound.store.engine import Store
from trailhound.store.ingest import ingest as duck_ingest

pytestmark = pytest.mark.spark


def records(n: int, start: int = 0, hour: int = 10) -> list[dict]:
    return [ct.record("ListUsers", time=f"2026-03-19T{hour:02d}:{(i // 60) % 60:02d}:"
                                        f"{i % 60:02d}Z", eventID=f"evt-{i:06d}")
            for i in range(start, start + n)]


def hostile_corpus(root: Path) -> Path:
    """Good objects, duplicates within and across objects, a tampered re-delivery, the same
    bytes under another name, and every kind of bad object and record."""
    src = root / "src"
    recs = records(120)
    ct.write_aws_layout(src, recs, per_file=40)
    again = json.loads(json.dumps(recs[5]))
    tampered = json.loads(json.dumps(recs[6]))
    tampered["sourceIPAddress"] = "203.0.113.66"
    ct.write_aws_layout(src, [again, tampered, *records(3, 500)], stamp="20260319T1005Z")
    ct.write_aws_layout(src, records(10, 900), account=ct.OTHER_ACCOUNT,
                        stamp="20260319T1010Z")
    first = sorted(src.rglob("*.json.gz"))[0]
    (src / "copy-of-first.json.gz").write_bytes(first.read_bytes())
    digest = src / "AWSLogs" / ct.ACCOUNT / "CloudTrail-Digest" / "x_CloudTrail-Digest_y.json.gz"
    digest.parent.mkdir(parents=True)
    digest.write_bytes(gzip.compress(b"{}"))
    bad = src / "bad"
    bad.mkdir()
    good_gz = gzip.compress(json.dumps({"Records": records(50, 1000)}).encode())
    (bad / "truncated.json.gz").write_bytes(good_gz[: len(good_gz) // 2])
    (bad / "not-cloudtrail.json").write_text(json.dumps({"hello": "world"}))
    (bad / "utf8.json").write_bytes(
        b'{"Records":[{"eventID":"u1","eventTime":"2026-03-19T10:00:00Z","x":"\xff"}]}')
    mixed = records(3, 2000)
    del mixed[1]["eventID"]
    mixed[2]["eventTime"] = "yesterday"
    (bad / "mixed.json").write_text(json.dumps({"Records": mixed}))
    (bad / "all-refused.json").write_text(json.dumps({"Records": [{"eventName": "x"}]}))
    (bad / "empty.json").write_text(json.dumps({"Records": []}))
    (bad / "lines.ndjson").write_text("\n".join(json.dumps(r) for r in records(4, 3000))
                                      + "\n{not json\n")
    return src


def test_same_store_as_the_duckdb_ingest(tmp_path, spark_engine):
    src = hostile_corpus(tmp_path)
    duck = Store(tmp_path / "duck", create=True)
    d = duck_ingest([str(src)], duck, batch_bytes=4096)
    duck.close()
    spark = Store(tmp_path / "spark", create=True)
    s = spark_engine.ingest([str(src)], spark, batch_bytes=4096)
    spark.close()

    assert s.events_stored == d.events_stored > 0
    for field in ("objects_seen", "objects_loaded", "objects_same_content",
                  "objects_quarantined", "objects_empty", "records_read", "duplicates",
                  "conflicts", "records_quarantined", "skipped"):
        assert getattr(s, field) == getattr(d, field), field
    assert s.conflicts == 1 and s.objects_same_content == 1 and s.objects_quarantined >= 3
    assert rows_of(tmp_path / "spark") == rows_of(tmp_path / "duck")
    assert manifest_of(tmp_path / "spark") == manifest_of(tmp_path / "duck")
    copies = sorted(p.name for p in (tmp_path / "spark" / "quarantine" / "objects").iterdir())
    assert copies == sorted(p.name for p in (tmp_path / "duck" / "quarantine" / "objects"
                                             ).iterdir())
    # Parts sit in the partition folders the DuckDB writer uses; nothing is left in tmp/.
    def folders(store: str) -> set[str]:
        return {f"{p.parent.parent.name}/{p.parent.name}"
                for p in (tmp_path / store / "events").glob("account=*/date=*/*.parquet")}

    # The record with invalid UTF-8 (and no account) is repaired and stored under `unknown`.
    assert folders("spark") == folders("duck") == {f"account={ct.ACCOUNT}/date=2026-03-19",
                                                   "account=unknown/date=2026-03-19"}
    assert not list((tmp_path / "spark").glob("tmp/spark-*"))


def test_rerun_reads_nothing_and_engines_resume_each_other(tmp_path, spark_engine):
    src = tmp_path / "src"
    ct.write_aws_layout(src, records(60), per_file=20)
    mixed = Store(tmp_path / "mixed", create=True)
    first = duck_ingest([str(src)], mixed)
    assert first.events_stored == 60
    # New objects arrive, some re-delivering events the DuckDB ingest already stored.
    ct.write_aws_layout(src, [*records(10, 50), *records(15, 100)], stamp="20260319T1100Z")
    second = spark_engine.ingest([str(src)], mixed)
    assert second.objects_unchanged == 3 and second.objects_loaded == 1
    assert second.events_stored == 15 and second.duplicates == 10
    third = spark_engine.ingest([str(src)], mixed)
    assert third.objects_unchanged == 4 and third.events_stored == 0
    mixed.close()
    clean = Store(tmp_path / "clean", create=True)
    duck_ingest([str(src)], clean)
    clean.close()
    assert rows_of(tmp_path / "mixed") == rows_of(tmp_path / "clean")


def test_uri_sources_are_listed_by_hadoop_with_globs(tmp_path, spark_engine):
    """A `file://` URI goes through the code path `s3a://` takes (Hadoop FileSystem listing,
    globs, names from Spark's paths); a local path through the DuckDB ingest's walker."""
    src = tmp_path / "src"
    ct.write_aws_layout(src, records(30), per_file=10)
    ct.write_aws_layout(src, records(5, 100), region="us-east-1")
    st = Store(tmp_path / "store", create=True)
    glob = f"file://{src}/AWSLogs/*/CloudTrail/eu-west-1"
    stats = spark_engine.ingest([glob], st)
    assert stats.events_stored == 30 and stats.objects_loaded == 3
    names = [r[0] for r in manifest_of(tmp_path / "store")["objects"]]
    assert all(n.startswith(str(src) + "/AWSLogs/") for n in names), names
    # The same objects named by their local path are the same objects: nothing read again.
    again = spark_engine.ingest([str(src)], st)
    assert again.objects_unchanged == 3 and again.events_stored == 5


def test_manifest_names_every_s3_spelling_alike():
    from trailhound.spark.ingest import manifest_name

    assert manifest_name("s3a://trail/AWSLogs/1/x.json.gz") == "s3://trail/AWSLogs/1/x.json.gz"
    assert manifest_name("s3://trail/k") == "s3://trail/k"
    assert manifest_name("file:/tmp/a b/x.json") == "/tmp/a b/x.json"
    assert manifest_name("hdfs://nn/logs/x.json") == "hdfs://nn/logs/x.json"


def test_a_run_that_dies_before_its_commit_is_finished_by_the_next(tmp_path, spark_engine,
                                                                     monkeypatch):
    """Parts of a batch moved into events/ but never committed are orphans: the next run
    removes them and reads those objects again, ending equal to one clean run."""
    from trailhound.store.manifest import Manifest

    src = tmp_path / "src"
    ct.write_aws_layout(src, records(90), per_file=15)
    ct.write_aws_layout(src, records(20, 80), stamp="20260319T1100Z")  # 10 re-deliveries
    calls = {"n": 0}
    real = Manifest.commit_batch

    def dies_on_second(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Manifest, "commit_batch", dies_on_second)
    st = Store(tmp_path / "store", create=True)
    with pytest.raises(KeyboardInterrupt):
        spark_engine.ingest([str(src)], st, batch_bytes=2000)
    monkeypatch.setattr(Manifest, "commit_batch", real)
    assert list((tmp_path / "store" / "events").glob("*/*/*.parquet"))  # orphans exist
    again = spark_engine.ingest([str(src)], st, batch_bytes=2000)
    st.close()
    assert again.orphan_parts_removed > 0
    clean = Store(tmp_path / "clean", create=True)
    duck_ingest([str(src)], clean)
    clean.close()
    assert rows_of(tmp_path / "store") == rows_of(tmp_path / "clean")
    objects = {o[0]: o[4:] for o in manifest_of(tmp_path / "store")["objects"]}
    assert {s for s, *_ in objects.values()} == {"loaded"}


def test_staged_objects_are_cut_into_small_row_groups(tmp_path, spark_engine):
    """The staged output has one row per log object; a busy hour's object is megabytes. With
    Parquet's default (sizes checked every 100 rows) 40 rows of 1 MB make one 40 MB row group
    whose pages the reader decompresses into single direct buffers (a 4 GB driver ran out at
    8.8 M events); the ingest's options check after every row and keep groups near the target."""
    import pyarrow.parquet as pq

    from trailhound.spark.ingest import STAGED_WRITE_OPTIONS

    spark = spark_engine.session
    big = spark.range(40).selectExpr(
        "id AS f", "named_struct('events', array(named_struct('raw', "
        "concat_ws('', transform(sequence(1, 32768), i -> md5(cast(id * 100000 + i AS string))))"
        "))) AS r")

    def groups(options: dict[str, str], name: str) -> list[int]:
        big.coalesce(1).write.options(**options).mode("overwrite").parquet(str(tmp_path / name))
        (part,) = (tmp_path / name).glob("*.parquet")
        md = pq.ParquetFile(part).metadata
        return [md.row_group(i).total_byte_size for i in range(md.num_row_groups)]

    target = int(STAGED_WRITE_OPTIONS["parquet.block.size"])
    default = groups({"parquet.block.size": str(target)}, "default")
    staged = groups(STAGED_WRITE_OPTIONS, "staged")
    assert len(default) == 1 and default[0] > 2 * target  # what the options exist for
    assert len(staged) >= 3 and max(staged) <= target + 2 * 1024 * 1024
