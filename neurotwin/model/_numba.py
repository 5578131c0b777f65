"""The compiled (numba) integration engine.

One kernel is compiled per neural-mass model from the model's scalar
functions (:meth:`NeuralMass.scalar_kernels`). States, inputs and
parameters are stored variable by variable over "units" (a region of one
parameter set), so that each stage of a Heun step is one loop over the
units, which the compiler vectorises (about 5x faster than a loop over
regions that runs the whole step for one region at a time). The noise is
drawn inside the kernel from the same SFC64 state, in the same order and
by the same method as the NumPy engine's ``standard_normal`` (see
:mod:`._normal`), so both engines integrate the same stochastic path.

The network input is gathered from the non-zero connections only, and
**in blocks of B steps** wherever the delays allow it (the "minimum delay"
scheme of spiking-network simulators such as NEST): a connection whose
delay is at least ``B - 1`` steps needs, over the next B steps, only
values that are already in the history. At the start of each block such
"far" connections add B consecutive rows of their source's history to
their target's input buffer: a contiguous run, streamed and vectorised,
done source by source so that each source's history is read once per
block from the cache. Only the few "near" connections (shorter delays)
are gathered step by step. The batch axis K is innermost in memory, so a
batch of parameter sets shares each connection's index arithmetic. The
buffer is kept within half the L2 cache (measured best for 1,000
regions: 512 KB against 4 MB gave 48 against 54 µs a step).

The loop itself is :func:`._kernel.kernel`. numba cannot cache a kernel
built as a closure over the model's functions (the closure's cells differ
in every process), so for a model whose functions can be imported by name
a small module is written to the cache folder that binds them and holds a
copy of the loop; its name is a hash of every source it depends on (the
loop, the noise draw, the model's module, the numba and NumPy versions), so
an edit to any of them compiles afresh instead of loading a stale kernel.

Why by hand: TVB's own numba back-end is tied to TVB's classes and to
its ``dfun`` layout; no maintained library integrates batched delay
differential equations on a sparse network.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
import types
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._logging import logger
from . import _kernel, _normal

_KERNELS: dict[tuple, object] = {}
_BLOCKS = (64, 32, 16, 8)  # block lengths tried, longest first
_NEAR_SHARE = 0.1  # the longest block that leaves at most this share of connections "near"
_BUFFER_BYTES = 512 << 10  # the blocked input buffer (N, B, c, K) stays within half the L2 cache


def available() -> bool:
    """Whether numba is installed."""
    return importlib.util.find_spec("numba") is not None


def kernel_for(model):
    """The compiled stepping kernel of ``model``.

    Compiled once per model per process, and kept on disk (see
    :func:`kernel_cache_dir`) so that a new process, e.g. a pool or Dask
    worker, loads it instead of compiling it again (a few seconds per model
    on an idle core, half a minute on a loaded one).
    """
    funcs = model.scalar_kernels()
    key = tuple(funcs)
    if key not in _KERNELS:
        _KERNELS[key] = _compile(*funcs)
    return _KERNELS[key]


@dataclass(frozen=True)
class Plan:
    """The connections split for the kernel.

    ``block`` steps per block; far connections (delay >= block - 1) by
    source (CSC: ``far_ptr``, targets, delays, weights); near ones by
    target (CSR: ``near_ptr``, sources, delays, weights).
    """

    block: int
    far_ptr: np.ndarray
    far_tgt: np.ndarray
    far_dly: np.ndarray
    far_w: np.ndarray
    near_ptr: np.ndarray
    near_src: np.ndarray
    near_dly: np.ndarray
    near_w: np.ndarray

    def arrays(self) -> tuple:
        return (
            self.far_ptr,
            self.far_tgt,
            self.far_dly,
            self.far_w,
            self.near_ptr,
            self.near_src,
            self.near_dly,
            self.near_w,
        )


def plan(w: np.ndarray, dsteps: np.ndarray, batch: int, n_coupled: int) -> Plan:
    """Choose the block length and split the non-zero connections of ``w`` into far and near."""
    n = len(w)
    rows, cols = np.nonzero(w)  # rows: targets, cols: sources
    dly = dsteps[rows, cols].astype(np.int64)
    fits = _BUFFER_BYTES // max(1, n * batch * n_coupled * 8)
    block = 1  # with one step per block every connection is "far": the plain step-by-step gather
    for b in _BLOCKS:  # the longest block whose buffer fits (the shortest one always does)
        if (b <= fits or b == _BLOCKS[-1]) and np.count_nonzero(dly < b - 1) <= _NEAR_SHARE * len(dly):
            block = b
            break
    far = dly >= block - 1

    def csr(keys, others, sel):
        order = np.lexsort((others[sel], keys[sel]))
        ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys[sel], minlength=n), out=ptr[1:])
        return (
            ptr,
            others[sel][order].astype(np.int64),
            dly[sel][order],
            w[rows[sel], cols[sel]][order].astype(float),
        )

    return Plan(block, *csr(cols, rows, far), *csr(rows, cols, ~far))


def kernel_cache_dir() -> Path | None:
    """The folder of compiled kernels, or None when the disk cache is off.

    ``$NEUROTWIN_CACHE_DIR/kernels`` when that variable is set (set to an
    empty value, it turns the disk cache off), else
    ``$XDG_CACHE_HOME/neurotwin/kernels`` or ``~/.cache/neurotwin/kernels``.
    numba's files go beside the kernels (unless ``NUMBA_CACHE_DIR`` says
    otherwise). The folder is safe to delete.

    Examples
    --------
    >>> from neurotwin.model._numba import kernel_cache_dir
    >>> folder = kernel_cache_dir()
    >>> folder is None or folder.name == "kernels"
    True
    """
    if "NEUROTWIN_CACHE_DIR" in os.environ:
        root = os.environ["NEUROTWIN_CACHE_DIR"]
        return Path(root).expanduser() / "kernels" if root else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "neurotwin" / "kernels"


def _importable(func) -> bool:
    """Whether ``func`` can be imported by name from a module that another process can import."""
    module = sys.modules.get(func.__module__)
    return bool(
        module is not None
        and func.__module__ != "__main__"
        and "<" not in func.__qualname__
        and getattr(module, func.__qualname__, None) is func
        and getattr(module, "__file__", None)
    )


def source_key(funcs) -> str:
    """A hash of every source a model's kernel is compiled from, and of the compiler's versions."""
    import numba

    h = hashlib.sha256()
    for part in (
        inspect.getsource(_kernel),
        inspect.getsource(_normal),
        numba.__version__,
        np.__version__,
        sys.version,
    ):
        h.update(part.encode() + b"\0")
    for func in funcs:
        h.update(f"{func.__module__}:{func.__qualname__}".encode() + b"\0")
        h.update(inspect.getsource(sys.modules[func.__module__]).encode() + b"\0")
    return h.hexdigest()[:20]


_MODULE = '''"""A compiled kernel of neurotwin.model._numba for {names} (generated; safe to delete)."""

import numba
import numpy as np

from neurotwin.model._normal import compiled as _compiled
{imports}

normal = _compiled()[0]
drift = numba.njit(inline="always")(_drift_py)
send = numba.njit(inline="always")(_send_py)
observe = numba.njit(inline="always")(_observe_py)


{loop}


kernel = numba.njit(nogil=True, error_model="numpy", cache=True)(kernel)
'''


def _module_source(funcs) -> str:
    imports = "\n".join(
        f"from {f.__module__} import {f.__qualname__} as _{role}_py"
        for role, f in zip(("drift", "send", "observe"), funcs)
    )
    names = ", ".join(f"{f.__module__}.{f.__qualname__}" for f in funcs)
    return _MODULE.format(names=names, imports=imports, loop=inspect.getsource(_kernel.kernel).rstrip())


def _cached_kernel(funcs):
    """The kernel from a module in the cache folder (numba keeps its machine code), or None."""
    folder = kernel_cache_dir()
    if folder is None or not all(_importable(f) for f in funcs):
        return None
    name = f"neurotwin_kernel_{source_key(funcs)}"
    if name in sys.modules:
        return sys.modules[name].kernel
    path = folder / f"{name}.py"
    try:
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{name}.{uuid.uuid4().hex}.tmp"
            tmp.write_text(_module_source(funcs))
            try:  # a link never replaces a file another process wrote (its numba index stays valid)
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # numba finds the kernel's globals through its module when it loads it
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    except (OSError, SyntaxError, ImportError) as err:
        logger.debug("compiled kernels are not kept on disk (%s: %s); compiling in memory", path, err)
        return None
    return module.kernel


def _compile(drift_py, send_py, observe_py):
    """The model's kernel: from the disk cache where possible, else compiled in memory."""
    cached = _cached_kernel((drift_py, send_py, observe_py))
    if cached is not None:
        return cached
    import numba

    inline = numba.njit(inline="always")
    scope = {
        "__name__": _kernel.__name__,
        "np": np,
        "normal": _normal.compiled()[0],
        "drift": inline(drift_py),
        "send": inline(send_py),
        "observe": inline(observe_py),
    }
    loop = types.FunctionType(_kernel.kernel.__code__, scope, "kernel")
    return numba.njit(nogil=True, error_model="numpy")(loop)
