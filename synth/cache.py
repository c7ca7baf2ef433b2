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
recomputes and replaces the entry. The generic helpers (key, digest, store, lookup) are
sweep/cache.py's, shared with the accuracy grid's cache.

Two kinds of intermediate artefact are cached the same way, so that a result whose stream (or
vectors, seed) changed recomputes only what depends on it:

* ``netlists/<key>/``: the mapped netlist, its area and OpenSTA's critical path, slews and SDF
  delays (synth/flow.py), keyed without the stream: design, library, recipe, flow, tools;
* ``icarus/<key>/``: the compiled gate-level simulation (synth/gatesim.py), keyed by the exact
  text of its inputs (testbench, instrumented netlist, cell models), the compile command and
  Icarus's version. The testbench reads the operands from files at run time, so both streams
  of a netlist run the same compiled simulation.
"""

import functools
from pathlib import Path

from sweep.cache import code_digest, digest, restore, result_key  # noqa: F401  (re-exported)
from sweep.cache import lookup as _lookup, store as _store

HERE = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def flow_digest():
    """sha256 over the flow's code and scripts (a change to any of them invalidates results)."""
    return code_digest([*HERE.glob("*.py"), HERE / "synth.ys", HERE / "sta.tcl"])


def lookup(key, kind="results"):
    """The cached folder of ``key`` (a result, or an artefact of ``kind``), or None."""
    return _lookup(key, kind, marker="result.json" if kind == "results" else "key.json")


def store(key, folder, parts, kind="results", files=None, replace=True):
    """Copy a finished folder (only ``files`` of it, when given) into the cache (``replace``:
    replacing an entry already there, else keeping it)."""
    _store(key, folder, parts, kind, files, replace)
