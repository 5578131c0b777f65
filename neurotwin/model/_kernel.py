"""The stepping loop of the compiled engine, as plain Python (never called as is).

:mod:`._numba` compiles :func:`kernel` once per neural-mass model, with the
model's scalar functions bound to the names ``drift``, ``send`` and
``observe`` and the noise draw to ``normal``: either in a module it writes
to the user's cache folder (a copy of this function's source under a
header that binds them), which numba caches on disk, or, when that is not
possible, in memory. The layout and the blocked gather are described in
:mod:`._numba`.
"""

import numpy as np

# Bound per model in the namespace the kernel is compiled in (see _numba.kernel_for).
drift = send = observe = normal = None


def kernel(
    x,
    hist,
    acc,
    t0,
    n_steps,
    far_ptr,
    far_tgt,
    far_dly,
    far_w,
    near_ptr,
    near_src,
    near_dly,
    near_w,
    prm,
    sigsq,
    words,
    ki,
    wi,
    fi,
    dt,
    heun,
    n_skip,
    decimate,
    out,
):  # pragma: no cover
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
