"""Training methods (the `method` of a paradigm) and their options: names, defaults, checks.

A method is how a cycle's model learns from the data: `supervised` (the labeled set only) or a
semi-supervised one that also learns from the unlabeled pool. Its options are knobs that exist
only in that method (FixMatch's confidence threshold); a study fixes them in the paradigm's
table or searches them in `[tuning.space.<method>]`. `METHODS` is the one table of methods:
their options, what they do, and how each builds its unlabeled term (alstudy.training.ssl;
torch is imported only when a term is built, so the CLI and the study checks list and
validate with this module without torch).

Steps of a semi-supervised cycle (`ssl_steps`): a fixed count, `steps` (SSL_STEPS), whatever
the pool's size, never fewer than supervised training would take on the same labels;
`unlabeled_epochs` > 0 adds passes over the pool where they are more, up to `max_steps`.
The count was chosen by measurement. The old rule, 10 passes over the pool at mu = 7 (about
140 steps at 40 labels on mnist5k), lost to supervised training: 0.469 against 0.550 test
accuracy (mnist5k, 40 labels, seed 0). FixMatch at mu = 3, test accuracy against steps
(`alstudy campaign --strategy random --cycles 0`, training defaults, augment 0):

    steps               250     500     1000    1500     supervised (plateau rule)
    MNIST-1D, seed 0   0.635   0.686   0.778   0.793    0.612
    MNIST-1D, seed 1   0.685   0.724   0.846     -      0.648
    MNIST-1D, seed 2     -     0.589   0.741     -      0.606
    mnist5k,  seed 0     -     0.559     -       -      0.550

500 -> 1000 steps adds 8-12 points on MNIST-1D, 1000 -> 1500 1.5 (seed 0): the unlabeled term
has mostly stopped paying by 1000 steps, so SSL_STEPS = 1000. Mean Teacher agrees (MNIST-1D
seed 0: 0.674 at 500, 0.767 at 1000; 0.740 with ema_decay 0.999). mu = 3 rather than the
paper's 7 halves a step's rows (a cost a 2-core study can pay); `ema_decay` = 0.99 because
below 1000 steps the authors' a = min(1 - 1/(t + 1), 0.999) is a plain average of every weight
since the initialization, not a moving average. Pseudo-Label's lambda_u = 1 (not 3): at 3 it
lost to supervised training on MNIST-1D seed 2 (0.557 against 0.606; at 1: 0.615).
Mean Teacher's views are strong (`view` = 2: the dataset's augmentation with RandAugment on
images): with weak views (1) it lost to supervised training on mnist5k at 40 labels (0.544
against 0.550, seed 0), with strong ones it gained (0.665); on MNIST-1D at 100 labels strong
views cost 1.6 points (0.793 [0.773, 0.804] against 0.809 [0.790, 0.822], seeds 0-2), still 17
above supervised. Pseudo-Label keeps weak views (`view` = 1): strong ones gained on mnist5k seed 0
(0.610 against 0.564) but lost on average, 0.573 [0.495, 0.613] against 0.613 [0.557, 0.718]
over seeds 0-2, and on MNIST-1D (0.854 [0.841, 0.864] against 0.860 [0.855, 0.864]).

Defaults (`weak_labeled` on: the labeled batch gets the weak view, `labeled_strength`) against
supervised training (its defaults, the plateau rule; and with augment = 1), test accuracy mean
[min, max] over seeds 0-2, `alstudy campaign --strategy random --initial L --per-cycle L
--cycles 0 --paradigm M --seed S`; seconds: one campaign on one thread, Intel(R) Xeon(R)
Processor, 2 cores (MNIST-1D: process CPU time, loaded; mnist5k: wall, nearly idle, FixMatch's
and the supervised arms' under load):

                             MNIST-1D, 100 labels          mnist5k, 40 labels
                             test accuracy          s      test accuracy          s
    supervised               0.622 [0.606, 0.648]   0.7    0.566 [0.550, 0.574]   6-9
    supervised, augment 1    0.773 [0.751, 0.789]   0.7    0.575 [0.507, 0.627]   6-7
    fixmatch (ahead 10)      0.924 [0.912, 0.933]   11-16  0.804 [0.761, 0.874]   242-259
    uda                      0.944 [0.932, 0.952]   22     0.809 [0.762, 0.880]   396-470
    mean_teacher (view 2)    0.793 [0.773, 0.804]   22     0.695 [0.665, 0.756]   402-442
    pseudo_label             0.860 [0.855, 0.864]   18     0.613 [0.557, 0.718]   312-387 (CPU)

FixMatch's row is at `ahead` 10 (wall seconds beside a study); at ahead 1 it was 0.915 [0.909,
0.923] and 0.769 [0.758, 0.779] (`_strong` says why the default changed).
Every semi-supervised cycle takes 1000 steps. FixMatch, UDA and Mean Teacher beat both
supervised arms on every seed of both datasets. Pseudo-Label does on MNIST-1D, but on mnist5k
only on seeds 0 and 1 (+1.4, +14.5 points); on seed 2 it loses 1.7 (0.557 against 0.574). On
fresh seeds 3-5 (the variant chosen there, then to be checked on 0-2) it beat both supervised
arms on every seed: 0.808 / 0.745 / 0.625 against 0.602 / 0.567 / 0.558 (augment 1: 0.615 /
0.624 / 0.572); Lee's threshold 0 gave 0.878 / 0.732 / 0.612, lower on two seeds of three, so
the threshold stays 0.95 and nothing was left to check on 0-2.

With the labeled batch unaugmented (`weak_labeled = false`), the same MNIST-1D runs gave fixmatch
0.788 [0.741, 0.846], uda 0.797 [0.759, 0.863], mean_teacher 0.746 [0.710, 0.767], pseudo_label
0.666 [0.615, 0.697]; on mnist5k FixMatch at 1000 steps 0.543 against supervised 0.550 (seed 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from alstudy.config import typed
from alstudy.errors import UsageError

SSL_STEPS = 1000   # steps of a semi-supervised cycle by default (ssl_steps; measured above)


@dataclass(frozen=True)
class Option:
    """One method option: its default, and the allowed range (`low` <= value <= `high`)."""

    name: str
    default: Any
    doc: str
    low: float | None = None
    high: float | None = None


def _ssl(lambda_u: float = 1.0, mu: int = 3) -> tuple[Option, ...]:
    """The options every semi-supervised method has (the step rule and the unlabeled rows)."""
    return (Option("lambda_u", lambda_u, "weight of the unlabeled loss", 0.0),
            Option("mu", mu, "unlabeled rows per labeled row in a step", 1),
            Option("steps", SSL_STEPS, "steps of a cycle, whatever the pool's size (see ssl_steps)", 1),
            Option("unlabeled_epochs", 0.0, "passes over the unlabeled rows per cycle (when more than `steps`)",
                   0.0),
            Option("max_steps", 3000, "cap on the steps of a cycle", 1),
            Option("include_labeled", False, "the labeled rows also count as unlabeled"),
            Option("weak_labeled", True, "the labeled batch gets at least the weak view (the dataset's "
                   "augmentation at strength 1), whatever the recipe's augment"))


def labeled_strength(options: Mapping[str, Any], augment: float) -> float:
    """Augmentation strength of a method's labeled batch: the recipe's `augment`, raised to the
    weak view's strength 1 when the method's `weak_labeled` is on. Sohn et al. 2020 (FixMatch,
    Algorithm 1) compute the labeled loss on weakly augmented images, as UDA and Mean Teacher
    augment theirs and as USB/TorchSSL do for every method. Measured on mnist5k at 40 labels
    (seed 0, Intel Xeon, loaded): FixMatch at 1000 steps, labeled batch unaugmented 0.543 test
    accuracy against supervised 0.550; with the weak view 0.771."""
    return max(float(augment), 1.0) if options.get("weak_labeled", False) else float(augment)


def _strong(ahead: int) -> tuple[Option, ...]:
    """The strong view's options, with `ahead`'s default. FixMatch's is 10: on MNIST-1D at 100
    labels, ahead 10 against 1 over seeds 0-13 moved FixMatch by +0.2 points (p 0.52), and on
    digits its step fell from 2.3x to 1.52-1.54x its floor (bench `ssl`, nearly idle). UDA keeps
    1: the same runs moved it by -1.4 points (p 0.09; lower on 11 of 14 seeds, two of them by
    7-9 points), not clear of noise, but no reason to change its stream either."""
    return (Option("strong", 2.0, "strength of the strong view (images: > 1 adds RandAugment; plus cutout)", 0.0),
            Option("cutout", 0.5, "side of the strong view's cutout square, a fraction of the image", 0.0, 1.0),
            Option("ahead", ahead, "steps whose unlabeled views one batched call builds (1: each step its "
                   "own; more: fewer, larger calls, the same distribution with the generators' values in "
                   "another order)", 1, 64))


_STRONG = _strong(1)
_VIEW = Option("view", 1.0, "augmentation strength of the unlabeled views", 0.0)

@dataclass(frozen=True)
class Method:
    """A training method: its options, what it does, and `make_term(x_unlabeled, *, data,
    options, batch_size)`, the unlabeled term it adds to every training step (None: the
    labeled set only)."""

    options: tuple[Option, ...]
    description: str
    make_term: Callable[..., Any] | None = None


# each builder imports its term when a campaign trains (torch), never when the table is read
def _fixmatch(x, *, data, options, batch_size):
    from alstudy.training.ssl.fixmatch import FixMatch

    return FixMatch(x, weak=data.augmenter(1.0), strong=data.augmenter(options["strong"]),
                    to_float=data.to_float, options=options, batch_size=batch_size)


def _uda(x, *, data, options, batch_size):
    from alstudy.training.ssl.uda import UDA

    return UDA(x, target=data.augmenter(options["target_strength"]), strong=data.augmenter(options["strong"]),
               to_float=data.to_float, options=options, batch_size=batch_size)


def _mean_teacher(x, *, data, options, batch_size):
    from alstudy.training.ssl.mean_teacher import MeanTeacher

    return MeanTeacher(x, view=data.augmenter(options["view"]), to_float=data.to_float, options=options,
                       batch_size=batch_size)


def _pseudo_label(x, *, data, options, batch_size):
    from alstudy.training.ssl.pseudo_label import PseudoLabel

    return PseudoLabel(x, view=data.augmenter(options["view"]), to_float=data.to_float, options=options,
                       batch_size=batch_size)


def _seg_self_training(x, *, data, options, batch_size):
    from alstudy.training.ssl.seg_self_training import SegSelfTraining

    return SegSelfTraining(x, augment=data.augmenter(1.0), to_float=data.to_float, options=options,
                           batch_size=batch_size, num_classes=data.spec.num_classes)


METHODS: dict[str, Method] = {
    "supervised": Method((), "cross-entropy on the labeled set only"),
    "fixmatch": Method(
        (Option("threshold", 0.95, "confidence a weak view needs to become a pseudo-label", 0.0, 1.0),
         *_ssl(), *_strong(10)),
        "FixMatch (Sohn et al. 2020): pseudo-labels from a weak view train a strong view", _fixmatch),
    "uda": Method(
        (Option("threshold", 0.8, "confidence a target view needs to count (confidence mask)", 0.0, 1.0),
         Option("temperature", 0.4, "softmax temperature sharpening the target", 1e-3, 10.0),
         Option("target_strength", 0.0, "augmentation strength of the target view (0: the original row)", 0.0),
         *_ssl(), *_STRONG),
        "UDA (Xie et al. 2020): KL from a sharpened target view to a strong view, confidence mask", _uda),
    "mean_teacher": Method(
        (Option("ema_decay", 0.99, "decay of the teacher's moving average of the weights", 0.0, 1.0),
         Option("rampup", 0.3, "fraction of the steps over which the consistency weight ramps up", 0.0, 1.0),
         Option("teacher_scores", True, "the teacher (else the student) is evaluated and scores the pool"),
         *_ssl(lambda_u=10.0),
         Option("view", 2.0, "augmentation strength of the unlabeled views (images: > 1 adds RandAugment)", 0.0)),
        "Mean Teacher (Tarvainen & Valpola 2017): consistency with an EMA teacher on another view",
        _mean_teacher),
    "pseudo_label": Method(
        (Option("threshold", 0.95, "confidence a prediction needs to become a pseudo-label "
                "(0: every row, as Lee 2013)", 0.0, 1.0),
         Option("rampup_start", 0.1, "fraction of the steps before which the weight is 0 (T1)", 0.0, 1.0),
         Option("rampup_end", 0.6, "fraction of the steps at which the weight reaches lambda_u (T2)", 0.0, 1.0),
         *_ssl(), _VIEW),
        "Pseudo-Label (Lee 2013): confident argmax labels, weight ramped up linearly", _pseudo_label),
    "self_training": Method(
        (Option("threshold", 0.0, "confidence a teacher's pixel needs to become a pseudo-label (0: every "
                "pixel, as ST)", 0.0, 1.0),
         *_ssl(mu=1), _STRONG[0],
         Option("student_fraction", 1.0, "the student's steps as a share of the count `steps` gives (never "
                "fewer than the teacher's; 1: as many steps again, as ST)", 0.01, 4.0)),
        "self-training (Yang et al. 2022, ST; segmentation only): a teacher trained on the labels "
        "pseudo-labels the pool once, the student trains on both with strong views and CutMix",
        _seg_self_training),
}


def method_names() -> list[str]:
    return list(METHODS)


def option_names(method: str) -> list[str]:
    return [o.name for o in METHODS[method].options]


def option_defaults(method: str) -> dict[str, Any]:
    return {o.name: o.default for o in METHODS[method].options}


def check_method(method: Any, key: str) -> str:
    """`method` when it names a method; UsageError keyed `key` listing the choices otherwise."""
    if method not in METHODS:
        raise UsageError(f"unknown method; choices: {', '.join(METHODS)}", key=key, value=method)
    return method


def check_option(method: str, name: str, value: Any, key: str) -> Any:
    """`value` as the option `name` of `method` stores it; UsageError keyed `key` when bad."""
    option = next((o for o in METHODS[method].options if o.name == name), None)
    if option is None:
        raise UsageError(f"method {method!r} has no such option; its options: "
                         f"{', '.join(option_names(method)) or 'none'}", key=key)
    value = typed(value, option.default, key)
    if (option.low is not None and value < option.low) or (option.high is not None and value > option.high):
        raise UsageError(f"must be in [{option.low}, {option.high if option.high is not None else 'inf'}]",
                         key=key, value=value)
    return value


def resolve_options(method: str, values: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """Every option of `method`: its defaults overridden by checked `values`."""
    return option_defaults(method) | {k: check_option(method, k, v, f"{where}.{k}") for k, v in values.items()}


def ssl_steps(supervised_steps: int, n_unlabeled: int, batch_size: int, options: Mapping[str, Any]) -> int:
    """Steps of a semi-supervised cycle: `steps`, or `unlabeled_epochs` passes over `n_unlabeled`
    rows at `mu * batch_size` per step where that is more, capped at `max_steps`, never fewer
    than `supervised_steps`. The defaults (`steps` = SSL_STEPS, no passes) make it a fixed
    count measured to be enough (the module's docstring)."""
    passes = math.ceil(options["unlabeled_epochs"] * n_unlabeled / (options["mu"] * batch_size))
    return max(supervised_steps, min(max(options["steps"], passes), options["max_steps"]))


def _seg_fixmatch(x, *, data, options, batch_size):
    from alstudy.training.ssl.seg_fixmatch import SegFixMatch
    from alstudy.training.ssl.seg_views import ImageView

    return SegFixMatch(x, weak=ImageView(data.augmenter(1.0)), to_float=data.to_float, options=options,
                       batch_size=batch_size, num_classes=data.spec.num_classes)


def _seg_mean_teacher(x, *, data, options, batch_size):
    from alstudy.training.ssl.seg_mean_teacher import SegMeanTeacher
    from alstudy.training.ssl.seg_views import ImageView

    return SegMeanTeacher(x, view=ImageView(data.augmenter(options["view"])), to_float=data.to_float,
                          options=options, batch_size=batch_size)


# the semi-supervised methods with a per-pixel term (alstudy.training.ssl.seg_*)
SEGMENTATION_TERMS: dict[str, Callable[..., Any]] = {"fixmatch": _seg_fixmatch, "mean_teacher": _seg_mean_teacher,
                                                     "self_training": _seg_self_training}
SEGMENTATION_ONLY = ("self_training",)   # methods with no classification term yet


def make_term(method: str, x_unlabeled, *, data, options: Mapping[str, Any], batch_size: int):
    """The unlabeled term of `method` on the stored rows `x_unlabeled` of dataset `data` (None
    for a method that learns from the labeled set only); views are `data`'s augmentation at the
    options' strengths. A segmentation dataset gets the method's per-pixel term."""
    check_task(method, data.spec.task, "method")
    build = METHODS[method].make_term
    if build is not None and data.spec.task == "segmentation":
        build = SEGMENTATION_TERMS[method]
    return None if build is None else build(x_unlabeled, data=data, options=options, batch_size=batch_size)


def check_task(method: str, task: str, key: str) -> None:
    """UsageError keyed `key` when `method` cannot train on a dataset of `task` (a
    semi-supervised method without a per-pixel term, on segmentation)."""
    if task == "segmentation" and METHODS[method].make_term is not None and method not in SEGMENTATION_TERMS:
        raise UsageError(f"method {method!r} has no segmentation term; segmentation trains with "
                         f"{', '.join(['supervised', *SEGMENTATION_TERMS])}", key=key, value=method)
    if task != "segmentation" and method in SEGMENTATION_ONLY:
        raise UsageError(f"method {method!r} trains segmentation only; classification trains with "
                         f"{', '.join(m for m in METHODS if m not in SEGMENTATION_ONLY)}", key=key, value=method)


def method_info() -> list[dict[str, Any]]:
    """One row per method for `alstudy list`: name, what it does, options with defaults."""
    return [{"name": name, "description": m.description,
             "options": ", ".join(f"{o.name}={o.default}" for o in m.options) or "-"}
            for name, m in METHODS.items()]
