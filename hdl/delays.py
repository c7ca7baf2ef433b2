"""Register chains for the systolic arrays' control and operand skew, built inside one Module.

``delay_lines(m)`` returns three helpers bound to ``m`` (synchronous domain ``sync``):

    delayed(value, cycles, name, attrs=None, reset_less=False)   value delayed ``cycles`` cycles
    taps(value, count, name)          [value delayed 0, 1, ..., count cycles] (reset registers)
    replica(value, name)              one PE's own registered copy of a control signal: one
                                      cycle, no reset, marked ``approxmac_replica`` so that
                                      synthesis keeps the copies apart (synth/synth.ys)
"""

from amaranth.hdl import Signal

REPLICA = {"approxmac_replica": 1}     # a deliberate copy of a control flip-flop


def delay_lines(m):
    """(delayed, taps, replica) adding their registers to ``m.d.sync`` (see the module docstring)."""
    def delayed(value, cycles, name, attrs=None, reset_less=False):
        for stage in range(cycles):
            reg = Signal.like(value, name=f"{name}_d{stage + 1}", attrs=attrs,
                              reset_less=reset_less)
            m.d.sync += reg.eq(value)
            value = reg
        return value

    def taps(value, count, name):
        out = [value]
        for _ in range(count):
            out.append(delayed(out[-1], 1, f"{name}{len(out) - 1}"))
        return out

    def replica(value, name):
        return delayed(value, 1, name, attrs=REPLICA, reset_less=True)

    return delayed, taps, replica
