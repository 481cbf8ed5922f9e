"""The architecture written in pyproject's [tool.importlinter] holds, and the contract bites:
an import against it (a low layer reaching up, analysis reaching into the study package, a
cycle inside alstudy.study) breaks the check."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lint(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on the pyproject.toml in `root`, reading the packages found there."""
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")
    env = os.environ | {"PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_import_contracts_are_kept():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


# one import against each contract: (module, the line appended to it, the contract it breaks)
AGAINST = [
    ("alstudy/metrics.py", "from alstudy.study import plan", "alstudy's layers"),
    ("analysis/curves.py", "from alstudy.study.schema import Study", "analysis reads the results store only"),
    ("alstudy/study/runner.py", "import analysis.verdict_report", "only the command line imports analysis"),
    ("alstudy/study/plan.py", "from alstudy.study import store", "no import cycle inside alstudy.study"),
    ("alstudy/study/placement.py", "from alstudy.study import scheduler", "alstudy.study in the order"),
]


def test_an_import_against_the_architecture_breaks_the_check(tmp_path):
    for folder in ("alstudy", "analysis"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for module, line, _ in AGAINST:
        with open(tmp_path / module, "a", encoding="utf-8") as f:
            f.write(f"\n{line}\n")
    result = lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{len(AGAINST)} broken" in result.stdout, result.stdout
    broken = result.stdout.split("Broken contracts")[1]
    for module, line, contract in AGAINST:
        assert contract in broken, (contract, result.stdout)


def test_torch_free_modules_import_without_torch():
    """training/__init__ re-exports lazily: the recipe, the method table, the [pretrain] table and
    the metrics load without torch, and `from alstudy.training import fit` is still the function."""
    code = ("import sys\n"
            "import alstudy.training.methods, alstudy.training.simclr_recipe, alstudy.study.pretrain_table\n"
            "import alstudy.metrics, alstudy.provenance, alstudy.files\n"
            "assert 'torch' not in sys.modules, 'torch was loaded'\n"
            "import alstudy.training.fit, alstudy.training.infer   # the submodules first, then the names\n"
            "from alstudy.training import fit, infer, evaluate\n"
            "assert callable(fit) and fit.__name__ == 'fit' and infer.__name__ == 'infer', (fit, infer)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
