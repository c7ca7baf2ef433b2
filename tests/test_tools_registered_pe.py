"""tools/registered_pe.py: the registered PE is driven with the PE's own operand patterns."""
import numpy as np

from synth import streams
from tools.registered_pe import pe_stream, signed16, write_registered


def test_float_pe_gets_its_own_bf16_patterns(tmp_path):
    drive, signed = pe_stream("mitch_bf16_mac", {"w": 6}, "cnn", 99, tmp_path)
    assert signed and drive.startswith("trace:")
    with np.load(drive[len("trace:"):]) as d:
        a, b = d["a"], d["b"]
    want_a, want_b = streams.make_stream("cnn", streams.operand_format("bf16_mac", {}), 100)
    assert np.array_equal(a & 0xFFFF, want_a) and np.array_equal(b & 0xFFFF, want_b)
    # what synth_verilog then draws from the trace: the same 16-bit patterns
    got_a, got_b = streams.make_stream(drive, streams.Format("int", 16, True), 100)
    assert np.array_equal(np.asarray(got_a, np.int64) & 0xFFFF, want_a)
    assert np.array_equal(np.asarray(got_b, np.int64) & 0xFFFF, want_b)
    # ReLU activations: about half zeros, the rest positive bf16 (sign bit clear, not tiny ints)
    assert 0.3 < np.mean(want_a == 0) < 0.7 and np.all(want_a < 0x8000)
    assert np.mean((want_a >> 7) & 0xFF >= 100) > 0.25


def test_integer_pe_keeps_the_stream(tmp_path):
    assert pe_stream("mitch_mac", {"n": 16, "w": 6, "signed": "c1"}, "cnn", 99, tmp_path) == \
        ("cnn", True)
    assert pe_stream("int_mac", {"n": 8, "signed": "none"}, "cnn", 99, tmp_path) == ("cnn", False)
    assert not list(tmp_path.iterdir())


def test_signed16_and_wrapper(tmp_path):
    assert list(signed16([0, 0x7FFF, 0x8000, 0xFFFF])) == [0, 32767, -32768, -1]
    path, top, signed = write_registered("int_mac", {"n": 4}, out_dir=tmp_path)
    assert top == "int_mac_n4_acc16_reg" and signed and f"module {top}(" in path.read_text()
