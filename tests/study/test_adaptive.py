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


# -- a study rerun with another max_seeds into the same results folder -------------------------
# The cap stops the evaluation and decides no campaign's result, so it is no part of the
# fingerprint: a study rerun with a higher max_seeds resumes, and one with a lower cap keeps the
# campaigns past it. Stores written while the fingerprint hashed the cap still open.
import json  # noqa: E402
import os  # noqa: E402

from alstudy.errors import UsageError  # noqa: E402
from alstudy.study import plan  # noqa: E402
from alstudy.study.schema import load_study  # noqa: E402

# The fingerprint alstudy gave study "grow" below (tiny_study, max_seeds = 12) while it hashed
# max_seeds and the later seeds: what its study.json and campaign logs carry.
LEGACY_12 = "8652911ce1ca88b6"


def capped(max_seeds: int):
    """adaptive() with another cap: its later seeds are the first ones of any higher cap."""
    import dataclasses
    study = adaptive()
    later = tuple(range(103, 100 + max_seeds))
    return dataclasses.replace(study, evaluation=Evaluation((100, 101, 102), max_seeds=max_seeds, later=later))


def grow(make_study, max_seeds: int, edit=lambda text: text):
    """Study "grow" (wine; random and entropy; evaluation seeds 100, 101) at `max_seeds`."""
    path = adaptive_study(make_study, max_seeds, name="grow")
    with open(path) as f:
        text = edit(f.read())
    with open(path, "w") as f:
        f.write(text)
    return load_study(path)


def saved(out) -> dict:
    with open(f"{out}/grow/study.json") as f:
        return json.load(f)


def test_a_store_reopens_with_max_seeds_raised_and_lowered_again(make_study, tmp_path):
    out = str(tmp_path / "out")
    at12, at24 = grow(make_study, 12), grow(make_study, 24)
    assert at24.evaluation.later[:len(at12.evaluation.later)] == at12.evaluation.later   # finished seeds stay
    assert at12.fingerprint() == at24.fingerprint()
    first = Store.open(out, at12, at12.source)
    spec = plan.eval_spec("eval", "wine", "entropy", 105, {"lr": 0.05}, 0)   # a later seed of both caps
    first.record(spec, {"record": {"cycle": 0}, "chosen": None}, {"attempt": 0}, run=0, cycles_total=1)
    for study in (at24, at12, at24):
        store = Store.open(out, study, study.source)
        assert store.fingerprint == first.fingerprint and store.log(spec.trial).done
        assert saved(out)["evaluation"]["max_seeds"] == study.evaluation.max_seeds   # the cap of the last run


def legacy_store(make_study, out) -> tuple[str, str]:
    """Study "grow" at max_seeds 12 with one finished campaign, as alstudy wrote it while the cap
    was hashed: study.toml, study.json and the log header carry LEGACY_12. (study file, trial)"""
    study = grow(make_study, 12)
    root = os.path.join(out, "grow")
    os.makedirs(os.path.join(root, "trials"))
    with open(os.path.join(root, "study.toml"), "w") as f:
        f.write(study.source)
    with open(os.path.join(root, "study.json"), "w") as f:
        json.dump(study.to_dict() | {"fingerprint": LEGACY_12}, f, indent=2)
    spec = plan.eval_spec("eval", "wine", "entropy", 105, {"lr": 0.05}, 0)
    Store(root, LEGACY_12).record(spec, {"record": {"cycle": 0, "test_acc": 0.9}, "chosen": None},
                                  {"attempt": 0}, run=0, cycles_total=1)
    return spec.trial


def test_a_store_written_while_the_cap_was_hashed_resumes_with_max_seeds_raised(make_study, tmp_path):
    out = str(tmp_path / "out")
    trial = legacy_store(make_study, out)
    header = json.loads(open(f"{out}/grow/trials/{trial}.jsonl").readline())
    assert header["study"] == LEGACY_12
    for cap in (24, 24, 12, 30):   # migrated at the first open; the logs stay readable after it
        study = grow(make_study, cap)
        store = Store.open(out, study, study.source)
        log = store.log(trial)
        assert log.done and log.records == [{"cycle": 0, "test_acc": 0.9}]
        assert set(store.logs()) == {trial}
        assert saved(out)["fingerprint"] == study.fingerprint() != LEGACY_12
        assert saved(out)["legacy_fingerprint"] == LEGACY_12
    os.remove(f"{out}/grow/study.json")   # damaged or lost: the cap of study.toml says which legacy hash
    study = grow(make_study, 24)
    assert Store.open(out, study, study.source).log(trial).done
    assert grow(make_study, 12).legacy_fingerprint(12) == LEGACY_12   # the legacy hash, reproduced


def test_a_study_that_differs_in_what_decides_results_is_still_refused(make_study, tmp_path):
    def refused(out, study) -> str:
        with pytest.raises(UsageError) as caught:
            Store.open(out, study, study.source)
        text = str(caught.value)
        assert "\n" not in text and "a different version of study 'grow' (" in text
        return text

    cases = [   # raised cap and another change: the refusal names the change, not the cap
        (lambda t: t.replace('name = "grow"', 'name = "grow"\ndeterministic = false'), "deterministic was True, now False"),
        (lambda t: t.replace("seeds = [100, 101]", "seeds = [100, 103]"), "evaluation.seeds was [100, 101], now [100, 103]"),
        (lambda t: t.replace("epochs = 3", "epochs = 4"), "setups.wine.train.epochs was 3, now 4"),
    ]
    fresh = str(tmp_path / "fresh")
    at12 = grow(make_study, 12)
    Store.open(fresh, at12, at12.source)
    legacy = str(tmp_path / "legacy")
    legacy_store(make_study, legacy)
    for edit, said in cases:
        assert said in refused(fresh, grow(make_study, 24, edit))
        assert said in refused(legacy, grow(make_study, 24, edit))
    fixed = grow(make_study, 12, lambda t: t.replace("max_seeds = 12\n", ""))   # adaptive or not decides verdicts
    assert "evaluation.max_seeds was 12, now absent" in refused(fresh, fixed)
    assert "evaluation.max_seeds was 12, now absent" in refused(legacy, fixed)
    # a log of another version copied into a store that holds the raised study
    other = grow(make_study, 12, cases[0][0])
    spec = plan.eval_spec("eval", "wine", "random", 100, {"lr": 0.05}, 0)
    Store(f"{fresh}/grow", other.legacy_fingerprint(12)).record(
        spec, {"record": {"cycle": 0}, "chosen": None}, {"attempt": 0}, run=0, cycles_total=1)
    at24 = grow(make_study, 24)
    with pytest.raises(UsageError, match="belongs to another study"):
        Store.open(fresh, at24, at24.source)


def test_split_files_of_later_seeds_are_checked_seed_by_seed(tmp_path):
    import numpy as np

    from tests.study.test_splits import STUDY, write_splits

    for seed in range(8):
        write_splits(tmp_path, seed)

    def study(max_seeds: int):
        path = tmp_path / "s.toml"
        path.write_text(STUDY.format(path=tmp_path / "seed{seed}").replace('strategies = ["random"]', 'strategies = '
                        '["random", "entropy"]').replace("seeds = [1]", f"seeds = [1]\nmax_seeds = {max_seeds}"))
        return load_study(path)

    out = str(tmp_path / "out")
    Store.open(out, study(3), "")
    Store.open(out, study(6), "")    # seeds 2..6: their files are kept in study.json
    Store.open(out, study(3), "")
    lset = tmp_path / "seed5" / "lSet.npy"   # a seed past the lowered cap, run under the higher one
    np.save(lset, np.load(lset)[::-1])
    with pytest.raises(UsageError, match=r"the split file wine/5/lSet.npy differs"):
        Store.open(out, study(6), "")
    np.save(lset, np.load(lset)[::-1])
    Store.open(out, study(7), "")
    np.save(tmp_path / "seed1" / "lSet.npy", np.load(tmp_path / "seed1" / "lSet.npy")[::-1])   # the first round
    with pytest.raises(UsageError, match="the contents of its split or weights files differ"):
        Store.open(out, study(7), "")


def test_a_raised_cap_runs_only_the_new_seeds_of_the_undecided_cells(tmp_path):
    """Stopped at max_seeds 9, rerun at 12: the finished campaigns stay and only the undecided
    cells (and random) get more seeds, as in a study run at 12 from the start."""
    store = Store.open(str(tmp_path / "grown"), capped(9), "")
    first = Scheduler.from_store(capped(9), store)
    drive(first, store)
    before = evaluated(store)
    store = Store.open(str(tmp_path / "grown"), capped(12), "")
    second = Scheduler.from_store(capped(12), store)
    ran = drive(second, store)
    assert ran and {(s.phase, s.strategy) for s in ran} <= {("eval", "margin"), ("eval", "random")}
    assert {s.seed for s in ran} == {109, 110, 111}
    assert sorted(s.trial for s in ran) == sorted(set(s.trial for s in ran))   # each once
    after = evaluated(store)
    for cell, seeds in before.items():
        assert after[cell][:len(seeds)] == seeds
    whole = Store.open(str(tmp_path / "whole"), capped(12), "")
    once = Scheduler.from_store(capped(12), whole)
    drive(once, whole)
    assert after == evaluated(whole) and second.stopped == once.stopped and second.verdicts == once.verdicts
    assert second.all_done()


def test_a_lowered_cap_keeps_the_campaigns_past_it_and_stops_the_cells_there(tmp_path):
    """Run to max_seeds 9, rerun at 6: nothing runs, the undecided cells count as stopped at 6
    (the verdicts of a study capped at 6), the logs of seeds 106-108 stay untouched, and the run
    is complete; back at 9, the cells are where they were."""
    store = Store.open(str(tmp_path / "out"), capped(9), "")
    nine = Scheduler.from_store(capped(9), store)
    drive(nine, store)
    runs = evaluated(store)
    logs = {name: open(f"{store.root}/trials/{name}", "rb").read() for name in os.listdir(f"{store.root}/trials")}
    store = Store.open(str(tmp_path / "out"), capped(6), "")
    six = Scheduler.from_store(capped(6), store)
    assert drive(six, store) == [] and six.all_done()
    assert not store.notes   # no campaign said to be missing
    for cell, why in nine.stopped.items():
        verdict, n = nine.verdicts[cell]
        if n <= 6:
            assert six.stopped[cell] == why and six.verdicts[cell] == (verdict, n)
        else:
            assert six.stopped[cell] == "max_seeds" and six.verdicts[cell][1] == 6
    assert any(n > 6 for _, n in nine.verdicts.values())   # some cell had run past the lowered cap
    done, running, total = six.counts()["eval"]
    assert done == total and running == 0
    assert evaluated(store) == runs
    assert {name: open(f"{store.root}/trials/{name}", "rb").read() for name in logs} == logs
    store = Store.open(str(tmp_path / "out"), capped(9), "")
    again = Scheduler.from_store(capped(9), store)
    assert drive(again, store) == [] and again.stopped == nine.stopped and again.verdicts == nine.verdicts


def test_a_local_study_rerun_with_a_higher_max_seeds_resumes_into_the_same_folder(make_study, tmp_path, capsys):
    import pandas as pd

    volatile = ["seconds_train", "seconds_eval", "seconds_score", "seconds_select", "attempt", "run", "host",
                "device", "gpu_ids", "node_id", "node_ip", "code"]

    def run(max_seeds: int, where: str) -> pd.DataFrame:
        path = adaptive_study(make_study, max_seeds, name="ada", strategies=("random", "entropy"), trials=1,
                              eval_seeds=(100,))
        assert main(["run", path, "--out", str(tmp_path / where), "--local", "--plain"]) == 0, capsys.readouterr()
        return pd.read_parquet(tmp_path / where / "ada" / "results.parquet")

    # rounds of one seed: the sequence is the whole line up to 3 seeds, so entropy runs to its cap
    three = run(3, "out")
    four = run(4, "out")
    assert not four.duplicated(["trial", "cycle"]).any()
    new = four.loc[four.run == 1]
    assert set(new.phase) == {"eval"} and set(new.seed) == {103} and set(new.strategy) == {"random", "entropy"}
    kept = four.loc[four.run == 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, three.reset_index(drop=True))
    fresh = run(4, "fresh")   # the same rows as a study run at max_seeds 4 from the start
    columns = [c for c in fresh.columns if c not in volatile]
    pd.testing.assert_frame_equal(four[columns].reset_index(drop=True), fresh[columns].reset_index(drop=True))
    capsys.readouterr()
    lowered = run(3, "out")   # back to 3: nothing runs, the rows of seed 103 stay, the run is complete
    said = capsys.readouterr().out
    assert lowered.loc[lowered.run == 2].empty and len(lowered) == len(four)
    assert "eval 6/6" in said and "not finished" not in said
    assert main(["report", f"{tmp_path}/out/ada", "--out", str(tmp_path / "rep"), "--bootstrap", "20"]) == 0
    row = pd.read_csv(tmp_path / "rep" / "verdicts.csv").set_index("strategy").loc["entropy"]
    assert (row["seeds_used"], row["stopped"], row["n"]) == (3, "max_seeds", 4)   # its verdict at the cap
