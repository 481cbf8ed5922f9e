"""SimCLR pretraining in a study: the `[pretrain]` recipe, which pretrainings a study needs, and
computing each of them once, before the campaigns that read it.

    [pretrain]              # the recipe (alstudy.training.simclr_recipe.Recipe); defaults when absent
    steps = 200
    [pretrain.mnist5k]      # per dataset, over the shared values
    batch_size = 64

A pretraining depends only on (dataset, model, recipe, seed), so a study needs one per
(dataset, campaign seed) when a paradigm has `init = "simclr"` or a strategy asks for
`features = "simclr"`. The runners call `ensure` before any campaign: it computes what the
results store lacks (one Ray task each, with a trial's resources; in this process with
--local) and keeps it in `pretrained/<key>.pt` + `<key>.json` (facts and cost), both written
atomically by the driver, the JSON last: a pretraining exists only once its JSON does, so one
cut short by a crash is redone, never read. Campaigns only load it (`attach`). On Ray the
driver also ships every encoder's bytes to the trials through Ray's object store (`blobs`,
`local_copy`), so a worker node need not reach the results store's folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from typing import Any, Callable, Iterable, Iterator, Mapping

from alstudy.errors import UsageError
from alstudy.study import fields
from alstudy.training.simclr_recipe import Job, Pretrained, Recipe

FOLDER = "pretrained"


# -- the study file ------------------------------------------------------------------------------
def uses_pretraining(paradigms: Iterable, strategy_options: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether any paradigm starts from SimCLR or any strategy embeds with it."""
    return (any(p.init == "simclr" for p in paradigms)
            or any(o.get("features") == "simclr" for o in strategy_options.values()))


def parse_pretrain(tbl: Mapping[str, Any], datasets: tuple[str, ...], *, used: bool) -> dict[str, Recipe]:
    """`[pretrain]` as {dataset: Recipe}; {} when nothing in the study uses pretraining (then
    the table must be absent: a recipe nobody reads is a mistake worth a line)."""
    if not used:
        if tbl:
            raise UsageError('is not used: no paradigm has init = "simclr" and no strategy has '
                             'features = "simclr"', key="[pretrain]")
        return {}
    own = [f.name for f in dataclasses.fields(Recipe)]
    for key, value in tbl.items():
        if key not in own and not (key in datasets and isinstance(value, dict)):
            fields.check_keys({key: value}, own, "pretrain", extra=["[pretrain.<dataset>]"])
    shared = {k: v for k, v in tbl.items() if k in own}
    Recipe.from_mapping(shared)
    return {ds: Recipe.from_mapping(shared | fields.table(tbl, ds, "pretrain"),
                                    where=f"pretrain.{ds}" if ds in tbl else "pretrain") for ds in datasets}


# -- what a study needs --------------------------------------------------------------------------
def job_of(study, dataset: str, seed: int) -> Job:
    setup = study.setups[dataset]
    return Job(dataset, setup.model, dict(setup.model_options), study.pretrain[dataset], int(seed),
               data_root=study.data_root)


def jobs(study) -> list[Job]:
    """One pretraining per (dataset, seed) of the study's campaigns, when it uses pretraining."""
    if not study.pretrain:
        return []
    seeds = sorted(set(study.tuning.seeds) | set(study.evaluation.seeds))
    return [job_of(study, ds, seed) for ds in study.datasets for seed in seeds]


def describe_lines(study) -> list[str]:
    """The plan's lines on pretraining (what `alstudy validate` prints)."""
    todo = jobs(study)
    lines = [f"  pretraining: SimCLR once per (dataset, seed), before the campaigns: {len(todo)} encoders, "
             f"kept in the results store ({FOLDER}/)"]
    for ds, recipe in study.pretrain.items():
        lines.append(f"    {ds}: " + ", ".join(f"{k}={v}" for k, v in recipe.as_dict().items()))
    return lines


def attach(config, study, spec, root: str):
    """`config` (of campaign `spec`) with the pretraining it reads, when its paradigm starts
    from SimCLR or its strategy embeds with it; else `config` itself."""
    from alstudy.study.plan import paradigm_of

    par = paradigm_of(study, spec.paradigm)
    init = par.init == "simclr"
    features = study.strategy_options.get(spec.strategy, {}).get("features") == "simclr"
    if not (init or features):
        return config
    key = job_of(study, spec.dataset, spec.seed).key
    return dataclasses.replace(config, pretrained=read(os.path.join(root, FOLDER), key, init=init, tune=par.tune))


# -- the folder of finished pretrainings ---------------------------------------------------------
def read(folder: str, key: str, *, init: bool, tune: str = "finetune") -> Pretrained:
    """The finished pretraining `key` in `folder`; FileNotFoundError when it is not there."""
    with open(os.path.join(folder, f"{key}.json"), encoding="utf-8") as f:
        facts = json.load(f)
    return Pretrained(key, os.path.join(folder, f"{key}.pt"), float(facts["seconds"]), int(facts["steps"]),
                      init=init, tune=tune)


def is_done(folder: str, key: str) -> bool:
    return os.path.exists(os.path.join(folder, f"{key}.json")) and os.path.exists(os.path.join(folder, f"{key}.pt"))


def damage(folder: str, key: str) -> str | None:
    """What is wrong with the finished pretraining `key` in `folder` (a file cut short by a full
    disk or an interrupted copy); None when it is intact or not finished (no JSON)."""
    import hashlib

    try:
        with open(os.path.join(folder, f"{key}.json"), "rb") as f:
            facts = json.loads(f.read())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return f"{key}.json is damaged ({type(err).__name__})"
    if not (isinstance(facts, dict) and isinstance(facts.get("seconds"), (int, float))
            and isinstance(facts.get("steps"), int)):
        return f"{key}.json lacks its facts (seconds, steps)"
    try:
        with open(os.path.join(folder, f"{key}.pt"), "rb") as f:
            blob = f.read()
    except FileNotFoundError:
        return f"{key}.pt is missing"
    if "sha256" in facts:
        return None if hashlib.sha256(blob).hexdigest() == facts["sha256"] else f"{key}.pt is damaged (its sha256 differs)"
    try:   # kept before the JSON named the encoder's sha256: the encoder must load
        import io

        import torch

        torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
        return None
    except Exception as err:  # noqa: BLE001 - whatever torch says of a damaged file
        return f"{key}.pt is damaged ({type(err).__name__})"


def keep(folder: str, key: str, blob: bytes, facts: dict) -> None:
    """Write a finished pretraining: the encoder, then its JSON (which marks it finished and
    names the encoder's sha256, so a damaged encoder is found before a campaign reads it)."""
    import hashlib

    from alstudy.files import write_atomic

    os.makedirs(folder, exist_ok=True)
    write_atomic(os.path.join(folder, f"{key}.pt"), blob)
    write_atomic(os.path.join(folder, f"{key}.json"),
                 json.dumps(facts | {"sha256": hashlib.sha256(blob).hexdigest()}, indent=2))


def ensure(todo: list[Job], folder: str, *, note: Callable[[str], None], remote: dict | None = None,
           device: str = "cpu") -> dict[str, Any]:
    """Compute the jobs of `todo` that `folder` lacks: as Ray tasks with `remote`'s resources
    ({"cpu": .., "gpu": ..}), else one after another here on `device`. A damaged pretraining
    is set aside (one warning line) and computed again. Returns the manifest's facts:
    {key: {dataset, seed, seconds, steps, computed (by this call)}}."""
    from alstudy.files import set_aside

    for key in sorted({j.key for j in todo}):
        problem = damage(folder, key)
        if problem:
            moved = [os.path.basename(set_aside(p)) for p in (os.path.join(folder, f"{key}{ext}")
                                                             for ext in (".json", ".pt")) if os.path.exists(p)]
            note(f"warning: {os.path.join(folder, problem)}; set aside as {' and '.join(moved)}, pretrained again")
    missing = {j.key: j for j in todo if not is_done(folder, j.key)}
    if missing:
        note(f"pretraining SimCLR: {len(missing)} of {len({j.key for j in todo})} encoders to compute "
             f"({', '.join(sorted(missing))})")
    if missing and remote is not None:
        _on_ray(list(missing.values()), folder, note=note, remote=remote)
    else:
        from alstudy.training.simclr import run_job

        for key, job in missing.items():
            blob, facts = run_job(job, device=device)
            keep(folder, key, blob, facts)
            note(f"pretrained {key}: {facts['steps']} steps in {facts['seconds']:.1f}s")
    out = {}
    for job in todo:
        p = read(folder, job.key, init=False)
        out[job.key] = {"dataset": job.dataset, "seed": job.seed, "seconds": p.seconds, "steps": p.steps,
                        "computed": job.key in missing}
    return out


def blobs(todo: list[Job], folder: str) -> dict[str, bytes]:
    """{key: the encoder file's bytes} of the finished jobs of `todo`: what the driver ships."""
    out = {}
    for job in todo:
        with open(os.path.join(folder, f"{job.key}.pt"), "rb") as f:
            out[job.key] = f.read()
    return out


@contextlib.contextmanager
def local_copy(config, shipped: Mapping[str, bytes] | None) -> Iterator:
    """`config` whose encoder is read from a copy of the shipped bytes in this process's temp
    folder (removed afterwards), when the driver shipped it; else `config` as it is."""
    pre = getattr(config, "pretrained", None)
    if pre is None or not shipped or pre.key not in shipped:
        yield config
        return
    with tempfile.TemporaryDirectory(prefix="alstudy-encoder-") as folder:
        path = os.path.join(folder, f"{pre.key}.pt")
        with open(path, "wb") as f:
            f.write(shipped[pre.key])
        yield dataclasses.replace(config, pretrained=dataclasses.replace(pre, path=path))


def _on_ray(todo: list[Job], folder: str, *, note: Callable[[str], None], remote: dict) -> None:
    """One Ray task per job; each result is written by this (the driver's) process as it arrives."""
    import ray

    task = ray.remote(num_cpus=remote["cpu"], num_gpus=remote["gpu"])(_remote_job)
    running = {task.remote(job, float(remote["gpu"])): job for job in todo}
    while running:
        done, _ = ray.wait(list(running), num_returns=1)
        job = running.pop(done[0])
        blob, facts = ray.get(done[0])
        keep(folder, job.key, blob, facts)
        note(f"pretrained {job.key}: {facts['steps']} steps in {facts['seconds']:.1f}s")


def _remote_job(job: Job, gpu: float) -> tuple[bytes, dict]:
    """A Ray task: the pretraining on the device Ray gave it, with a trial's CPU threads."""
    import ray
    import torch

    from alstudy.study.worker import pick_device
    from alstudy.training.simclr import run_job

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    torch.set_num_threads(max(1, int(cpus)))
    device, _ = pick_device(gpu)
    return run_job(job, device=device)
