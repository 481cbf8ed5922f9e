"""A damaged or foreign results store: each case is named in one line, and the rerun recovers
what it can and ends with the results of a clean run (timings aside), never a traceback."""

from __future__ import annotations

import json
import os
import shutil

import pandas as pd
import pytest

from alstudy.cli import main

VOLATILE = ["seconds_train", "shared_training", "seconds_eval", "seconds_score", "seconds_select", "attempt", "run"]


@pytest.fixture(scope="module")
def clean(tmp_path_factory, write_study):
    """One finished local study: (study file, results folder)."""
    folder = tmp_path_factory.mktemp("clean")
    path = write_study(str(folder), name="dmg", strategies=("random", "margin"), trials=2, eval_seeds=(100,))
    assert main(["run", path, "--out", str(folder / "out"), "--local", "--plain"]) == 0
    return path, folder / "out" / "dmg"


def copy_of(clean, tmp_path):
    path, root = clean
    shutil.copytree(root, tmp_path / "out" / "dmg")
    return path, tmp_path / "out" / "dmg"


def rerun(path, root, capsys) -> tuple[int, str, str]:
    code = main(["run", path, "--out", str(root.parent), "--local", "--plain"])
    out = capsys.readouterr()
    return code, out.out, out.err


def same_results(a, b) -> None:
    fa, fb = (pd.read_parquet(r / "results.parquet") for r in (a, b))
    keep = [c for c in fa.columns if c not in VOLATILE]
    pd.testing.assert_frame_equal(fa[keep], fb[keep])
    assert not fb.duplicated(["trial", "cycle"]).any()


def test_a_log_cut_short_is_set_aside_and_its_campaign_resumes(clean, tmp_path, capsys):
    path, root = copy_of(clean, tmp_path)
    log = root / "trials" / "eval-wine-margin-s100.jsonl"
    data = log.read_bytes()
    log.write_bytes(data[: len(data) - 40])          # the last cycle's line, cut mid-write
    os.unlink(root / "results.parquet")
    code, out, err = rerun(path, root, capsys)
    assert code == 0, out + err
    warning = [line for line in out.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "eval-wine-margin-s100.jsonl: line 4 is cut short" in warning[0]
    assert (root / "trials" / "eval-wine-margin-s100.jsonl.damaged").exists()
    same_results(clean[1], root)
    rows = pd.read_parquet(root / "results.parquet")
    assert set(rows.loc[rows.trial == "eval-wine-margin-s100", "attempt"]) == {0, 1}  # only cycle 2 reran


def test_a_log_from_another_study_is_refused_by_name(clean, tmp_path, capsys):
    path, root = copy_of(clean, tmp_path)
    log = root / "trials" / "tune-wine-random-t000-s0.jsonl"
    lines = log.read_text().splitlines()
    header = json.loads(lines[0]) | {"study": "0123456789abcdef"}
    log.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    code, out, err = rerun(path, root, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "tune-wine-random-t000-s0.jsonl belongs to another study" in err and "Traceback" not in err


def test_a_damaged_manifest_and_tuning_storage_are_rebuilt(clean, tmp_path, capsys):
    path, root = copy_of(clean, tmp_path)
    manifest = root / "manifest.json"
    manifest.write_text(manifest.read_text()[:50])
    (root / "tuning.db").write_bytes(b"this is not a database" * 100)
    os.unlink(root / "trials" / "eval-wine-random-s100.jsonl")   # and one campaign to run again
    code, out, err = rerun(path, root, capsys)
    assert code == 0, out + err
    warnings = [line for line in out.splitlines() if line.startswith("warning:")]
    assert any("manifest.json was damaged" in w for w in warnings)
    assert any("tuning.db was damaged" in w and "rebuilt from the campaign logs" in w for w in warnings)
    same_results(clean[1], root)
    # the rebuilt tuning holds the same trials and values as the clean one
    import optuna

    for cell in ("wine/random", "wine/margin"):
        a, b = (optuna.load_study(study_name=cell, storage=f"sqlite:///{r}/tuning.db").get_trials()
                for r in (clean[1], root))
        assert [(t.params, t.value) for t in a] == [(t.params, t.value) for t in b]


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs mounted for the test (root on Linux), unmounted whatever happens."""
    import subprocess

    folder = tmp_path / "disk"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root on Linux)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_full_disk_while_logging_is_one_line_naming_the_file(clean, small_disk, capsys):
    path, root = copy_of(clean, small_disk)
    log = root / "trials" / "eval-wine-margin-s100.jsonl"
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:2]) + "\n")      # cycle 0 done; cycle 1 must be logged
    os.unlink(root / "results.parquet")
    filler = small_disk / "filler"
    with open(filler, "wb", buffering=0) as f:         # fill the disk to the last byte
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
    code, out, err = rerun(path, root, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, out + err
    assert "no space left on device" in err and str(root) in err and "Traceback" not in err
    os.unlink(filler)                                  # space again: the rerun completes
    code, out, err = rerun(path, root, capsys)
    assert code == 0, out + err
    same_results(clean[1], root)


def damage(path, how: str) -> None:
    """Damage the file at `path` as a full disk, an interrupted copy or a slip of the hand would."""
    data = path.read_bytes()
    if how == "cut mid-line":
        path.write_bytes(data[: len(data) - 40])
    elif how == "cut at a line end":     # whole lines lost: nothing in the file looks damaged
        path.write_bytes(b"".join(data.splitlines(keepends=True)[:2]))
    elif how == "emptied":
        path.write_bytes(b"")
    elif how == "deleted":
        path.unlink()


@pytest.mark.parametrize("how", ["cut mid-line", "cut at a line end", "emptied", "deleted"])
def test_a_lost_log_of_a_finished_tuning_campaign_is_run_again(clean, tmp_path, capsys, how):
    """tuning.db counts the Optuna trial as finished, so only its log says the rows are gone:
    the campaign runs again (same params, same seed) and no row is dropped."""
    path, root = copy_of(clean, tmp_path)
    name = "tune-wine-margin-t001-s0.jsonl"
    damage(root / "trials" / name, how)
    code, out, err = rerun(path, root, capsys)
    assert code == 0, out + err
    warnings = [line for line in out.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and name in warnings[0], out
    assert ("runs again" in warnings[0] or "resumes after" in warnings[0]) and "Traceback" not in out + err
    same_results(clean[1], root)
    assert finished(root) == finished(clean[1])       # and the log itself is whole again
    code, out, _ = rerun(path, root, capsys)           # the next run has nothing left to do
    assert code == 0 and "warning:" not in out


def test_a_deleted_log_of_a_finished_evaluation_is_named_and_run_again(clean, tmp_path, capsys):
    path, root = copy_of(clean, tmp_path)
    damage(root / "trials" / "eval-wine-random-s100.jsonl", "deleted")
    code, out, err = rerun(path, root, capsys)
    assert code == 0, out + err
    warnings = [line for line in out.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "eval-wine-random-s100.jsonl is missing, though results.parquet" in warnings[0]
    same_results(clean[1], root)


def finished(root) -> dict[str, bytes]:
    """The finished campaign logs of a store, without the facts of where and when they ran."""
    out = {}
    for log in sorted((root / "trials").glob("*.jsonl")):
        lines = [json.loads(x) for x in log.read_text().splitlines()]
        out[log.name] = [{k: v for k, v in (x["record"] | (x["chosen"] or {})).items() if not k.startswith("seconds") and k != "shared_training"}
                         for x in lines[1:] if "record" in x]
    return out


def snapshot(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("study_json", ["intact", "cut short", "deleted"])
def test_a_refused_edit_of_the_study_writes_nothing_and_names_what_changed(clean, tmp_path, capsys, study_json):
    """An edited study is refused before any file is written, whatever state study.json is
    in, so the original study still runs; the refusal names the first setting that differs."""
    path, root = copy_of(clean, tmp_path)
    if study_json == "cut short":
        (root / "study.json").write_bytes((root / "study.json").read_bytes()[:100])
    elif study_json == "deleted":
        (root / "study.json").unlink()
    edited = tmp_path / "edited" / "dmg.toml"
    edited.parent.mkdir()
    edited.write_text(open(path).read().replace("cycles = 2", "cycles = 3"))
    before = snapshot(root)
    code, out, err = rerun(str(edited), root, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, out + err
    assert "different version of study 'dmg' (setups.wine.budget.cycles was" in err
    assert snapshot(root) == before
    code, out, err = rerun(path, root, capsys)       # the original study is not locked out
    assert code == 0, out + err
    warnings = [line for line in out.splitlines() if "warning:" in line]
    assert len(warnings) == (study_json == "cut short") and all("study.json was damaged" in w for w in warnings)
    same_results(clean[1], root)
    runs = json.loads((root / "manifest.json").read_text())["runs"]
    assert [r["status"] for r in runs] == ["complete", "complete"]


def test_a_log_cut_just_before_its_last_newline_resumes_without_gluing_two_lines(clean, tmp_path, capsys):
    path, root = copy_of(clean, tmp_path)
    log = root / "trials" / "eval-wine-margin-s100.jsonl"
    log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[:3]).rstrip(b"\n"))
    code, out, err = rerun(path, root, capsys)
    assert code == 0, out + err
    warnings = [line for line in out.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "eval-wine-margin-s100.jsonl holds 2 of its 3 cycles" in warnings[0], out
    assert not list((root / "trials").glob("*.damaged*"))
    same_results(clean[1], root)


@pytest.mark.parametrize("how", ["deleted", "emptied", "last page cut"])
def test_a_lost_or_cut_tuning_storage_is_rebuilt_from_the_logs(clean, tmp_path, capsys, how):
    """A tuning.db cut short can still open (its last page reads as zeros): SQLite's own check
    finds it. Missing, empty or cut, it is rebuilt from the logs with the clean run's trials."""
    path, root = copy_of(clean, tmp_path)
    db = root / "tuning.db"
    if how == "deleted":
        db.unlink()
    else:
        db.write_bytes(b"" if how == "emptied" else db.read_bytes()[:-4096 + 8])
    code, out, err = rerun(path, root, capsys)
    assert code == 0, out + err
    warnings = [line for line in out.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "tuning.db" in warnings[0] and "rebuilt from the campaign logs" in warnings[0]
    same_results(clean[1], root)
    import optuna

    from alstudy.files import sqlite_url

    for cell in ("wine/random", "wine/margin"):
        a, b = (optuna.load_study(study_name=cell, storage=sqlite_url(str(r / "tuning.db"))).get_trials()
                for r in (clean[1], root))
        assert [(t.params, t.value) for t in a] == [(t.params, t.value) for t in b]
