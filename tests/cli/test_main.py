"""The command layer: every verb is there, its help works, and bad input is one line and exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from alstudy.cli import main

VERBS = ("campaign", "list", "run", "validate", "report", "bench")


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


def test_help_lists_every_verb_in_order(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    positions = [out.index(f"    {verb}  ") for verb in VERBS]
    assert positions == sorted(positions), out


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([verb, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: alstudy {verb} ")


def test_the_command_line_loads_light():
    """Building the parser (what `alstudy --help` does) imports none of the heavy libraries."""
    code = ("import sys\nfrom alstudy.cli import build_parser\nbuild_parser()\n"
            "heavy = [m for m in ('torch', 'ray', 'optuna', 'pandas', 'matplotlib') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_python_dash_m_alstudy_runs_the_same_main(tmp_path):
    result = subprocess.run([sys.executable, "-m", "alstudy", "validate", str(tmp_path / "none.toml")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == f"alstudy: error: {tmp_path / 'none.toml'}: no such study file"


# argv, words the one error line must contain; argparse's own errors exit through SystemExit(2)
BAD = {
    "unknown verb": (["frob"], ["alstudy: error:", "invalid choice: 'frob'", "'campaign'"]),
    "campaign without a dataset": (["campaign", "--strategy", "random"],
                                   ["alstudy campaign: error:", "--dataset"]),
    "campaign, unknown dataset": (["campaign", "--dataset", "imagenet", "--strategy", "random"],
                                  ["--dataset 'imagenet': unknown dataset; choices:", "wine"]),
    "campaign, unknown strategy": (["campaign", "--dataset", "wine", "--strategy", "oracle"],
                                   ["--strategy 'oracle': unknown strategy; choices:", "entropy"]),
    "campaign, --set without =": (["campaign", "--dataset", "wine", "--strategy", "random", "--set", "lr"],
                                  ["--set 'lr': expected HP=VALUE"]),
    "campaign, unknown hyperparameter": (["campaign", "--dataset", "wine", "--strategy", "random",
                                          "--set", "lrr=0.1"], ["--set lrr: unknown hyperparameter or method option; allowed:"]),
    "campaign, unknown paradigm": (["campaign", "--dataset", "wine", "--strategy", "random", "--paradigm", "mixmatch"],
                                   ["--paradigm 'mixmatch': unknown method; choices: supervised, fixmatch"]),
    "campaign, bad method option": (["campaign", "--dataset", "wine", "--strategy", "random", "--paradigm",
                                     "fixmatch", "--set", "threshold=2"], ["--set threshold 2.0: must be in [0.0, 1.0]"]),
    "campaign, method by --set": (["campaign", "--dataset", "wine", "--strategy", "random", "--set", "method=uda"],
                                  ["--set method is set by --paradigm"]),
    "campaign, bad device": (["campaign", "--dataset", "wine", "--strategy", "random", "--device", "tpu"],
                             ["--device 'tpu': allowed: cpu, cuda, cuda:N"]),
    "campaign, no threads": (["campaign", "--dataset", "wine", "--strategy", "random", "--threads", "0"],
                             ["--threads 0: must be >= 1"]),
    "campaign, count not a number": (["campaign", "--dataset", "wine", "--strategy", "random",
                                      "--initial", "ten"], ["argument --initial", "'ten'"]),
    "run, zero concurrent": (["run", "s.toml", "--max-concurrent", "0"],
                             ["alstudy run: error: argument --max-concurrent: 0: expected a whole number >= 1"]),
    "run, failures not a number": (["run", "s.toml", "--max-failures", "x"],
                                   ["argument --max-failures: x: expected a whole number >= 0"]),
    "run, no study": (["run"], ["alstudy run: error:", "STUDY"]),
    "validate, missing file": (["validate", "{tmp}/nope.toml"], ["{tmp}/nope.toml: no such study file"]),
    "validate, a folder": (["validate", "{tmp}"], ["{tmp}: is a folder, expected a study file"]),
    "report, alpha outside (0, 1)": (["report", "{tmp}", "--alpha", "2"], ["--alpha 2.0: must be in (0, 1)"]),
    "report, no bootstrap": (["report", "{tmp}", "--bootstrap", "0"], ["--bootstrap 0: must be >= 1"]),
    "report, no results": (["report", "{tmp}"], ["no such results file"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gives_exit_2_and_one_line(case, tmp_path, capsys):
    argv, words = BAD[case]
    argv = [a.format(tmp=tmp_path) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    line = _one_error_line(capsys)
    assert code == 2, (case, line)
    for word in words:
        assert word.format(tmp=tmp_path) in line, (word, line)
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "bad input must not write anything"


def test_list_names_what_a_study_may_use(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for section, example in (("datasets:", "name=wine"), ("models:", "mlp"), ("strategies:", "badge"),
                             ("methods", "fixmatch"), ("threshold=0.95", "mu=3"),
                             ("paradigm keys", 'init  random | simclr | { weights = "PATH" }'),
                             ("tune  finetune | linear", "only its head"),
                             ("pretrain (SimCLR recipe", "steps=300, batch_size=128")):
        assert section in out and example in out, (section, out)
