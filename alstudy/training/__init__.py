"""The one training loop (fit) and batched inference (infer, embed, evaluate).

The names below are re-exported lazily (PEP 562 module `__getattr__`): importing a torch-free
module of this package (`methods`, `simclr_recipe`) does not load torch through this file.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_EXPORTS = {"FitStats": "fit", "fit": "fit", "num_steps": "fit",
            "embed": "infer", "evaluate": "infer", "infer": "infer"}   # name -> submodule holding it

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # Importing the submodule `fit` (or `infer`) binds it on this package under the name of
        # the function it exports; the function keeps that name, as it did with eager imports.
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
