"""approxmac: sim."""
