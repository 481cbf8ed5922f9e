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


def test_validate_prints_the_worst_case_and_the_later_seeds(make_study, capsys):
    # tuning seed 0; the later rounds continue after 101
    path = adaptive_study(make_study, 5, strategies=("random", "entropy", "margin"), trials=1, eval_seeds=(100, 101))
    assert main(["validate", path]) == 0
    out = capsys.readouterr().out
    assert "[102, 103, 104]" in out and "alpha 0.05 / 2 cells" in out
    assert "eval 15; total 18 at most" in out   # 3 cells x 5 seeds, 3 tuning campaigns
