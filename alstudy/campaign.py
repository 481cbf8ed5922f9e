"""run_campaign: one full active-learning campaign as a pure function of (config, seed).

    for cycle c = 0..C:   train from scratch on L_c -> evaluate on validation and test
                          -> unless last: score the pool, the strategy picks b new labels

Each record describes one cycle: the labels that arrived for it (`new_indices`; cycle 0 holds
the initial set), the time spent choosing them, training on L_c and the scores in the metric
of the dataset's task (`metric`: "acc" or "miou"; alstudy.training.task).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Callable, Sequence

import numpy as np
import torch

from alstudy.config import CampaignConfig, ResolvedBudget
from alstudy.data import dataset_spec, get_dataset
from alstudy.data.splits import read_splits, split_folder
from alstudy.errors import UsageError
from alstudy.models import make_model
from alstudy.models.weights import start_from
from alstudy.provenance import current_code
from alstudy.rng import derive_seed, numpy_generator, torch_generator
from alstudy.strategies import PoolView, make_strategy
from alstudy.training.ensemble import fit_members, member_probs
from alstudy.training.fit import FitStats, fit, in_layout
from alstudy.training.infer import DENSE_BATCH, embed, infer, score_dense
from alstudy.training.loss_module import LossLearner, predict_losses
from alstudy.training.methods import METHODS, check_method, check_task, labeled_strength, make_term, resolve_options
from alstudy.training.shared import SharedTrainings, Trained, key as training_key
from alstudy.training.task import task_for

Record = dict[str, Any]


@dataclass(frozen=True)
class Cycle:
    """One finished cycle, as the results store keeps it: its record, and the labels chosen
    after it for the next cycle (`chosen`: new_indices, seconds_score, seconds_select; None
    after the last cycle). A campaign's cycles so far are its whole resume state: randomness
    is derived from (seed, purpose, cycle), so the labeled set is the initial set plus every
    cycle's labels, and the next cycle draws what an uninterrupted run would."""

    record: Record
    chosen: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {"record": self.record, "chosen": self.chosen}


def initial_split(n_train: int, budget: ResolvedBudget, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(validation indices, initial labeled indices) for `seed`: one seeded permutation of
    the train split, independent of the strategy, so every strategy starts alike."""
    perm = numpy_generator(seed, "split").permutation(n_train)
    return np.sort(perm[:budget.validation]), perm[budget.validation:budget.validation + budget.initial]


def run_campaign(config: CampaignConfig, seed: int, *, device: str = "cpu",
                 on_cycle: Callable[[Cycle, dict | None], None] | None = None,
                 resume: Sequence[Cycle] = (), weights: dict | None = None,
                 shared: SharedTrainings | None = None) -> list[Record]:
    """Run cycles 0..budget.cycles of `config` with `seed`; return one record per cycle.

    `on_cycle(cycle, weights)` is called after every cycle with its `Cycle` (what the results
    store keeps) and, with warm start, the trained weights (else None). `resume`: the cycles
    already done (from the store); the campaign continues after the last of them and the
    returned list holds all records, old and new. A warm-started campaign resumes only with the
    last cycle's `weights`. `shared`: the trainings of the study the campaign belongs to; a
    training another of its campaigns already ran is loaded from there (alstudy.training.shared).
    """
    if resume and config.train.warm_start and weights is None:
        raise ValueError("a warm-started campaign resumes only with its last cycle's weights")
    config = checked(config)
    records = [c.record for c in resume]
    if resume and resume[-1].chosen is None:     # the last cycle is done: nothing left to run
        return records
    dev = torch.device(device)
    data = get_dataset(config.dataset, root=config.data_root, download=config.download).to(dev)
    task = task_for(data)
    budget = config.budget.resolve(data.n_train)
    strategy = make_strategy(config.strategy, **dict(config.strategy_options))
    needs = strategy.needs()
    model_name = config.model or data.default_model
    strength = labeled_strength(config.method_options, config.train.augment)
    augment = data.augmenter(strength)
    if config.splits is not None:  # a paper's published partition for this seed
        val_idx, initial = read_splits(split_folder(config.splits, seed), n_train=data.n_train,
                                       initial=budget.initial, validation=budget.validation)
    else:
        val_idx, initial = initial_split(data.n_train, budget, seed)
    val = torch.as_tensor(val_idx, device=dev)
    x_val, y_val = data.x_train[val], data.y_train[val]
    # a strategy may change how the task model is trained (learning loss): the rows say so
    base = {"dataset": config.dataset, "paradigm": config.paradigm, "method": config.method,
            "strategy": config.strategy, "model": model_name, "seed": int(seed),
            "n_validation": budget.validation,
            "trained_with": "loss_module" if needs.loss_module else "task_loss", **config.train.as_columns(),
            **{f"hp.{k}": v for k, v in config.method_options.items()},
            **config.init.columns()}
    encoder = _encoder(model_name, data, config, dev) if needs.simclr_features else None

    pending = resume[-1].chosen if resume else {"new_indices": initial.tolist(), "seconds_score": 0.0,
                                                "seconds_select": 0.0}
    # L_c = the initial set + every cycle's labels; `pending` holds those of the next cycle
    labeled = [int(i) for r in records for i in r["new_indices"]] + [int(i) for i in pending["new_indices"]]

    with _deterministic(config.deterministic, dev):
        for cycle in range(len(records), budget.cycles + 1):
            lab = torch.as_tensor(labeled, device=dev)
            model = new_model(model_name, data, config, seed, cycle, dev)
            started = config.train.warm_start and weights is not None
            if started:
                model.load_state_dict(weights)
            learner = _new_learner(model, data, lab, needs, seed, cycle) if needs.loss_module else None
            term = _unlabeled_term(config, data, labeled, val)
            # shared: cycle 0 (the same for every strategy), never beside a loss module or an ensemble
            alone = cycle > 0 or started or not needs.plain_training
            parts = None if shared is None or alone else _training_parts(
                config, model_name, strength, seed=seed, cycle=cycle, labeled=labeled, dev=dev)
            stats, seconds_train, term_columns, loaded = _train(
                model, data.x_train[lab], data.y_train[lab], config=config, to_float=data.to_float,
                augment=augment, task=task,
                term=term, learner=learner, seed=seed, cycle=cycle, dev=dev, shared=shared, parts=parts)
            t1 = _now(dev)
            scores = task.columns(task.evaluate(model, x_val, y_val, to_float=data.to_float),
                                  task.evaluate(model, data.x_test, data.y_test, to_float=data.to_float))
            record = {**base, "cycle": cycle, "n_labeled": len(labeled), **task.label_cost(data.y_train[lab]),
                      **scores, "new_indices": [int(i) for i in pending["new_indices"]],
                      "seconds_train": seconds_train, "seconds_eval": _now(dev) - t1,
                      "seconds_score": pending["seconds_score"],
                      "seconds_select": pending["seconds_select"], "steps": stats.steps,
                      "stop_reason": stats.stop_reason, "shared_training": loaded, **term_columns}
            members = [model]
            if needs.ensemble > 1:
                members, extra = _train_members(model, lab, data, config, needs.ensemble, x_val, y_val, seed=seed,
                                                cycle=cycle, like=stats, labeled=labeled, val=val, task=task)
                record.update(extra)
            records.append(record)
            pending = None
            if cycle < budget.cycles:
                pending = _acquire(members, data, strategy, needs, labeled, val, budget.per_cycle,
                                   seed=seed, cycle=cycle, learner=learner, encoder=encoder)
                labeled = labeled + pending["new_indices"]
            weights = ({k: v.detach().clone() for k, v in model.state_dict().items()}
                       if config.train.warm_start else None)
            if on_cycle is not None:
                on_cycle(Cycle(record, pending), weights)
    return records


def _training_parts(config: CampaignConfig, model_name: str, strength: float, *, seed: int, cycle: int,
                    labeled: list[int], dev: torch.device) -> dict[str, Any]:
    """What a cycle's training depends on apart from the semi-supervised term (alstudy.training.shared)."""
    init = config.init
    return {"code": current_code(), "torch": torch.__version__, "dataset": config.dataset,
            "data_root": config.data_root, "splits": config.splits, "model": model_name,
            "model_options": dict(config.model_options),
            "init": [init.kind, init.weights, init.tune, init.columns()],
            "train": dataclasses.asdict(config.train), "strength": strength,
            "budget": dataclasses.asdict(config.budget), "seed": int(seed), "cycle": int(cycle),
            "labeled": [int(i) for i in labeled], "device": dev.type, "deterministic": config.deterministic}


def _train(model, x: torch.Tensor, y: torch.Tensor, *, config: CampaignConfig, to_float, augment, task, term, learner,
           seed: int, cycle: int, dev: torch.device, shared: SharedTrainings | None,
           parts: dict[str, Any] | None) -> tuple[FitStats, float, dict[str, Any], str]:
    """Train this cycle's `model` in place: (stats, seconds, the term's row columns, what was
    loaded instead of trained: "none", "teacher" (self-training's) or "model"). With `parts`
    (None: train), a training of the study already kept in `shared` is loaded, and one run here
    is kept there; the seconds of a loaded training are those it took when it ran."""
    gen = torch_generator(seed, "train", cycle, device=dev.type)
    mix = numpy_generator(seed, "mixup", cycle)
    kw = dict(train=config.train, to_float=to_float, augment=augment, gen=gen, mix_rng=mix, aux=learner, task=task)
    if parts is None or shared is None:
        t0 = _now(dev)
        stats = fit(model, x, y, unlabeled=term, **kw)
        return stats, _now(dev) - t0, term.stats() if term is not None else {}, "none"
    whole = training_key(parts | {"term": None if term is None else [config.method, dict(config.method_options)]})
    found = shared.load(whole)
    if found is not None:
        _restore(model, x, found, gen, mix)
        return FitStats(steps=found.steps, stop_reason=found.stop_reason), found.seconds, found.term, "model"
    teacher_steps, before, loaded = None, 0.0, "none"
    if term is not None and term.teacher_first:   # the teacher is the supervised arm's model
        name = training_key(parts | {"term": None})
        teacher = shared.load(name)
        if teacher is None:
            t0 = _now(dev)
            done = fit(model, x, y, **kw)
            teacher = _kept(shared, name, model, gen, mix, done, _now(dev) - t0, {})
        else:
            _restore(model, x, teacher, gen, mix)
            loaded = "teacher"
        teacher_steps, before = teacher.steps, teacher.seconds
    t0 = _now(dev)
    stats = fit(model, x, y, unlabeled=term, teacher_steps=teacher_steps, **kw)
    seconds = before + _now(dev) - t0
    columns = term.stats() if term is not None else {}
    _kept(shared, whole, model, gen, mix, stats, seconds, columns)
    return stats, seconds, columns, loaded


def _kept(shared: SharedTrainings, name: str, model, gen: torch.Generator, mix: np.random.Generator,
          stats: FitStats, seconds: float, term: dict[str, Any]) -> Trained:
    trained = Trained(weights=model.state_dict(), gen_state=gen.get_state(), mix_state=mix.bit_generator.state,
                      steps=int(stats.steps), stop_reason=stats.stop_reason, seconds=float(seconds), term=term)
    shared.save(name, trained)
    return trained


def _restore(model, x: torch.Tensor, trained: Trained, gen: torch.Generator, mix: np.random.Generator) -> None:
    """`model` and the generators as the kept training left them."""
    model.load_state_dict(trained.weights)
    in_layout(model, x).eval()
    gen.set_state(trained.gen_state)
    mix.bit_generator.state = trained.mix_state


def checked(config: CampaignConfig) -> CampaignConfig:
    """`config` with every option of its method resolved (defaults included). An unknown method
    or option is one UsageError here, as in a study file, never a KeyError deep in a cycle;
    so is a recipe the dataset's task cannot train with (mixup on segmentation)."""
    check_method(config.method, "CampaignConfig.method")
    check_task(config.method, dataset_spec(config.dataset).task, "CampaignConfig.method")
    problem = task_for(dataset_spec(config.dataset)).refusal(mixup=config.train.mixup)
    if problem:
        raise UsageError(problem, key="mixup", value=config.train.mixup)
    return dataclasses.replace(config, method_options=resolve_options(
        config.method, config.method_options, where="CampaignConfig.method_options"))


def unlabeled_rows(n_train: int, labeled: list[int], val: torch.Tensor, *,
                   include_labeled: bool) -> torch.Tensor:
    """Absolute indices (ascending, on `val`'s device) a semi-supervised method may use without
    labels: the train split less the validation set, and less the labeled set unless asked."""
    keep = torch.ones(n_train, dtype=torch.bool, device=val.device)
    keep[val] = False                       # validation rows never train, not even unlabeled
    if not include_labeled:
        keep[torch.as_tensor(labeled, dtype=torch.long, device=val.device)] = False
    return keep.nonzero().squeeze(1)


def _unlabeled_term(config: CampaignConfig, data, labeled: list[int], val: torch.Tensor):
    """The method's term over this cycle's unlabeled rows: the pool (the train split less the
    validation set and, unless `include_labeled`, less the labeled set); None for a method
    that learns from the labeled set only."""
    if METHODS[config.method].make_term is None:
        return None
    rows = unlabeled_rows(data.n_train, labeled, val, include_labeled=config.method_options["include_labeled"])
    return make_term(config.method, data.x_train[rows], data=data, options=config.method_options,
                     batch_size=min(config.train.batch_size, len(labeled)))


def _train_members(model, lab: torch.Tensor, data, config: CampaignConfig, k: int, x_val, y_val, *,
                   seed: int, cycle: int, like: FitStats, labeled: list[int], val: torch.Tensor, task
                   ) -> tuple[list, Record]:
    """The ensemble of a cycle: `model` (member 0, trained like every strategy's model) and
    k - 1 members from their own initial weights (seed, 'init/member<i>', cycle), trained with
    the same recipe, init and method on the same labels: for member 0's steps and schedule
    (`like`), or, with a semi-supervised method, each with its own unlabeled term over the
    same pool. Returns (members, record columns): the ensemble's scores in the task's metric
    (`ensemble_val_<metric>`, `ensemble_test_<metric>`), its size, the
    method its members trained with (`members_method`), the mean of their unlabeled terms'
    statistics (`members_ssl_*`) and their training time."""
    dev = data.device
    t0 = _now(dev)
    name = config.model or data.default_model
    others = [new_model(name, data, config, seed, cycle, dev, member=i) for i in range(1, k)]
    terms = None
    if METHODS[config.method].make_term is not None:
        terms = [_unlabeled_term(config, data, labeled, val) for _ in others]
    fit_members(others, data.x_train[lab], data.y_train[lab], train=config.train, to_float=data.to_float,
                augment=data.augmenter(labeled_strength(config.method_options, config.train.augment)),
                gen=torch_generator(seed, "train-members", cycle, device=dev.type),
                mix_rng=numpy_generator(seed, "mixup-members", cycle), like=like, terms=terms, task=task)
    t1 = _now(dev)
    members = [model, *others]
    extra = {"ensemble_size": k, "members_method": config.method,
             f"ensemble_val_{task.metric}": task.ensemble_metric(members, x_val, y_val, to_float=data.to_float),
             f"ensemble_test_{task.metric}": task.ensemble_metric(members, data.x_test, data.y_test,
                                                                  to_float=data.to_float),
             "seconds_train_members": t1 - t0}
    if terms:
        stats = [t.stats() for t in terms]
        extra |= {f"members_{key}": sum(s[key] for s in stats) / len(stats)
                  for key, value in stats[0].items() if key.startswith("ssl_") and isinstance(value, float)}
    return members, extra


def _new_learner(model, data, lab: torch.Tensor, needs, seed: int, cycle: int) -> LossLearner:
    """The loss-prediction module trained with this cycle's model, from (seed, 'init/loss_module', cycle)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "init/loss_module", cycle))
        return LossLearner.for_model(model, data.to_float(data.x_train[lab[:2]]),
                                     **dataclasses.asdict(needs.loss_module))


def _acquire(members: list, data, strategy, needs, labeled: list[int], val: torch.Tensor, k: int, *,
             seed: int, cycle: int, learner: LossLearner | None = None, encoder=None) -> dict:
    """Score the unlabeled pool with what the strategy needs, let it pick k new labels.
    `members[0]` is the campaign's model; the rest are the ensemble's other members;
    `learner` the loss module trained with the model when the strategy needs one; `encoder`
    the pretrained model whose embeddings a strategy asking for SimCLR features gets."""
    model = members[0]
    dev = data.device
    t0 = _now(dev)
    free = torch.ones(data.n_train, dtype=torch.bool, device=dev)
    free[torch.as_tensor(labeled, device=dev)] = False
    free[val] = False
    pool = free.nonzero().squeeze(1)  # absolute indices, ascending
    own_embedding = needs.embedding and encoder is None
    gen = torch_generator(seed, "mc_dropout", cycle, device=dev.type)
    dense = getattr(model, "dense", False)
    outs = {}
    asks = (needs.row_keys or needs.probs or needs.mc_samples or own_embedding or needs.flip_probs
            or needs.gradient_embedding or needs.ensemble > 1)   # random asks for nothing: no pass at all
    if dense and asks:  # pixels are rows: image keys and embeddings, streamed
        outs = score_dense(members if needs.ensemble > 1 else [model], data.x_train[pool],
                           to_float=data.to_float, row_keys=strategy.row_keys if needs.row_keys else None,
                           reduce=strategy.reduce_pixels if needs.row_keys else None, probs=needs.probs,
                           mc_samples=needs.mc_samples, pixels=needs.pixels, flip=needs.flip_probs,
                           embedding=own_embedding, gradient_embedding=needs.gradient_embedding, gen=gen)
    elif not dense:
        if needs.probs or needs.mc_samples or own_embedding or needs.flip_probs:
            outs = infer(model, data.x_train[pool], to_float=data.to_float, probs=needs.probs,
                         mc_samples=needs.mc_samples, embedding=own_embedding, flip=needs.flip_probs, gen=gen)
        if needs.ensemble > 1:
            outs["ensemble_probs"] = member_probs(members, data.x_train[pool], to_float=data.to_float)  # (K, N, C)
    if needs.embedding and encoder is not None:   # the pretrained encoder's features, not the task model's
        outs["embedding"] = embed(encoder, data.x_train[pool], to_float=data.to_float)
    lab_x = data.x_train[torch.as_tensor(labeled, device=dev)] if needs.inputs else None
    lab_emb = None
    if needs.labeled_embedding:
        lab_emb = embed(encoder if encoder is not None else model,
                        data.x_train[torch.as_tensor(labeled, device=dev)], to_float=data.to_float)
    predicted = None
    if learner is not None:
        predicted = predict_losses(model, learner, data.x_train[pool], to_float=data.to_float,
                                   **({"batch_size": DENSE_BATCH} if dense else {}))
    t1 = _now(dev)
    view = PoolView(n=int(pool.shape[0]), probs=outs.get("probs"), mc_probs=outs.get("mc_probs"),
                    embedding=outs.get("embedding"), labeled_embedding=lab_emb,
                    ensemble_probs=outs.get("ensemble_probs"), flip_probs=outs.get("flip_probs"),
                    keys=outs.get("keys"), gradient_embedding=outs.get("gradient_embedding"),
                    inputs=data.x_train[pool] if needs.inputs else None, labeled_inputs=lab_x,
                    to_float=data.to_float if needs.inputs else None, predicted_loss=predicted)
    positions = strategy.select(view, k, torch_generator(seed, "select", cycle))
    new = pool[torch.as_tensor(positions, device=dev)].tolist()
    return {"new_indices": new, "seconds_score": t1 - t0, "seconds_select": _now(dev) - t1}


def new_model(name: str, data, config: CampaignConfig, seed: int, cycle: int, dev: torch.device, *,
              member: int = 0):
    """Fresh weights from (seed, 'init', cycle): the same for every strategy at a cycle.
    An ensemble's member i > 0 starts from (seed, 'init/member<i>', cycle). Then the campaign's
    `init` applies itself (a weights file or a SimCLR encoder replaces what it covers; the head
    stays fresh from the seed)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "init" if member == 0 else f"init/member{member}", cycle))
        model = make_model(name, data.input_shape, data.num_classes,
                           dropout=config.train.dropout, options=dict(config.model_options))
    return config.init.apply(model, model_name=name).to(dev)


def _encoder(name: str, data, config: CampaignConfig, dev: torch.device):
    """The pretrained encoder as a model (its head unused) for strategies asking for its features."""
    if config.init.encoder is None:
        raise ValueError(f"strategy {config.strategy!r} asks for SimCLR features, but the campaign "
                         "has no pretrained encoder (config.init.encoder)")
    model = make_model(name, data.input_shape, data.num_classes, options=dict(config.model_options))
    return start_from(model, config.init.encoder.path).to(dev)


def _now(dev: torch.device) -> float:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return perf_counter()


@contextlib.contextmanager
def _deterministic(on: bool, dev: torch.device):
    """Deterministic kernels for the campaign's duration (identical reruns). On exit the process
    is as it was: the deterministic-algorithm flags and CUBLAS_WORKSPACE_CONFIG (which cuBLAS
    needs for deterministic matrix products on CUDA) are restored."""
    if not on:
        yield
        return
    prev, prev_warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    set_cublas = dev.type == "cuda" and "CUBLAS_WORKSPACE_CONFIG" not in os.environ  # keep the user's
    try:
        if set_cublas:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
        torch.use_deterministic_algorithms(True, warn_only=True)
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)
        if set_cublas:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
