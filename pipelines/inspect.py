"""``corpusmill inspect DIR``: what a produced dataset holds, from its manifest and shards."""
from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.io.dataset_dir import read_complete_manifest
from transforms.outputs.ledger_table import TOP_REASONS, markdown_ledger
from transforms.packing.summary import packing_lines


def inspect_dataset(root: str, as_json: bool = False) -> str:
    manifest = read_complete_manifest(root)
    if as_json:
        keys = ("schema_version", "status", "totals", "shards", "packing", "ledger", "stage_stats", "timings")
        return json.dumps({k: manifest.get(k) for k in keys}, indent=2)
    totals = manifest["totals"]
    lines = [
        f"dataset: {root}",
        f"schema version: {manifest['schema_version']}   status: {manifest['status']}",
        f"rows: {totals['kept_rows']:,} kept in {len(manifest['shards'])} shard(s), "
        f"{totals['data_bytes']:,} bytes; {totals['rejected_rows']:,} rejected rows",
        "",
        "shards:",
    ]
    for shard in manifest["shards"]:
        lines.append(f"  {shard['path']}  rows={shard['rows']:,}  bytes={shard['bytes']:,}  sha256={shard['sha256'][:16]}…")
    if manifest["shards"]:
        first = FileSystems.join(root, manifest["shards"][0]["path"])
        with FileSystems.open(first, mime_type="application/octet-stream") as fh:
            schema = pq.read_schema(io.BytesIO(fh.read()))
        lines += ["", "schema:"] + [f"  {f.name}: {f.type}" for f in schema]
    lines += packing_lines(manifest.get("packing"))
    lines += ["", "ledger:", markdown_ledger(manifest["ledger"], TOP_REASONS)]
    for stage, stats in manifest.get("stage_stats", {}).items():
        lines += ["", f"stats [{stage}]:"]
        for name, value in stats.items():
            lines.append(f"  {name}: {json.dumps(value, sort_keys=True)}")
    return "\n".join(lines)


def cluster_catalogues(root: str) -> str:
    """``corpusmill clusters DIR``: the catalogue of every ``cluster_select`` stage in the run."""
    from transforms.selection.catalogue import catalogue_text

    manifest = read_complete_manifest(root)
    stats = manifest.get("stage_stats", {})
    found = [label for label in sorted(stats) if label.split("#")[0] == "cluster_select"]
    if not found:
        raise ValueError(f"{root}: no cluster_select stage ran here (stages: "
                         f"{', '.join(e['stage'] for e in manifest['ledger'])})")
    return "\n\n".join(catalogue_text(label, stats[label]) for label in found)
