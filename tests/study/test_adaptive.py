"""An adaptive evaluation ([evaluation] max_seeds): validation, the worst-case plan, seeds spent
in rounds until each cell is decided against random, and resuming mid-round."""

from __future__ import annotations

from alstudy.cli import main


def adaptive_study(make_study, max_seeds, **kwargs) -> str:
    path = make_study(**kwargs)
    text = open(path).read().replace("untuned = false", f"untuned = false\nmax_seeds = {max_seeds}", 1)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_validate_refuses_fewer_max_seeds_than_the_first_round(make_study, capsys):
    path = adaptive_study(make_study, 1, eval_seeds=(100, 101))
    assert main(["validate", path]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "evaluation.max_seeds" in err[0] and ">= the 2 evaluation.seeds" in err[0]
    path = adaptive_study(make_study, "'six'", eval_seeds=(100, 101))
    assert main(["validate", path]) == 2
    assert "evaluation.max_seeds" in capsys.readouterr().err
    path = adaptive_study(make_study, 4, strategies=("entropy", "margin"))   # nothing to test the cells against
    assert main(["validate", path]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "evaluation.max_seeds" in err[0] and "needs 'random'" in err[0]


def test_validate_prints_the_worst_case_and_the_later_seeds(make_study, capsys):
    # tuning seed 0; the later rounds continue after 101
    path = adaptive_study(make_study, 5, strategies=("random", "entropy", "margin"), trials=1, eval_seeds=(100, 101))
    assert main(["validate", path]) == 0
    out = capsys.readouterr().out
    assert "[102, 103, 104]" in out and "alpha 0.05 / 2 cells" in out
    assert "eval 15; total 18 at most" in out   # 3 cells x 5 seeds, 3 tuning campaigns


# -- the scheduler, with real Optuna and a real store; campaign outcomes are stand-ins -----------
import pytest  # noqa: E402

from alstudy.study.plan import CampaignSpec  # noqa: E402
from alstudy.study.scheduler import Scheduler  # noqa: E402
from alstudy.study.schema import Evaluation  # noqa: E402
from alstudy.study.store import Store  # noqa: E402
from tests.study.test_scheduler import make_study as fixed_study, outcome  # noqa: E402

LATER = (103, 104, 105, 106, 107, 108)


def adaptive(trials: int = 2):
    import dataclasses
    study = fixed_study(trials=trials)
    return dataclasses.replace(study, evaluation=Evaluation((100, 101, 102), max_seeds=9, later=LATER))


def test_aubc(spec: CampaignSpec) -> float:
    """Stand-in test AUBC: random varies by seed; entropy is far better; margin ties it, ±2 points."""
    base = 0.7 + 0.01 * (spec.seed % 5) + (0.01 if spec.dataset == "digits" else 0)
    return base + {"random": 0.0, "entropy": 0.1 + 0.002 * (spec.seed % 2),
                   "margin": 0.02 * (-1) ** spec.seed}[spec.strategy]


test_aubc.__test__ = False   # a helper, not a test


def drive(scheduler: Scheduler, store: Store, *, stop_after: int | None = None, parallel: int = 3) -> list:
    running, seen, finished = [], [], 0
    while True:
        while len(running) < parallel and (spec := scheduler.next()) is not None:
            running.append(spec)
            seen.append(spec)
        if not running:
            return seen
        spec = running.pop(0)
        val, test = outcome(spec), test_aubc(spec)
        store.record(spec, {"record": {"cycle": 0, "n_labeled": 10, "val_acc": val, "test_acc": test},
                            "chosen": None}, {"attempt": 0}, run=0, cycles_total=1)
        scheduler.complete(spec.trial, val, test=test)
        finished += 1
        if stop_after is not None and finished >= stop_after:
            return seen


def evaluated(store: Store) -> dict[tuple, list[int]]:
    """Seeds of the finished evaluation campaigns, per cell."""
    out: dict[tuple, list[int]] = {}
    for log in store.logs().values():
        if log.spec.phase == "eval" and log.done:
            out.setdefault(log.spec.cell, []).append(log.spec.seed)
    return {cell: sorted(seeds) for cell, seeds in sorted(out.items())}


def test_a_clear_gain_stops_early_a_tie_runs_to_max_seeds_random_runs_the_union(tmp_path):
    study = adaptive()
    store = Store.open(str(tmp_path), study, "")
    scheduler = Scheduler.from_store(study, store)
    drive(scheduler, store)
    runs = evaluated(store)
    every = [100, 101, 102, *LATER]
    for dataset in ("wine", "digits"):
        gain, tie = (dataset, "entropy", None), (dataset, "margin", None)
        assert scheduler.stopped[gain] == "decided" and len(runs[gain]) in (3, 6)
        assert scheduler.verdicts[gain] == ("better", len(runs[gain]))
        assert scheduler.stopped[tie] == "max_seeds" and runs[tie] == every
        assert scheduler.verdicts[tie] == ("undecided", len(every))
        assert runs[(dataset, "random", None)] == sorted(set(runs[gain]) | set(runs[tie]))
    assert scheduler.all_done() and scheduler.counts()["eval"] == (sum(map(len, runs.values())), 0,
                                                                   sum(map(len, runs.values())))


@pytest.mark.parametrize("stop_after", [27, 38])
def test_a_study_stopped_mid_round_resumes_to_the_same_rows(tmp_path, stop_after):
    study = adaptive()
    whole = Store.open(str(tmp_path / "whole"), study, "")
    once = Scheduler.from_store(study, whole)
    drive(once, whole)
    parts = Store.open(str(tmp_path / "parts"), study, "")
    first = Scheduler.from_store(study, parts)
    drive(first, parts, stop_after=stop_after)
    assert evaluated(parts) != evaluated(whole)   # it stopped with evaluation seeds left
    second = Scheduler.from_store(study, parts)
    drive(second, parts)
    assert evaluated(parts) == evaluated(whole) and second.stopped == once.stopped


def test_a_local_adaptive_run_reports_seeds_used_and_why_each_cell_stopped(make_study, tmp_path, capsys):
    import pandas as pd

    path = adaptive_study(make_study, 3, name="ada", strategies=("random", "entropy"), trials=1, eval_seeds=(100,))
    out = str(tmp_path / "out")
    assert main(["run", path, "--out", out, "--local", "--plain"]) == 0
    rows = pd.read_parquet(f"{out}/ada/results.parquet")
    seeds = {s: sorted(g["seed"].unique()) for s, g in rows.loc[rows.phase == "eval"].groupby("strategy")}
    assert seeds["random"] == seeds["entropy"] and seeds["entropy"] in ([100], [100, 101], [100, 101, 102])
    said = [line for line in capsys.readouterr().out.splitlines() if "evaluation stopped" in line]
    assert len(said) == 1 and f"entropy: evaluation stopped after {len(seeds['entropy'])} seeds" in said[0]
    assert ("still undecided" in said[0]) == (len(seeds["entropy"]) == 3)
    assert main(["report", f"{out}/ada", "--out", str(tmp_path / "rep"), "--bootstrap", "20"]) == 0
    table = pd.read_csv(tmp_path / "rep" / "verdicts.csv")
    row = table.loc[table.strategy == "entropy"].iloc[0]
    assert row["seeds_used"] == len(seeds["entropy"])
    assert row["stopped"] == ("max_seeds" if len(seeds["entropy"]) == 3 else "decided")
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "The evaluation was adaptive" in report and f"{len(seeds['entropy'])} seeds, {row['stopped']}" in report


@pytest.mark.ray
def test_ray_hands_out_the_rounds_a_local_run_does(ray_address, make_study, tmp_path):
    import pandas as pd

    from alstudy.study.runner import RunOptions, run_study
    from tests.study.test_ray_run import VOLATILE

    path = adaptive_study(make_study, 3, name="adaray", strategies=("random", "entropy"), trials=1,
                          eval_seeds=(100,), cpu=0.5)
    assert run_study(path, RunOptions(out=str(tmp_path / "ray"), live=False)) == 0
    assert run_study(path, RunOptions(out=str(tmp_path / "local"), local=True, live=False)) == 0
    ray_df, local_df = (pd.read_parquet(tmp_path / where / "adaray" / "results.parquet") for where in ("ray", "local"))
    columns = [c for c in ray_df.columns if c not in VOLATILE]
    pd.testing.assert_frame_equal(ray_df[columns], local_df[columns])
    # rounds of one seed: the sequence is the whole line up to 3 seeds, so Ray handed out rounds 2 and 3
    assert sorted(ray_df.loc[ray_df.phase == "eval", "seed"].unique()) == [100, 101, 102]
