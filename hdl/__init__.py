"""approxmac: hdl."""
