"""Cell libraries by name or path, and the flow's normalised build copy of each.

    spec = resolve("sky130hd")              # or "osu018", or a path to any .lib / .lib.gz
    built = build(spec)                     # -> built.lib (cells.lib), built.models (cells.v)

Built-in names (BUILTIN): ``osu018`` -- the OSU 0.18 µm cells of Debian's qflow-tech-osu018 (the
default); ``sky130hd`` -- SkyWater sky130_fd_sc_hd, typical corner (tt_025C_1v80), shipped in
synth/pdk/sky130_fd_sc_hd/ (Apache-2.0, see PROVENANCE there).

Every result names the library by :class:`LibrarySpec` ``record()``: name, corner (the library's
``default_operating_conditions``) and the sha256 of the file as given (compressed or not).

The shipped or user file is never changed. The flow works on a *build copy* (``cells.lib``),
written once per file content into the cache folder, in which library quirks are normalised:

* ``default_operating_conditions`` is moved after the ``operating_conditions`` group it names:
  Debian's OpenSTA (2019) otherwise reports zero internal power for sky130;
* ``default_wire_load`` goes: the flow models no wires, and OpenSTA would otherwise add the
  library's wire-load capacitance to its timing and vectorless power but not to ours;
* cells the flow must not map to are dropped, each with its reason in ``excluded.txt``:
  ``dont_use``, tri-state, state-table, clock-gating, isolation, level-shifter and always-on
  cells, cells without an output, and cells matching the library's ``exclude`` pattern (sky130:
  the low-power ``lpflow`` family with extra supply pins, delay, clock and probe cells).

The gate-level simulation models of the kept cells (``cells.v``) are generated from the Liberty
itself by synth/cellmodels.py. A library without a D flip-flop or an inverter is refused.
"""

import gzip
import hashlib
import os
import pickle
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from liberty.parser import parse_liberty

from golden.params import ParameterError
from sweep.cache import cache_root, file_digest  # noqa: F401  (cache_root re-exported)

HERE = Path(__file__).resolve().parent
PDK = HERE / "pdk"


@dataclass(frozen=True)
class Builtin:
    path: Path
    exclude: str = ""              # regex of cell names the flow never maps to
    models: tuple = ()             # the vendor's Verilog models (only for checking ours)


BUILTIN = {
    "osu018": Builtin(Path("/usr/share/qflow/tech/osu018/osu018_stdcells.lib"),
                      models=(Path("/usr/share/qflow/tech/osu018/osu018_stdcells.v"),)),
    "sky130hd": Builtin(
        PDK / "sky130_fd_sc_hd" / "sky130_fd_sc_hd__tt_025C_1v80.lib.gz",
        exclude=r"lpflow_|probe|clkdly|dlygate|dlymetal|clkbuf|clkinv|bufbuf|bufinv|conb"
                r"|macro_sparecell|decap|diode|fill|tap",
        models=(PDK / "sky130_fd_sc_hd" / "primitives.v.gz",
                PDK / "sky130_fd_sc_hd" / "sky130_fd_sc_hd.v.gz")),
}
DEFAULT = "osu018"


@dataclass(frozen=True)
class LibrarySpec:
    """A Liberty file as the user named it."""
    name: str                  # built-in name, or the file's name without .lib[.gz]
    path: Path
    sha256: str
    exclude: str = ""
    models: tuple = ()

    def record(self, corner):
        return {"name": self.name, "corner": corner, "sha256": self.sha256}


def resolve(spec=None):
    """The :class:`LibrarySpec` of a built-in name or a path (None: the default library).

    Raises
    ------
    ParameterError
        For an unknown name or a missing file."""
    spec = DEFAULT if spec is None else str(spec)
    if spec in BUILTIN:
        b = BUILTIN[spec]
        if not b.path.is_file():
            raise ParameterError(f"liberty {spec}: {b.path} is missing (make setup installs it)")
        return LibrarySpec(spec, b.path, _sha256(b.path), b.exclude, b.models)
    path = Path(spec)
    if not path.is_file():
        raise ParameterError(f"liberty must be one of {', '.join(BUILTIN)} or a Liberty file; "
                             f"{spec!r} is neither")
    name = re.sub(r"\.lib(\.gz)?$", "", path.name)
    return LibrarySpec(name, path.resolve(), _sha256(path))


_sha256 = file_digest


def read_text(path):
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        return f.read()


# ---------------------------------------------------------------- text surgery on Liberty

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|/\*.*?\*/|//[^\n]*|[{}]', re.S)


def drop_wire_load(text):
    """Remove ``default_wire_load*`` attributes: the flow models no wires (synth/README.md), so
    OpenSTA's timing and vectorless power must see the same pin-only loads as the energy model."""
    return re.sub(r"^[ \t]*default_wire_load(_mode|_selection)?\s*:[^;\n]*;[ \t]*\n", "", text,
                  flags=re.M)


def normalise(text, exclude=""):
    """(build-copy text, {dropped cell: reason}) of a library's text; see the module docstring."""
    text = drop_wire_load(fix_operating_conditions(text))
    return select_cells(text, exclude)


def _top_groups(text):
    """(kind, name, start, end) of every group directly inside the library group."""
    groups, depth, start = [], 0, None
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok == "{":
            depth += 1
            if depth == 2:
                line_start = text.rfind("\n", 0, m.start()) + 1
                head = re.search(r"(\w+)\s*\(([^)]*)\)\s*$", text[line_start:m.start()])
                start = (line_start, head.group(1) if head else "",
                         head.group(2).strip().strip('"') if head else "")
        elif tok == "}":
            depth -= 1
            if depth == 1 and start is not None:
                groups.append((start[1], start[2], start[0], m.end()))
                start = None
    return groups


def fix_operating_conditions(text):
    """Move ``default_operating_conditions`` after the group it names (OpenSTA 2019 quirk)."""
    m = re.search(r'^[ \t]*default_operating_conditions\s*:\s*"?([\w.]+)"?\s*;[ \t]*\n', text, re.M)
    if not m:
        return text
    line = m.group()
    for kind, name, start, end in _top_groups(text):
        if kind == "operating_conditions" and name == m.group(1) and start > m.start():
            body = text[:m.start()] + text[m.end():]
            eol = body.find("\n", end - len(line))
            eol = len(body) if eol < 0 else eol + 1
            return body[:eol] + line + body[eol:]
    return text


_REFUSE = [  # (attribute pattern inside a cell, reason)
    (r"\bdont_use\s*:\s*true", "dont_use"),
    (r"\bthree_state\s*:", "tri-state output"),
    (r"\bstatetable\s*\(", "state table"),
    (r"\bclock_gating_integrated_cell\s*:", "clock-gating cell"),
    (r"\bis_isolation_cell\s*:\s*true", "isolation cell"),
    (r"\bis_level_shifter\s*:\s*true", "level shifter"),
    (r"\balways_on\s*:\s*true", "always-on cell"),
    (r"\b(bus|bundle)\s*\(", "bus pins"),
]


def select_cells(text, exclude=""):
    """(kept text, {excluded cell: reason}): the library without the cells the flow cannot use."""
    dropped, pieces, last = {}, [], 0
    for kind, name, start, end in _top_groups(text):
        if kind != "cell":
            continue
        body = text[start:end]
        reason = next((why for pattern, why in _REFUSE if re.search(pattern, body)), None)
        if reason is None and exclude and re.search(exclude, name):
            reason = "excluded for this library"
        if reason is None and not re.search(r'direction\s*:\s*"?output', body):
            reason = "no output"
        if reason:
            dropped[name] = reason
            pieces.append(text[last:start])
            last = end
    pieces.append(text[last:])
    return "".join(pieces), dropped


@dataclass(frozen=True)
class BuiltLibrary:
    spec: LibrarySpec
    folder: Path
    corner: str

    @property
    def lib(self):
        return self.folder / "cells.lib"

    @property
    def models(self):
        return self.folder / "cells.v"

    def record(self):
        return self.spec.record(self.corner)

    def library(self):
        """The build copy as a synth.liberty.Library (parsed once, then read from a pickle)."""
        from .liberty import load_library
        cached = self.folder / "cells.pickle"
        if cached.is_file():
            with open(cached, "rb") as f:
                return pickle.load(f)
        lib = load_library(str(self.lib))
        tmp = cached.with_name(f"cells.pickle.tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            pickle.dump(lib, f)
        tmp.replace(cached)
        return lib


def corner_of(text):
    m = re.search(r'default_operating_conditions\s*:\s*"?([\w.]+)"?', text)
    return m.group(1) if m else "nominal"


def build(spec, root=None):
    """The build copy of ``spec`` (normalised cells.lib, generated cells.v, excluded.txt), made
    once per file content under ``root`` (default :func:`cache_root`)."""
    from .cellmodels import check_essentials, generate_models
    # Keyed by the file and by the code that normalises it and writes the models.
    key = hashlib.sha256(spec.sha256.encode())
    for code in ("libraries.py", "cellmodels.py", "liberty.py"):   # liberty.py: the pickle
        key.update((HERE / code).read_bytes())
    folder = (Path(root or cache_root()) / "liberty" / f"{spec.name}-{key.hexdigest()[:16]}").resolve()
    if (folder / "cells.v").is_file():
        return BuiltLibrary(spec, folder, (folder / "corner.txt").read_text().strip())
    try:
        text = read_text(spec.path)
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise ParameterError(f"liberty {spec.path}: cannot read it ({e})") from None
    text, dropped = normalise(text, spec.exclude)
    try:
        parsed = parse_liberty(text)
    except Exception as e:    # liberty-parser raises lark errors for bad syntax
        raise ParameterError(f"liberty {spec.path}: not a parseable Liberty file "
                             f"({str(e).splitlines()[0][:200]})") from None
    models, unmodelled = generate_models(parsed)
    if unmodelled:      # cells our models cannot describe are not mapped to either
        text, _ = select_cells(text, "^(" + "|".join(map(re.escape, unmodelled)) + ")$")
        parsed = parse_liberty(text)
        dropped.update(unmodelled)
    check_essentials(parsed, spec.name)
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "cells.lib").write_text(text)
    (tmp / "cells.v").write_text(models)
    (tmp / "corner.txt").write_text(corner_of(text) + "\n")
    (tmp / "excluded.txt").write_text("".join(f"{c}: {r}\n" for c, r in sorted(dropped.items())))
    try:
        tmp.rename(folder)
    except OSError:           # another process built it meanwhile: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return BuiltLibrary(spec, folder, corner_of(text))
