"""approxmac: synth."""
