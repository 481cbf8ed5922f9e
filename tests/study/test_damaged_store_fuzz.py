"""Property: any one file of a finished study's results store truncated, emptied or deleted ->
the rerun exits 0, says at most one warning line (naming that file when it says one), and ends
with the results of a clean run (timings aside). The study is the smallest with tuning,
evaluation and SimCLR encoders; the local runner keeps each example to seconds."""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alstudy.cli import main
from tests.conftest import tiny_study

VOLATILE = ["seconds_train", "shared_training", "seconds_eval", "seconds_score", "seconds_select", "seconds_pretrain", "attempt",
            "run"]
EXTRA = """
[paradigms]
ft = { method = "supervised", init = "simclr" }

[pretrain]
steps = 5
batch_size = 32
"""


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """(study file, the results folder of its finished local run, the files in that folder)."""
    folder = tmp_path_factory.mktemp("clean")
    path = tiny_study(str(folder), name="fz", datasets=("digits",), strategies=("random", "margin"), cycles=1,
                      trials=2, eval_seeds=(100,), extra=EXTRA)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", path, "--out", str(folder / "out"), "--local", "--plain"]) == 0
    root = folder / "out" / "fz"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert {"tuning.db", "results.parquet", "study.json"} <= set(files)
    assert any(f.startswith("pretrained/") for f in files) and any(f.startswith("trials/tune-") for f in files)
    return path, root, files


def damage(path: Path, how: str, keep: float) -> None:
    if how == "deleted":
        path.unlink()
    elif how == "emptied":
        path.write_bytes(b"")
    else:   # cut short after `keep` of its bytes (at least one byte lost)
        data = path.read_bytes()
        path.write_bytes(data[: min(int(len(data) * keep), len(data) - 1)])


def rerun(clean, damages: list[tuple[str, str, float]]) -> tuple[int, str, Path, tempfile.TemporaryDirectory]:
    """Rerun a copy of the clean store with `damages` done to it: (exit code, what it printed,
    the copy, its temporary folder to clean up)."""
    path, root, _ = clean
    tmp = tempfile.TemporaryDirectory(prefix="alstudy-fuzz-")
    copy = Path(tmp.name) / "out" / "fz"
    shutil.copytree(root, copy)
    for name, how, keep in damages:
        if (copy / name).exists():
            damage(copy / name, how, keep)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", path, "--out", str(copy.parent), "--local", "--plain"])
    return code, out.getvalue() + err.getvalue(), copy, tmp


def same_results(root: Path, copy: Path) -> None:
    a, b = (pd.read_parquet(r / "results.parquet") for r in (root, copy))
    keep_columns = [c for c in a.columns if c not in VOLATILE]
    pd.testing.assert_frame_equal(a[keep_columns], b[keep_columns])


def check(clean, name: str, how: str, keep: float) -> None:
    code, said, copy, tmp = rerun(clean, [(name, how, keep)])
    with tmp:
        assert code == 0 and "Traceback" not in said, f"{name} {how}: {said}"
        warnings = [line for line in said.splitlines() if "warning:" in line]
        assert len(warnings) <= 1, f"{name} {how}: {said}"
        if how != "cut short" and not silent(name, how):   # (a cut may lose nothing but a last newline)
            assert len(warnings) == 1, f"{name} {how}: {said}"
        assert all(Path(name).name.split(".")[0] in w for w in warnings), f"{name} {how}: {said}"
        same_results(clean[1], copy)


def silent(name: str, how: str) -> bool:
    """Files whose loss needs no word: the lock, the study file's copy, and files rewritten whole
    from the study and the logs (a pretrained encoder without its JSON is one cut short by a crash)."""
    return (name in (".lock", "study.toml")
            or how == "deleted" and (name in ("study.json", "results.parquet")
                                     or name.startswith("pretrained/") and name.endswith(".json")))


def damages(files: list[str]):
    return st.tuples(st.sampled_from(files), st.sampled_from(["cut short", "emptied", "deleted"]),
                     st.floats(0.0, 1.0))


@settings(max_examples=8, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_damaged_file_of_a_finished_store_reruns_to_the_clean_results(clean, data):
    check(clean, *data.draw(damages(clean[2])))


@pytest.mark.slow
@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_damaged_file_of_a_finished_store_reruns_to_the_clean_results_many(clean, data):
    check(clean, *data.draw(damages(clean[2])))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["cut short", "emptied", "deleted"])
def test_every_file_of_a_finished_store_damaged_in_turn(clean, how):
    for name in clean[2]:
        check(clean, name, how, 0.5)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_two_damaged_files_rerun_to_the_clean_results_or_one_line(clean, data):
    """Two files at once: the clean results again, except where the tuning storage and every
    log of one proposal are both lost (its params are gone): then one line, exit 2."""
    both = data.draw(st.lists(damages(clean[2]), min_size=2, max_size=2, unique_by=lambda d: d[0]))
    code, said, copy, tmp = rerun(clean, both)
    with tmp:
        assert "Traceback" not in said, f"{both}: {said}"
        names = {name for name, _, _ in both}
        if code == 2:
            assert "tuning.db" in names and any(n.startswith("trials/tune-") for n in names), f"{both}: {said}"
            assert len(said.strip().splitlines()) == 1 and "cannot rebuild the tuning" in said
        else:
            assert code == 0, f"{both}: {said}"
            same_results(clean[1], copy)
