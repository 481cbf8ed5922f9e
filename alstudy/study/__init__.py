"""A study: its file, its plan, running its campaigns, and its results store.

In the order a study flows through them: each module imports only from those above it in this
list (or beside it, on its line) and from the layers below the package; `lint-imports` checks
it (pyproject.toml).

    fields, space, catalog     typed readers, the search space, the names a file may use
    paradigms, pretrain_table  the [paradigms] and [pretrain] tables
    schema                     the study file -> a validated `Study`
    checks                     what needs the registries' objects (sizes, models, options)
    plan                       cells, trial ids, campaign configs, pretrainings, the plan text
    store, manifest            the results store: campaign logs, runs and their code
    placement, pretraining     where a campaign runs; SimCLR encoders computed once and kept
    interrupt                  SIGTERM as Ctrl-C; writes that a signal must not tear
    scheduler, progress        which campaign runs next (Optuna per cell); what the user sees
    local, trainable,          the in-process runner; the Ray Tune trainable, runner and
      ray_runner, tracking       MLflow tracking
    results, summary_table     results.parquet and the table printed at the end
    runner                     `alstudy run`: all of the above, in order
"""
