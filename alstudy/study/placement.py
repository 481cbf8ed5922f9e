"""Where a campaign runs: the device it gets, and the facts each of its rows names (host,
code, device, GPU ids, Ray node). Both runners build a row's placement with `placement`."""

from __future__ import annotations

import platform
from typing import Any

import torch

from alstudy.provenance import current_code


def pick_device(gpu_fraction: float) -> tuple[str, str]:
    """In a Ray trial: (device, GPU ids Ray assigned); cuda only when Ray gave this trial a GPU
    and torch sees one. A fractional GPU is a scheduling promise only, so the trial also caps
    its memory share."""
    import ray   # Ray: only a Ray trial asks; `--local` runs never load it

    ids = ",".join(str(i) for i in ray.get_gpu_ids())
    if ids and torch.cuda.is_available():
        if 0 < gpu_fraction < 1:
            torch.cuda.set_per_process_memory_fraction(gpu_fraction, device=0)
        return "cuda", ids
    return "cpu", ids


def placement(device: str, gpu_ids: str = "", *, on_ray: bool = False) -> dict[str, Any]:
    """The facts every row of a campaign run here carries besides its record. `on_ray`: this
    process is a Ray worker, so the rows also name its Ray node (id and IP); else both are ""."""
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(0)
    else:
        name = platform.processor() or "cpu"
    return {"host": platform.node(), "code": current_code(), "device": device, "device_name": name,
            "gpu_ids": gpu_ids} | _ray_node(on_ray)


def _ray_node(on_ray: bool) -> dict[str, str]:
    """The Ray node this process runs on. Host names repeat on a cluster (every container is
    "vm", two nodes may share a machine), a node id does not."""
    if not on_ray:
        return {"node_id": "", "node_ip": ""}
    import ray   # Ray: only on a Ray worker

    return {"node_id": ray.get_runtime_context().get_node_id(), "node_ip": ray.util.get_node_ip_address()}
