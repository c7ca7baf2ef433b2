"""Driver, monitor and scoreboard pieces shared by the cocotb benches.

Values cross the boundary as unsigned bit patterns: a port of width W carries x mod 2^W.
"""

import os

import numpy as np


def load_vectors():
    """(inputs, expected): dicts port -> list of Python ints (bit patterns) from the .npz."""
    data = np.load(os.environ["APPROXMAC_VECTORS"])
    inputs = {k[3:]: data[k] for k in data.files if k.startswith("in_")}
    expected = {k[4:]: data[k] for k in data.files if k.startswith("out_")}
    return inputs, expected


def as_patterns(values, width):
    """Python ints ``values mod 2^width`` (two's complement patterns of signed values)."""
    mask = (1 << width) - 1
    return [int(v) & mask for v in values.tolist()]


class Scoreboard:
    """Compares observed outputs with expected ones and keeps the first mismatches."""

    def __init__(self, log, keep=20):
        self.log, self.keep = log, keep
        self.checked, self.mismatches = 0, []

    def compare(self, index, port, got, want, stimulus):
        self.checked += 1
        if got != want:
            if len(self.mismatches) < self.keep:
                self.mismatches.append(
                    f"vector {index}: {port} = {got:#x}, golden {want:#x}; inputs {stimulus}")
            else:
                self.mismatches.append(None)

    def report(self):
        """Write the count to $APPROXMAC_REPORT and raise if anything mismatched."""
        shown = [m for m in self.mismatches if m]
        text = f"{self.checked} checked, {len(self.mismatches)} mismatched\n" + "\n".join(shown)
        with open(os.environ["APPROXMAC_REPORT"], "w") as f:
            f.write(text + "\n")
        assert not self.mismatches, text
        self.log.info("%d outputs checked, all equal to golden", self.checked)
