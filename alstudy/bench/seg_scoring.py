"""Segmentation pool scoring: images/s of the streamed dense scorer (`score_dense`) with the
U-Net on 32x32 scenes, for mean pixel entropy and for BALD (MC dropout on the head over pixel
rows), and the peak memory of scoring a whole pool against scoring one batch.

Memory is the peak of torch's CPU tensor allocations during scoring, replayed from the
profiler's memory events (tracemalloc does not see torch's allocator, and a process's peak
resident size hides memory reused from before). A streamed scorer's peak does not grow with
the pool."""

from __future__ import annotations

import statistics

import torch

from alstudy.bench.section import Section, target
from alstudy.bench.timing import seconds
from alstudy.training.infer import DENSE_BATCH

SHAPE, CLASSES, WIDTH, DROPOUT = (1, 32, 32), 11, 16, 0.25
MC_SAMPLES = 20
POOLS = {"smoke": 64, "quick": 1_000, "full": 4_000}
REPEATS = {"smoke": 1, "quick": 3, "full": 5}
# (case, strategy, options): bald at its default pixel subsample and on every pixel
CASES = (("mean entropy", "entropy", {}), ("bald", "bald", {"mc_samples": MC_SAMPLES}),
         ("bald, every pixel", "bald", {"mc_samples": MC_SAMPLES, "pixels": None}))


def _setup(n: int, device: str):
    from alstudy.models import make_model

    torch.manual_seed(0)
    model = make_model("unet", SHAPE, CLASSES, dropout=DROPOUT, options={"width": WIDTH}).to(device).eval()
    x = torch.randint(0, 256, (n, *SHAPE), dtype=torch.uint8, generator=torch.Generator().manual_seed(1)).to(device)
    return model, x, (lambda t: t.float().div_(255.0))


def _score(model, x, to_float, strategy_name: str, options: dict, device: str) -> dict:
    from alstudy.rng import torch_generator
    from alstudy.strategies import make_strategy
    from alstudy.training.infer import score_dense

    strategy = make_strategy(strategy_name, **options)
    needs = strategy.needs()
    return score_dense([model], x, to_float=to_float, row_keys=strategy.row_keys, reduce=strategy.reduce_pixels,
                       probs=needs.probs, mc_samples=needs.mc_samples, pixels=needs.pixels,
                       gen=torch_generator(0, "bench-mc", device=torch.device(device).type))


def peak_mib(fn) -> float:
    """Peak MiB of torch CPU tensor memory that `fn()` allocates above what exists before it:
    every allocation and free the profiler records (profile_memory), replayed in time order."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    # an op's own allocations net of its own frees, at its start; a free outside ops ([memory]) at its time
    steps = sorted((e.time_range.start, e.cpu_memory_usage if e.name == "[memory]" else e.self_cpu_memory_usage)
                   for e in prof.events())
    live = peak = 0
    for _, change in steps:
        live += change
        peak = max(peak, live)
    return peak / 2**20


def run(mode: str, *, device: str) -> Section:
    n = POOLS[mode]
    section = Section("seg_scoring", f"Segmentation pool scoring (U-Net width {WIDTH}, {SHAPE[1]}x{SHAPE[2]} "
                                     f"scenes, {CLASSES} classes, batches of {DENSE_BATCH} images)")
    model, x, to_float = _setup(n, device)

    def forward() -> None:
        with torch.inference_mode():
            for i in range(0, n, DENSE_BATCH):
                model(to_float(x[i:i + DENSE_BATCH]))

    runs = {"forward only": forward}
    for case, name, options in CASES:
        _score(model, x[:DENSE_BATCH], to_float, name, options, device)  # lazy initialization
        runs[case] = lambda name=name, options=options: _score(model, x, to_float, name, options, device)
    forward()
    # rounds of every case back to back: a cost is the median of its ratios within a round,
    # so load that drifts between rounds moves both sides of a ratio alike
    rounds = [{case: seconds(fn, device=device) for case, fn in runs.items()} for _ in range(REPEATS[mode])]
    for case in runs:
        t = statistics.median(r[case] for r in rounds)
        cost = statistics.median(r[case] / r["forward only"] for r in rounds)
        section.rows.append({"case": case, "pool": n, "images_per_s": n / t, "cost": cost})
    if mode == "smoke":
        section.notes.append("peak memory is not measured at smoke sizes")
    elif torch.device(device).type == "cpu":
        for case, name, options in CASES:
            one = peak_mib(lambda: _score(model, x[:DENSE_BATCH], to_float, name, options, device))
            pool = peak_mib(lambda: _score(model, x, to_float, name, options, device))
            for row in section.rows:
                if row["case"] == case:
                    row |= {"peak_mib_one_batch": one, "peak_mib_pool": pool}
            section.targets.append(target(f"peak memory of a {n}-image pool over one batch's, {case}",
                                          pool / max(one, 1.0), at_most=3.0, unit="x"))
        # what holding the pool's pixel probabilities (N, C, H, W) in float32 would take instead
        section.summary["pool_probs_mib_unstreamed"] = n * CLASSES * SHAPE[1] * SHAPE[2] * 4 / 2**20
        section.notes.append("peak: torch CPU tensor memory allocated by scoring (torch.profiler, "
                             "profile_memory), the pool's stored images not counted; one batch = the "
                             "first batch of the pool scored alone")
    else:
        section.notes.append("peak memory is measured on CPU only")
    section.notes.append(f"cost: seconds relative to forward passes over the pool; bald: T = {MC_SAMPLES} "
                         "dropout masks on the head, on the strategy's default pixel subsample per image "
                         "(bald: 256 of 1024) or on every pixel")
    return section
