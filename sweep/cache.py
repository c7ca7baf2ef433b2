"""A keyed on-disk cache of task results: a key is the sha256 of everything a result depends on.

    key = result_key(design=digest(text), stream="cnn", ...)    # any JSON-serialisable parts
    hit = lookup(key, kind)                # the entry's folder, or None
    store(key, folder, parts, kind)        # after a successful computation

Entries live in ``<cache root>/<kind>/<key>/`` (cache root: $APPROXMAC_CACHE or build/cache),
each with ``key.json`` listing its parts, so an entry says what it was computed from. A change
to any part gives another key, so only what depends on it is recomputed. Used by the cost flow
(synth/cache.py: results, netlists, compiled simulations) and the accuracy grid
(cnn/accuracy.py); like the rest of sweep/ it imports nothing from the project.
"""

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path


def cache_root():
    """Where cached entries (and the cell libraries' build copies) live: $APPROXMAC_CACHE or
    build/cache."""
    return Path(os.environ.get("APPROXMAC_CACHE", "build/cache"))


def digest(data):
    """sha256 of bytes, text or a NumPy array (its dtype, shape and bytes)."""
    h = hashlib.sha256()
    if hasattr(data, "tobytes"):
        h.update(f"{data.dtype}{data.shape}".encode())
        h.update(data.tobytes())
    else:
        h.update(data.encode() if isinstance(data, str) else data)
    return h.hexdigest()


def file_digest(path):
    """sha256 of a file's bytes (read in blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def code_digest(paths):
    """sha256 over the names and bytes of ``paths`` (files), in sorted order."""
    h = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def result_key(**parts):
    """The key of a result with these parts (any JSON-serialisable values)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def entry(key, kind):
    return cache_root() / kind / key


def lookup(key, kind, marker="key.json"):
    """The cached folder of ``key`` in ``kind``, or None (complete entries only: ``marker``
    is written before the entry is renamed into place)."""
    folder = entry(key, kind)
    return folder if (folder / marker).is_file() else None


def _put(key, kind, parts, fill, replace=True):
    """Write an entry: ``fill(tmp folder)``, its key.json, then one rename into place. Another
    process storing the same key at the same time is harmless: with ``replace`` the last one
    wins; without, an entry already in place stays (readers never see it removed)."""
    final = entry(key, kind)
    if not replace and lookup(key, kind) is not None:
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f"{key}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    fill(tmp)
    (tmp / "key.json").write_text(json.dumps(parts, indent=2, sort_keys=True) + "\n")
    if replace:
        shutil.rmtree(final, ignore_errors=True)
    try:
        tmp.rename(final)
    except OSError:                 # stored meanwhile by another worker
        shutil.rmtree(tmp, ignore_errors=True)


def store(key, folder, parts, kind, files=None, replace=True):
    """Copy a finished folder (only ``files`` of it, when given) into the cache, replacing an
    older entry (``replace=False``: keeping it)."""
    def fill(tmp):
        if files is None:
            shutil.copytree(folder, tmp)
            return
        tmp.mkdir()
        for name in files:
            shutil.copy(Path(folder) / name, tmp / name)
    _put(key, kind, parts, fill, replace)


def restore(cached, final):
    """Copy a cached entry to the folder ``final`` (without its key.json)."""
    tmp = final.with_name(f".{final.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(cached, tmp, ignore=shutil.ignore_patterns("key.json"))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)


def store_object(key, obj, parts, kind):
    """Store a picklable Python object (a task's return value) as an entry of ``kind``."""
    def fill(tmp):
        tmp.mkdir()
        (tmp / "result.pickle").write_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
    _put(key, kind, parts, fill)


def load_object(key, kind):
    """The object :func:`store_object` stored under ``key``, or None when there is none."""
    folder = lookup(key, kind)
    return None if folder is None else pickle.loads((folder / "result.pickle").read_bytes())
