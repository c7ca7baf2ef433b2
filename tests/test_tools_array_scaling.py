"""tools/array_scaling.py: the part-count fit recovers known coefficients from synthetic array
costs, refuses sizes that cannot determine it, and states each size's leave-one-out error."""
import json

import numpy as np
import pytest

from golden.params import ParameterError
from tools.array_scaling import fit, features, main, predict, table, validate

TRUE = np.array([90.0, 3.5, 12.0, 40.0])      # pe, skew, edge, const (pJ per cycle)
SIZES = [(1, 1), (2, 2), (2, 4), (4, 2), (4, 4), (8, 8)]


def cost(r, c, coef=TRUE):
    return float(np.dot(features(r, c), coef))


def test_features_count_the_skew_triangle():
    # 4 x 2: rows delayed 0+1+2+3, columns 0+1 register stages.
    assert features(4, 2) == [8, 7.0, 6, 1.0]


def test_fit_recovers_the_coefficients_and_extrapolates():
    coef = fit([(r, c, cost(r, c)) for r, c in SIZES[:5]])
    assert coef == pytest.approx(TRUE, rel=1e-9)
    assert predict(coef, 16, 16) == pytest.approx(cost(16, 16), rel=1e-9)


def test_square_sizes_alone_are_refused():
    with pytest.raises(ParameterError, match="non-square"):
        fit([(n, n, cost(n, n)) for n in (1, 2, 4, 8, 16)])
    with pytest.raises(ParameterError, match="at least four"):
        fit([(1, 1, 1.0), (2, 4, 2.0), (4, 2, 3.0)])


def test_leave_one_out_shows_a_model_error():
    # A cost the model lacks (a term in R*C*(R+C), e.g. wires growing with the array) makes
    # the held-out predictions miss, by more for the larger array.
    points = [(r, c, cost(r, c) + 0.5 * r * c * (r + c)) for r, c in SIZES]
    rows = {(r, c): (v, p) for r, c, v, p in validate(points)}
    err = {s: abs(p / v - 1) for s, (v, p) in rows.items() if p is not None}
    assert err[(8, 8)] > err[(4, 4)] > 1e-3
    # Without it every held-out size is exact.
    exact = validate([(r, c, cost(r, c)) for r, c in SIZES])
    assert all(p == pytest.approx(v, rel=1e-9) for _, _, v, p in exact if p is not None)
    # 2x4 held out leaves 4x2 as the only non-square size: still determined.
    assert all(p is not None for *_, p in exact)


def record(r, c, **over):
    rec = {"unit": "systolic", "params": {"rows": r, "cols": c, "pe": "int_mac", "n": 16},
           "stream": "cnn", "liberty": {"sha256": "x"}, "recipe": "abc", "clock_ns": 10.0,
           "energy_pj_per_op": cost(r, c) / (r * c), "area_um2": 1000.0 * r * c + 50 * (r + c),
           "delay_ns": 8.0}
    rec.update(over)
    return rec


def test_table_and_cli(tmp_path, capsys):
    lines = table([record(r, c) for r, c in SIZES[:5]], extra=[(16, 16)])
    last = lines[-1].split("|")
    assert "16×16 (estimate)" in last[1]
    assert float(last[3]) == pytest.approx(cost(16, 16) / 256, abs=1e-3)
    assert float(last[6]) == pytest.approx(1000.0 * 256 + 50 * 32, abs=1)
    for r, c in SIZES[:5]:
        (tmp_path / f"{r}x{c}").mkdir()
        (tmp_path / f"{r}x{c}" / "result.json").write_text(json.dumps(record(r, c)))
    assert main([str(tmp_path / f"{r}x{c}") for r, c in SIZES[:5]] + ["--predict", "8x8"]) == 0
    assert "8×8 (estimate)" in capsys.readouterr().out
    # Mixed clocks are refused with a clear error (exit status 2).
    (tmp_path / "2x2" / "result.json").write_text(json.dumps(record(2, 2, clock_ns=12.0)))
    assert main([str(tmp_path / f"{r}x{c}") for r, c in SIZES[:5]]) == 2
    assert "differ only in rows and cols" in capsys.readouterr().err
    assert main([str(tmp_path / "1x1"), "--predict", "16"]) == 2
