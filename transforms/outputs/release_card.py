"""What a release says about itself: per-source facts, the dataset card and the CHANGELOG entry.

The card's YAML header is the Hub's dataset-card metadata: ``configs`` (where
the Parquet files are), ``dataset_info`` (features, splits, sizes), license and
language tags; ``datasets.load_dataset(RELEASE_DIR)`` reads it offline. The
features are written from the Arrow schema here rather than with
``datasets.Features`` so that cutting a release does not need ``datasets``
installed; a test checks the two agree.
"""
from __future__ import annotations

import datetime as dt
import io
import json
from collections import Counter, defaultdict

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from apache_beam.io.filesystems import FileSystems

from transforms.decontam.summary import contamination_card
from transforms.outputs.ledger_table import drop_rate, markdown_ledger
from transforms.outputs.token_counter import TokenCounter
from transforms.packing.summary import packing_card, sequence_configs
from transforms.traps.disclosure import traps_card

# The order plots appear in the card (transforms.outputs.report's file names).
REPORT_PLOTS = ("ledger.png", "text_length.png", "languages.png", "quality_signals.png",
                "dedup_clusters.png", "perplexity.png", "icp_similarity.png", "cluster_map.png",
                "packing_tokens.png")
_DTYPE_NAMES = {"double": "float64", "float": "float32", "halffloat": "float16"}


def _feature(arrow_type: pa.DataType) -> dict:
    if pa.types.is_struct(arrow_type):
        return {"struct": [{"name": f.name, **_feature(f.type)} for f in arrow_type]}
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        inner = _feature(arrow_type.value_type)
        return {"list": inner.get("dtype") or inner.get("struct") or inner}
    return {"dtype": _DTYPE_NAMES.get(str(arrow_type), str(arrow_type))}


def hf_features(schema: pa.Schema) -> list[dict]:
    """The Arrow schema as the card's ``dataset_info.features`` list (datasets' YAML form)."""
    return [{"name": f.name, **_feature(f.type)} for f in schema]


def source_facts(root: str, shard_paths: list[str], counter: TokenCounter) -> dict:
    """Per source: rows, tokens, licenses and origin files; plus languages and Arrow bytes, from the rows."""
    sources: dict[str, dict] = defaultdict(lambda: {"rows": 0, "tokens": 0, "licenses": Counter(), "origins": Counter()})
    languages: Counter = Counter()
    arrow_bytes = 0
    for rel in shard_paths:
        with FileSystems.open(FileSystems.join(root, rel), mime_type="application/octet-stream") as fh:
            table = pq.read_table(io.BytesIO(fh.read()))
        arrow_bytes += table.nbytes
        cols = {n: table.column(n).to_pylist() for n in ("text", "source", "meta", "origin_file", "lang")}
        tokens = counter.count(cols["text"])
        for i, n_tokens in enumerate(tokens):
            facts = sources[cols["source"][i] or "(none)"]
            facts["rows"] += 1
            facts["tokens"] += n_tokens
            meta = json.loads(cols["meta"][i]) if cols["meta"][i] else {}
            facts["licenses"][str(meta.get("license") or "unknown")] += 1
            facts["origins"][cols["origin_file"][i] or "(unknown)"] += 1
            if cols["lang"][i]:
                languages[cols["lang"][i]] += 1
    return {
        "sources": {s: {"rows": f["rows"], "tokens": f["tokens"], "licenses": dict(f["licenses"].most_common()),
                        "origin_files": sorted(f["origins"])} for s, f in sorted(sources.items())},
        "languages": dict(languages.most_common()),
        "arrow_bytes": arrow_bytes,
        "tokens": sum(f["tokens"] for f in sources.values()),
        "tokenizer": counter.info.as_dict(),
    }


def drop_rates(ledger: list[dict]) -> dict[str, float]:
    return {e["stage"]: drop_rate(e) for e in ledger}


def _delta(old: float, new: float) -> str:
    change = new - old
    pct = f" ({change / old:+.1%})" if old else ""
    return f"{change:+,}{pct}"


def changelog_entry(name: str, version: str, date: str, current: dict, previous: dict | None) -> str:
    """Markdown for one release: totals, and against ``previous`` the changes in rows, tokens, sources, drop rates."""
    rel, cur_sources = current["release"], current["release"]["sources"]
    head = f"## {name} {version} ({date})\n\n"
    if previous is None:
        return head + (f"First release: {rel['rows']:,} rows, {rel['tokens']:,} tokens, "
                       f"{len(cur_sources)} sources.\n")
    old = previous["release"]
    old_sources = old["sources"]
    lines = [head + f"Compared with {old['version']}:\n",
             f"| | {old['version']} | {version} | change |", "|---|---:|---:|---:|",
             f"| rows | {old['rows']:,} | {rel['rows']:,} | {_delta(old['rows'], rel['rows'])} |",
             f"| tokens | {old['tokens']:,} | {rel['tokens']:,} | {_delta(old['tokens'], rel['tokens'])} |",
             f"| sources | {len(old_sources)} | {len(cur_sources)} | {len(cur_sources) - len(old_sources):+} |", ""]
    added, removed = sorted(set(cur_sources) - set(old_sources)), sorted(set(old_sources) - set(cur_sources))
    lines.append(f"Sources added: {', '.join(added) or 'none'}; removed: {', '.join(removed) or 'none'}.\n")
    changed = [s for s in sorted(set(cur_sources) & set(old_sources)) if cur_sources[s]["rows"] != old_sources[s]["rows"]]
    if changed:
        lines += ["| source | rows before | rows now |", "|---|---:|---:|"]
        lines += [f"| {s} | {old_sources[s]['rows']:,} | {cur_sources[s]['rows']:,} |" for s in changed] + [""]
    before, now = drop_rates(previous["ledger"]), drop_rates(current["ledger"])
    lines += ["| stage | drop rate before | drop rate now |", "|---|---:|---:|"]
    for stage in list(now) + [s for s in before if s not in now]:
        fmt = lambda v: f"{v:.2%}" if v is not None else "—"  # noqa: E731
        lines.append(f"| {stage} | {fmt(before.get(stage))} | {fmt(now.get(stage))} |")
    return "\n".join(lines) + "\n"


def _size_category(rows: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if rows < limit:
            return label
    return "n>10M"


def card_header(manifest: dict, schema: pa.Schema) -> dict:
    rel = manifest["release"]
    data_bytes = manifest["totals"]["data_bytes"]
    licenses = sorted({lic for f in rel["sources"].values() for lic in f["licenses"]})
    header = {
        "pretty_name": f"{rel['name']} {rel['version']}",
        "license": "other",
        "license_name": licenses[0] if len(licenses) == 1 else "mixed (per source, see Sources and licenses)",
        "task_categories": ["text-generation"],
        "size_categories": [_size_category(rel["rows"])],
        "tags": ["corpusmill", "pretraining"],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}]
        + sequence_configs(manifest.get("packing")),
        "dataset_info": {
            "features": hf_features(schema),
            "splits": [{"name": "train", "num_bytes": rel["arrow_bytes"], "num_examples": rel["rows"]}],
            "download_size": data_bytes,
            "dataset_size": rel["arrow_bytes"],
        },
    }
    languages = [lang for lang in rel["languages"] if lang.isalpha() and len(lang) in (2, 3)]
    if languages:
        header["language"] = languages
    return header


def _licenses(counts: dict, shown: int = 5) -> str:
    text = ", ".join(f"{lic} ({n:,})" for lic, n in list(counts.items())[:shown])
    rest = len(counts) - shown
    return text + (f", and {rest} more (all in manifest.json)" if rest > 0 else "")


def render_release_card(manifest: dict, schema: pa.Schema, changelog: str, plots: list[str]) -> str:
    rel = manifest["release"]
    source_rows = "\n".join(
        f"| {s} | {f['rows']:,} | {f['tokens']:,} | {_licenses(f['licenses'])} | "
        f"{', '.join(f['origin_files'][:4])}{' …' if len(f['origin_files']) > 4 else ''} |"
        for s, f in rel["sources"].items()
    )
    checks = "\n".join(f"- {'✅' if c['ok'] else '❌'} {c['name']} ({c['checked']})" for c in rel["validation"])
    ordered = [p for p in REPORT_PLOTS if p in plots] + sorted(p for p in plots if p not in REPORT_PLOTS)
    plot_md = "\n\n".join(f"![{p}](report/{p})" for p in ordered) or "(no plots)"
    changes = changelog.replace("\n## ", "\n### ")
    changes = "#" + changes if changes.startswith("## ") else changes
    packages = "\n".join(f"| {k} | {v} |" for k, v in manifest.get("packages", {}).items())
    tok = rel["tokenizer"]
    return f"""---
{yaml.safe_dump(card_header(manifest, schema), sort_keys=False, allow_unicode=True)}---

# {rel['name']} {rel['version']}

{rel['rows']:,} documents, {rel['tokens']:,} tokens, {len(rel['sources'])} sources, in
{len(manifest['shards'])} zstd Parquet shard(s) under `data/` (schema v{manifest['schema_version']}).
Rejected rows (dropped with a reason, or quarantined with an error) are under `rejected/`;
`SHA256SUMS` lists every file; `manifest.json` records how the data was made;
`report/index.html` is the run report. Cut {rel['created']} from a run of corpusmill
{manifest.get('packages', {}).get('corpusmill', '')} (git {manifest.get('git_commit')}).

```python
from datasets import load_dataset
ds = load_dataset("path/to/this/directory", split="train")
```

Tokens counted with `{tok['name']}` (tokenizer.json sha256 `{tok['sha256'][:16]}…`), no special tokens.

{packing_card(manifest.get("packing"))}{traps_card(manifest)}{contamination_card(manifest)}## Sources and licenses

Licenses are the `license` field each input record carried (kept in `meta`).

| source | rows | tokens | licenses (rows) | origin files |
|---|---:|---:|---|---|
{source_rows}

## Ledger

Every input is accounted for at every stage: `in = kept + dropped + quarantined`.
Drop rate = (dropped + quarantined) / in.

{markdown_ledger(manifest['ledger'], with_drop_rate=True)}

## Validation

{checks}

## Plots

{plot_md}

## Changes

{changes}
## Config as run

```yaml
{yaml.safe_dump(manifest['config'], sort_keys=False, allow_unicode=True)}```

## Package versions

| package | version |
|---|---|
{packages}
"""


def today() -> str:
    return dt.datetime.now(dt.timezone.utc).date().isoformat()
