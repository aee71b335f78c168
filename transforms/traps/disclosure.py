"""What the public may know of a trapped dataset: that traps are there, how many and how long; never which.

The cards get ``traps_card``; a release is refused while ``trap_leaks`` finds
any trap or control text in a file it would publish besides the data shards
(the card, the manifest, the report, rejected rows): a leaked text lets anyone
strip the traps out or, for a control, spoil the comparison detection needs.
"""
from __future__ import annotations

import html
import io
import json
import re

from apache_beam.io.filesystems import FileSystems

from transforms.traps.copyright_traps import TRAP_KEY_FILE

STAGE = "copyright_traps"


def traps_card(manifest: dict) -> str:
    """The card's section on traps (empty for an untrapped dataset): counts and lengths, no texts."""
    traps = manifest.get("traps")
    if not traps:
        return ""
    stats = next((s for label, s in (manifest.get("stage_stats") or {}).items() if label.startswith(STAGE)), {})
    groups = stats.get("groups") or []
    lines = [f"| {g['length']} | {g['repetitions']} | {g['traps']} | {g['controls']} |" for g in groups]
    private = (manifest.get("release") or {}).get("with_traps")
    return (
        "## Copyright traps\n\n"
        f"This dataset carries copyright traps (Meeus et al., 2024): {stats.get('traps', '?')} fictitious sequences "
        f"of {', '.join(str(n) for n in stats.get('lengths', []))} tokens, inserted into "
        f"{stats.get('host_documents', 0):,} documents ({stats.get('insertions', 0):,} insertions), so that training "
        "on it can be detected later. Their texts and hosts are kept by the publisher"
        + (f"; **this private release holds the key** (`{TRAP_KEY_FILE}`): do not publish it.\n\n" if private
           else " and are not part of this release.\n\n")
        + "| length (tokens) | insertions per trap | traps | controls |\n|---:|---:|---:|---:|\n"
        + "\n".join(lines) + "\n\n"
    )


def read_key_file(path: str) -> list[dict]:
    with FileSystems.open(path) as fh:
        return [json.loads(line) for line in fh.read().decode("utf-8").splitlines() if line.strip()]


def read_key(run_dir: str) -> list[dict]:
    return read_key_file(FileSystems.join(run_dir, TRAP_KEY_FILE))


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _searchable(rel: str, data: bytes) -> str:
    """A file's text: Parquet's string columns (rejected rows), JSON's strings (unescaped), HTML unescaped."""
    if rel.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
        parts = []
        for column in table.column_names:
            kind = table.schema.field(column).type
            if pa.types.is_string(kind) or pa.types.is_large_string(kind):
                parts += [v for v in table.column(column).to_pylist() if v]
            elif pa.types.is_binary(kind):
                parts += [v.decode("utf-8", "replace") for v in table.column(column).to_pylist() if v]
        return "\n".join(parts)
    text = data.decode("utf-8", "replace")
    if rel.endswith(".json"):
        try:
            return "\n".join(_strings(json.loads(text)))
        except ValueError:
            return text
    return html.unescape(text) if rel.endswith((".html", ".htm")) else text


def skeleton(text: str) -> str:
    """Letters and digits only, case-folded: a text still matches after YAML folds it over lines, quotes it,
    or Markdown escapes it."""
    return _NOT_ALNUM.sub("", text.casefold())


_NOT_ALNUM = re.compile(r"[\W_]+")


def trap_leaks(files: dict[str, bytes], key: list[dict]) -> list[str]:
    """``file: trap_id`` for every trap or control text found in ``files`` (relative path → bytes), compared
    on their skeletons (a trap is at least several tokens long, so its skeleton is specific)."""
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for row in key:
        automaton.add_word(skeleton(row["text"]), row["trap_id"])
    automaton.make_automaton()
    leaks = []
    for rel in sorted(files):
        found = sorted({trap_id for _, trap_id in automaton.iter(skeleton(_searchable(rel, files[rel])))})
        leaks += [f"{rel}: {trap_id}" for trap_id in found]
    return leaks
