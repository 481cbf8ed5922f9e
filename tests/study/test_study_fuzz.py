"""Property: whatever a study file says, `alstudy validate` answers with exit 0, or with exit 2
and one line — never a traceback. Random mutations of a valid study: values swapped for other
types, numbers made nan, inf, negative, zero or huge, keys dropped or added, names with odd
characters."""

from __future__ import annotations

import copy
import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alstudy.cli import main

VALID = {
    "name": "fuzz", "datasets": ["wine", "digits"], "strategies": ["random", "entropy", "bald"],
    "budget": {"initial": 10, "per_cycle": 8, "cycles": 2, "validation": 10, "digits": {"initial": 20}},
    "model": {"name": "mlp", "options": {"width": 64}},
    "train": {"epochs": 3, "min_steps": 10, "momentum": 0.9, "augment": 0.0, "batch_size": 16},
    "tuning": {"trials": 2, "seeds": [0], "sampler_seed": 0, "startup_trials": 1,
               "space": {"lr": {"low": 0.01, "high": 0.2, "log": True}, "weight_decay": [0.0, 0.001]}},
    "strategy_options": {"bald": {"mc_samples": 10}},
    "evaluation": {"seeds": [100, 101], "untuned": False},
    "resources": {"cpu": 1, "gpu": 0, "max_concurrent": 2},
}

ODD = st.one_of(
    st.just(math.nan), st.just(math.inf), st.just(-math.inf), st.integers(-10**12, 10**12),
    st.floats(allow_nan=False, allow_infinity=False), st.just(0), st.just(-1), st.just(1.5),
    st.booleans(), st.text(max_size=12), st.just("x\n"), st.just("a" * 300), st.just("../etc"),
    st.just("名前"), st.lists(st.integers(-3, 3), max_size=3), st.just({}), st.just({"low": 1, "high": 0}),
    st.just([]), st.just(["random", "random"]))


def paths(table: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for key, value in table.items():
        out.append(prefix + (key,))
        if isinstance(value, dict):
            out += paths(value, prefix + (key,))
    return out


def toml(value) -> str:
    """A TOML value (inline tables and arrays; nan and inf as TOML writes them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(str(k))} = {toml(v)}" for k, v in value.items()) + "}"


@st.composite
def mutated(draw) -> dict:
    study = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(study)))
        parent = study
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
        if action == "replace":
            parent[path[-1]] = copy.deepcopy(draw(ODD))   # a fresh object: later mutations may edit it
        elif action == "drop":
            del parent[path[-1]]
        else:
            parent[draw(st.sampled_from(["extra", "seeds", "name", "cpu", "width", "digits"]))] = copy.deepcopy(draw(ODD))
        if not isinstance(study, dict) or not study:
            break
    return study


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(study=mutated())
def test_any_study_file_gives_exit_0_or_one_line_and_exit_2(study, tmp_path_factory, capsys):
    path = tmp_path_factory.mktemp("fuzz") / "study.toml"
    path.write_text("\n".join(f"{json.dumps(k)} = {toml(v)}" for k, v in study.items()) + "\n",
                    encoding="utf-8")
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    assert code in (0, 2), captured
    if code == 2:
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("alstudy: error: "), captured.err


def test_the_unmutated_study_is_valid(tmp_path, capsys):
    path = tmp_path / "study.toml"
    path.write_text("\n".join(f"{json.dumps(k)} = {toml(v)}" for k, v in VALID.items()) + "\n")
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
