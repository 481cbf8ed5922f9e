"""The code id names alstudy by its source: an edit to one of its files changes it; an edit to a
study file kept in the same git checkout, or the checkout's git state, does not."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from alstudy.provenance import changed_sources, code_id, current_code, source_digests

ROOT = Path(__file__).resolve().parents[1]
STUDY = 'name = "s"\n[resources]\ncpu = 1\n'


def checkout(folder: Path) -> Path:
    """A git checkout holding a copy of alstudy and a tracked study file, committed."""
    shutil.copytree(ROOT / "alstudy", folder / "alstudy", ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "studies").mkdir()
    (folder / "studies" / "s.toml").write_text(STUDY)
    git = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "x"], check=True)
    return folder


def code_in(folder: Path) -> str:
    """The code id that the alstudy in `folder` gives itself, in a fresh process."""
    code = ("import alstudy, sys; from alstudy.provenance import current_code\n"
            f"assert alstudy.__file__.startswith({str(folder)!r}), alstudy.__file__\n"
            "print(current_code())")
    out = subprocess.run([sys.executable, "-c", code], cwd=folder, env=os.environ | {"PYTHONPATH": str(folder)},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_code_id_changes_with_the_source_and_nothing_else(tmp_path):
    repo = checkout(tmp_path / "repo")
    first = code_in(repo)
    assert first == current_code()        # the same source is the same code, wherever it lies
    study = repo / "studies" / "s.toml"
    study.write_text(STUDY.replace("cpu = 1", "cpu = 2"))   # a tracked file beside the package
    assert code_in(repo) == first
    with open(repo / "alstudy" / "metrics.py", "a") as f:
        f.write("\n# one more line\n")
    edited = code_in(repo)
    assert edited != first and edited.split("+")[0] == first.split("+")[0]


def test_source_digests_name_the_files_that_changed(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "sub" / "b.py").write_text("y = 2\n")
    (package / "notes.txt").write_text("not source")
    before = source_digests(str(package))
    assert list(before) == ["pkg/a.py", "pkg/sub/b.py"]
    (package / "sub" / "b.py").write_text("y = 3\n")
    (package / "c.py").write_text("")
    after = source_digests(str(package))
    assert changed_sources(before, after) == ["pkg/c.py", "pkg/sub/b.py"]
    assert code_id("0.1.0", before) != code_id("0.1.0", after)
    assert code_id("0.1.0", before) == code_id("0.1.0", dict(reversed(before.items())))   # order-free


@pytest.mark.slow   # three `alstudy run` processes: about a minute on 2 busy cores
def test_a_resumed_study_mixes_code_only_when_the_source_changed_and_says_which_file(tmp_path, write_study):
    """Editing [resources] of a tracked study file is no change of code; editing alstudy is, and
    the resumed run says so in one line naming the file."""
    import pandas as pd

    from analysis.analyze import code_counts

    repo = checkout(tmp_path / "repo")
    study = write_study(str(repo / "studies"), name="mix", strategies=("random",), trials=1, eval_seeds=(100,),
                        cycles=1)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git + ["add", study], check=True)
    subprocess.run(git + ["commit", "-qm", "the study file is tracked"], check=True)
    root = tmp_path / "out" / "mix"

    def run_again() -> str:
        for log in (root / "trials").glob("eval-*.jsonl"):   # one campaign for the run to do
            log.unlink()
        out = subprocess.run([sys.executable, "-m", "alstudy", "run", study, "--out", str(tmp_path / "out"),
                              "--local", "--plain"], cwd=repo, env=os.environ | {"PYTHONPATH": str(repo)},
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    run_again()
    with open(study, "a") as f:
        f.write("max_concurrent = 1\n")           # [resources] is the file's last table
    printed = run_again()
    assert "warning" not in printed
    assert len(code_counts(pd.read_parquet(root / "results.parquet"))) == 1   # the report's "Mixed code" count

    with open(repo / "alstudy" / "metrics.py", "a") as f:
        f.write("\n# one more line\n")
    printed = run_again()
    warnings = [line for line in printed.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1 and "(changed since the last run: alstudy/metrics.py)" in warnings[0], printed
    assert len(code_counts(pd.read_parquet(root / "results.parquet"))) == 2
