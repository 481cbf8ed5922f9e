"""infer / evaluate: batched inference under inference_mode, computing only what is asked."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from alstudy.models.base import ALModel

ToFloat = Callable[[torch.Tensor], torch.Tensor]


def _batches(x: torch.Tensor, to_float: ToFloat, batch_size: int):
    """Network-ready batches of `x` in order. On CUDA they are channels_last, and the caller's work
    on each batch runs inside the bf16 autocast region (the generator is suspended within it)."""
    cuda = x.device.type == "cuda"
    for i in range(0, x.shape[0], batch_size):
        xb = to_float(x[i:i + batch_size])
        if cuda and xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cuda):
            yield xb


@torch.inference_mode()
def embed(model: ALModel, x: torch.Tensor, *, to_float: ToFloat, batch_size: int = 2048) -> torch.Tensor:
    """Penultimate embeddings (N, D) in float32."""
    model.eval()
    out = [model.features(xb).float() for xb in _batches(x, to_float, batch_size)]
    return torch.cat(out) if out else torch.empty(0, model.embed_dim, device=x.device)


@torch.inference_mode()
def infer(model: ALModel, x: torch.Tensor, *, to_float: ToFloat, probs: bool = False,
          mc_samples: int = 0, embedding: bool = False, gen: torch.Generator | None = None,
          batch_size: int = 2048) -> dict[str, torch.Tensor]:
    """Pool outputs: 'probs' (N, C), 'mc_probs' (T, N, C), 'embedding' (N, D) as asked.

    The backbone runs once per row. MC dropout then draws T dropout masks z_t over the
    embedding units, each shared by every pool row: sample t is one model, the head with
    weights W diag(z_t) / keep, drawn from the dropout posterior and applied to the whole pool
    (the expectation over models that BALD estimates; batch-aware variants need exactly this).
    That costs T small matmuls instead of T backbone passes, and the masks come from `gen`.
    """
    emb = embed(model, x, to_float=to_float, batch_size=batch_size)
    out: dict[str, torch.Tensor] = {}
    if embedding:
        out["embedding"] = emb
    w, b = model.classifier.weight.float(), model.classifier.bias.float()  # (C, D), (C,)
    if probs:
        out["probs"] = _softmax_last(torch.addmm(b, emb, w.T))
    if mc_samples > 0:
        keep = 1.0 - model.dropout_p
        masks = (torch.rand((mc_samples, 1, w.shape[1]), device=w.device, generator=gen) < keep) / keep
        heads = (w.unsqueeze(0) * masks).reshape(-1, w.shape[1])  # (T*C, D): all T heads stacked
        logits = torch.addmm(b.repeat(mc_samples), emb, heads.T).view(emb.shape[0], mc_samples, -1)
        out["mc_probs"] = _softmax_last(logits).transpose(0, 1)  # (T, N, C), one GEMM in all
    return out


def _softmax_last(z: torch.Tensor) -> torch.Tensor:
    """Softmax over a short last axis (the classes), in place. On CPU torch's softmax kernel
    is about 6x slower than this for rows of ~10 classes, which dominated MC-dropout scoring."""
    e = z.sub_(z.amax(dim=-1, keepdim=True)).exp_()
    return e.div_(e.sum(dim=-1, keepdim=True))


@torch.inference_mode()
def evaluate(model: ALModel, x: torch.Tensor, y: torch.Tensor, *, to_float: ToFloat,
             batch_size: int = 2048) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of `model` on (x, y); one host sync at the end."""
    model.eval()
    correct = torch.zeros((), device=x.device)
    loss = torch.zeros((), device=x.device)
    for i, xb in enumerate(_batches(x, to_float, batch_size)):
        logits = model(xb).float()
        yb = y[i * batch_size:(i + 1) * batch_size]
        correct += (logits.argmax(1) == yb).sum()
        loss += F.cross_entropy(logits, yb, reduction="sum")
    n = max(1, int(y.shape[0]))
    return float(correct) / n, float(loss) / n
