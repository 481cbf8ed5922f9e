"""When training stops: the `plateau` rule, which watches the training loss, and its learning-rate
schedule for a run whose length is not known in advance.

The rule (`TrainConfig.stop = "plateau"`) keeps an exponential moving average of the step loss
on the device and reads it on the host once every `CHECK_EVERY` steps (one sync per check, none
per step). The learning rate is warmup-stable-decay: linear warmup, the base rate held while
the loss still improves, then a decay to zero over `cooldown` x the steps taken so far, shaped
by `TrainConfig.schedule` (cosine: half a cosine; onecycle: linear; constant: no decay). The
decay starts at the first check where the smoothed loss has not improved by `tolerance` x
its value at the first check for `patience` steps -- stop reason "plateau" -- or, at the
latest, where the decay still ends at the cap -- "cap". The run lasts at least `min_steps` and at most the fixed rule's
count (`epochs` passes, at least `min_steps`).
"""

from __future__ import annotations

import math

import torch

from alstudy.config import TrainConfig

CHECK_EVERY = 10   # steps between host reads of the smoothed loss
EMA_DECAY = 0.9    # about a 10-step window: one check's worth of batches


def warmup_decay(step: int, warm: int, start: int | None, end: int, schedule: str) -> float:
    """Learning-rate multiplier at `step` (0-based): linear warmup over the first `warm` steps,
    the base rate until `start` (None: not yet known), then a decay to zero at `end` shaped by
    `schedule` (cosine: half a cosine; onecycle: linear; constant: none). `fit.lr_factor`'s
    fixed-length cosine is this with start = warm and end = the step count."""
    if step < warm:
        return (step + 1) / warm
    if start is None or step < start:
        return 1.0
    t = (step - start) / max(1, end - start)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * t))
    if schedule == "onecycle":
        return 1 - t
    return 1.0


class Plateau:
    """Stop state of one `fit` under the plateau rule: `factor(step)` is the learning-rate
    multiplier, `observe(step, loss)` says whether training ends after `step`, then `steps`
    and `reason` describe the run. Deterministic given the losses (decisions depend only on
    their values)."""

    def __init__(self, cap: int, train: TrainConfig, *, device: torch.device):
        self.cap, self.train = cap, train
        self.floor = min(train.min_steps, cap)
        self.warm = int(train.warmup * cap)
        # the latest step at which the decay may begin and still end by the cap
        self.decay_by = max(1, math.floor(cap / (1 + train.cooldown)))
        self.start: int | None = None   # first step of the decay phase
        self.end = cap                  # steps of the whole run
        self.reason = "cap"
        self._ema = torch.zeros((), device=device)
        self._best = math.inf
        self._scale: float | None = None  # the smoothed loss at the first check
        self._since = 0                 # steps taken at the last improvement

    @property
    def steps(self) -> int:
        return self.end

    def factor(self, step: int) -> float:
        """Multiplier of the base learning rate at `step` (0-based)."""
        return warmup_decay(step, self.warm, self.start, self.end, self.train.schedule)

    def decaying(self, step: int) -> bool:
        """Whether `step` is in the final (decay) phase: where SWA averages under this rule."""
        return self.start is not None and step >= self.start

    def observe(self, step: int, loss: torch.Tensor) -> bool:
        """Fold `loss` (a 0-d tensor on the device) into the average; True when `step` is the last."""
        with torch.no_grad():
            self._ema.mul_(EMA_DECAY).add_(loss.detach().float(), alpha=1 - EMA_DECAY)
        done = step + 1
        if done >= self.end:
            return True
        if self.start is not None:
            return False
        if done >= self.decay_by:
            self._begin(done, "cap")
        elif done % CHECK_EVERY == 0:
            value = float(self._ema) / (1 - EMA_DECAY ** done)  # bias-corrected; the one host sync
            if self._scale is None:
                self._scale = value
            # in units of the starting loss, not of the current one: near zero the loss keeps
            # halving (memorizing a few labels) long after the model has stopped changing
            if value < self._best - self.train.tolerance * self._scale:
                self._best, self._since = value, done
            elif done - self._since >= self.train.patience:
                self._begin(done, "plateau")
        return done >= self.end

    def _begin(self, done: int, reason: str) -> None:
        """Start the decay after `done` steps; the run ends `cooldown` x `done` steps later,
        never before the floor nor after the cap."""
        self.start, self.reason = done, reason
        self.end = max(done, min(self.cap, max(self.floor, done + math.ceil(self.train.cooldown * done))))
