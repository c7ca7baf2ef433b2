"""Verilator lint of generated Verilog.

Run as ``verilator --lint-only -Wall`` with exactly three warning classes waived, all artefacts of
how Amaranth's Yosys back end writes Verilog, not of the designs:

* WIDTH -- Yosys writes a $shl / $logic_not / $eq cell as a Verilog expression whose operands are
  narrower than its context (``a << s`` assigned to a wider wire, ``!a`` on a vector) and relies on
  Verilog's context-determined width rules, which give exactly the cell's meaning. Amaranth
  checks every width before it emits.
* UNUSEDSIGNAL -- Amaranth names intermediate wires and slices only some of their bits (the
  fraction bits a Mitch-w truncation drops, the high bits of a widened shift); the dropped bits
  are the point of the design.
* DECLFILENAME -- a design with submodules (a MAC's multiplier and adder, an array's PEs) is
  written as one file holding every module of the hierarchy, named after the top module only.
Any other warning fails the lint.
"""

import shutil
import subprocess

LINT_FLAGS = ["--lint-only", "-Wall", "-Wno-WIDTH", "-Wno-UNUSEDSIGNAL", "-Wno-DECLFILENAME"]


def verilator_lint(path, top):
    """Return Verilator's warnings and errors for ``path`` (empty string when clean)."""
    exe = shutil.which("verilator")
    if exe is None:
        raise RuntimeError("verilator not found: run `make setup` (Debian package verilator)")
    proc = subprocess.run([exe, *LINT_FLAGS, f"--top-module", top, str(path)],
                          capture_output=True, text=True)
    return (proc.stdout + proc.stderr).strip() if proc.returncode or proc.stderr.strip() else ""
