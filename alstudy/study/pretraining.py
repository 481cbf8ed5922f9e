"""SimCLR pretraining in a study: computing each pretraining once, before the campaigns that
read it, and keeping it in the results store. (The `[pretrain]` table is read by
`alstudy.study.pretrain_table`; which pretrainings a study needs is `plan.pretraining_jobs`.)

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
import hashlib
import io
import json
import os
import tempfile
from typing import Any, Callable, Iterator, Mapping

import torch

from alstudy.config import Encoder
from alstudy.files import set_aside, write_atomic
from alstudy.study.plan import paradigm_of, pretraining_job
from alstudy.study.pretrain_table import FOLDER
from alstudy.study.placement import pick_device
from alstudy.training.simclr import run_job
from alstudy.training.simclr_recipe import Job


def attach(config, study, spec, root: str):
    """`config` (of campaign `spec`) with the pretraining it reads, when its paradigm starts
    from SimCLR or its strategy embeds with it; else `config` itself."""
    par = paradigm_of(study, spec.paradigm)
    init = par.init == "simclr"
    features = study.strategy_options.get(spec.strategy, {}).get("features") == "simclr"
    if not (init or features):
        return config
    key = pretraining_job(study, spec.dataset, spec.seed).key
    encoder = read(os.path.join(root, FOLDER), key)
    return dataclasses.replace(config, init=dataclasses.replace(config.init, encoder=encoder))


# -- the folder of finished pretrainings ---------------------------------------------------------
def read(folder: str, key: str) -> Encoder:
    """The finished pretraining `key` in `folder`; FileNotFoundError when it is not there."""
    with open(os.path.join(folder, f"{key}.json"), encoding="utf-8") as f:
        facts = json.load(f)
    return Encoder(key, os.path.join(folder, f"{key}.pt"), float(facts["seconds"]), int(facts["steps"]))


def is_done(folder: str, key: str) -> bool:
    return os.path.exists(os.path.join(folder, f"{key}.json")) and os.path.exists(os.path.join(folder, f"{key}.pt"))


def damage(folder: str, key: str) -> str | None:
    """What is wrong with the finished pretraining `key` in `folder` (a file cut short by a full
    disk or an interrupted copy); None when it is intact or not finished (no JSON)."""
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
        torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
        return None
    except Exception as err:  # noqa: BLE001 - whatever torch says of a damaged file
        return f"{key}.pt is damaged ({type(err).__name__})"


def keep(folder: str, key: str, blob: bytes, facts: dict) -> None:
    """Write a finished pretraining: the encoder, then its JSON (which marks it finished and
    names the encoder's sha256, so a damaged encoder is found before a campaign reads it)."""
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
        for key, job in missing.items():
            blob, facts = run_job(job, device=device)
            keep(folder, key, blob, facts)
            note(f"pretrained {key}: {facts['steps']} steps in {facts['seconds']:.1f}s")
    out = {}
    for job in todo:
        p = read(folder, job.key)
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
    pre = config.init.encoder
    if pre is None or not shipped or pre.key not in shipped:
        yield config
        return
    with tempfile.TemporaryDirectory(prefix="alstudy-encoder-") as folder:
        path = os.path.join(folder, f"{pre.key}.pt")
        with open(path, "wb") as f:
            f.write(shipped[pre.key])
        copy = dataclasses.replace(pre, path=path)
        yield dataclasses.replace(config, init=dataclasses.replace(config.init, encoder=copy))


def _on_ray(todo: list[Job], folder: str, *, note: Callable[[str], None], remote: dict) -> None:
    """One Ray task per job; each result is written by this (the driver's) process as it arrives."""
    import ray   # Ray: loaded by the Ray runner only; `--local` runs never pay for it

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
    import ray   # Ray: loaded by the Ray runner only; `--local` runs never pay for it

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    torch.set_num_threads(max(1, int(cpus)))
    device, _ = pick_device(gpu)
    return run_job(job, device=device)
