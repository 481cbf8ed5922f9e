"""SimCLR (Chen et al. 2020): self-supervised pretraining of a model's backbone on unlabeled inputs.

Each step draws `batch_size` stored rows, makes two views of each with the dataset's batch
augmentation (images: crop, flip where the dataset allows it, RandAugment above strength 1;
signals and tabular rows: the dataset's perturbations), runs both through the backbone and a
2-layer projection head, and minimizes NT-Xent (`nt_xent`, Eq. 1 of the paper). The head is
dropped afterwards; the backbone's weights are the encoder a campaign starts from
(alstudy.models.weights.start_from) or embeds with.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from time import perf_counter

import torch
import torch.nn.functional as F
from torch import nn

from alstudy.config import TrainConfig
from alstudy.models.almodel import ALModel
from alstudy.rng import derive_seed, torch_generator
from alstudy.training.fit import lr_factor, make_optimizer
from alstudy.training.simclr_recipe import Job, Recipe


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent over N positive pairs (z1[k], z2[k]), (N, d) each: the mean over all 2N anchors i
    of -log( exp(sim(i, j(i)) / t) / sum_{m != i} exp(sim(i, m) / t) ), sim = cosine similarity
    and j(i) the other view of i's row; the other 2N - 2 views are the negatives."""
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)             # (2N, d)
    n = z1.shape[0]
    sim = z @ z.T / temperature                                      # (2N, 2N)
    sim.fill_diagonal_(float("-inf"))                                # a view is not its own negative
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


class ProjectionHead(nn.Sequential):
    """g(h) = W2 ReLU(W1 h): the paper's 2-layer MLP between the features and the loss."""

    def __init__(self, embed_dim: int, out_dim: int):
        super().__init__(nn.Linear(embed_dim, embed_dim), nn.ReLU(inplace=True), nn.Linear(embed_dim, out_dim))


@dataclass(frozen=True)
class PretrainStats:
    steps: int
    seconds: float
    first_loss: float      # mean NT-Xent over the first tenth of the steps
    final_loss: float      # ... and over the last tenth


def pretrain(model: ALModel, x: torch.Tensor, *, to_float, augment, recipe: Recipe,
             gen: torch.Generator) -> PretrainStats:
    """Train `model.backbone` in place with SimCLR on the stored rows `x` (on the model's
    device; never labels, never test rows). `augment(x, gen, host=) -> x` makes one view;
    `gen` (on the device) drives the rows and the views."""
    device = x.device
    cuda = device.type == "cuda"
    head = ProjectionHead(model.embed_dim, recipe.proj_dim).to(device)
    # fit's optimizer helpers, with the recipe's knobs: no weight decay on biases and norms
    train = TrainConfig(optimizer="adamw", lr=recipe.lr, weight_decay=recipe.weight_decay,
                        warmup=recipe.warmup, schedule="cosine")
    both = nn.ModuleList([model.backbone, head])
    opt = make_optimizer(both, train)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, recipe.steps, train))
    host = gen if device.type == "cpu" else torch.Generator().manual_seed(
        int(torch.randint(0, 2**62, (1,), generator=gen, device=device)))
    bs = min(recipe.batch_size, int(x.shape[0]))
    head_sum = torch.zeros((), device=device)      # summed on the device: no host sync per step
    tail = torch.zeros((), device=device)
    last = max(1, recipe.steps // 10)
    both.train()
    t0 = perf_counter()
    for step in range(recipe.steps):
        idx = torch.randint(0, int(x.shape[0]), (bs,), generator=gen, device=device)
        u = to_float(x[idx])
        views = torch.cat([augment(u, gen, host=host), augment(u, gen, host=host)])
        if views.dim() == 4:
            views = views.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            z = head(model.features(views))
        loss = nt_xent(*z.chunk(2), recipe.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step < last:
            head_sum += loss.detach()
        if step >= recipe.steps - last:
            tail += loss.detach()
    model.eval()
    seconds = perf_counter() - t0 if not cuda else _synced(t0)
    return PretrainStats(recipe.steps, seconds, float(head_sum) / last, float(tail) / last)


def _synced(t0: float) -> float:
    torch.cuda.synchronize()
    return perf_counter() - t0


def run_job(job: Job, *, device: str = "cpu") -> tuple[bytes, dict]:
    """Pretrain `job` on `device`: (the encoder, serialized; its facts and cost as JSON)."""
    from alstudy.data import get_dataset
    from alstudy.models import make_model

    dev = torch.device(device)
    data = get_dataset(job.dataset, root=job.data_root).to(dev)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(derive_seed(job.seed, "simclr/init"))
        model = make_model(job.model, data.input_shape, data.num_classes, options=dict(job.model_options)).to(dev)
        stats = pretrain(model, data.x_train, to_float=data.to_float, augment=data.augmenter(job.recipe.strength),
                         recipe=job.recipe, gen=torch_generator(job.seed, "simclr", device=dev.type))
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.backbone.state_dict().items()}, buffer)
    facts = job.describe() | {"steps": stats.steps, "seconds": stats.seconds, "first_loss": stats.first_loss,
                              "final_loss": stats.final_loss,
                              "device": device}
    return buffer.getvalue(), facts
