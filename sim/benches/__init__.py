"""cocotb test modules, one per port protocol."""
