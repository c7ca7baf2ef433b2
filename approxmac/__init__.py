"""approxmac: approxmac."""
