r"""An R x C weight-stationary systolic array whose PE uses any MAC's multiplier and adder.

The array holds a weight tile B (R x C: K = R rows of the product's K dimension) in its PEs,
PE (k, j) holding B[k, j], and streams rows of A through it, one row per cycle:

    C[i, j] = add(...add(add(P[i, j], mul(A[i, 0], B[0, j])), mul(A[i, 1], B[1, j]))...,
                  mul(A[i, R-1], B[R-1, j]))                      (golden.systolic.ws_matmul)

top to bottom down column j, with ``mul`` and ``add`` the PE's own (hdl/ws_pe.py; for float PEs
fp32_add(partial sum, product), so the order is fixed: fp32 addition is not associative).
P is the partial sum entering at the north edge (``psum_in``): +0 / 0 for a single pass; for
K > R, split K into passes of R and feed each pass's results in as the next pass's P (the
south edge's skew equals the north edge's, so a fixed delay chains them). The chained passes
give exactly golden.systolic.matmul's order k = 0 .. K-1 from +0.

Ports (all synchronous to ``clk``; ``rst`` is synchronous)

    a        in   R x Wa    one row of A: a[k] = A[i, k]
    valid    in   1         a holds a row this cycle
    psum_in  in   C x Wacc  P[i, j] of the row given in cycle t, in cycle t + j (skewed)
    w        in   C x Wb    one row of the next weight tile, with w_load
    w_load   in   1         shift w into the shadow weights
    swap     in   1         make the shadow weights active
    c        out  C x Wacc  C[i, j] of the row given in cycle t, in cycle t + R + j (skewed)
    c_valid  out  C         c_valid[j]: c[j] holds a row's result this cycle

Rows: 1 MAC per PE per cycle for any stream of rows (``valid`` may be high every cycle, gaps
anywhere); the row given in cycle t is multiplied in PE (k, j) in cycle t + k + j (activations
move east, partial sums south, one PE per cycle; the input skew is inside). Latency: column j of
that row on c in cycle t + R + j (``latency(j)``); no de-skew registers: a consumer that chains
passes or writes results column by column needs none.

Weights (double-buffered): a w_load cycle t shifts the shadow weights down one row at the edge
ending cycle t + 1 (PE (0, j) takes w[j] of cycle t); load the rows B[R-1, :], ..., B[0, :] in
that order, in R w_load cycles (gaps allowed). A swap in cycle s makes PE (k, j) copy its shadow
into its active weight at the edge ending cycle s + k + j, in step with the rows: rows given
in cycles <= s use the old weights, rows after s the new ones. Reload rule (both
bounds tight; an edge's copy reads the shadow before that edge's shift):

    s >= t_last + 2            the swap after the tile's last w_load cycle t_last (its shift,
                               at the edge ending t_last + 1, precedes PE (0, 0)'s copy)
    t_next >= s + R + C - 3    the next tile's first w_load t_next (its first shift, at the edge
                               ending t_next + 1, not before PE (R-1, C-1)'s copy)

Loading overlaps streaming, so weight tiles used for at least 2R + C - 2 rows each
(``reload_spacing()``) keep every PE at one MAC per cycle.

Cycle diagram (R = C = 2; the first tile loads after reset, then rows stream; P, C are rows)::

    cycle       0    1    2    3    4    5    6    7    8    9    10
    rst         1
    w_load           1    1
    w                B[1] B[0]
    swap                            1                             (s = 4 = t_load + 2)
    valid                                1    1    1
    a                                    A0   A1   A2             (rows after the swap)
    psum_in[0]                           P0   P1   P2
    psum_in[1]                                P0   P1   P2
    c_valid[0]                                     1    1    1
    c[0]                                           C0   C1   C2
    c_valid[1]                                          1    1    1
    c[1]                                                C0   C1   C2

(a row given in the swap's cycle would still use the weights active before it.)

Control: the per-PE enable, load and swap each drive a whole register of a PE, so every PE has
its own copy, registered next to it (``approxmac_replica``: kept by synth/synth.ys, as in
hdl/systolic.py). Reset: ``rst`` clears the control only (the valid and swap delay lines):
rows in flight are dropped (column j of a row given in cycle t is lost when rst is high in a
cycle in t .. t + R + j - 1) and the weights are undefined afterwards: load a tile and swap
before the next row. The data registers (activations, partial sums, weights) have no reset, so
rst reaches only the 2 (R + C) - 4 control flip-flops of the delay lines.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out, connect

from golden.params import ParameterError, check_int
from .delays import delay_lines

from .ws_pe import PE_UNITS, WsPe, mac_template


__all__ = ["PE_UNITS", "WeightStationaryArray", "module_name"]


def module_name(rows, cols, pe_name):
    return f"systolic_ws_r{rows}_c{cols}_{pe_name}"


class WeightStationaryArray(wiring.Component):
    """R x C weight-stationary array (see the module docstring for the protocol).

    Parameters
    ----------
    rows, cols : int
        Array size R x C, 1..16 each (R is the K of one pass).
    pe : str
        The MAC whose multiplier and adder every PE uses, one of PE_UNITS; ``pe_params`` are
        its parameters (no pipeline or gate_zero option).

    Raises
    ------
    golden.params.ParameterError
        A size out of range, an unknown PE or a bad PE parameter.
    """

    def __init__(self, *, rows=4, cols=4, pe="int_mac", **pe_params):
        try:
            check_int("rows", rows, 1, 16)
            check_int("cols", cols, 1, 16)
            mac = mac_template(pe, pe_params)
        except ParameterError:
            self._MustUse__silence = True
            raise
        self.rows, self.cols, self.pe, self.pe_params = rows, cols, pe, dict(pe_params)
        self.a_width = self.w_width = len(mac.a)
        self.acc_width = len(mac.acc)
        self.pe_name = mac.name
        self.name = module_name(rows, cols, mac.name)
        super().__init__({
            "a": In(data.ArrayLayout(self.a_width, rows)),
            "valid": In(1),
            "psum_in": In(data.ArrayLayout(self.acc_width, cols)),
            "w": In(data.ArrayLayout(self.w_width, cols)),
            "w_load": In(1),
            "swap": In(1),
            "c": Out(data.ArrayLayout(self.acc_width, cols)),
            "c_valid": Out(cols),
        })

    def latency(self, col=0):
        """Cycles from a row's input to its result on c[col]."""
        return self.rows + col

    def reload_spacing(self):
        """The fewest cycles between two swaps with the loads of the second in between."""
        return 2 * self.rows + self.cols - 2

    def elaborate(self, platform):
        m = Module()
        rows, cols = self.rows, self.cols

        delayed, taps, replica = delay_lines(m)

        # The control of input cycle t reaches PE (k, j) in cycle t + k + j, with its row.
        valid_at = taps(self.valid, rows + cols - 1, "valid")
        swap_at = taps(self.swap, max(rows + cols - 3, 0), "swap")
        # The weights to load enter one cycle late, next to each column's top PE.
        w_top = [delayed(self.w[j], 1, f"w{j}_in", reset_less=True) for j in range(cols)]
        a_in = [delayed(self.a[k], k, f"a{k}_skew", reset_less=True) for k in range(rows)]

        pes = [[None] * cols for _ in range(rows)]
        for k in range(rows):
            for j in range(cols):
                x = k + j
                pe = pes[k][j] = WsPe(self.pe, **self.pe_params)
                m.submodules[f"pe_{k}_{j}"] = pe
                en = self.valid if x == 0 else replica(valid_at[x - 1], f"en_{k}_{j}")
                swap = self.swap if x == 0 else replica(swap_at[x - 1], f"swap_{k}_{j}")
                load = replica(self.w_load, f"load_{k}_{j}")
                m.d.comb += [pe.en.eq(en), pe.swap.eq(swap), pe.load.eq(load)]
                if j == 0:
                    m.d.comb += pe.west.a.eq(a_in[k])
                else:
                    connect(m, pes[k][j - 1].east, pe.west)
                if k == 0:
                    m.d.comb += [pe.north.w.eq(w_top[j]), pe.north.psum.eq(self.psum_in[j])]
                else:
                    connect(m, pes[k - 1][j].south, pe.north)
        for j in range(cols):
            m.d.comb += [self.c[j].eq(pes[rows - 1][j].south.psum),
                         self.c_valid[j].eq(valid_at[rows + j])]
        return m
