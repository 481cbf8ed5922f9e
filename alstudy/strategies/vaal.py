"""VAAL (Sinha, Ebrahimi & Darrell 2019): variational adversarial active learning.

Each selection trains, from scratch, a beta-VAE on labeled and unlabeled inputs together and a
discriminator on its latent means that tells labeled (1) from unlabeled (0); the VAE is also
trained to fool the discriminator (their Algorithm 1: L_VAE = reconstruction + beta KL on both
sets, plus lambda_adv times the cross-entropy of calling every row labeled). The k rows the
discriminator is surest are unlabeled are picked. The task model plays no part, so the
strategy needs only the inputs; its whole training runs inside `pick` and counts as
selection time.

Departure from the paper: encoder and decoder are MLPs on flattened standardized inputs, not
the paper's convolutional VAE, so one strategy fits images, signals and tables alike; the
discriminator has their shape (3 hidden layers, ReLU; 512 units in the paper, `width` here).
Reconstruction is the mean squared error, as in their code.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from alstudy.strategies.builtin import _check
from alstudy.strategies.contract import Needs, PoolView, Strategy


class _Vae(nn.Module):
    def __init__(self, dim: int, latent: int, width: int):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(dim, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.mu, self.logvar = nn.Linear(width, latent), nn.Linear(width, latent)
        self.dec = nn.Sequential(nn.Linear(latent, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, dim))

    def forward(self, x: torch.Tensor):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h).clamp(-10, 10)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.dec(z), mu, logvar


def _discriminator(latent: int, width: int) -> nn.Module:
    return nn.Sequential(nn.Linear(latent, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, 1))


class Vaal(Strategy):
    """VAAL; `steps` of Adam (lr 5e-4, both networks, as in the paper) on batches of
    `batch_size` labeled and as many unlabeled rows; latent size `latent` (paper: 32),
    `beta` on the KL term (1) and `adversary` = their lambda_adv (1). `width`: hidden units of
    every layer; the default suits the small embedded datasets, the paper's is 512 (the
    paper study files set it, with more steps)."""

    name = "vaal"

    def __init__(self, *, steps: int = 200, batch_size: int = 64, latent: int = 32, width: int = 128,
                 beta: float = 1.0, adversary: float = 1.0, lr: float = 5e-4) -> None:
        self.steps = _check("steps", steps, int, low=1)
        self.batch_size = _check("batch_size", batch_size, int, low=1)
        self.latent = _check("latent", latent, int, low=1)
        self.width = _check("width", width, int, low=1)
        self.beta = _check("beta", beta, (int, float), low=0.0)
        self.adversary = _check("adversary", adversary, (int, float), low=0.0)
        self.lr = _check("lr", lr, (int, float), low=1e-12)

    def needs(self) -> Needs:
        return Needs(inputs=True)

    def pick(self, view: PoolView, k: int, gen: torch.Generator) -> torch.Tensor:
        to_float = view.to_float or (lambda x: x)
        pool, lab = view.inputs, view.labeled_inputs
        dev = pool.device
        dim = math.prod(pool.shape[1:])
        seed = int(torch.randint(0, 2**62, (), generator=gen))
        # the networks' initial weights and reparametrization noise draw from the global
        # generator: seed it from `gen` inside a fork (reproducible, caller's state untouched)
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(seed)
            vae, disc = _Vae(dim, self.latent, self.width).to(dev), _discriminator(self.latent, self.width).to(dev)
            flat = lambda x: to_float(x).reshape(x.shape[0], -1).float()  # noqa: E731
            self._train(vae, disc, pool, lab, flat, dev)
            with torch.inference_mode():
                vae.eval(), disc.eval()
                p_labeled = torch.cat([torch.sigmoid(disc(vae.mu(vae.enc(flat(pool[i:i + 4096])))).squeeze(1))
                                       for i in range(0, pool.shape[0], 4096)])
        # surest unlabeled first; equal probabilities in pool order (a stable sort)
        return torch.sort(p_labeled.cpu(), stable=True).indices[:k]

    def _train(self, vae: _Vae, disc: nn.Module, pool, lab, flat, dev) -> None:
        opt_v = torch.optim.Adam(vae.parameters(), lr=self.lr)
        opt_d = torch.optim.Adam(disc.parameters(), lr=self.lr)
        bs = self.batch_size
        for _ in range(self.steps):
            xu = flat(pool[torch.randint(pool.shape[0], (bs,), device=dev)])
            xl = flat(lab[torch.randint(lab.shape[0], (bs,), device=dev)]) if lab is not None and len(lab) else xu[:0]
            x = torch.cat([xl, xu])
            recon, mu, logvar = vae(x)
            kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1).mean()
            fool = F.binary_cross_entropy_with_logits(disc(mu).squeeze(1), torch.ones(len(x), device=dev))
            loss = F.mse_loss(recon, x) + self.beta * kl + self.adversary * fool
            opt_v.zero_grad(set_to_none=True)
            loss.backward()
            opt_v.step()
            target = torch.cat([torch.ones(len(xl), device=dev), torch.zeros(len(xu), device=dev)])
            d_loss = F.binary_cross_entropy_with_logits(disc(mu.detach()).squeeze(1), target)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
