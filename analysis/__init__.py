"""Results store -> learning curves, AUBC, gain over tuned random, ranks, rank stability, report.

Reads only `results.parquet`; never imports torch or Ray. Flow: load -> analyze (curves, gain,
ranks, regimes, stability, penalty, cd, tuning) -> summary / figures / report; `alstudy report`.
"""
