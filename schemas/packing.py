"""Training sequences beside ``data/``: Dataset Decomposition buckets and concat-and-chunk sequences.

``buckets/len-NNNNN/part-*.parquet``: one sequence of exactly NNNNN tokens of
one document per row; a document's rows in ``chunk_index`` order are its token
ids (minus a dropped remainder). ``packed/part-*.parquet``: ``seq_len`` tokens
per row laid end to end from several documents; ``doc_offsets[i]`` is where
``doc_ids[i]``'s tokens start in the row (for attention that masks across documents).
"""
from __future__ import annotations

import pyarrow as pa

PACKING_VERSION = "1.0"

BUCKET_SCHEMA = pa.schema([
    pa.field("input_ids", pa.list_(pa.int32()), nullable=False),
    pa.field("doc_id", pa.string(), nullable=False),
    pa.field("chunk_index", pa.int32(), nullable=False),
    pa.field("source", pa.string()),
], metadata={"corpusmill_packing_version": PACKING_VERSION})

PACKED_SCHEMA = pa.schema([
    pa.field("input_ids", pa.list_(pa.int32()), nullable=False),
    pa.field("doc_ids", pa.list_(pa.string()), nullable=False),
    pa.field("doc_offsets", pa.list_(pa.int32()), nullable=False),
], metadata={"corpusmill_packing_version": PACKING_VERSION})
