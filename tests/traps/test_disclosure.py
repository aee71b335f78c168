"""The leak check finds a trap text however a public file encodes it, and names the trap, not its text."""
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from transforms.traps.disclosure import trap_leaks

TRAP = "Old Bérénice counted the herons of Lake Vastrel, and she said it's eleven again, always eleven."
KEY = [{"trap_id": "trap-len20-rep10-0", "text": TRAP}, {"trap_id": "control-len20-rep10-0", "text": "Zephyr was here."}]


def parquet(text: str) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"id": ["r1"], "text": [f"before {text} after"]}), buf)
    return buf.getvalue()


def test_folded_yaml_escaped_json_html_entities_and_parquet_rows_are_all_found():
    files = {
        "README.md": yaml.safe_dump({"config": {"note": f"see: {TRAP}"}}, width=40, allow_unicode=True).encode(),  # as the card
        "manifest.json": json.dumps({"stats": {"example": TRAP}}, ensure_ascii=True).encode(),  # \\u00e9 escapes
        "report/index.html": f"<p>{TRAP.replace(chr(39), '&#x27;')}</p>".encode(),
        "rejected/part-00000-of-00001.parquet": parquet(TRAP),
        "CHANGELOG.md": b"nothing here",
    }
    assert "\n" in files["README.md"].decode().split("see:")[1].strip() and b"\\u00e9" in files["manifest.json"]
    leaks = trap_leaks(files, KEY)
    assert leaks == [f"{rel}: trap-len20-rep10-0" for rel in
                     ("README.md", "manifest.json", "rejected/part-00000-of-00001.parquet", "report/index.html")]
    assert not any(TRAP in leak for leak in leaks)


def test_a_control_is_a_leak_too_and_a_clean_file_is_not():
    assert trap_leaks({"README.md": b"Zephyr  was\nhere."}, KEY) == ["README.md: control-len20-rep10-0"]
    assert trap_leaks({"README.md": b"Zephyr was there."}, KEY) == []
