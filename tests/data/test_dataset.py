"""The Dataset record: its spec's facts read through, network input built without per-batch setup."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from alstudy.data import dataset_spec, get_dataset


class _Ops(TorchDispatchMode):
    """Records the name of every torch operator run inside the block."""

    def __init__(self):
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(func.__name__)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", ["digits", "mnist1d", "wine"])
def test_dataset_reads_its_facts_from_the_registry_spec(name):
    ds, spec = get_dataset(name), dataset_spec(name)
    assert ds.spec is spec
    assert (ds.name, ds.num_classes, ds.input_shape, ds.default_model, ds.augmentation) == (
        spec.name, spec.num_classes, spec.input_shape, spec.default_model, spec.augmentation)
    assert ds.to("meta").spec is spec


def test_to_float_standardizes_with_the_per_channel_statistics():
    ds = get_dataset("digits")
    x = ds.x_train[:32]
    expected = (x.float() / 255.0 - torch.tensor(ds.mean).view(1, -1, 1, 1)) / torch.tensor(ds.std).view(1, -1, 1, 1)
    assert torch.equal(ds.to_float(x), expected)
    assert torch.equal(ds.to_float(x), ds.to_float(x.clone()))  # the input is not changed in place


def test_to_float_builds_its_statistics_once_not_per_batch():
    ds = get_dataset("digits")
    ds.to_float(ds.x_train[:8])  # the first call may build them
    with _Ops() as ops:
        for start in range(0, 64, 8):
            ds.to_float(ds.x_train[start:start + 8])
    # torch.tensor(...) from Python numbers runs lift_fresh: that would be a host-to-device
    # copy in every training step on a GPU
    assert "lift_fresh.default" not in ops.names and ops.names.count("sub_.Tensor") == 8


def test_a_moved_dataset_standardizes_on_its_own_device():
    ds = get_dataset("digits")
    moved = ds.to("meta")
    out = moved.to_float(moved.x_train[:4])
    assert out.device.type == "meta" and out.shape == (4, *ds.input_shape) and out.dtype == torch.float32
    assert ds.to_float(ds.x_train[:4]).device.type == "cpu"  # the original keeps its own
