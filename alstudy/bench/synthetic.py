"""Random data (and fresh models) with the shapes of real datasets: speed depends on shapes,
not on content. Everything is seeded, so two runs of the bench time the same work."""

from __future__ import annotations

from dataclasses import replace

import torch

from alstudy.data.dataset import Dataset
from alstudy.data.registry import dataset_spec
from alstudy.models import make_model
from alstudy.rng import torch_generator


def like(name: str, n_train: int, *, n_test: int = 0, device: str = "cpu", seed: int = 0) -> Dataset:
    """A `Dataset` shaped like registry dataset `name` (its input shape, classes, default model
    and augmentation) with `n_train` random rows: uint8 images for image datasets, standardized
    float32 otherwise."""
    spec = dataset_spec(name)
    gen = torch_generator(seed, f"bench-data-{name}")

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (n, *spec.input_shape)
        if spec.kind == "image":
            x = torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
        else:
            x = torch.randn(shape, generator=gen)
        return x.to(device), torch.randint(0, spec.num_classes, (n,), generator=gen).to(device)

    x_train, y_train = draw(n_train)
    x_test, y_test = draw(n_test)
    channels = spec.input_shape[0] if spec.kind == "image" else 0
    return Dataset(spec=replace(spec, name=f"{name}-shaped"), x_train=x_train, y_train=y_train,
                   x_test=x_test, y_test=y_test, mean=(0.5,) * channels, std=(0.25,) * channels)


def pool_outputs(n: int, d: int, c: int, *, seed: int = 0, clusters: int = 10,
                 dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """(embeddings (n, d), probabilities (n, c)) that look like a trained network's: ReLU
    features scattered around `clusters` centres, softmax outputs of varying confidence."""
    gen = torch_generator(seed, "bench-pool")
    centres = torch.randn(clusters, d, generator=gen, dtype=dtype) * 2.0
    member = torch.randint(0, clusters, (n,), generator=gen)
    emb = (centres[member] + torch.randn(n, d, generator=gen, dtype=dtype)).relu_()
    logits = torch.randn(n, c, generator=gen, dtype=dtype)
    logits *= torch.rand(n, 1, generator=gen, dtype=dtype) * 6.0  # some rows sure, some unsure
    return emb, logits.softmax(1)


def model(name: str, ds: Dataset, *, device: str) -> torch.nn.Module:
    """A fresh `name` for `ds` (dropout 0.3) with the weights of torch seed 0."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return make_model(name, ds.input_shape, ds.num_classes, dropout=0.3).to(device)
