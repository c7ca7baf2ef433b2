"""Cached results of the cost flow, keyed by everything a result depends on.

    key = result_key(design=..., library=..., recipe=..., stream=..., ...)
    hit = lookup(key)          # the cached result folder, or None
    store(key, folder, parts)  # after a successful run

A key is the sha256 of the JSON of its parts: the design's Verilog text, the library build's
identity (the Liberty file's sha256 and the code that normalises it), the flow's own code and
scripts (:func:`flow_digest`: every synth/*.py, synth.ys, sta.tcl), the mapping recipe, the
stream, the operand vectors themselves (so a trace file's content counts), the seed, the clock,
and the versions of every tool. Any change of any part gives a new key, so only the results that
depend on it are recomputed. Entries live in ``<cache root>/results/<key>/`` (cache root:
$APPROXMAC_CACHE or build/cache), each with ``key.json`` listing its parts; ``--no-cache``
recomputes and replaces the entry.
"""

import functools
import hashlib
import json
import os
import shutil
from pathlib import Path

from .libraries import cache_root

HERE = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def flow_digest():
    """sha256 over the flow's code and scripts (a change to any of them invalidates results)."""
    h = hashlib.sha256()
    for path in sorted([*HERE.glob("*.py"), HERE / "synth.ys", HERE / "sta.tcl"]):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def digest(data):
    """sha256 of bytes, text or a NumPy array (its dtype, shape and bytes)."""
    h = hashlib.sha256()
    if hasattr(data, "tobytes"):
        h.update(f"{data.dtype}{data.shape}".encode())
        h.update(data.tobytes())
    else:
        h.update(data.encode() if isinstance(data, str) else data)
    return h.hexdigest()


def result_key(**parts):
    """The key of a result with these parts (any JSON-serialisable values)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _entry(key):
    return cache_root() / "results" / key


def lookup(key):
    """The cached result folder of ``key``, or None."""
    folder = _entry(key)
    return folder if (folder / "result.json").is_file() else None


def store(key, folder, parts):
    """Copy a finished result folder into the cache (replacing an older entry)."""
    entry = _entry(key)
    tmp = entry.with_name(f"{key}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(folder, tmp)
    (tmp / "key.json").write_text(json.dumps(parts, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(entry, ignore_errors=True)
    tmp.rename(entry)


def restore(entry, final):
    """Copy a cached entry to ``final`` (without its key.json)."""
    tmp = final.with_name(f".{final.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(entry, tmp, ignore=shutil.ignore_patterns("key.json"))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
