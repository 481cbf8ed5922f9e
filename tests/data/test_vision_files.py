"""The torchvision datasets load from small files in torchvision's own on-disk formats."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision import datasets as tvd

from alstudy.data import dataset_spec, get_dataset
from alstudy.data.registry import clear_cache
from alstudy.errors import UsageError

VISION = ("cifar10", "cifar100", "svhn", "mnist", "fashion_mnist")


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


@pytest.mark.parametrize("name", VISION)
def test_loads_the_written_images_and_labels(vision_root, name):
    root, written = vision_root
    ds = get_dataset(name, root=root)
    spec = dataset_spec(name)
    assert ds.x_train.dtype == torch.uint8 and ds.y_train.dtype == torch.int64
    assert ds.x_train.shape == (20, *spec.input_shape) and ds.x_test.shape == (20, *spec.input_shape)
    for part in ("train", "test"):
        np.testing.assert_array_equal(getattr(ds, f"x_{part}").numpy(), written[name][f"x_{part}"])
        np.testing.assert_array_equal(getattr(ds, f"y_{part}").numpy(), written[name][f"y_{part}"])
    assert len(ds.mean) == len(ds.std) == spec.input_shape[0]
    x = ds.to_float(ds.x_train[:4])
    assert x.dtype == torch.float32 and x.shape == (4, *spec.input_shape)


def test_svhn_label_10_is_digit_0(vision_root):
    root, _ = vision_root
    ds = get_dataset("svhn", root=root)
    labels = set(ds.y_train.tolist())
    assert labels == set(range(10))  # the files hold 1..10, 10 standing for the digit 0


class _UncheckedCIFAR10(tvd.CIFAR10):
    def _check_integrity(self) -> bool:  # the fixture is not the official file (MD5)
        return True

    def _load_meta(self) -> None:  # class names only, also MD5-checked
        self.classes = [str(i) for i in range(10)]


class _UncheckedSVHN(tvd.SVHN):
    def _check_integrity(self) -> bool:
        return True


def test_matches_torchvision_readers(vision_root):
    """torchvision's own classes, MD5 check aside, read the same pixels and labels from our files."""
    root, _ = vision_root
    cifar = _UncheckedCIFAR10(str(root), train=True)
    ours = get_dataset("cifar10", root=root)
    np.testing.assert_array_equal(ours.x_train.permute(0, 2, 3, 1).numpy(), cifar.data)
    assert ours.y_train.tolist() == list(cifar.targets)

    svhn = _UncheckedSVHN(str(root), split="test")
    ours = get_dataset("svhn", root=root)
    np.testing.assert_array_equal(ours.x_test.numpy(), svhn.data)
    assert ours.y_test.tolist() == svhn.labels.tolist()

    mnist = tvd.MNIST(str(root), train=False)  # plain IDX files need no MD5
    ours = get_dataset("mnist", root=root)
    np.testing.assert_array_equal(ours.x_test[:, 0].numpy(), mnist.data.numpy())
    assert ours.y_test.tolist() == mnist.targets.tolist()


def test_no_root_is_one_clear_line():
    with pytest.raises(UsageError, match=r"cifar10.*data root.*--download") as err:
        get_dataset("cifar10")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name, missing", [("cifar10", "cifar-10-batches-py"), ("svhn", "train_32x32.mat"),
                                           ("fashion_mnist", "FashionMNIST")])
def test_missing_files_name_the_path_and_the_remedy(tmp_path, name, missing):
    with pytest.raises(UsageError) as err:
        get_dataset(name, root=tmp_path / "nowhere")
    message = str(err.value)
    assert missing in message and str(tmp_path / "nowhere") in message and "--download" in message
    assert "\n" not in message
    assert not (tmp_path / "nowhere").exists()  # nothing downloaded or created without --download


def test_missing_one_cifar_batch(vision_root):
    root, _ = vision_root
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(UsageError, match="data_batch_3 not found"):
        get_dataset("cifar10", root=root)


def test_corrupt_files_are_usage_errors(vision_root):
    root, _ = vision_root
    (root / "cifar-100-python" / "test").write_bytes(b"not a pickle")
    (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09abc")
    with pytest.raises(UsageError, match="cannot read CIFAR batch .*cifar-100-python/test"):
        get_dataset("cifar100", root=root)
    with pytest.raises(UsageError, match="cannot read IDX file .*t10k-labels"):
        get_dataset("mnist", root=root)


def test_cached_per_root(vision_root, make_vision_root, tmp_path_factory):
    root, _ = vision_root
    assert get_dataset("mnist", root=root) is get_dataset("mnist", root=str(root))
    other = tmp_path_factory.mktemp("other")
    make_vision_root(other, 1)
    assert not torch.equal(get_dataset("mnist", root=other).x_train, get_dataset("mnist", root=root).x_train)
