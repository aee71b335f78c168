"""Beam: kept documents → token sequences written beside ``data/`` (``buckets/`` or ``packed/``).

Both modes tokenize in batches on the workers, shuffle only token ids (never
texts), and write each shard in one piece from a group sorted by document id,
so the bytes are the same on one worker or many. A shard holds about
``shard_tokens`` tokens: its count comes from a token total computed in the
pipeline. Every document is counted (``documents``, ``documents_without_tokens``)
and every token is either in a sequence or counted as dropped; the counts come
back as one stats record that the run checks against the files.
"""
from __future__ import annotations

import hashlib
import math

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from schemas import BUCKET_SCHEMA, PACKED_SCHEMA
from transforms.core.text_hash import stable_bucket
from transforms.io.parquet_sink import RANK, shard_name, table_bytes, write_file
from transforms.packing.decompose import concat_chunks, decompose
from transforms.packing.tokens import DocumentEncoder, PackingTokenizer

BUCKETS_DIR = "buckets"
PACKED_DIR = "packed"
# Rows per Parquet row group: about 1 Mi tokens (4 MiB of ids) whatever the sequence length.
ROW_GROUP_TOKENS = 1 << 20
_TOKENIZE_BATCH = 256


def bucket_dir(log2: int) -> str:
    return f"{BUCKETS_DIR}/len-{1 << log2:05d}"


def shards_for(tokens: int, shard_tokens: int) -> int:
    return max(1, math.ceil(tokens / shard_tokens))


def _row_group_rows(seq_len: int) -> int:
    return max(1, ROW_GROUP_TOKENS // seq_len)


def _ids_array(chunks: list[np.ndarray]) -> pa.Array:
    """``list<int32>`` from equal- or unequal-length id arrays, built from offsets (no Python lists)."""
    lengths = np.fromiter((len(c) for c in chunks), dtype=np.int64, count=len(chunks))
    offsets = np.zeros(len(chunks) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, type=pa.int32()))


class _TokenizeFn(beam.DoFn):
    """Batches of documents → ``{id, source, rank, ids}`` (ids as int32 bytes: compact in a shuffle)."""

    def __init__(self, tokenizer: PackingTokenizer):
        self._tokenizer = tokenizer
        self._encoder = None

    def setup(self):
        self._encoder = DocumentEncoder(self._tokenizer)

    def process(self, docs):
        for doc, ids in zip(docs, self._encoder.encode([d["text"] for d in docs])):
            yield {"id": doc["id"], "source": doc.get("source"), "rank": doc.get(RANK), "ids": ids.tobytes()}


def _token_counts(doc: dict):
    tokens = len(doc["ids"]) // 4
    yield "documents", 1
    yield "tokens", tokens
    if tokens == 0:
        yield "documents_without_tokens", 1


class _DecomposeFn(beam.DoFn):
    """One document → its bucket pieces keyed by bucket, plus per-bucket and dropped counts."""

    COUNTS = "counts"

    def __init__(self, min_log2: int, max_log2: int):
        self._min, self._max = min_log2, max_log2

    def process(self, doc):
        ids = np.frombuffer(doc["ids"], dtype=np.int32)
        pieces, dropped = decompose(len(ids), self._min, self._max)
        for piece in pieces:
            row = {"doc_id": doc["id"], "chunk_index": piece.chunk_index, "source": doc["source"],
                   "ids": ids[piece.start:piece.start + piece.length].tobytes()}
            yield piece.log2, row
            yield beam.pvalue.TaggedOutput(self.COUNTS, (f"sequences/{piece.log2}", 1))
            yield beam.pvalue.TaggedOutput(self.COUNTS, (f"tokens/{piece.log2}", piece.length))
        if dropped:
            yield beam.pvalue.TaggedOutput(self.COUNTS, ("tokens_dropped", dropped))
        if len(ids) and not pieces:
            yield beam.pvalue.TaggedOutput(self.COUNTS, ("documents_shorter_than_smallest_bucket", 1))


def _write(root: str, rel: str, data: bytes, rows: int, tokens: int) -> dict:
    """Write ``root/rel``; the record the run checks against the file it finds there."""
    write_file(FileSystems.join(root, rel), data)
    return {"path": rel, "rows": rows, "tokens": tokens, "sha256": hashlib.sha256(data).hexdigest()}


class _WriteBucketShardFn(beam.DoFn):
    def __init__(self, root: str, zstd_level: int):
        self._root, self._zstd_level = root, zstd_level

    def process(self, keyed, shards: dict):
        (log2, index), rows = keyed
        rows = sorted(rows, key=lambda r: (r["doc_id"], r["chunk_index"]))
        table = pa.Table.from_arrays(
            [_ids_array([np.frombuffer(r["ids"], dtype=np.int32) for r in rows]),
             pa.array([r["doc_id"] for r in rows], pa.string()),
             pa.array([r["chunk_index"] for r in rows], pa.int32()),
             pa.array([r["source"] for r in rows], pa.string())],
            schema=BUCKET_SCHEMA,
        )
        seq_len = 1 << log2
        data = table_bytes(table, _row_group_rows(seq_len), self._zstd_level)
        rel = f"{bucket_dir(log2)}/{shard_name(index, shards[log2])}"
        yield _write(self._root, rel, data, len(rows), len(rows) * seq_len)


class _WritePackedShardFn(beam.DoFn):
    """A shard's documents, in order, laid end to end and cut every ``seq_len`` tokens; the tail is dropped."""

    def __init__(self, root: str, seq_len: int, zstd_level: int):
        self._root, self._seq_len, self._zstd_level = root, seq_len, zstd_level

    def process(self, keyed, shards: int):
        index, docs = keyed
        docs = sorted(docs, key=lambda d: (-1 if d["rank"] is None else d["rank"], d["id"]))
        ids = [np.frombuffer(d["ids"], dtype=np.int32) for d in docs]
        sequences, dropped = concat_chunks([len(a) for a in ids], self._seq_len)
        chunks, doc_ids, offsets = [], [], []
        for parts in sequences:
            chunks.append(np.concatenate([ids[doc][start:start + take] for doc, start, take in parts]))
            doc_ids.append([docs[doc]["id"] for doc, _, _ in parts])
            offsets.append(np.cumsum([0] + [take for _, _, take in parts[:-1]]).tolist())
        table = pa.Table.from_arrays(
            [_ids_array(chunks), pa.array(doc_ids, pa.list_(pa.string())), pa.array(offsets, pa.list_(pa.int32()))],
            schema=PACKED_SCHEMA,
        )
        data = table_bytes(table, _row_group_rows(self._seq_len), self._zstd_level)
        rel = f"{PACKED_DIR}/{shard_name(index, shards)}"
        yield _write(self._root, rel, data, len(chunks), len(chunks) * self._seq_len) | {"tokens_dropped": dropped}


def _sum_counts(parts, label: str):
    return (
        parts
        | f"{label}Flatten" >> beam.Flatten()
        | f"{label}Sum" >> beam.CombinePerKey(sum)
        | f"{label}Dict" >> beam.combiners.ToDict()
    )


class WriteSequences(beam.PTransform):
    """Kept documents → training sequences under ``root``; returns one dict of counts and written files.

    ``spec`` is the run's ``output.packing`` (``mode`` ``decompose`` or
    ``concat``); ``tokenizer`` is what the driver resolved for it.
    """

    def __init__(self, root: str, spec, tokenizer: PackingTokenizer, zstd_level: int):
        super().__init__()
        self._root, self._spec, self._tokenizer, self._zstd_level = root, spec, tokenizer, zstd_level

    def expand(self, docs):
        spec = self._spec
        tokenized = (
            docs
            | "Batch" >> beam.BatchElements(min_batch_size=_TOKENIZE_BATCH, max_batch_size=_TOKENIZE_BATCH)
            | "Tokenize" >> beam.ParDo(_TokenizeFn(self._tokenizer))
        )
        counts = [tokenized | "TokenCounts" >> beam.FlatMap(_token_counts)]
        if spec.mode == "decompose":
            files = self._write_buckets(tokenized, counts)
        else:
            files = self._write_packed(tokenized, counts)
        file_list = files | "FileList" >> beam.combiners.ToList()
        return (
            _sum_counts(counts, "Counts")
            | "WithFiles" >> beam.Map(
                lambda c, fs: {"counts": c, "files": sorted(fs, key=lambda f: f["path"])},
                beam.pvalue.AsSingleton(file_list))
        )

    def _write_buckets(self, tokenized, counts: list):
        spec = self._spec
        pieces = tokenized | "Decompose" >> beam.ParDo(
            _DecomposeFn(spec.min_log2, spec.max_log2)).with_outputs(_DecomposeFn.COUNTS, main="pieces")
        counts.append(pieces[_DecomposeFn.COUNTS])
        bucket_tokens = (
            pieces.pieces
            | "PieceTokens" >> beam.Map(lambda kv: (kv[0], 1 << kv[0]))
            | "BucketTokens" >> beam.CombinePerKey(sum)
        )
        shard_tokens = spec.shard_tokens
        shards = beam.pvalue.AsDict(bucket_tokens | "BucketShards" >> beam.Map(
            lambda kv: (kv[0], shards_for(kv[1], shard_tokens))))
        return (
            pieces.pieces
            | "AssignBucketShard" >> beam.Map(
                lambda kv, n: ((kv[0], stable_bucket(kv[1]["doc_id"], n[kv[0]])), kv[1]), shards)
            | "GroupBucketShard" >> beam.GroupByKey()
            | "WriteBucketShard" >> beam.ParDo(_WriteBucketShardFn(self._root, self._zstd_level), shards)
        )

    def _write_packed(self, tokenized, counts: list):
        spec = self._spec
        totals = (
            tokenized
            | "DocTokens" >> beam.Map(lambda d: (1, len(d["ids"]) // 4))
            | "TotalDocsTokens" >> beam.CombineGlobally(lambda xs: tuple(map(sum, zip(*xs))) or (0, 0))
        )
        shard_tokens = spec.shard_tokens
        shards = beam.pvalue.AsSingleton(totals | "PackedShards" >> beam.Map(
            lambda t: shards_for(t[1], shard_tokens)))
        per_shard_docs = beam.pvalue.AsSingleton(totals | "DocsPerShard" >> beam.Map(
            lambda t: max(1, math.ceil(t[0] / shards_for(t[1], shard_tokens)))))
        written = (
            tokenized
            | "AssignPackedShard" >> beam.Map(
                lambda d, n, per: (_packed_shard(d, n, per), d), shards, per_shard_docs)
            | "GroupPackedShard" >> beam.GroupByKey()
            | "WritePackedShard" >> beam.ParDo(
                _WritePackedShardFn(self._root, spec.seq_len, self._zstd_level), shards)
        )
        counts.append(written | "PackedCounts" >> beam.FlatMap(
            lambda f: [("sequences", f["rows"]), ("tokens_packed", f["tokens"]),
                       ("tokens_dropped", f["tokens_dropped"])]))
        return written


def _packed_shard(doc: dict, shards: int, docs_per_shard: int) -> int:
    """Contiguous runs of an order a stage fixed (``icp_order``'s contexts stay together); else a hash of the id."""
    if doc["rank"] is not None:
        return min(doc["rank"] // docs_per_shard, shards - 1)
    return stable_bucket(doc["id"], shards)
