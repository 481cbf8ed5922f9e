"""The built-in strategies: thin wrappers that feed a PoolView to the kernels.

Options are keyword arguments kept as plain attributes (so strategies pickle and print). Every
random choice, including the order among equal scores, comes from the `gen` given to select.
"""

from __future__ import annotations

from typing import Callable

import torch

from alstudy.errors import UsageError
from alstudy.strategies import scores
from alstudy.strategies.badge import badge, badge_embedded
from alstudy.strategies.contract import Needs, PoolView, Strategy
from alstudy.strategies.draws import permutation
from alstudy.strategies.kcenter import kcenter_greedy
from alstudy.strategies.pixels import check_reduce, reduce_pixels
from alstudy.strategies.probcover import probcover
from alstudy.strategies.typiclust import typiclust


def _check(name: str, value, kind: type | tuple[type, ...], *, low: float | None = None,
           high: float | None = None, allow_none: bool = False):
    """Return value if it is a `kind` within [low, high]; UsageError naming the option if not."""
    if value is None and allow_none:
        return value
    ok = isinstance(value, kind) and not isinstance(value, bool)
    ok = ok and (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        rng = f" in [{low}, {high}]" if high is not None else (f" >= {low}" if low is not None else "")
        none = " or none" if allow_none else ""
        what = kind.__name__ if isinstance(kind, type) else "number"
        raise UsageError(f"strategy option {name} = {value!r}: expected a {what}{rng}{none}")
    return value


def _features(value) -> str:
    """Where an embedding strategy's features come from: "model" (the cycle's task model) or
    "simclr" (the study's pretrained encoder, as the TypiClust and ProbCover papers use)."""
    from alstudy.training.simclr_recipe import FEATURES

    if value not in FEATURES:
        raise UsageError(f"strategy option features = {value!r}: allowed: {', '.join(FEATURES)}")
    return value


def top_k(keys: list[torch.Tensor], k: int, gen: torch.Generator) -> torch.Tensor:
    """Positions of the k best rows, best first: ordered by keys[0] descending, ties by keys[1]
    descending, and so on; remaining ties in an order drawn from gen."""
    order = permutation(keys[0].shape[0], gen, keys[0].device)
    for key in reversed(keys):  # stable sorts from the last key to the first = lexicographic
        order = order[torch.sort(key[order], descending=True, stable=True).indices]
    return order[:k]


class RandomSampling(Strategy):
    """Uniform sampling without replacement: the baseline every strategy is compared with."""

    name = "random"

    def pick(self, view: PoolView, k: int, gen: torch.Generator) -> torch.Tensor:
        return torch.randperm(view.n, generator=gen)[:k]


class _ScoreStrategy(Strategy):
    """Top-k of one or more per-row keys (higher = more informative), lexicographic.

    `row_keys` is the one place a subclass computes its keys from model outputs over rows. A
    classifier's rows are the pool's rows; on a dense model a row is a pixel: the campaign
    streams the pool through `row_keys` and reduces every key per image with `reduce_pixels`
    (`reduce`, `top_q`: see alstudy.strategies.pixels), and the strategy ranks `PoolView.keys`.
    """

    def __init__(self, *, reduce: str = "mean", top_q: float = 0.1) -> None:
        self.reduce, self.top_q = check_reduce(reduce, top_q)

    def row_keys(self, *, probs: torch.Tensor | None = None, mc_probs: torch.Tensor | None = None,
                 ensemble_probs: torch.Tensor | None = None,
                 flip_probs: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Keys (R,) of R rows from what `needs` asked for: probs (R, C), mc_probs (T, R, C),
        ensemble_probs (K, R, C), flip_probs (2, R, C)."""
        raise NotImplementedError

    def reduce_pixels(self, key: torch.Tensor) -> torch.Tensor:
        """An image key from each image's pixel keys, (B, P) -> (B,)."""
        return reduce_pixels(key, self.reduce, self.top_q)

    def keys(self, view: PoolView) -> list[torch.Tensor]:
        if view.keys is not None:
            return view.keys
        return self.row_keys(probs=view.probs, mc_probs=view.mc_probs, ensemble_probs=view.ensemble_probs,
                             flip_probs=view.flip_probs)

    def pick(self, view: PoolView, k: int, gen: torch.Generator) -> torch.Tensor:
        return top_k(self.keys(view), k, gen)


class _ProbsScore(_ScoreStrategy):
    """Top-k of the subclass's `score(probs)`: one plain pass of the model over the pool."""

    score: Callable[[torch.Tensor], torch.Tensor]  # a staticmethod in each subclass

    def needs(self) -> Needs:
        return Needs(probs=True, row_keys=True)

    def row_keys(self, *, probs=None, **_) -> list[torch.Tensor]:
        return [self.score(probs)]


class _MCScore(_ScoreStrategy):
    """Top-k of scores of `mc_samples` MC-dropout samples (the subclass's `row_keys`). On a
    dense model the samples are drawn on `pixels` pixel rows per image, drawn uniformly without
    replacement from the generator (None: every pixel)."""

    def __init__(self, *, mc_samples: int = 20, pixels: int | None = 256, reduce: str = "mean",
                 top_q: float = 0.1) -> None:
        super().__init__(reduce=reduce, top_q=top_q)
        self.mc_samples = _check("mc_samples", mc_samples, int, low=2)
        self.pixels = _check("pixels", pixels, int, low=1, allow_none=True)

    def needs(self) -> Needs:
        return Needs(mc_samples=self.mc_samples, row_keys=True, pixels=self.pixels)


class LeastConfidence(_ProbsScore):
    """Lowest top-class probability first."""

    name = "least_confidence"
    score = staticmethod(scores.least_confidence)


class Margin(_ProbsScore):
    """Smallest gap between the two most likely classes first."""

    name = "margin"
    score = staticmethod(scores.margin)


class Entropy(_ProbsScore):
    """Highest predictive entropy first."""

    name = "entropy"
    score = staticmethod(scores.entropy)


class Bald(_MCScore):
    """BALD (Houlsby et al. 2011) with MC dropout (Gal et al. 2017)."""

    name = "bald"

    def row_keys(self, *, mc_probs=None, **_) -> list[torch.Tensor]:
        return [scores.bald(mc_probs)]


class VariationRatio(_MCScore):
    """Variation ratio of the MC-dropout votes; its many ties go to the higher entropy of the
    mean prediction."""

    name = "variation_ratio"

    def row_keys(self, *, mc_probs=None, **_) -> list[torch.Tensor]:
        return [scores.variation_ratio(mc_probs), scores.mean_entropy(mc_probs)]


class Coreset(Strategy):
    """Core-set (Sener & Savarese 2018): k-center greedy on embeddings, labeled rows as centers."""

    name = "coreset"

    def needs(self) -> Needs:
        return Needs(embedding=True, labeled_embedding=True)

    def pick(self, view: PoolView, k: int, gen: torch.Generator) -> torch.Tensor:
        return kcenter_greedy(view.embedding, view.labeled(), k, gen)


class Badge(Strategy):
    """BADGE (Ash et al. 2020): k-means++ on last-layer gradient embeddings. A dense model's
    image embeds as the sum of its pixels' gradient embeddings (`Needs.gradient_embedding`)."""

    name = "badge"

    def needs(self) -> Needs:
        return Needs(probs=True, embedding=True, gradient_embedding=True)

    def pick(self, view: PoolView, k: int, gen: torch.Generator) -> torch.Tensor:
        if view.gradient_embedding is not None:
            return badge_embedded(view.gradient_embedding, k, gen)
        return badge(view.embedding, view.probs, k, gen)


class TypiClust(Strategy):
    """TypiClust (Hacohen et al. 2022); options as in `typiclust`."""

    name = "typiclust"

    def __init__(self, *, max_clusters: int = 500, min_cluster_size: int = 5, knn: int = 20,
                 features: str = "model") -> None:
        self.max_clusters = _check("max_clusters", max_clusters, int, low=1)
        self.min_cluster_size = _check("min_cluster_size", min_cluster_size, int, low=1)
        self.knn = _check("knn", knn, int, low=1)
        self.features = _features(features)

    def needs(self) -> Needs:
        return Needs(embedding=True, labeled_embedding=True, simclr_features=self.features == "simclr")

    def pick(self, view: PoolView, k: int, gen: torch.Generator) -> torch.Tensor:
        return typiclust(view.embedding, view.labeled(), k, gen, max_clusters=self.max_clusters,
                         min_cluster_size=self.min_cluster_size, knn=self.knn)


class ProbCover(Strategy):
    """ProbCover (Yehuda et al. 2022); options as in `probcover`. n_clusters None: the purity
    rule uses as many pseudo-classes as the model has classes (then probs are needed)."""

    name = "probcover"

    def __init__(self, *, delta: float | None = None, purity: float = 0.95,
                 n_clusters: int | None = None, normalize: bool = True, max_degree: int = 100,
                 features: str = "model") -> None:
        self.delta = _check("delta", delta, (int, float), low=0.0, allow_none=True)
        self.purity = _check("purity", purity, (int, float), low=0.0, high=1.0)
        self.n_clusters = _check("n_clusters", n_clusters, int, low=1, allow_none=True)
        if not isinstance(normalize, bool):
            raise UsageError(f"strategy option normalize = {normalize!r}: expected true or false")
        self.normalize = normalize
        self.max_degree = _check("max_degree", max_degree, int, low=1)
        self.features = _features(features)

    def needs(self) -> Needs:
        return Needs(embedding=True, labeled_embedding=True, probs=self.n_clusters is None,
                     simclr_features=self.features == "simclr")

    def pick(self, view: PoolView, k: int, gen: torch.Generator) -> torch.Tensor:
        n_clusters = self.n_clusters if self.n_clusters is not None else int(view.probs.shape[1])
        return probcover(view.embedding, view.labeled(), k, gen, delta=self.delta, purity=self.purity,
                         n_clusters=n_clusters, normalize=self.normalize, max_degree=self.max_degree)
