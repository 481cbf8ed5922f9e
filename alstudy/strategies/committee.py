"""Strategies that score the pool with several models: MC-dropout's mean prediction (DBAL) and
ensembles of independently initialized members (QBC and its relatives).

An ensemble strategy declares `Needs(ensemble=K)`; the campaign trains the K members and hands
their probabilities (K, N, C) over. Member 0 is the model every strategy trains, so a campaign's
`test_acc` stays comparable across strategies; the ensemble's own accuracy is a separate column.
"""

from __future__ import annotations

import torch

from alstudy.errors import UsageError
from alstudy.strategies import scores
from alstudy.strategies.builtin import _check, _MCScore, _ScoreStrategy
from alstudy.strategies.contract import Needs


class Dbal(_MCScore):
    """DBAL's max entropy (Gal, Islam & Ghahramani 2017, eq. 1 with MC dropout): the entropy
    of the mean of T MC-dropout predictions, highest first."""

    name = "dbal"

    def row_keys(self, *, mc_probs=None, **_) -> list[torch.Tensor]:
        return [scores.mean_entropy(mc_probs)]


class _EnsembleScore(_ScoreStrategy):
    """Top-k of scores of the probabilities of `members` trained models."""

    def __init__(self, *, members: int = 5, reduce: str = "mean", top_q: float = 0.1) -> None:
        super().__init__(reduce=reduce, top_q=top_q)
        self.members = _check("members", members, int, low=2)

    def needs(self) -> Needs:
        return Needs(ensemble=self.members, row_keys=True)


class Qbc(_EnsembleScore):
    """Query by committee (Seung et al. 1992) with an ensemble as the committee: vote entropy of
    the members' predicted classes (Dagan & Engelson 1995). `variation_ratio`: the share of
    members outside the modal vote instead (Munjal et al.'s `ensemble_var_R`; Beluch et al.
    2018). Ties, frequent with few members, go to the higher entropy of the mean prediction."""

    name = "qbc"

    def __init__(self, *, members: int = 5, variation_ratio: bool = False, reduce: str = "mean",
                 top_q: float = 0.1) -> None:
        super().__init__(members=members, reduce=reduce, top_q=top_q)
        if not isinstance(variation_ratio, bool):
            raise UsageError(f"strategy option variation_ratio = {variation_ratio!r}: expected true or false")
        self.variation_ratio = variation_ratio

    def row_keys(self, *, ensemble_probs=None, **_) -> list[torch.Tensor]:
        p = ensemble_probs  # (K, N, C)
        votes = scores.variation_ratio(p) if self.variation_ratio else scores.vote_entropy(p)
        return [votes, scores.mean_entropy(p)]


class EnsembleEntropy(_EnsembleScore):
    """Entropy of the ensemble's mean prediction (Beluch et al. 2018), highest first."""

    name = "ensemble_entropy"

    def row_keys(self, *, ensemble_probs=None, **_) -> list[torch.Tensor]:
        return [scores.mean_entropy(ensemble_probs)]


class EnsembleBald(_EnsembleScore):
    """Mutual information between prediction and member (BALD over an ensemble; Beluch et al.
    2018): H(mean_k p_k) - mean_k H(p_k), highest first."""

    name = "ensemble_bald"

    def row_keys(self, *, ensemble_probs=None, **_) -> list[torch.Tensor]:
        return [scores.bald(ensemble_probs)]
