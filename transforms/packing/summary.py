"""The manifest's ``packing`` section: what the sequences writer reported, checked against the files.

Counts come from the pipeline; rows, bytes and sha256 are read back from the
written files (``describe``), and every mismatch is a problem the run reports
like an unbalanced ledger. Also writes ``buckets/_curriculum.json``.
"""
from __future__ import annotations

import hashlib
import json
from typing import Callable

from transforms.packing.curriculum import curriculum_spec
from transforms.packing.write_sequences import BUCKETS_DIR, PACKED_DIR, bucket_dir

# "_": readers that open buckets/ as one Parquet dataset (pyarrow, Spark) skip it
CURRICULUM_FILE = f"{BUCKETS_DIR}/_curriculum.json"


def _under(files: list[dict], directory: str) -> list[dict]:
    return [f for f in files if f["path"].startswith(directory + "/")]


def packing_section(spec: dict, tokenizer: dict, written: dict, files: list[dict], kept_rows: int,
                    write: Callable[[str, bytes], None]) -> tuple[dict, list[str]]:
    """``(section, problems)``. ``files``: every Parquet file found under the packing directories,
    described (relative ``path``, ``rows``, ``bytes``, ``sha256``); ``write(relative path, bytes)``
    writes the curriculum file."""
    counts, reported = written.get("counts", {}), written.get("files", [])
    problems = []
    documents = counts.get("documents", 0)
    if documents != kept_rows:
        problems.append(f"packing tokenized {documents} documents but the last stage kept {kept_rows}")
    found = {f["path"]: f["sha256"] for f in files}
    claimed = {f["path"]: f["sha256"] for f in reported}
    if found != claimed:
        problems.append(f"packing files on disk ({len(found)}) differ from those the pipeline wrote ({len(claimed)})")
    section = {
        "mode": spec["mode"],
        "config": spec,
        "tokenizer": tokenizer,
        "documents": documents,
        "documents_without_tokens": counts.get("documents_without_tokens", 0),
        "tokens": counts.get("tokens", 0),
        "tokens_dropped": counts.get("tokens_dropped", 0),
    }
    if spec["mode"] == "decompose":
        section["documents_shorter_than_smallest_bucket"] = counts.get("documents_shorter_than_smallest_bucket", 0)
        buckets, tokens, sequences, dirs = [], {}, {}, {}
        for log2 in range(spec["min_log2"], spec["max_log2"] + 1):
            dirs[log2] = bucket_dir(log2)
            sequences[log2] = counts.get(f"sequences/{log2}", 0)
            tokens[log2] = counts.get(f"tokens/{log2}", 0)
            bucket_files = _under(files, dirs[log2])
            rows = sum(f["rows"] for f in bucket_files)
            if rows != sequences[log2]:
                problems.append(f"{dirs[log2]} holds {rows} sequences but the pipeline made {sequences[log2]}")
            buckets.append({"log2": log2, "seq_len": 1 << log2, "dir": dirs[log2], "sequences": sequences[log2],
                            "tokens": tokens[log2], "files": bucket_files})
        packed_tokens = sum(tokens.values())
        curriculum = json.dumps(curriculum_spec(tokens, sequences, dirs), indent=2).encode("utf-8") + b"\n"
        write(CURRICULUM_FILE, curriculum)
        section["buckets"] = buckets
        section["curriculum"] = {"path": CURRICULUM_FILE, "sha256": hashlib.sha256(curriculum).hexdigest()}
    else:
        packed_files = _under(files, PACKED_DIR)
        section["seq_len"] = spec["seq_len"]
        section["sequences"] = counts.get("sequences", 0)
        rows = sum(f["rows"] for f in packed_files)
        if rows != section["sequences"]:
            problems.append(f"{PACKED_DIR}/ holds {rows} sequences but the pipeline made {section['sequences']}")
        packed_tokens = counts.get("tokens_packed", 0)
        section["files"] = packed_files
    section["tokens_packed"] = packed_tokens
    if packed_tokens + section["tokens_dropped"] != section["tokens"]:
        problems.append(f"packing: {packed_tokens} tokens packed + {section['tokens_dropped']} dropped "
                        f"!= {section['tokens']} tokenized")
    return section, problems


def packing_files(manifest: dict) -> list[dict]:
    """Every file the ``packing`` section lists (``path`` and ``sha256``), curriculum included."""
    section = manifest.get("packing")
    if not section:
        return []
    files = list(section.get("files", []))
    for bucket in section.get("buckets", []):
        files += bucket["files"]
    if section.get("curriculum"):
        files.append(section["curriculum"])
    return files


def packing_lines(section: dict | None) -> list[str]:
    """The packing section as ``corpusmill inspect`` prints it (nothing for a run without packing)."""
    if not section:
        return []
    tok = section["tokenizer"]
    eos = f"{tok['eos_token']} (id {tok['eos_id']})" if tok["eos_token"] is not None else "none"
    lines = ["", f"packing: {section['mode']}   tokenizer {tok['name']} (sha256 {tok['sha256'][:12]}…)   eos {eos}",
             f"  {section['documents']:,} documents, {section['tokens']:,} tokens: {section['tokens_packed']:,} packed, "
             f"{section['tokens_dropped']:,} dropped"]
    if section["mode"] == "decompose":
        lines.append(f"  {section['documents_shorter_than_smallest_bucket']:,} documents shorter than the smallest "
                     f"bucket; curriculum {section['curriculum']['path']}")
        lines.append("  | bucket | seq_len | sequences | tokens | share | files |")
        lines.append("  |---|---:|---:|---:|---:|---:|")
        for b in section["buckets"]:
            share = b["tokens"] / section["tokens_packed"] if section["tokens_packed"] else 0.0
            lines.append(f"  | {b['dir']} | {b['seq_len']:,} | {b['sequences']:,} | {b['tokens']:,} | {share:.1%} | "
                         f"{len(b['files'])} |")
    else:
        lines.append(f"  packed/: {section['sequences']:,} sequences of {section['seq_len']:,} tokens in "
                     f"{len(section['files'])} file(s)")
    return lines


def sequence_configs(section: dict | None) -> list[dict]:
    """HF ``datasets`` configs (for a card's YAML header), one per non-empty sequence directory."""
    if not section:
        return []
    if section["mode"] == "decompose":
        dirs = [(b["dir"].rsplit("/", 1)[-1], b["dir"]) for b in section["buckets"] if b["files"]]
    else:
        dirs = [(PACKED_DIR, PACKED_DIR)] if section["files"] else []
    return [{"config_name": name, "data_files": [{"split": "train", "path": f"{directory}/*.parquet"}]}
            for name, directory in dirs]


def packing_card(section: dict | None) -> str:
    """The dataset card's "Training sequences" part (empty for a run without packing)."""
    if not section:
        return ""
    table = "\n".join(line[2:] for line in packing_lines(section)[3:] if line.startswith("  |"))
    if section["mode"] == "decompose":
        body = f"""Dataset Decomposition (Pouransari et al., 2024): each document's tokens are cut into sequences whose
lengths are powers of two, so no sequence mixes two documents. Buckets `buckets/len-NNNNN/` hold
`input_ids` (NNNNN tokens), `doc_id`, `chunk_index` and `source`; `{section['curriculum']['path']}` gives
each bucket's tokens and the sampling weights of the `uniform` and `grow_p2` (short-to-long) curricula.

{table}
"""
    else:
        body = f"""Concat-and-chunk: documents laid end to end, cut every {section['seq_len']:,} tokens, in `packed/`
(`input_ids`, `doc_ids`, `doc_offsets`: where each document's tokens start in the row).
{section['sequences']:,} sequences.
"""
    tok = section["tokenizer"]
    return f"""## Training sequences

{section['tokens_packed']:,} of {section['tokens']:,} tokens packed ({section['tokens_dropped']:,} dropped)
with tokenizer `{tok['name']}` (sha256 `{tok['sha256'][:16]}…`), each document ended by
`{tok['eos_token']}`. {body}
"""
