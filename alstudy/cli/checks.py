"""Flags checked before any work starts, one checker per kind of flag for every command: a
device that exists, an output that can be written, a Ray cluster that answers."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

from alstudy.errors import UsageError


def device(value: str, *, flag: str = "--device") -> str:
    """`cpu`, or `cuda` / `cuda:N` on a machine where torch sees that GPU."""
    if value == "cpu":
        return value
    head, _, index = value.partition(":")
    if head != "cuda" or (index and not index.isdigit()):
        raise UsageError("allowed: cpu, cuda, cuda:N", key=flag, value=value)
    import torch

    if not torch.cuda.is_available():
        raise UsageError("no CUDA device is available here; use --device cpu", key=flag, value=value)
    if index and int(index) >= torch.cuda.device_count():
        raise UsageError(f"this machine has {torch.cuda.device_count()} CUDA device(s)", key=flag, value=value)
    return value


def output_file(path: str, *, flag: str = "--out", kinds: tuple[str, ...] = (".parquet", ".csv")) -> str:
    """A file to write at the end: its kind known, its folder existing and writable."""
    if not path.endswith(kinds):
        raise UsageError(f"the file kind comes from its ending; allowed: {', '.join(kinds)}", key=flag, value=path)
    if os.path.isdir(path):
        raise UsageError("is a folder; name a file", key=flag, value=path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"its folder {folder} does not exist", key=flag, value=path)
    if not os.access(folder, os.W_OK):
        raise UsageError(f"its folder {folder} is not writable", key=flag, value=path)
    return path


def output_folder(path: str, *, flag: str = "--out") -> str:
    """A folder to write into (created if absent): not a file, and writable where it exists."""
    full = os.path.abspath(os.path.expanduser(path))
    existing = full
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f"{existing} is a file, not a folder", key=flag, value=path)
    if not os.access(existing, os.W_OK):
        raise UsageError(f"{existing} is not writable", key=flag, value=path)
    return path


def ray_address(address: str, *, flag: str = "--address", timeout: float = 5.0) -> str:
    """A Ray cluster that answers at HOST:PORT (also ray://, http:// and https:// addresses),
    within `timeout` seconds: an unreachable cluster fails at once, naming the address.
    `auto` (the latest cluster started on this machine) is left to Ray."""
    if address == "auto":
        return address
    parts = urlsplit(address if "://" in address else f"gcs://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or port is None:
        raise UsageError("expected HOST:PORT (e.g. 10.0.0.5:6379), ray://HOST:PORT or http://HOST:8265",
                         key=flag, value=address)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        reason = "no answer" if isinstance(err, (TimeoutError, socket.timeout)) else (err.strerror or str(err))
        raise UsageError(f"no Ray cluster answers there ({reason.lower()} within {timeout:g} s); start one with "
                         "`ray start --head`, or leave the flag out to run on a private local Ray",
                         key=flag, value=address) from None
    return address


def storage(value: str, *, flag: str = "--storage", timeout: float = 10.0) -> str:
    """Tune's storage: a folder that can be written (created if absent), or a pyarrow
    filesystem URI (s3://, gs://, ...) that answers within `timeout` seconds."""
    parts = urlsplit(value)
    if "://" not in value or parts.scheme == "file":
        output_folder(parts.path if parts.scheme == "file" else value, flag=flag)
        return value
    import threading

    import pyarrow.fs

    outcome: list = []

    def probe() -> None:
        try:
            fs, path = pyarrow.fs.FileSystem.from_uri(value)
            fs.get_file_info(path)
            outcome.append("")
        except Exception as err:   # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ... with one story
            outcome.append(str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__)

    thread = threading.Thread(target=probe, daemon=True)   # a hung connection must not hang the command
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise UsageError(f"no answer within {timeout:g} s", key=flag, value=value)
    if outcome[0]:
        raise UsageError(f"cannot be used as storage ({outcome[0]})", key=flag, value=value)
    return value
