"""Verilog generation for every hdl/ component."""

from pathlib import Path

from amaranth.back import verilog


def to_verilog(component):
    """Verilog text of ``component``; its top module is named ``component.name``."""
    return verilog.convert(component, name=component.name, emit_src=False)


def write_verilog(component, out_dir):
    """Write ``<out_dir>/<component.name>.v`` and return its path.

    The text is generated in full before the file is opened, so a failure leaves nothing behind.
    """
    text = to_verilog(component)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{component.name}.v"
    path.write_text(text)
    return path
