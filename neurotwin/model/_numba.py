"""The compiled (numba) integration engine.

One kernel is compiled per neural-mass model from the model's scalar
functions (:meth:`NeuralMass.scalar_kernels`). The network input is
gathered edge by edge from a sparse (CSR) list of connections with their
delays, so the cost per step is proportional to the number of connections,
not N²; the batch axis K is innermost in memory, so a batch of parameter
sets shares each edge's index arithmetic and vectorises. The noise comes
from the caller (the same NumPy generator and draw order as the NumPy
engine), so both engines integrate the same stochastic path.

Why by hand: TVB's own numba back-end is tied to TVB's classes and to
its ``dfun`` layout; no maintained library integrates batched delay
differential equations on a sparse network.
"""

from __future__ import annotations

import importlib.util

import numpy as np

_KERNELS: dict[tuple, object] = {}


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


def _compile(drift_py, send_py, observe_py):
    import numba

    drift = numba.njit(inline="always")(drift_py)
    send = numba.njit(inline="always")(send_py)
    observe = numba.njit(inline="always")(observe_py)

    @numba.njit(nogil=True, error_model="numpy")
    def kernel(state, hist, length, t0, n_steps, indptr, offs, dly, src, wts, prm, sigma, noise, dt, heun,
               n_skip, decimate, out):  # pragma: no cover - compiled
        # hist is (N, R, K, c): each region's past, time along the rows, so that an edge reads
        # the row next to last step's (cache lines are reused over 4 steps). For one parameter set
        # the ring is kept twice over (R = 2L: rows t % L and t % L + L), so the row of
        # "now - delay" is now + (L - delay) with no wrap-around test (a branch the CPU
        # mispredicts): offs[e] = j_e * R * kc + (L - d_e) * kc. A batch reads K * c values per
        # edge, which pays for the test, and keeps a single ring (half the memory).
        n, k_batch, d = state.shape
        n_rows = hist.shape[1]
        mirrored = n_rows == 2 * length
        c = hist.shape[3]
        kc = k_batch * c
        lin = hist.reshape(-1)
        flat = hist.reshape(n, n_rows, kc)
        acc = np.zeros(kc)
        f0 = np.empty(d)
        f1 = np.empty(d)
        pred = np.empty(d)
        nz = np.empty(d)
        buf = np.empty(c)
        sq = np.sqrt(dt)
        n_out = 0
        for s in range(n_steps):
            t = t0 + s
            tmod = t % length
            now = tmod * kc
            nxt = (t + 1) % length
            for i in range(n):
                if mirrored:
                    # one parameter set: sum in registers, two chains per variable (the add latency
                    # bounds this loop, not the loads)
                    a0 = 0.0
                    a1 = 0.0
                    b0 = 0.0
                    b1 = 0.0
                    e = indptr[i]
                    stop = indptr[i + 1]
                    while e + 1 < stop:
                        oa = now + offs[e]
                        ob = now + offs[e + 1]
                        a0 += wts[e] * lin[oa]
                        b0 += wts[e + 1] * lin[ob]
                        if kc == 2:
                            a1 += wts[e] * lin[oa + 1]
                            b1 += wts[e + 1] * lin[ob + 1]
                        e += 2
                    if e < stop:
                        oa = now + offs[e]
                        a0 += wts[e] * lin[oa]
                        if kc == 2:
                            a1 += wts[e] * lin[oa + 1]
                    acc[0] = a0 + b0
                    if kc == 2:
                        acc[1] = a1 + b1
                else:
                    acc[:] = 0.0
                    for e in range(indptr[i], indptr[i + 1]):
                        w = wts[e]
                        slot = tmod - dly[e]
                        if slot < 0:
                            slot += length
                        values = flat[src[e], slot]
                        for m in range(kc):
                            acc[m] += w * values[m]
                for k in range(k_batch):
                    x = state[i, k]
                    p = prm[i, k]
                    inp = acc[k * c:(k + 1) * c]
                    drift(x, inp, p, f0)
                    for v in range(d):
                        nz[v] = sigma[i, k, v] * sq * noise[s, k, i, v]
                    if heun:
                        for v in range(d):
                            pred[v] = x[v] + dt * f0[v] + nz[v]
                        drift(pred, inp, p, f1)
                        for v in range(d):
                            x[v] = x[v] + 0.5 * dt * (f0[v] + f1[v]) + nz[v]
                    else:
                        for v in range(d):
                            x[v] = x[v] + dt * f0[v] + nz[v]
            # the new states are written only after every region has read the old history
            for i in range(n):
                for k in range(k_batch):
                    send(state[i, k], prm[i, k], buf)
                    for q in range(c):
                        hist[i, nxt, k, q] = buf[q]
                        if mirrored:
                            hist[i, nxt + length, k, q] = buf[q]
            r = t - n_skip
            if r >= 0 and r % decimate == 0:
                for k in range(k_batch):
                    for i in range(n):
                        out[k, n_out, i] = observe(state[i, k], prm[i, k])
                n_out += 1
        return n_out

    return kernel


def edges(w: np.ndarray, dsteps: np.ndarray, batch: int, n_coupled: int):
    """Rows of the non-zero connections for the kernel: ``(indptr, offsets, delays, sources, weights)``.

    ``offsets`` locate each edge's delayed source in the doubled history
    relative to the current row; ``sources`` are the source regions (see the kernel).
    """
    n = len(w)
    rows, cols = np.nonzero(w)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    length = int(dsteps.max()) + 1
    kc = batch * n_coupled
    dly = dsteps[rows, cols].astype(np.int64)
    src = cols.astype(np.int64)
    return indptr, src * (2 * length * kc) + (length - dly) * kc, dly, src, w[rows, cols].astype(float)


def mirrored(batch: int, n_coupled: int) -> bool:
    """Whether the kernel keeps the history twice over (one parameter set, see the kernel)."""
    return batch * n_coupled <= 2
