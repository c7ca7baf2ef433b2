"""An R x C output-stationary systolic array whose processing element is any MAC unit.

    C[i, j] = mac(A[i, 0] * B[0, j], ..., A[i, K-1] * B[K-1, j])      (the PE's own arithmetic,
                                                                     k = 0 .. K-1, from +0)

Every PE is the catalogued MAC unit, reused unchanged (ports clk, rst, en, clr, a, b, acc;
on a rising edge with en: acc <- add(clr ? 0 : acc, mul(a, b))). A values move east and B values
move south one PE per cycle; the input skew (row i delayed i cycles, column j delayed j cycles)
and the output de-skew are done inside, so the user sees aligned vectors.

Ports (all synchronous to ``clk``; ``rst`` is synchronous and clears every register)

    a       in   R x Wa   column k of A: a[i] = A[i, k]
    b       in   C x Wb   row k of B:    b[j] = B[k, j]
    valid   in   1        a and b carry one k-step of a tile this cycle
    last    in   1        with valid: this is the tile's last step, k = K-1 (K >= 1)
    c       out  R*C x Wacc   c[i*C + j] = C[i, j] of the finished tile
    c_valid out  1        c holds a finished tile (for exactly one cycle per tile)

Cycle diagram (R = C = 2, tile 0 with K = 3 then tile 1 with K = 1, no bubble)::

    cycle     0    1    2    3    4    5    6
    valid     1    1    1    1    0    0    0
    last      0    0    1    1    0    0    0
    a, b      k0   k1   k2   k0'
    c_valid                        1    1          (tile 0 at cycle 5, tile 1 at cycle 6)

A tile starts with the first valid step after reset or after a step with ``last``; K is the
number of valid steps up to and including the one with ``last``. Gaps (valid low) may appear
anywhere. The finished tile appears on ``c`` with ``c_valid`` exactly R + C - 1 cycles after its
``last`` step. In steady state every PE performs one MAC per cycle and one tile of K steps leaves
every K cycles.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out, connect

from golden.params import ParameterError, check_choice, check_int
from hdl.catalogue import get_unit

PE_UNITS = ("bf16_mac", "mitch_bf16_mac", "int_mac", "mitch_mac")


def module_name(rows, cols, pe_name):
    return f"systolic_r{rows}_c{cols}_{pe_name}"


class SystolicArray(wiring.Component):
    """R x C output-stationary array of MAC PEs (see the module docstring for the protocol)."""

    def __init__(self, *, rows=4, cols=4, pe="int_mac", **pe_params):
        try:
            check_int("rows", rows, 1, 16)
            check_int("cols", cols, 1, 16)
            check_choice("pe", pe, PE_UNITS)
            self.pe_unit = get_unit(pe)
            prototype = self.pe_unit.build(**pe_params)
        except ParameterError:
            self._MustUse__silence = True
            raise
        prototype._MustUse__silence = True
        self.rows, self.cols, self.pe, self.pe_params = rows, cols, pe, dict(pe_params)
        self.a_width, self.b_width = len(prototype.a), len(prototype.b)
        self.acc_width = len(prototype.acc)
        self.pe_name = prototype.name
        self.name = module_name(rows, cols, prototype.name)
        super().__init__({
            "a": In(data.ArrayLayout(self.a_width, rows)),
            "b": In(data.ArrayLayout(self.b_width, cols)),
            "valid": In(1),
            "last": In(1),
            "c": Out(data.ArrayLayout(self.acc_width, rows * cols)),
            "c_valid": Out(1),
        })

    def latency(self):
        """Cycles from a tile's last step to its c_valid."""
        return self.rows + self.cols - 1

    def elaborate(self, platform):
        m = Module()
        rows, cols = self.rows, self.cols

        # A tile's first step restarts the accumulators through the PEs' clr: it is the first
        # valid step after reset or after a step with last.
        first = Signal(init=1)
        with m.If(self.valid):
            m.d.sync += first.eq(self.last)

        def delayed(value, cycles, name):
            for stage in range(cycles):
                reg = Signal.like(value, name=f"{name}_d{stage + 1}")
                m.d.sync += reg.eq(value)
                value = reg
            return value

        # West edge: row i sees A[i, k] (with the step's control) i cycles late.
        west = [(delayed(self.a[i], i, f"a{i}_skew"), delayed(self.valid, i, f"en{i}_skew"),
                 delayed(first, i, f"clr{i}_skew")) for i in range(rows)]
        north = [delayed(self.b[j], j, f"b{j}_skew") for j in range(cols)]

        accs = [[None] * cols for _ in range(rows)]
        b_in = list(north)
        for i in range(rows):
            a_in, en_in, clr_in = west[i]
            for j in range(cols):
                pe = self.pe_unit.build(**self.pe_params)
                m.submodules[f"pe_{i}_{j}"] = pe
                # The PE's MacSignature, seen from the array's side.
                port = pe.signature.flip().create(path=(f"pe_{i}_{j}",))
                connect(m, port, pe)
                m.d.comb += [port.a.eq(a_in), port.b.eq(b_in[j]), port.en.eq(en_in),
                             port.clr.eq(clr_in)]
                accs[i][j] = port.acc
                # Operands and control move one PE east / south per cycle.
                if j < cols - 1:
                    a_in = delayed(a_in, 1, f"a_{i}_{j}_east")
                    en_in = delayed(en_in, 1, f"en_{i}_{j}_east")
                    clr_in = delayed(clr_in, 1, f"clr_{i}_{j}_east")
                if i < rows - 1:
                    b_in[j] = delayed(b_in[j], 1, f"b_{i}_{j}_south")

        # De-skew: PE(i, j) finishes i + j cycles after PE(0, 0); align all on the last one.
        for i in range(rows):
            for j in range(cols):
                out = delayed(accs[i][j], (rows - 1 - i) + (cols - 1 - j), f"c_{i}_{j}")
                m.d.comb += self.c[i * cols + j].eq(out)
        done = Signal()
        m.d.comb += done.eq(self.valid & self.last)
        m.d.comb += self.c_valid.eq(delayed(done, rows + cols - 1, "done"))
        return m
