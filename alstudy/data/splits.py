"""Fixed splits from files: a seed's validation, initial labeled and pool indices, as a paper
published them, instead of drawn from the seed.

Layout (TorchAL's, Munjal et al. 2020): one folder per seed holding `lSet.npy` (initial labeled),
`uSet.npy` (unlabeled pool) and `valSet.npy` (labeled validation), each a 1-D array of absolute
indices into the train split. A study names the folders with a pattern holding `{seed}` (and
`{dataset}` when it has several datasets). The three sets must partition the train split, and
their sizes must be the budget's, so a campaign on split files spends exactly the labels a
drawn split would.
"""

from __future__ import annotations

import hashlib
import os
from typing import Iterable

import numpy as np

from alstudy.errors import UsageError

SPLIT_FILES = {"initial": "lSet.npy", "pool": "uSet.npy", "validation": "valSet.npy"}


def split_folder(pattern: str, seed: int, *, dataset: str = "") -> str:
    """The folder of `seed` (and `dataset`) named by `pattern`."""
    return os.path.expanduser(pattern.replace("{dataset}", dataset).replace("{seed}", str(int(seed))))


def check_pattern(pattern: str, datasets: Iterable[str], *, key: str = "splits.path") -> None:
    """UsageError unless `pattern` holds `{seed}` (and `{dataset}` for several datasets)."""
    rest = pattern.replace("{seed}", "").replace("{dataset}", "")
    if "{seed}" not in pattern:
        raise UsageError("must contain {seed} (one folder of lSet.npy, uSet.npy, valSet.npy per seed)",
                         key=key, value=pattern)
    if "{" in rest or "}" in rest:
        raise UsageError("may hold only the fields {seed} and {dataset}", key=key, value=pattern)
    if len(list(datasets)) > 1 and "{dataset}" not in pattern:
        raise UsageError("must contain {dataset} when the study has several datasets", key=key, value=pattern)


def read_splits(folder: str, *, n_train: int, initial: int, validation: int) -> tuple[np.ndarray, np.ndarray]:
    """(validation indices sorted, initial labeled indices in file order) from `folder`.

    UsageError, one line naming the folder, when a file is missing or unreadable, holds
    something other than whole numbers, an index is out of range or repeated, the sets
    overlap or leave rows out, or a size differs from the budget's."""
    sets = {}
    for role, name in SPLIT_FILES.items():
        path = os.path.join(folder, name)
        try:
            arr = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise UsageError(f"no {name} ({role} indices) in the split folder", context=(folder,)) from None
        except (OSError, ValueError) as err:
            raise UsageError(f"{name} is not a readable .npy array ({err})", context=(folder,)) from None
        if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
            raise UsageError(f"{name} must be a 1-D array of whole numbers, got {arr.dtype} of shape {arr.shape}",
                             context=(folder,))
        arr = arr.astype(np.int64)
        if arr.size and (arr.min() < 0 or arr.max() >= n_train):
            raise UsageError(f"{name} holds index {int(arr.min() if arr.min() < 0 else arr.max())}, "
                             f"outside the train split's 0..{n_train - 1}", context=(folder,))
        if np.unique(arr).size != arr.size:
            raise UsageError(f"{name} lists an index twice", context=(folder,))
        sets[role] = arr
    for a, b in (("initial", "pool"), ("initial", "validation"), ("pool", "validation")):
        shared = np.intersect1d(sets[a], sets[b])
        if shared.size:
            raise UsageError(f"{SPLIT_FILES[a]} and {SPLIT_FILES[b]} share index {int(shared[0])}",
                             context=(folder,))
    for role, want in (("initial", initial), ("validation", validation)):
        if sets[role].size != want:
            raise UsageError(f"{SPLIT_FILES[role]} has {sets[role].size} indices but the budget's {role} "
                             f"set has {want}", context=(folder,))
    covered = sum(s.size for s in sets.values())
    if covered != n_train:
        raise UsageError(f"lSet, uSet and valSet cover {covered} of the train split's {n_train} rows; "
                         f"they must partition it", context=(folder,))
    return np.sort(sets["validation"]), sets["initial"]


def split_hashes(pattern: str, seeds: Iterable[int], datasets: Iterable[str]) -> dict[str, str]:
    """sha256 of every split file the study names, keyed `<dataset>/<seed>/<file>` ("absent"
    for a missing file): what the manifest records of a run on fixed splits."""
    out = {}
    for ds in datasets:
        for seed in sorted(set(seeds)):
            for name in SPLIT_FILES.values():
                path = os.path.join(split_folder(pattern, seed, dataset=ds), name)
                try:
                    with open(path, "rb") as f:
                        out[f"{ds}/{seed}/{name}"] = hashlib.sha256(_index_bytes(f.read())).hexdigest()
                except OSError:
                    out[f"{ds}/{seed}/{name}"] = "absent"
    return out


def _index_bytes(data: bytes) -> bytes:
    """What decides a split file's meaning: the bytes of its indices saved as int64 (a file
    re-saved as int32 with the same indices reads the same); an int64 file, or one that is no
    array of whole numbers, as it is."""
    import io

    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return data
    if arr.dtype == np.dtype("<i8") or not np.issubdtype(arr.dtype, np.integer):
        return data
    buffer = io.BytesIO()
    np.save(buffer, arr.astype("<i8"))
    return buffer.getvalue()


def splits_digest(pattern: str, seeds: Iterable[int], datasets: Iterable[str]) -> str:
    """sha256 over the bytes of every split file the study names (absent files count as
    absent), so a changed file changes the study's fingerprint."""
    h = hashlib.sha256()
    for key, digest in split_hashes(pattern, seeds, datasets).items():
        h.update(f"{key}:".encode())
        h.update(b"absent" if digest == "absent" else bytes.fromhex(digest))
    return h.hexdigest()[:16]
