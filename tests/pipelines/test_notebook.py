"""The shard-inspection notebook runs top to bottom against a real produced dataset."""
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support.corpora import REPO


@pytest.mark.slow
def test_inspect_notebook_executes_against_demo_output(demo_output, tmp_path):
    nb = nbformat.read(REPO / "notebooks" / "inspect_shards.ipynb", as_version=4)
    os.environ["CORPUSMILL_DATASET"] = str(demo_output["dir"])
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        del os.environ["CORPUSMILL_DATASET"]
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the length plot was not drawn"
    text = "".join(str(o.get("data", {}).get("text/plain", "")) + o.get("text", "") for o in outputs)
    assert "malformed_json" in text
    assert "grow_p2:" in text and "uniform:" in text  # the demo's buckets read back as fixed-budget batches
    nbformat.write(nb, tmp_path / "executed.ipynb")
    assert Path(tmp_path / "executed.ipynb").stat().st_size > 0
