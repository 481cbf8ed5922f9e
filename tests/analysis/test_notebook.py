"""The rank-stability notebook runs top to bottom on a small results directory."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "analysis" / "notebooks" / "rank_stability.ipynb"


def test_notebook_executes_on_a_results_directory(results_dir, monkeypatch):
    monkeypatch.setenv("ALSTUDY_RESULTS_DIR", str(results_dir))
    monkeypatch.setenv("ALSTUDY_N_BOOT", "100")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()  # raises on any failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 6
    text = " ".join(o.get("text", "") + str(o.get("data", {}).get("text/markdown", "")) for o in outputs)
    assert "Kendall's W" in text and "tuned random" in text
