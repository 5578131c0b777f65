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

Why by hand: TVB's own numba back-end is tied to TVB's classes and to
its ``dfun`` layout; no maintained library integrates batched delay
differential equations on a sparse network.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np

from . import _normal

_KERNELS: dict[tuple, object] = {}
_BLOCKS = (64, 32, 16, 8)  # block lengths tried, longest first
_NEAR_SHARE = 0.1  # the longest block that leaves at most this share of connections "near"
_BUFFER_BYTES = 512 << 10  # the blocked input buffer (N, B, c, K) stays within half the L2 cache


def available() -> bool:
    """Whether numba is installed."""
    return importlib.util.find_spec("numba") is not None


def kernel_for(model):
    """The compiled stepping kernel of ``model`` (compiled once per model class per process)."""
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
        return (self.far_ptr, self.far_tgt, self.far_dly, self.far_w, self.near_ptr, self.near_src,
                self.near_dly, self.near_w)


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
        return (ptr, others[sel][order].astype(np.int64), dly[sel][order],
                w[rows[sel], cols[sel]][order].astype(float))

    return Plan(block, *csr(cols, rows, far), *csr(rows, cols, ~far))


def _compile(drift_py, send_py, observe_py):
    import numba

    normal = _normal.compiled()[0]
    drift = numba.njit(inline="always")(drift_py)
    send = numba.njit(inline="always")(send_py)
    observe = numba.njit(inline="always")(observe_py)

    @numba.njit(nogil=True, error_model="numpy")
    def kernel(x, hist, acc, t0, n_steps, far_ptr, far_tgt, far_dly, far_w, near_ptr, near_src, near_dly,
               near_w, prm, sigsq, words, ki, wi, fi, dt, heun, n_skip, decimate, out):  # pragma: no cover
        # Units j = i * K + k (region i, parameter set k) along the last axis of x (d, M), prm
        # (P + 1, M) and sigsq (d, M): each stage of a step is a loop over j, which the compiler
        # vectorises. The noise is drawn here from the SFC64 state `words` (see _normal), in the
        # order of NumPy's standard_normal filling a (steps, d, M) array. hist (N, L, c, K): each
        # region's past along its rows (a ring of L rows). acc (N, B, c, K): the far connections'
        # input for the B steps of the current block; it persists between calls (blocks are
        # aligned on t % B == 0).
        d, n_units = x.shape
        n, length, c, k_batch = hist.shape
        block = acc.shape[1]
        ck = c * k_batch
        span = block * ck
        lin = hist.reshape(-1)
        accl = acc.reshape(-1)
        row_size = length * ck
        inp = np.empty((c, n_units))
        sent = np.empty((c, n_units))
        inpl = inp.reshape(-1)
        sentl = sent.reshape(-1)
        f0 = np.empty((d, n_units))
        f1 = np.empty((d, n_units))
        pred = np.empty((d, n_units))
        nz = np.empty((d, n_units))
        half = 0.5 * dt
        w0, w1, w2, w3 = words[0], words[1], words[2], words[3]
        n_out = 0
        for s in range(n_steps):
            t = t0 + s
            b = t % block
            tmod = t % length
            if b == 0:
                # far connections, source by source (its history stays in the cache): rows
                # t - delay .. t - delay + B - 1 of the source, all already known, into the target's buffer
                accl[:] = 0.0
                for j in range(n):
                    base = j * row_size
                    for e in range(far_ptr[j], far_ptr[j + 1]):
                        r0 = tmod - far_dly[e]
                        if r0 < 0:
                            r0 += length
                        first = min(block, length - r0) * ck  # the ring may wrap once
                        dst = far_tgt[e] * span
                        src = base + r0 * ck
                        wt = far_w[e]
                        # unsigned indices: no negative-index wrap-around, so the loops vectorise
                        for m in range(first):
                            accl[np.uint64(dst + m)] += wt * lin[np.uint64(src + m)]
                        for m in range(span - first):
                            accl[np.uint64(dst + first + m)] += wt * lin[np.uint64(base + m)]
            if k_batch == 1:  # (the loops over k would cost more than their single iteration)
                for q in range(c):
                    for i in range(n):
                        inpl[np.uint64(q * n + i)] = accl[np.uint64((i * block + b) * c + q)]
            else:
                for i in range(n):
                    off = (i * block + b) * ck
                    for q in range(c):
                        row = q * n_units + i * k_batch
                        for k in range(k_batch):
                            inpl[np.uint64(row + k)] = accl[np.uint64(off + q * k_batch + k)]
            for i in range(n if near_ptr[n] > 0 else 0):  # (most networks have no near connection)
                for e in range(near_ptr[i], near_ptr[i + 1]):
                    slot = tmod - near_dly[e]
                    if slot < 0:
                        slot += length
                    src = (near_src[e] * length + slot) * ck
                    wt = near_w[e]
                    for q in range(c):
                        row = q * n_units + i * k_batch
                        for k in range(k_batch):
                            inpl[np.uint64(row + k)] += wt * lin[np.uint64(src + q * k_batch + k)]
            for v in range(d):
                for j in range(n_units):
                    z, w0, w1, w2, w3 = normal(w0, w1, w2, w3, ki, wi, fi)
                    nz[v, j] = sigsq[v, j] * z
            for j in range(n_units):
                drift(x, inp, prm, f0, j)
            if heun:
                for v in range(d):
                    for j in range(n_units):
                        pred[v, j] = x[v, j] + dt * f0[v, j] + nz[v, j]
                for j in range(n_units):
                    drift(pred, inp, prm, f1, j)
                for v in range(d):
                    for j in range(n_units):
                        x[v, j] = x[v, j] + half * (f0[v, j] + f1[v, j]) + nz[v, j]
            else:
                for v in range(d):
                    for j in range(n_units):
                        x[v, j] = x[v, j] + dt * f0[v, j] + nz[v, j]
            # the new states are written only after every region has read the old history
            for j in range(n_units):
                send(x, prm, sent, j)
            nxt = (t + 1) % length
            if k_batch == 1:
                for q in range(c):
                    for i in range(n):
                        lin[np.uint64((i * length + nxt) * c + q)] = sentl[np.uint64(q * n + i)]
            else:
                for i in range(n):
                    dst = (i * length + nxt) * ck
                    for q in range(c):
                        row = q * n_units + i * k_batch
                        for k in range(k_batch):
                            lin[np.uint64(dst + q * k_batch + k)] = sentl[np.uint64(row + k)]
            r = t - n_skip
            if r >= 0 and r % decimate == 0:
                for k in range(k_batch):
                    for i in range(n):
                        out[k, n_out, i] = observe(x, prm, i * k_batch + k)
                n_out += 1
        words[0], words[1], words[2], words[3] = w0, w1, w2, w3
        return n_out

    return kernel
