"""The dataset card ``OUT/README.md``: a YAML header HF ``datasets`` reads, then the facts.

With the ``configs`` block, ``datasets.load_dataset(OUT)`` finds the Parquet
shards offline; the body gives a person the ledger and the sources.
"""
from __future__ import annotations

import yaml

from transforms.decontam.summary import contamination_card
from transforms.outputs.ledger_table import TOP_REASONS, markdown_ledger
from transforms.packing.summary import packing_card, sequence_configs
from transforms.traps.disclosure import traps_card


def render_card(manifest: dict, name: str = "corpusmill dataset") -> str:
    rows = manifest["totals"]["kept_rows"]
    data_bytes = manifest["totals"]["data_bytes"]
    header = {
        "pretty_name": name,
        "configs": [
            {"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}
        ] + sequence_configs(manifest.get("packing")),
        "dataset_info": {
            "splits": [{"name": "train", "num_examples": rows, "num_bytes": data_bytes}],
            "download_size": data_bytes,
        },
        "tags": ["corpusmill", "pretraining"],
    }
    sources = manifest.get("stage_stats", {}).get("output", {}).get("rows_per_source", {})
    source_lines = "\n".join(f"| {s} | {n:,} |" for s, n in sorted(sources.items())) or "| (none) | 0 |"
    cfg = yaml.safe_dump(manifest["config"], sort_keys=False, allow_unicode=True)
    return f"""---
{yaml.safe_dump(header, sort_keys=False)}---

# {name}

Built by corpusmill {manifest['packages'].get('corpusmill', '')} (schema v{manifest['schema_version']}).
{rows:,} documents in {len(manifest['shards'])} zstd Parquet shard(s) under `data/`;
rejected rows (dropped with a reason, or quarantined with an error) under `rejected/`.
`manifest.json` lists every file with its sha256.

```python
from datasets import load_dataset
ds = load_dataset("parquet", data_dir="data")  # or load_dataset(<this directory>)
```

{packing_card(manifest.get("packing"))}{traps_card(manifest)}{contamination_card(manifest)}## Sources (kept rows)

| source | rows |
|---|---:|
{source_lines}

## Ledger

Every input is accounted for at every stage: `in = kept + dropped + quarantined`.

{markdown_ledger(manifest['ledger'], TOP_REASONS)}

## Config as run

```yaml
{cfg}```
"""
