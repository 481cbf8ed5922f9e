"""What the numbers were measured on: CPU, cores, memory, load, library versions, GPU."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load_average() -> list[float] | None:
    """1/5/15-minute load averages: a loaded machine explains slow numbers."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _memory_gib() -> float | None:
    try:
        import psutil

        return round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        return None


def describe(device: str) -> dict[str, Any]:
    """Hardware and software of this run; GPU fields are None without CUDA."""
    import torch

    gpu = torch.cuda.is_available()
    props = torch.cuda.get_device_properties(0) if gpu else None
    return {
        "cpu_model": cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_usable": usable_cores(),
        "memory_gib": _memory_gib(),
        "load_average": load_average(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torchvision": _version("torchvision"),
        "ray": _version("ray"),
        "numpy": _version("numpy"),
        "alstudy": _version("alstudy"),
        "device": device,
        "cuda": torch.version.cuda if gpu else None,
        "gpu_name": props.name if props is not None else None,
        "gpu_count": torch.cuda.device_count() if gpu else 0,
        "gpu_memory_gib": round(props.total_memory / 2**30, 1) if props is not None else None,
    }
