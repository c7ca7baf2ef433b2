"""approxmac: golden."""
