"""The rule that keeps a cell's defaults unless a challenger leads them clear of the noise,
checked on tables whose numbers are worked out by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alstudy.selection import choose

NAN = float("nan")


def test_two_trials_are_a_one_sided_paired_t_test():
    # Two trials over 3 seeds: the RCBD standard error is the paired one, s_d / sqrt(k).
    # d = (1, 3, 2) points: mean 2, s_d = 1, se = 1/sqrt(3) = 0.5774; t(0.95, 2 df) = 2.9200,
    # so the lead must exceed 1.6859 points: 2 is clear.
    defaults = np.array([0.70, 0.80, 0.75])
    clear = choose([defaults, defaults + [0.01, 0.03, 0.02]])
    assert clear.chosen == 1 and not clear.kept_defaults and clear.reason == "clear"
    assert clear.lead == pytest.approx(0.02)
    assert clear.se == pytest.approx(0.01 / math.sqrt(3))
    assert clear.threshold == pytest.approx(2.919986 * 0.01 / math.sqrt(3), rel=1e-5)
    assert clear.describe() == "challenger clear by +2.0 (needed 1.7)"
    # d = (0, 4, 2): same lead, s_d = 2, se = 1.1547, needed 3.3717: kept (1.7 SE).
    noisy = choose([defaults, defaults + [0.0, 0.04, 0.02]])
    assert noisy.kept_defaults and noisy.reason == "within noise" and noisy.challenger == 1
    assert noisy.threshold == pytest.approx(2.919986 * 0.02 / math.sqrt(3), rel=1e-5)
    # d = (-2, 6, 2): s_d = 4, se = 2.309 > the 2-point lead: within one SE, kept.
    within_one_se = choose([defaults, defaults + [-0.02, 0.06, 0.02]])
    assert within_one_se.lead < within_one_se.se and within_one_se.kept_defaults
    assert within_one_se.describe() == "kept the defaults (lead +2.0 within 6.7)"


def test_the_noise_is_pooled_over_every_trial_and_the_threshold_counts_the_challengers():
    # 3 trials x 2 seeds. Row means .75 .77 .74, seed means .80333 .70333, grand mean .75333;
    # residuals y - row - seed + grand: row 0 (0, 0), row 1 (+.01, -.01), row 2 (-.01, +.01).
    # MS_E = 4e-4 / ((3-1)(2-1)) = 2e-4; se = sqrt(2 * 2e-4 / 2) = 0.014142.
    # Two possible challengers: one-sided t at 0.05 / 2 with 2 df = 4.3027 -> needed 0.060849.
    table = [[0.80, 0.70], [0.83, 0.71], [0.78, 0.70]]
    c = choose(table)
    assert c.challenger == 1 and c.lead == pytest.approx(0.02)
    assert c.se == pytest.approx(math.sqrt(2e-4))
    assert c.threshold == pytest.approx(4.302653 * math.sqrt(2e-4), rel=1e-5)
    assert c.kept_defaults and c.reason == "within noise"
    # A challenger 10 points ahead on both seeds, the others as before: clear of the same noise.
    far = choose([[0.80, 0.70], [0.90, 0.80], [0.79, 0.70]])
    assert far.chosen == 1 and far.reason == "clear"


def test_one_trial_or_one_seed_keeps_the_defaults():
    single = choose([[0.8, 0.7]])
    assert single.kept_defaults and single.reason == "no challenger" and single.challenger is None
    one_seed = choose([[0.70], [0.95], [0.60]])   # a 25-point lead, but no way to tell its noise
    assert one_seed.kept_defaults and one_seed.reason == "noise unmeasured" and one_seed.challenger == 1


def test_zero_noise_lets_any_real_lead_through_and_ties_keep_the_defaults():
    # Trials that differ by a constant on every seed: no interaction, so any lead is clear.
    assert choose([[0.70, 0.80], [0.71, 0.81]]).chosen == 1
    tie = choose([[0.70, 0.80], [0.70, 0.80], [0.70, 0.80]])
    assert tie.kept_defaults and tie.challenger == 1


def test_incomplete_trials_are_left_out():
    # Trial 2 lost a seed: it neither challenges nor counts in the noise (the table of rows 0 and 1
    # is the clear case of the first test).
    defaults = [0.70, 0.80, 0.75]
    with_gap = choose([defaults, [0.71, 0.83, 0.77], [0.99, NAN, 0.99]])
    assert with_gap.chosen == 1 and with_gap.se == pytest.approx(0.01 / math.sqrt(3))
    # Defaults not finished: the best complete trial by mean, said so.
    gap = choose([[NAN, 0.5], [0.6, 0.7], [0.65, 0.7]])
    assert gap.chosen == 2 and gap.reason == "defaults incomplete"
    with pytest.raises(ValueError, match="trials, seeds"):
        choose([0.1, 0.2])
