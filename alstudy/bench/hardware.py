"""What the numbers were measured on: CPU, cores, memory, load, library versions, GPU."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def load_average() -> list[float] | None:
    """1/5/15-minute load averages: a loaded machine explains slow numbers."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def describe(device: str) -> dict[str, Any]:
    """Hardware and software of this run; GPU fields are None without CUDA."""
    import torch

    try:  # the CPU's marketing name, where Linux tells it
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.lower().startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine() or "unknown"
    props = torch.cuda.get_device_properties(0) if torch.cuda.is_available() else None
    versions = {}
    for package in ("torchvision", "ray", "numpy", "alstudy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpu_model": cpu, "cores_logical": os.cpu_count(), "cores_usable": usable_cores(),
            "memory_gib": round(memory / 2**30, 1), "load_average": load_average(),
            "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), **versions, "device": device,
            "cuda": torch.version.cuda if props else None, "gpu_name": props.name if props else None,
            "gpu_count": torch.cuda.device_count() if props else 0,
            "gpu_memory_gib": round(props.total_memory / 2**30, 1) if props else None}


def busy_warnings(hw: dict[str, Any]) -> list[str]:
    """Other work on the machine distorts timings (threads wait for cores): say so."""
    loads = [hw[k][0] for k in ("load_average", "load_average_end") if hw.get(k)]
    if loads and max(loads) > hw["cores_usable"]:
        return [f"the machine was busy with other work (1-minute load up to {max(loads):.1f} on "
                f"{hw['cores_usable']} cores): timings are unreliable, rerun on an idle machine"]
    return []
