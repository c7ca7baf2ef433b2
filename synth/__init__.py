"""approxmac: synth -- the open cost flow (see synth/README.md).

Yosys maps a unit to standard cells (area), OpenSTA times it (delay), and a delay-annotated
gate-level simulation of a seeded operand stream counts every net's toggles, priced with the
liberty (energy per operation):

    E_op = Σ_nets [(R + F)·½·C·V² + R·e_rise + F·e_fall] / ops + P_leak·T_clk

Modules: flow (one unit end to end), streams (operand streams), gatesim (Icarus run and toggle
counts), energy (the pricing), liberty (the cell library), netlist (the mapped netlist's nets).
"""
