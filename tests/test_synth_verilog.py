"""A user's own Verilog design priced through the same flow (approxmac synth --verilog)."""

import json

import numpy as np
import pytest

from approxmac.cli import main

COMB = """
module lsb_helper(input [1:0] x, output [1:0] y);
  assign y = x;
endmodule
module my_mul(input [3:0] p, input [3:0] q, output [7:0] r);
  wire [1:0] low;
  lsb_helper h(.x(p[1:0]), .y(low));
  assign r = {p[3:2], low} * q;
endmodule
module other(input a, output y);
  assign y = ~a;
endmodule
"""

MAC = """
module my_mac(input clk, input rst, input en, input clr,
              input signed [3:0] a, input signed [3:0] b, output reg signed [11:0] acc);
  always @(posedge clk)
    if (rst) acc <= 0;
    else if (en) acc <= (clr ? 12'sd0 : acc) + a * b;
endmodule
"""


def _rows(path):
    return np.array([-1 if "x" in x else int(x, 16) for x in path.read_text().split()])


def test_user_combinational_design_with_top_and_operands(tmp_path, capsys):
    src = tmp_path / "mine.v"
    src.write_text(COMB)
    assert main(["synth", "--verilog", str(src), "--top", "my_mul", "--operands", "q,p",
                 "--stream", "uniform", "--vectors", "60", "-o", str(tmp_path / "out")]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["unit"] == "verilog" and record["module"] == "my_mul"
    assert record["params"]["operands"] == ["q", "p"] and record["params"]["format"] == "uint4"
    assert record["liberty"]["name"] == "osu018" and record["energy_pj_per_op"] > 0
    out = tmp_path / "out" / "osu018" / "my_mul"
    p, q, r = _rows(out / "in_p.hex"), _rows(out / "in_q.hex"), _rows(out / "outputs.txt")
    assert len(r) == 61 and np.array_equal(r, p * q)


def test_user_mac_follows_the_mac_protocol(tmp_path, capsys):
    src = tmp_path / "mac.v"
    src.write_text(MAC)
    assert main(["synth", "--verilog", str(src), "--stream", "uniform", "--vectors", "70",
                 "-o", str(tmp_path / "out")]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["params"]["format"] == "int4"           # from the ports' `signed`
    out = tmp_path / "out" / "osu018" / "my_mac"
    signed = lambda x: np.where(x >= 8, x - 16, x)        # noqa: E731
    a, b = signed(_rows(out / "in_a.hex")), signed(_rows(out / "in_b.hex"))
    clr, en = _rows(out / "in_clr.hex"), _rows(out / "in_en.hex")
    got = _rows(out / "outputs.txt")
    acc, want = 0, []
    for k in range(len(a)):                               # the register after step k's edge
        acc = (0 if clr[k] else acc) + int(a[k] * b[k]) if en[k] else 0
        want.append(acc & 0xFFF)
    # outputs.txt row k + 1 is sampled at the end of step k + 1, after the edge that took step k.
    assert list(got[2:]) == want[1:-1]


@pytest.mark.parametrize("text, message", [
    ("module broken(input a, output y); assign y = ; endmodule", "Yosys cannot read the design"),
    ("module three(input [3:0] a, b, c, output [3:0] y); assign y = a & b & c; endmodule",
     "needs two operand inputs"),
    ("module widths(input [3:0] a, input [5:0] b, output [3:0] y); assign y = a; endmodule",
     "must have one width"),
])
def test_bad_user_designs_exit_2_and_write_nothing(tmp_path, capsys, text, message):
    src = tmp_path / "bad.v"
    src.write_text(text)
    assert main(["synth", "--verilog", str(src), "-o", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_missing_file_and_unknown_top(tmp_path, capsys):
    assert main(["synth", "--verilog", str(tmp_path / "none.v"), "-o", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    src = tmp_path / "mine.v"
    src.write_text(COMB)
    assert main(["synth", "--verilog", str(src), "--top", "nosuch", "-o", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()
