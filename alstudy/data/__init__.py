"""Datasets: the registry, the `Dataset` record and batch augmentation.

`get_dataset`, `dataset_names` and `dataset_info` import without torch (the CLI uses them);
`Dataset` and `make_augment` load torch when first touched.
"""

from alstudy.data.registry import dataset_info, dataset_names, dataset_spec, get_dataset

__all__ = ["Dataset", "dataset_info", "dataset_names", "dataset_spec", "get_dataset", "make_augment"]


def __getattr__(name: str):
    if name == "Dataset":
        from alstudy.data.dataset import Dataset

        return Dataset
    if name == "make_augment":
        from alstudy.data.augment import make_augment

        return make_augment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
