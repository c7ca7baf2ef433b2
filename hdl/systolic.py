r"""An R x C output-stationary systolic array whose processing element is any MAC unit.

    C[i, j] = mac(A[i, 0] * B[0, j], ..., A[i, K-1] * B[K-1, j])      (the PE's own arithmetic,
                                                                     k = 0 .. K-1, from +0)

Every PE is the catalogued MAC unit, reused unchanged (hdl.mac.MacSignature: en, clr, a, b, acc;
on a rising edge with en: acc <- add(clr ? 0 : acc, mul(a, b))). A values move east and B values
move south one PE per cycle; the input skew (row i delayed i cycles, column j delayed j cycles)
is inside. Results leave without per-cycle de-skew: one cycle after its last MAC, each PE copies
its accumulator into its shadow register (PE (i, j) finishes i + j cycles after PE (0, 0)); the
shadow registers of a column form a shift path towards the south edge that moves only while a
tile drains, so the accumulators go on with the next tile meanwhile.

Ports (all synchronous to ``clk``; ``rst`` is synchronous and clears every register)

    a       in   R x Wa   column k of A: a[i] = A[i, k]
    b       in   C x Wb   row k of B:    b[j] = B[k, j]
    valid   in   1        a and b carry one k-step of a tile this cycle
    last    in   1        with valid: this is the tile's last step, k = K-1 (K >= 1)
    c       out  C x Wacc one row of a finished tile: c[j] = C[r, j]
    c_valid out  1        c holds a row; a tile's rows come in R consecutive cycles, r = R-1 .. 0

Timing: the row r = R-1 of a tile whose ``last`` step is in cycle T is on ``c`` in cycle
T + R + C (``latency()``), row R-1-m in cycle T + R + C + m, row 0 in cycle T + 2R + C - 1;
one cycle later per register stage of the PE (``pipeline=1``, ``gate_zero=True``: PE latency
2 or 3). The spacing rule below is the same for all.

Spacing rule: the ``last`` steps of two tiles must be at least R + C - 1 cycles apart
(``tile_spacing()``; the drain length: a column's shadow registers are busy from the first
capture of a tile to its last row leaving, and the first column finishes C - 1 cycles before the
last). Back-to-back tiles of K >= R + C - 1 steps thus keep every PE at one MAC per cycle; a
shorter tile needs R + C - 1 - K idle cycles (valid low) before its last step. Gaps may appear
anywhere. A tile starts with the first valid step after reset or after a step with ``last``; K is
the number of valid steps up to and including the one with ``last``.

Cycle diagram (R = C = 2: latency 4, spacing 3; tiles of K = 3 back to back)::

    cycle     0    1    2    3    4    5    6    7    8    9    10
    valid     1    1    1    1    1    1    0    0    0    0    0
    last      0    0    1    0    0    1    0    0    0    0    0
    a, b      k0   k1   k2   k0'  k1'  k2'
    c_valid                                 1    1         1    1
    c                                       C[1] C[0]      C'[1] C'[0]      (C[r]: row r)

Control variate (``cv=True``; issue #12, golden.control_variate, golden.systolic.matmul_cv)::

    c[r, j] = correct(C[r, j], S_r, kappa_j),   S_r = sum_k A[r, k] (the row's variate)

    float PEs    correct = fp32_add(C, -bf16_mul(kappa, bf16(S))), S the fp32 running sum in
                 k order (fp32_add from +0), bf16(S) nearest even; kappa bf16
    integer PEs  correct = C + ((2^(F-1) - kappa S) >> F) mod 2^Wacc (= correct_int: round half
                 up of C - kappa S / 2^F, F = KAPPA_FRAC_BITS = 16); S = sum mod 2^Ws,
                 Ws = acc_width - N, exact while K <= 2^(acc_width - 2N); kappa the
                 fixed-point integer kq = m 2^e of a port value m 2^E + e (m: signed M-bit
                 significand, e: E-bit shift; golden.systolic.kappa_port; default M = 8,
                 E = 5: kappa to 8 significant bits, golden quantize_kappa(sig_bits=M))

Extra ports

    kappa       in   Wk       a kappa value: bf16 pattern (Wk = 16), or m 2^E + e
                              (Wk = kappa_width = M + E: m in the high M bits, e the low E)
    kappa_col   in   max(1, ceil(log2 C))   the column it is for
    kappa_load  in   1        write kappa into column kappa_col's register this cycle

Hardware: row i has one variate accumulator next to PE (i, 0), driven by that PE's en, clr
and operand (through the PE's extra register stages, so it finishes with the PE: same tile
protocol, cleared by a tile's first step), an fp32 adder (float) or a Ws-bit adder (integer);
it is captured (float: rounded to bf16) and shifted south with column 0's shadow registers.
At the south edge each column has one correction unit (a bf16_mul and an fp32_add, or an
M x Ws multiplier, an E-stage left shifter of its low F + Wacc bits and an adder: the shifted
product's bits F.. are the rounded correction) between the last shadow row and an output
register: each
output is corrected once, as it leaves; the PEs are unchanged. Latency one cycle more
(``latency()`` = R + C + PE latency); the spacing rule is unchanged.

kappa protocol: the C kappa registers are written one column per cycle; a write in cycle t is
seen by every row that appears on ``c`` from cycle t + 2 on (a row on c in cycle X was corrected
in cycle X - 1 with the registers' values then). rst does not clear them (they start at 0 and
keep their values through reset, a configuration). A tile whose last step is in cycle T has its
rows on c in cycles T + L .. T + L + R - 1 (L = ``latency()``): for one kappa per tile, write
it before cycle T + L - 1 and not in cycles T + L - 1 .. T + L + R - 3. Between back-to-back
tiles (last steps R + C - 1 apart) that leaves exactly C free cycles, one per column: the
kappa of every tile can be reloaded without a stall (tests/test_systolic_cv.py).

Control: the per-PE enable, clear, capture and shift signals each drive a whole accumulator or
shadow register, so every PE has its own copy, registered next to it; the copies are marked
``approxmac_replica`` (synth/synth.ys keeps Yosys from merging them back into one flip-flop per
anti-diagonal, whose fanout would set the array's critical path).

Reset: ``rst`` itself reaches only the control taps, PE (0, 0) and its shadow register. Every
other PE and its shadow register are reset by the PE's own copy of ``rst``, one cycle late (a
local clock domain ``pe_i_j`` on ``clk``). That is invisible at the ports: such a PE receives a
tile's first step at the earliest in the second cycle after reset, and whatever it or its shadow
does in the first (its replicas are not reset) is cleared at that cycle's end, before any capture
or shift; ``c`` shows 0 from the second cycle after reset and is defined only with ``c_valid``.
The operand skew and forwarding registers have no reset (a PE uses their value only with its
enable). Without this, one unbuffered ``rst`` net drove a reset gate in front of every
flip-flop of the array (about 2000 loads for 4 x 4 PEs; the flow has no buffer insertion), whose
slew of tens of ns made every such gate slow and, priced by the liberty, costly.
"""

from amaranth.hdl import (Cat, ClockDomain, ClockSignal, Const, DomainRenamer, Module, Mux,
                          ResetSignal, Signal)
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out, connect

from golden.control_variate import KAPPA_FRAC_BITS
from golden.params import ParameterError, check_choice, check_int
from golden.systolic import cv_widths
from hdl.bf16_mul import Bf16Mul
from hdl.delays import REPLICA, delay_lines
from hdl.catalogue import get_unit
from hdl.fp32_add import Fp32Add

PE_UNITS = ("bf16_mac", "mitch_bf16_mac", "int_mac", "mitch_mac")


def module_name(rows, cols, pe_name, cv_suffix=""):
    return f"systolic_r{rows}_c{cols}_{pe_name}{cv_suffix}"


class SystolicArray(wiring.Component):
    """R x C output-stationary array of MAC PEs (see the module docstring for the protocol).

    Parameters
    ----------
    rows, cols : int
        Array size R x C, 1..16 each.
    pe : str
        The PE's unit, one of PE_UNITS; ``pe_params`` are its parameters.
    cv : bool
        Add the control-variate correction (see "Control variate" in the module docstring).
    kappa_width : int or None
        Bits of each kappa port value (cv only): 16 (bf16) for float PEs; for integer PEs
        M + E (significand M bits, 2..64 - 2^E - Ws), default 8 + E (golden.systolic.cv_widths).
    kappa_exp_width : int or None
        (cv, integer PEs) E, the bits of a kappa value's shift field, 0..5; default 5 (fewer when
        S is wider than 24 bits). E = 0: kappa is a plain M-bit fixed-point integer.

    Attributes
    ----------
    kappa_width, kappa_exp_width, s_width : int
        (cv only) bits of a kappa value, of its shift field and of the variate S.

    Raises
    ------
    golden.params.ParameterError
        A size out of range, an unknown PE or a bad PE parameter; cv with a PE that has no
        correction, or a kappa_width out of range.
    """

    def __init__(self, *, rows=4, cols=4, pe="int_mac", cv=False, kappa_width=None,
                 kappa_exp_width=None, **pe_params):
        try:
            check_int("rows", rows, 1, 16)
            check_int("cols", cols, 1, 16)
            check_choice("pe", pe, PE_UNITS)
            if not isinstance(cv, bool):
                raise ParameterError(f"cv must be True or False, got {cv!r}")
            self.pe_unit = get_unit(pe)
            prototype = self.pe_unit.build(**pe_params)
            if cv:
                arith = {k: v for k, v in pe_params.items() if k not in ("pipeline", "gate_zero")}
                self.cv_kind, self.kappa_width, self.s_width, self.kappa_exp_width = cv_widths(
                    pe, kappa_width, kappa_exp_width, **arith)
            elif kappa_width is not None or kappa_exp_width is not None:
                raise ParameterError("kappa_width and kappa_exp_width are parameters of the "
                                     "control variate: they need cv=True")
        except ParameterError:
            self._MustUse__silence = True
            raise
        prototype._MustUse__silence = True
        self.rows, self.cols, self.pe, self.pe_params = rows, cols, pe, dict(pe_params)
        self.cv = cv
        self.a_width, self.b_width = len(prototype.a), len(prototype.b)
        self.acc_width = len(prototype.acc)
        self.pe_latency = prototype.latency          # 1 + pipeline + gate_zero
        self.pe_name = prototype.name
        suffix = ""
        if cv:
            suffix = "_cv"
            if kappa_width is not None or kappa_exp_width is not None:
                suffix += f"_k{self.kappa_width}e{self.kappa_exp_width}"
        self.name = module_name(rows, cols, prototype.name, suffix)
        ports = {
            "a": In(data.ArrayLayout(self.a_width, rows)),
            "b": In(data.ArrayLayout(self.b_width, cols)),
            "valid": In(1),
            "last": In(1),
            "c": Out(data.ArrayLayout(self.acc_width, cols)),
            "c_valid": Out(1),
        }
        if cv:
            ports["kappa"] = In(self.kappa_width)
            ports["kappa_col"] = In(max(1, (cols - 1).bit_length()))
            ports["kappa_load"] = In(1)
        super().__init__(ports)

    def latency(self):
        """Cycles from a tile's last step to its first row (r = R-1) on c."""
        return self.rows + self.cols + self.pe_latency - 1 + int(self.cv)

    def tile_spacing(self):
        """The fewest cycles between the last steps of two tiles (the drain length)."""
        return self.rows + self.cols - 1

    def elaborate(self, platform):
        m = Module()
        rows, cols = self.rows, self.cols

        delayed, taps, replica = delay_lines(m)

        def local_reset(i, j):
            """PE (i, j)'s domain: clk, and rst one cycle late from the PE's own copy."""
            domain = ClockDomain(f"pe_{i}_{j}", local=True)
            m.domains += domain
            m.d.comb += [domain.clk.eq(ClockSignal("sync")),
                         domain.rst.eq(replica(ResetSignal("sync"), f"rst_{i}_{j}"))]
            return domain.name

        # A tile's first step restarts the accumulators through the PEs' clr: it is the first
        # valid step after reset or after a step with last.
        first = Signal(init=1)
        with m.If(self.valid):
            m.d.sync += first.eq(self.last)
        ends = Signal()
        m.d.comb += ends.eq(self.valid & self.last)
        # The control of input cycle t reaches PE (i, j) in cycle t + i + j (its operands' cycle).
        en_at = taps(self.valid, rows + cols - 2, "en")
        clr_at = taps(first, rows + cols - 2, "clr")
        # A PE with register stages (pipeline, gate_zero) shows acc, and so all after it, later.
        late = self.pe_latency - 1
        end_at = taps(ends, 2 * rows + cols - 2 + late, "end")

        # West edge: row i sees A[i, k] i cycles late; north edge: column j sees B[k, j] j late.
        a_in = [delayed(self.a[i], i, f"a{i}_skew", reset_less=True) for i in range(rows)]
        b_in = [delayed(self.b[j], j, f"b{j}_skew", reset_less=True) for j in range(cols)]
        shadow = [[None] * cols for _ in range(rows)]
        s_shadow = [None] * rows
        for i in range(rows):
            # Row i's shadow registers take the row above's on drain steps 1..i (edges
            # T + R + C - 1 + s): the rows below have then moved on, the rows above are empty.
            shifting = Signal(name=f"shift_row{i}") if i else None
            if i:
                m.d.comb += shifting.eq(Cat(end_at[rows + cols - 2 + late + s]
                                            for s in range(1, i + 1)).any())
            for j in range(cols):
                x = i + j
                pe = self.pe_unit.build(**self.pe_params)
                # PE (0, 0) may take a tile's first step in the cycle right after reset.
                domain = "sync" if x == 0 else local_reset(i, j)
                m.submodules[f"pe_{i}_{j}"] = DomainRenamer(domain)(pe)
                # The PE's MacSignature, seen from the array's side.
                port = pe.signature.flip().create(path=(f"pe_{i}_{j}",))
                connect(m, port, pe)
                en = self.valid if x == 0 else replica(en_at[x - 1], f"en_{i}_{j}")
                clr = first if x == 0 else replica(clr_at[x - 1], f"clr_{i}_{j}")
                m.d.comb += [port.a.eq(a_in[i]), port.b.eq(b_in[j]), port.en.eq(en),
                             port.clr.eq(clr)]
                # acc holds the finished tile in cycle T + x + 1 (+ late) only: copy it then.
                capture = replica(end_at[x + late], f"capture_{i}_{j}")
                shift = replica(shifting, f"shift_{i}_{j}") if i else None
                shadow[i][j] = Signal(self.acc_width, name=f"shadow_{i}_{j}")
                with m.If(capture):
                    m.d[domain] += shadow[i][j].eq(port.acc)
                if i:
                    with m.Elif(shift):
                        m.d[domain] += shadow[i][j].eq(shadow[i - 1][j])
                if self.cv and j == 0:
                    s_shadow[i] = self._variate_row(m, i, domain, a_in[i], en, clr,
                                                    end_at[x + late], shifting,
                                                    s_shadow[i - 1] if i else None)
                # Operands move one PE east / south per cycle.
                if j < cols - 1:
                    a_in[i] = delayed(a_in[i], 1, f"a_{i}_{j}_east", reset_less=True)
                if i < rows - 1:
                    b_in[j] = delayed(b_in[j], 1, f"b_{i}_{j}_south", reset_less=True)

        # Rows leave in cycles T + R + C .. T + 2R + C - 1 (+ late).
        drain = rows + cols - 1 + late
        row_valid = Cat(end_at[drain + s] for s in range(rows)).any()
        if not self.cv:
            for j in range(cols):
                m.d.comb += self.c[j].eq(shadow[rows - 1][j])
            m.d.sync += self.c_valid.eq(row_valid)
            return m
        # cv: the south edge corrects each leaving row once, into one output register.
        kappa = [Signal(self.kappa_width, name=f"kappa_{j}", reset_less=True) for j in range(cols)]
        for j in range(cols):
            with m.If(self.kappa_load & (self.kappa_col == j)):
                m.d.sync += kappa[j].eq(self.kappa)
        c_valid_early = Signal(name="c_valid_uncorrected")
        m.d.sync += [c_valid_early.eq(row_valid), self.c_valid.eq(c_valid_early)]
        for j in range(cols):
            c = Signal(self.acc_width, name=f"c_{j}", reset_less=True)
            m.d.sync += c.eq(self._correct(m, j, shadow[rows - 1][j], s_shadow[rows - 1],
                                           kappa[j]))
            m.d.comb += self.c[j].eq(c)
        return m

    def _variate_row(self, m, i, domain, a, en, clr, end, shifting, s_above):
        """Row i's variate: S accumulates a with PE (i, 0)'s en and clr, delayed by the PE's
        extra register stages so that it finishes with the PE; its shadow register (S as the
        drain carries it: bf16 for float PEs) is captured and shifted with column 0's."""
        late = self.pe_latency - 1

        def stage(v, name, reset_less=False):
            for k in range(late):
                r = Signal.like(v, name=f"{name}_d{k + 1}", reset_less=reset_less)
                m.d[domain] += r.eq(v)
                v = r
            return v

        a, en, clr = stage(a, f"s{i}_a", True), stage(en, f"s{i}_en"), stage(clr, f"s{i}_clr")
        acc = Signal(32 if self.cv_kind == "float" else self.s_width, name=f"s_acc_{i}")
        if self.cv_kind == "float":
            # S <- fp32_add(clr ? +0 : S, a): a bf16 value is an fp32 one with 16 zero bits.
            add = Fp32Add()
            m.submodules[f"s_add_{i}"] = add
            m.d.comb += [add.x.eq(Mux(clr, 0, acc)), add.y.eq(Cat(Const(0, 16), a))]
            total = add.s
            width = 16
        else:
            total = Signal(self.s_width, name=f"s_total_{i}")
            m.d.comb += total.eq(Mux(clr, 0, acc) + a.as_signed())   # mod 2^Ws
            width = self.s_width
        with m.If(en):
            m.d[domain] += acc.eq(total)
        shadow = Signal(width, name=f"s_shadow_{i}")
        # Own replicas of column 0's capture and shift (see REPLICA; reset as the PEs' are).
        capture = Signal(name=f"capture_s_{i}", attrs=REPLICA, reset_less=True)
        shift = Signal(name=f"shift_s_{i}", attrs=REPLICA, reset_less=True)
        m.d.sync += capture.eq(end)
        if i:
            m.d.sync += shift.eq(shifting)
        captured = acc if self.cv_kind == "int" else _fp32_to_bf16(m, acc, f"s_bf16_{i}")
        with m.If(capture):
            m.d[domain] += shadow.eq(captured)
        if i:
            with m.Elif(shift):
                m.d[domain] += shadow.eq(s_above)
        return shadow

    def _correct(self, m, j, y, s, kappa):
        """Column j's corrected output (combinational; golden.systolic.matmul_cv)."""
        if self.cv_kind == "float":
            # fp32_add(y, -bf16_mul(kappa, S)): the product is exact in fp32.
            mul, add = Bf16Mul(), Fp32Add()
            m.submodules[f"cv_mul_{j}"], m.submodules[f"cv_add_{j}"] = mul, add
            m.d.comb += [mul.a.eq(kappa), mul.b.eq(s),
                         add.x.eq(y), add.y.eq(mul.p ^ 0x8000_0000)]
            return add.s
        # y + ((2^(F-1) - kq S) >> F) mod 2^Wacc: correct_int's value, the 2^F y term left out;
        # kq S = (m S) << e, and only its low F + Wacc bits reach the result (>> F is wiring).
        f, e_bits, keep = KAPPA_FRAC_BITS, self.kappa_exp_width, KAPPA_FRAC_BITS + self.acc_width
        sig = kappa[e_bits:].as_signed()
        product = sig * s.as_signed()
        if e_bits:
            product = product << kappa[:e_bits]
        low = Signal(keep, name=f"cv_prod_{j}")
        m.d.comb += low.eq(product)              # mod 2^(F + Wacc)
        correction = (Const(1 << (f - 1), keep) - low)[f:keep]
        return (y + correction)[:self.acc_width]


def _fp32_to_bf16(m, x, name):
    """golden.control_variate.fp32_to_bf16: FTZ, nearest even on the bits, NaN -> 0x7FC0."""
    exp, frac = x[23:31], x[0:23]
    flushed = Mux(exp == 0, Cat(Const(0, 31), x[31]), x)
    rounded = Signal(17, name=name)
    m.d.comb += rounded.eq((flushed + 0x7FFF + flushed[16]) >> 16)
    return Mux((exp == 0xFF) & (frac != 0), 0x7FC0, rounded[:16])
