"""The approxmac command line: verilog, errors."""

import json
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "approxmac.cli"]


def run(*args, cwd=None):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd)


def test_verilog_writes_one_named_module(tmp_path):
    proc = run("verilog", "mitch_mul", "--n", "16", "--w", "6", "--variant", "trunc",
               "--signed", "none", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "mitch_mul_n16_w6_trunc_none.v"
    assert proc.stdout.strip() == str(path)
    text = path.read_text()
    assert "module mitch_mul_n16_w6_trunc_none(" in text
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("args,message", [
    (["--n", "16", "--w", "1"], "w must be in 2..16, got 1"),
    (["--n", "8", "--w", "9"], "w must be in 2..8, got 9"),
    (["--n", "3", "--w", "2"], "n must be in 4..32, got 3"),
    (["--variant", "round"], "invalid choice: 'round'"),
    (["--signed", "sm"], "invalid choice: 'sm'"),
])
def test_verilog_bad_parameters_write_nothing(tmp_path, args, message):
    out = tmp_path / "out"
    proc = run("verilog", "mitch_mul", *args, "-o", str(out))
    assert proc.returncode != 0
    assert message in proc.stderr
    assert not out.exists()


def test_errors_json(tmp_path):
    path = tmp_path / "e.json"
    proc = run("errors", "--n", "16", "--w", "6,16", "--samples", "20000", "--seed", "5", "--json", str(path))
    assert proc.returncode == 0, proc.stderr
    table = json.loads(path.read_text())
    assert table["seed"] == 5 and table["samples"] == 20000
    rows = {(r["distribution"], r["w"]): r for r in table["rows"]}
    assert set(rows) == {(d, w) for d in ("uniform", "log-uniform") for w in (6, 16)}
    exact = rows[("uniform", 16)]
    assert -0.040 < exact["mean"] < -0.037 and exact["min"] >= -1 / 9 - 1e-12
    assert rows[("uniform", 6)]["mean"] < exact["mean"]     # truncation adds negative bias
    assert "uniform" in proc.stdout and "-3.8" in proc.stdout


def test_errors_bad_w_range():
    proc = run("errors", "--w", "two")
    assert proc.returncode == 2 and "--w must look like" in proc.stderr
