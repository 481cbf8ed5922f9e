"""The rule that keeps a cell's defaults unless a challenger leads them clear of the noise,
checked on tables whose numbers are worked out by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alstudy.selection import choose

NAN = float("nan")


def test_with_two_trials_the_standard_error_is_the_paired_one():
    # Two trials over 3 seeds: the RCBD standard error is the paired one, s_d / sqrt(k).
    # d = (1, 3, 2) points: lead 2, s_d = 1, se = 1/sqrt(3) = 0.577: clear of one SE.
    defaults = np.array([0.70, 0.80, 0.75])
    clear = choose([defaults, defaults + [0.01, 0.03, 0.02]])
    assert clear.chosen == 1 and not clear.kept_defaults and clear.reason == "clear"
    assert clear.lead == pytest.approx(0.02)
    assert clear.se == pytest.approx(0.01 / math.sqrt(3)) and clear.threshold == pytest.approx(clear.se)
    assert clear.describe() == "challenger clear by +2.0 (needed 0.6)"
    # d = (-2, 6, 2): the same lead, s_d = 4, se = 2.309 > 2: within one SE, the defaults stay.
    noisy = choose([defaults, defaults + [-0.02, 0.06, 0.02]])
    assert noisy.kept_defaults and noisy.reason == "within noise" and noisy.challenger == 1
    assert noisy.se == pytest.approx(0.04 / math.sqrt(3))
    assert noisy.describe() == "kept the defaults (lead +2.0 within 2.3)"
    # d = (0, 4, 2): se = 1.155; clear of one SE (lead 1.73 SE), not of two.
    middle = [defaults, defaults + [0.0, 0.04, 0.02]]
    assert choose(middle).chosen == 1 and choose(middle, z=2.0).kept_defaults


def test_the_noise_is_pooled_over_every_trial():
    # 3 trials x 2 seeds. Row means .75 .76 .75, seed means .80 .70667, grand mean .75333;
    # residuals y - row - seed + grand: row 0 (+.00333, -.00333), row 1 (+.01333, -.01333),
    # row 2 (-.01667, +.01667). Sum of squares 9.3333e-4 over (3-1)(2-1) = 2 df: MS_E = 4.6667e-4;
    # se = sqrt(2 MS_E / 2) = 0.021602 > the 1-point lead of trial 1: kept. Trial 2, whose seeds
    # disagree, widens the noise of the comparison it is not part of.
    c = choose([[0.80, 0.70], [0.82, 0.70], [0.78, 0.72]])
    assert c.challenger == 1 and c.lead == pytest.approx(0.01)
    assert c.se == pytest.approx(math.sqrt(4.6667e-4), rel=1e-4)
    assert c.kept_defaults and c.reason == "within noise"
    # A challenger 10 points ahead on both seeds, the others as before: clear of the same noise.
    far = choose([[0.80, 0.70], [0.90, 0.80], [0.78, 0.72]])
    assert far.chosen == 1 and far.reason == "clear"


def test_one_trial_keeps_the_defaults_and_one_seed_takes_the_best_by_objective():
    single = choose([[0.8, 0.7]])
    assert single.kept_defaults and single.reason == "no challenger" and single.challenger is None
    one_seed = choose([[0.70], [0.95], [0.60]])   # a 25-point lead, no way to tell its noise: the papers' rule
    assert one_seed.chosen == 1 and one_seed.reason == "noise unmeasured"
    assert one_seed.describe() == "best by objective, noise unmeasured (one tuning seed): lead +25.0"
    behind = choose([[0.70], [0.65], [0.70]])     # nobody ahead (a tie goes to the defaults)
    assert behind.kept_defaults and behind.describe() == "kept the defaults (one tuning seed: no challenger ahead)"


def test_zero_noise_lets_any_real_lead_through_and_ties_keep_the_defaults():
    # Trials that differ by a constant on every seed: no interaction, so any lead is clear.
    assert choose([[0.70, 0.80], [0.71, 0.81]]).chosen == 1
    tie = choose([[0.70, 0.80], [0.70, 0.80], [0.70, 0.80]])
    assert tie.kept_defaults and tie.challenger == 1


def test_incomplete_trials_are_left_out():
    # Trial 2 lost a seed: it neither challenges nor counts in the noise (rows 0 and 1 are the
    # clear case of the first test).
    defaults = [0.70, 0.80, 0.75]
    with_gap = choose([defaults, [0.71, 0.83, 0.77], [0.99, NAN, 0.99]])
    assert with_gap.chosen == 1 and with_gap.se == pytest.approx(0.01 / math.sqrt(3))
    # Defaults not finished: the best complete trial by mean, said so.
    gap = choose([[NAN, 0.5], [0.6, 0.7], [0.65, 0.7]])
    assert gap.chosen == 2 and gap.reason == "defaults incomplete"
    with pytest.raises(ValueError, match="trials, seeds"):
        choose([0.1, 0.2])


def test_a_cell_whose_challengers_all_trail_says_so():
    behind = choose([[0.80, 0.70], [0.75, 0.66], [0.70, 0.61]])   # every challenger below the defaults
    assert behind.kept_defaults and behind.reason == "within noise"
    assert behind.describe() == "kept the defaults (no challenger ahead: best -4.5)"
