"""infer / evaluate: batched inference under inference_mode, computing only what is asked."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from alstudy.models.base import ALModel

ToFloat = Callable[[torch.Tensor], torch.Tensor]


@torch.inference_mode()
def embed(model: ALModel, x: torch.Tensor, *, to_float: ToFloat, batch_size: int = 2048) -> torch.Tensor:
    """Penultimate embeddings (N, D) in float32."""
    model.eval()
    cuda = x.device.type == "cuda"
    out = []
    for i in range(0, x.shape[0], batch_size):
        xb = to_float(x[i:i + batch_size])
        if cuda and xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cuda):
            out.append(model.features(xb).float())
    return torch.cat(out) if out else torch.empty(0, model.embed_dim, device=x.device)


@torch.inference_mode()
def infer(model: ALModel, x: torch.Tensor, *, to_float: ToFloat, probs: bool = False,
          mc_samples: int = 0, embedding: bool = False, gen: torch.Generator | None = None,
          batch_size: int = 2048) -> dict[str, torch.Tensor]:
    """Pool outputs: 'probs' (N, C), 'mc_probs' (T, N, C), 'embedding' (N, D) as asked.

    The backbone runs once per row; MC dropout samples T dropout masks on the embedding and
    applies the linear head to all T at once (one batched matmul per chunk), with masks drawn
    from `gen` so the scores are reproducible.
    """
    emb = embed(model, x, to_float=to_float, batch_size=batch_size)
    out: dict[str, torch.Tensor] = {}
    if embedding:
        out["embedding"] = emb
    w, b = model.classifier.weight.float(), model.classifier.bias.float()  # (C, D), (C,)
    if probs:
        out["probs"] = F.softmax(emb @ w.T + b, dim=1)
    if mc_samples > 0:
        p = model.dropout_p
        keep = 1.0 - p
        chunk = max(1, (1 << 24) // max(1, mc_samples * emb.shape[1]))  # ~64 MB of masks at a time
        parts = []
        for i in range(0, emb.shape[0], chunk):
            e = emb[i:i + chunk]
            mask = torch.rand((mc_samples, *e.shape), device=e.device, generator=gen) < keep
            mixed = (e.unsqueeze(0) * mask) / keep if p > 0 else e.unsqueeze(0).expand(mc_samples, -1, -1)
            parts.append(F.softmax(mixed @ w.T + b, dim=2))  # (T, n, C)
        out["mc_probs"] = torch.cat(parts, dim=1) if parts else emb.new_empty(mc_samples, 0, w.shape[0])
    return out


@torch.inference_mode()
def evaluate(model: ALModel, x: torch.Tensor, y: torch.Tensor, *, to_float: ToFloat,
             batch_size: int = 2048) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of `model` on (x, y); one host sync at the end."""
    model.eval()
    cuda = x.device.type == "cuda"
    correct = torch.zeros((), device=x.device)
    loss = torch.zeros((), device=x.device)
    for i in range(0, x.shape[0], batch_size):
        xb = to_float(x[i:i + batch_size])
        if cuda and xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cuda):
            logits = model(xb).float()
        yb = y[i:i + batch_size]
        correct += (logits.argmax(1) == yb).sum()
        loss += F.cross_entropy(logits, yb, reduction="sum")
    n = max(1, int(y.shape[0]))
    return float(correct) / n, float(loss) / n
