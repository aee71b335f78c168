"""The sink on a real runner: shards from sorted runs hold exactly the rows, order and bytes that
sharding every document at once would give, however the documents were cut into runs and groups."""
import hashlib
import random

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from schemas import DOCUMENT_SCHEMA, REJECTED_SCHEMA, document_to_row, rejected_to_row
from transforms.io.parquet_sink import (
    WriteParquetShards,
    document_sort_key,
    parquet_bytes,
    rejected_sort_key,
    shard_count,
    shard_name,
)
from transforms.io.shard_runs import HASHED, RANKED, position_of, position_range, shard_of


def test_every_position_falls_in_the_range_of_its_shard():
    rng = random.Random(0)
    hashes = [0, 1, 2**63, 2**64 - 1] + [rng.getrandbits(64) for _ in range(2000)]
    for shards in (1, 2, 3, 7, 200):
        for h in hashes:
            shard = shard_of(HASHED, h, shards, 10)
            lo, hi = position_range(HASHED, shard, shards, 10)
            assert 0 <= shard < shards and lo <= h and (hi is None or h < hi)
        for rank in range(0, 100):
            shard = shard_of(RANKED, rank, shards, 10)
            lo, hi = position_range(RANKED, shard, shards, 10)
            assert lo <= rank and (hi is None or rank < hi)


def corpus(n: int, ranked: bool) -> list[dict]:
    rng = random.Random(n)
    docs = []
    for i in range(n):
        doc = {"id": f"doc-{rng.getrandbits(40):x}", "text": "word " * rng.randint(1, 80),
               "origin_file": f"f{i % 3}.jsonl", "origin_line": i, "signals": {"len": float(i)},
               "extra_field": i % 5}
        if ranked:
            doc["_rank"] = i
        docs.append(doc)
    rng.shuffle(docs)
    return docs


def expected_shards(docs, shard_rows, to_row, sort_key, schema, row_group_rows):
    shards = shard_count(len(docs), shard_rows)
    by_shard = {}
    for doc in docs:
        by_shard.setdefault(shard_of(*position_of(doc), shards, shard_rows), []).append(doc)
    return {
        shard_name(i, shards): hashlib.sha256(
            parquet_bytes([to_row(d) for d in sorted(group, key=sort_key)], schema, row_group_rows, 3)).hexdigest()
        for i, group in by_shard.items()
    }


@pytest.mark.parametrize("ranked", [False, True])
@pytest.mark.parametrize("run_bytes,group_bytes", [(10**9, 10**9), (3000, 10**9), (3000, 1)])
def test_shards_are_the_same_however_the_runs_and_groups_fall(tmp_path, ranked, run_bytes, group_bytes):
    docs = corpus(600, ranked)
    out, runs = tmp_path / "data", tmp_path / "runs"
    with beam.Pipeline(runner=FnApiRunner()) as p:
        _ = (p | beam.Create(docs, reshuffle=False)
             | WriteParquetShards(str(out), DOCUMENT_SCHEMA, document_to_row, document_sort_key, 47, 10, 3,
                                  str(runs), run_bytes=run_bytes, group_bytes=group_bytes))
    written = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in out.glob("*.parquet")}
    assert written == expected_shards(docs, 47, document_to_row, document_sort_key, DOCUMENT_SCHEMA, 10)
    assert sum(pq.read_metadata(out / name).num_rows for name in written) == 600
    assert not list(runs.glob("*")), "the sorted runs are scratch and must be gone"


def test_rejected_rows_keep_their_sort_and_an_empty_input_writes_nothing(tmp_path):
    docs = [{**d, "_reject": {"stage": "s", "outcome": "dropped", "reason": f"r{i % 4}"}, "_raw": b"\xff\x00"}
            for i, d in enumerate(corpus(120, False))]
    with beam.Pipeline(runner=FnApiRunner()) as p:
        _ = (p | "Docs" >> beam.Create(docs)
             | "Rejected" >> WriteParquetShards(str(tmp_path / "rej"), REJECTED_SCHEMA, rejected_to_row,
                                                rejected_sort_key, 50, 10, 3, str(tmp_path / "runs"),
                                                run_bytes=2000, group_bytes=1))
        _ = (p | "Nothing" >> beam.Create([])
             | "Empty" >> WriteParquetShards(str(tmp_path / "empty"), DOCUMENT_SCHEMA, document_to_row,
                                             document_sort_key, 50, 10, 3, str(tmp_path / "runs2")))
    written = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in (tmp_path / "rej").glob("*.parquet")}
    assert written == expected_shards(docs, 50, rejected_to_row, rejected_sort_key, REJECTED_SCHEMA, 10)
    assert not (tmp_path / "empty").exists() or not list((tmp_path / "empty").glob("*"))
