"""infer / score_dense / evaluate: batched inference under inference_mode, computing only what
is asked. `infer` scores a classifier's pool (one row per input); `score_dense` streams a dense
(segmentation) model's pool, where every pixel is a row and only image-level results are kept."""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from alstudy.models.almodel import ALModel
from alstudy.models.dropout import keep_mask, keep_probability

ToFloat = Callable[[torch.Tensor], torch.Tensor]


def _batches(x: torch.Tensor, to_float: ToFloat, batch_size: int):
    """Network-ready batches of `x` in order, images in channels_last. On CUDA the caller's work
    on each batch runs inside the bf16 autocast region (the generator is suspended within it)."""
    cuda = x.device.type == "cuda"
    for i in range(0, x.shape[0], batch_size):
        xb = to_float(x[i:i + batch_size])
        if xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cuda):
            yield xb


@torch.inference_mode()
def embed(model: ALModel, x: torch.Tensor, *, to_float: ToFloat, batch_size: int = 2048) -> torch.Tensor:
    """Penultimate embeddings (N, D) in float32; a dense model's image embedding (its pixel
    features pooled by `model.pool`)."""
    model.eval()
    if getattr(model, "dense", False):
        batch_size = min(batch_size, DENSE_BATCH)
        out = [model.pool(model.features(xb)).float() for xb in _batches(x, to_float, batch_size)]
    else:
        out = [model.features(xb).float() for xb in _batches(x, to_float, batch_size)]
    return torch.cat(out) if out else torch.empty(0, model.embed_dim, device=x.device)


@torch.inference_mode()
def infer(model: ALModel, x: torch.Tensor, *, to_float: ToFloat, probs: bool = False,
          mc_samples: int = 0, embedding: bool = False, flip: bool = False,
          gen: torch.Generator | None = None, batch_size: int = 2048) -> dict[str, torch.Tensor]:
    """Pool outputs: 'probs' (N, C), 'mc_probs' (T, N, C), 'embedding' (N, D), 'flip_probs'
    (2, N, C: the rows' probabilities and those of the rows flipped along their last axis) as
    asked.

    The backbone runs once per row; MC dropout then samples only the head. As in T full
    passes with dropout on, every (sample, row) pair gets its own dropout mask over the
    embedding units, drawn from `gen`. The T heads of a block of rows are one batched product
    of masked embeddings with W / keep (`_mc_probs`); the masks come 4 per random draw
    (`keep_mask`). One mask per sample shared by the whole pool would be cheaper still, but a
    fixed committee of T heads makes top-k selection pick where those particular heads
    disagree: BALD on MNIST-1D lost 3.4 accuracy points (8 seeds) that way.
    """
    emb = embed(model, x, to_float=to_float, batch_size=batch_size)
    out: dict[str, torch.Tensor] = {}
    if embedding:
        out["embedding"] = emb
    w, b = model.classifier.weight.float(), model.classifier.bias.float()  # (C, D), (C,)
    if probs:
        out["probs"] = _softmax_last(torch.addmm(b, emb, w.T))
    if mc_samples > 0:
        out["mc_probs"] = _mc_probs(emb, w, b, model.dropout_p, mc_samples, gen)
    if flip:
        flipped = embed(model, x, to_float=lambda t: to_float(t).flip(-1), batch_size=batch_size)
        out["flip_probs"] = _softmax_last(torch.stack([torch.addmm(b, emb, w.T), torch.addmm(b, flipped, w.T)]))
    return out


DENSE_BATCH = 16  # images per batch when a dense model scores its pool


@torch.inference_mode()
def score_dense(models: Sequence[ALModel], x: torch.Tensor, *, to_float: ToFloat,
                row_keys: Callable[..., list[torch.Tensor]] | None = None,
                reduce: Callable[[torch.Tensor], torch.Tensor] | None = None, probs: bool = False,
                mc_samples: int = 0, pixels: int | None = None, flip: bool = False,
                embedding: bool = False, gradient_embedding: bool = False,
                gen: torch.Generator | None = None,
                batch_size: int = DENSE_BATCH) -> dict[str, torch.Tensor]:
    """Pool outputs of a dense model `models[0]` (features (B, D, h, w), a per-pixel linear
    classifier), streamed `batch_size` images at a time: nothing of size (N, C, h, w) is kept.
    A pixel of the feature map is a row; per batch, its rows go to `row_keys` as keyword
    arguments (only those asked for):

      probs (R, C)              softmax of the head, as `probs`
      mc_probs (T, R, C)        as `infer`'s MC dropout, on `pixels` rows per image drawn
                                uniformly without replacement from `gen` (None: every pixel)
      ensemble_probs (K, R, C)  the K `models` (more than one: an ensemble, member 0 first)
      flip_probs (2, R, C)      the pixel and the same pixel of the horizontally flipped image's
                                prediction, flipped back (`flip`)

    and `reduce` turns each returned key, viewed (B, rows per image), into image keys (B,).
    Returns, as asked: 'keys' (a list of (N,) tensors), 'probs' (N, C) the mean of each image's
    pixel probabilities, 'embedding' (N, D) `model.pool` of the features, and
    'gradient_embedding' (N, C * D): BADGE's sum over pixels of (onehot(argmax p) - p) (x) e,
    flattened class-major. Scores are at the feature map's resolution (no upsampling): the rows
    the head and MC dropout see.
    """
    model, ensemble = models[0], len(models) > 1
    for m in models:
        m.eval()
    heads = [(m.classifier.weight.float(), m.classifier.bias.float()) for m in models]  # (C, D), (C,)
    w, b = heads[0]
    need_p = probs or gradient_embedding or ensemble or flip
    parts: dict[str, list[torch.Tensor]] = {}
    for xb in _batches(x, to_float, batch_size):
        f = model.features(xb)
        with torch.autocast(x.device.type, enabled=False):  # the head's small products in float32
            e = _pixel_rows(f.float())                    # (B, P, D)
            n, rows_per, d = e.shape
            p = _softmax_last(F.linear(e, w, b)) if need_p else None  # (B, P, C)
            rows: dict[str, torch.Tensor] = {}
            if probs:
                rows["probs"] = p.reshape(n * rows_per, -1)
            if mc_samples > 0:
                sub = _subsample(e, pixels, gen)            # (B, m, D)
                rows["mc_probs"] = _mc_probs(sub.reshape(-1, d), w, b, model.dropout_p, mc_samples, gen)
            if ensemble:
                others = [_softmax_last(F.linear(_pixel_rows(m.features(xb).float()), *head))
                          for m, head in zip(models[1:], heads[1:])]
                rows["ensemble_probs"] = torch.stack([p, *others]).reshape(len(models), n * rows_per, -1)
            if flip:
                back = model.features(xb.flip(-1)).float().flip(-1)  # the flip's features, flipped back
                q = _softmax_last(F.linear(_pixel_rows(back), w, b))
                rows["flip_probs"] = torch.stack([p, q]).reshape(2, n * rows_per, -1)
            if row_keys is not None:
                for i, key in enumerate(row_keys(**rows)):
                    parts.setdefault(f"key{i}", []).append(reduce(key.reshape(n, -1)))
            if probs:
                parts.setdefault("probs", []).append(p.mean(1))
            if embedding:
                parts.setdefault("embedding", []).append(model.pool(f).float())
            if gradient_embedding:
                a = -p
                a.scatter_add_(2, p.argmax(2, keepdim=True), torch.ones_like(a[..., :1]))
                parts.setdefault("gradient_embedding", []).append(torch.bmm(a.transpose(1, 2), e).reshape(n, -1))
    out = {key: torch.cat(v) for key, v in parts.items() if not key.startswith("key")}
    if row_keys is not None:
        out["keys"] = [torch.cat(parts[f"key{i}"]) for i in range(sum(k.startswith("key") for k in parts))]
    return out


def _pixel_rows(f: torch.Tensor) -> torch.Tensor:
    """Pixel rows of a feature map: (B, D, h, w) -> (B, h * w, D)."""
    return f.flatten(2).transpose(1, 2)


def _subsample(e: torch.Tensor, pixels: int | None, gen: torch.Generator | None) -> torch.Tensor:
    """`pixels` rows of each image's (B, P, D), drawn uniformly without replacement from `gen`
    (the top `pixels` of P uniforms per image); all rows when pixels is None or >= P."""
    if pixels is None or pixels >= e.shape[1]:
        return e
    u = torch.rand(e.shape[:2], generator=gen, device=e.device)
    idx = u.topk(pixels, dim=1).indices                          # (B, m)
    return e.gather(1, idx.unsqueeze(2).expand(-1, -1, e.shape[2]))


MC_BLOCK_ELEMS = 1 << 22  # masked embeddings per block: (T, rows, D), 16 MiB in float32


def _mc_probs(emb: torch.Tensor, w: torch.Tensor, b: torch.Tensor, p: float, samples: int,
              gen: torch.Generator | None) -> torch.Tensor:
    """(T, N, C) softmax of the head under T independent dropout masks per row. Per block of
    rows: masks written as floats (T, rows, D), times the embeddings in place, then W / keep."""
    n, d = emb.shape
    out = torch.empty(samples, n, w.shape[0], device=emb.device, dtype=torch.float32)
    rows = max(1, MC_BLOCK_ELEMS // max(1, samples * d))
    buf = torch.empty(samples, min(rows, n), d, device=emb.device, dtype=torch.float32)
    keep = keep_probability(p)
    scaled = w / keep if keep > 0 else torch.zeros_like(w)  # (C, D)
    for start in range(0, n, rows):
        e = emb[start:start + rows]
        z = buf[:, :e.shape[0]]
        keep_mask(tuple(z.shape), p, device=emb.device, generator=gen, out=z)
        # F.linear's (rows, D) x (C, D)^T layout is ~2x faster than `@ (D, C)` for small C
        out[:, start:start + e.shape[0]] = F.linear(z.mul_(e), scaled)
    return _softmax_last(out.add_(b))


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
