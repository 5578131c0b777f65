"""Batched stochastic integration of delay-coupled neural masses.

K parameter sets run at once (state ``(K, N, d)``); conduction delays come
from a ring buffer of the coupled variables, indexed per connection; Euler-
Maruyama or stochastic Heun (additive noise; the delayed input is held
over the step, as TVB does). The output is the first coupled variable,
decimated and with the transient dropped; :func:`iter_simulate` yields
it chunk by chunk, so a long run needs memory for one chunk only.

Two engines integrate the same stochastic path (the noise is one NumPy
SFC64 stream, seeded by ``random_state``): ``"numpy"``, where each step
gathers the N² delayed values per batch member and NumPy draws the noise,
and ``"numba"`` (installed with the ``fast`` extra), compiled from the
model's scalar functions, which visits only the non-zero connections and
draws the same normals inside its kernel (:mod:`._normal`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_random_state
from ..errors import ConfigError, DataError
from . import _normal, _numba
from .masses import NeuralMass, get_model
from .params import resolve_params

__all__ = ["Simulation", "iter_simulate", "simulate"]


@dataclass(frozen=True)
class Simulation:
    """Simulated region activity.

    Attributes
    ----------
    data : ndarray, shape (K, n_times, N)
        The observed signal of each region (the model's ``observe``: e.g.
        ``x`` for Hopf, ``y1 - y2`` for Jansen-Rit).
    sfreq : float
        Sampling rate of ``data`` in Hz.
    params : dict
        The parameters used, ``(K,)`` or ``(K, N)`` arrays.
    """

    data: np.ndarray
    sfreq: float
    params: dict

    def to_raw(self, info=None, *, batch: int = 0, ch_names=None):
        """One batch member as an :class:`mne.io.RawArray`, one channel per region.

        Parameters
        ----------
        info : mne.Info | None
            The channels to use (one per region, at this sampling rate);
            None makes ``misc`` channels named ``ch_names``.
        batch : int
            Which of the K parameter sets.
        ch_names : list of str | None
            Region names when ``info`` is None (default ``R0, R1, ...``).

        Returns
        -------
        raw : mne.io.RawArray

        Examples
        --------
        >>> import numpy as np
        >>> from neurotwin.model import Hopf, simulate
        >>> sim = simulate(Hopf(), np.zeros((2, 2)), {"a": -1.0, "f": 10.0}, duration=1.0, dt=1e-3,
        ...                decimate=4, transient=0.0, random_state=0)
        >>> raw = sim.to_raw(ch_names=["lV1", "rV1"])
        >>> raw.ch_names, raw.info["sfreq"], int(raw.n_times)
        (['lV1', 'rV1'], 250.0, 250)
        """
        import mne

        k, _, n = self.data.shape
        if not -k <= batch < k:
            raise ConfigError(f"batch {batch} is outside the simulation's {k} parameter set(s).")
        if info is None:
            names = list(ch_names) if ch_names is not None else [f"R{i}" for i in range(n)]
            if len(names) != n:
                raise ConfigError(f"{len(names)} channel names for {n} regions.")
            info = mne.create_info(names, self.sfreq, "misc")
        elif len(info["ch_names"]) != n or not np.isclose(info["sfreq"], self.sfreq):
            raise DataError(
                f"info has {len(info['ch_names'])} channels at {info['sfreq']:g} Hz; the "
                f"simulation has {n} regions at {self.sfreq:g} Hz."
            )
        return mne.io.RawArray(self.data[batch].T, info, verbose="error")

    def __repr__(self) -> str:
        k, t, n = self.data.shape
        return (
            f"<Simulation | {k} parameter set(s), {n} regions, {t} samples at {self.sfreq:g} Hz "
            f"({t / self.sfreq:g} s)>"
        )


_NOISE_BLOCK = 1 << 16  # noise values the NumPy engine draws at once (the compiled one draws its own)


def _network(weights, delays_ms, dt: float):
    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise DataError(f"weights must be a square matrix, got shape {w.shape}.")
    if not np.isfinite(w).all() or (w < 0).any():
        raise DataError("weights must be finite and non-negative.")
    if delays_ms is None:
        steps = np.zeros(w.shape, dtype=int)
    else:
        d = np.asarray(delays_ms, dtype=float)
        if d.shape != w.shape:
            raise DataError(f"delays of shape {d.shape} do not match weights {w.shape}.")
        if not np.isfinite(d).all() or (d < 0).any():
            raise DataError("delays must be finite and non-negative (check tract lengths and velocity).")
        steps = np.rint(d / 1000.0 / dt).astype(int)
    return w, steps


def simulate(
    model: NeuralMass | str,
    weights,
    params: dict | None = None,
    *,
    delays_ms=None,
    duration: float = 10.0,
    dt: float = 1e-4,
    method: str = "heun",
    transient: float = 1.0,
    decimate: int = 10,
    engine: str = "auto",
    random_state=None,
) -> Simulation:
    """Simulate a network of neural masses for K parameter sets at once.

    Parameters
    ----------
    model : NeuralMass | str
        The local model (e.g. :class:`neurotwin.model.Hopf` or ``"hopf"``).
    weights : ndarray, shape (N, N)
        Coupling weights ``w_ij`` (input to i from j), non-negative.
    params : dict | None
        Model parameters (see :func:`resolve_params`); a length-K vector or
        a ``(K, N)`` array gives K parameter sets.
    delays_ms : ndarray, shape (N, N) | None
        Conduction delays in ms (e.g. ``Connectome.delays(velocity)``).
    duration : float
        Simulated time in seconds after the transient.
    dt : float
        Integration step in seconds.
    method : "heun" | "euler"
        Stochastic Heun or Euler-Maruyama.
    transient : float
        Seconds simulated and dropped first.
    decimate : int
        Keep every ``decimate``-th step.
    engine : "auto" | "numpy" | "numba"
        ``"auto"`` takes numba when it is installed and the model has
        scalar kernels, else NumPy. Both give the same path to rounding.
    random_state : int | numpy.random.Generator | None
        Seed of the noise.

    Returns
    -------
    sim : Simulation

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.model import Hopf, simulate
    >>> sim = simulate(Hopf(), np.zeros((2, 2)), {"a": 1.0, "f": 10.0}, duration=1.0, dt=1e-3,
    ...                decimate=1, random_state=0)
    >>> sim.data.shape, sim.sfreq
    ((1, 1000, 2), 1000.0)
    """
    chunks = list(
        iter_simulate(
            model,
            weights,
            params,
            delays_ms=delays_ms,
            duration=duration,
            dt=dt,
            method=method,
            transient=transient,
            decimate=decimate,
            engine=engine,
            random_state=random_state,
            chunk_duration=None,
        )
    )
    data = np.concatenate([c.data for c in chunks], axis=1)
    return Simulation(data, chunks[0].sfreq, chunks[0].params)


def iter_simulate(
    model: NeuralMass | str,
    weights,
    params: dict | None = None,
    *,
    delays_ms=None,
    duration: float = 10.0,
    dt: float = 1e-4,
    method: str = "heun",
    transient: float = 1.0,
    decimate: int = 10,
    engine: str = "auto",
    random_state=None,
    chunk_duration: float | None = 1.0,
):
    """Like :func:`simulate`, but yield the output in chunks of ``chunk_duration`` seconds.

    Memory stays bounded by one chunk (plus the delay history), whatever
    the duration; the concatenated chunks equal :func:`simulate`'s output.

    Yields
    ------
    sim : Simulation
        ``data`` of shape ``(K, n_chunk, N)``.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.model import iter_simulate
    >>> chunks = iter_simulate("hopf", np.zeros((2, 2)), duration=2.0, dt=1e-3, decimate=1,
    ...                        chunk_duration=0.5, random_state=0)
    >>> [c.data.shape for c in chunks]
    [(1, 500, 2), (1, 500, 2), (1, 500, 2), (1, 500, 2)]
    """
    if method not in ("heun", "euler"):
        raise ConfigError(f"method must be 'heun' or 'euler', got {method!r}.")
    if engine not in ("auto", "numpy", "numba"):
        raise ConfigError(f"engine must be 'auto', 'numpy' or 'numba', got {engine!r}.")
    if not dt > 0 or not duration > 0 or transient < 0 or decimate < 1:
        raise ConfigError("dt and duration must be positive, transient >= 0 and decimate >= 1.")
    model = get_model(model)
    compiled = model.scalar_kernels() is not None and _numba.available()
    if engine == "numba" and not compiled:
        raise ConfigError(
            "engine='numba' needs numba (pip install 'neurotwin[fast]') and a model with scalar_kernels()."
        )
    use_numba = engine == "numba" or (engine == "auto" and compiled)
    rng = check_random_state(random_state)
    w, dsteps = _network(weights, delays_ms, dt)
    n = len(w)
    p, k = resolve_params(model.params, params or {}, n)
    p["_strength"] = w.sum(axis=1)[None, :]
    sigma = np.ascontiguousarray(model.noise_scale(p, k, n), dtype=float)
    state = model.initial_state(k, n, rng)
    # the noise from NumPy's SFC64 generator, seeded from random_state: the compiled engine draws
    # the same values inside its kernel (see _normal)
    noise_rng = np.random.Generator(np.random.SFC64(rng.integers(2**63)))
    n_transient = int(round(transient / dt))
    n_keep = int(round(duration / dt)) // decimate
    if n_keep == 0:
        raise ConfigError(f"duration {duration} s is shorter than one output sample ({dt * decimate} s).")
    total = n_transient + n_keep * decimate
    sfreq = 1.0 / (dt * decimate)
    public = {k_: v for k_, v in p.items() if not k_.startswith("_")}
    per_chunk = n_keep if chunk_duration is None else max(1, int(round(chunk_duration * sfreq)))
    stepper = (_NumbaStepper if use_numba else _NumpyStepper)(
        model, w, dsteps, p, k, n, state, sigma, dt, method == "heun", n_transient, decimate
    )
    if use_numba:  # the kernel draws its own noise (see _normal): one call a chunk
        stepper.noise_from(noise_rng)
        block, noise = total, None
    else:
        block = max(1, _NOISE_BLOCK // sigma.size)  # steps per noise draw: bounded memory
        noise = np.empty((block, model.n_state, n, k))  # per step (d, N, K): the order the kernel draws in
    t = 0
    while t < total:
        # the first chunk also runs the transient
        end = min(total, max(t, n_transient) + per_chunk * decimate)
        parts = []
        while t < end:
            m = min(block, end - t)
            if noise is not None:
                noise_rng.standard_normal(out=noise[:m])  # one stream, whatever the block size
            parts.append(stepper.run(t, m, noise))
            t += m
        out = np.concatenate(parts, axis=1)
        if not np.isfinite(out).all():
            raise DataError("the simulation diverged (non-finite values); lower dt or the coupling.")
        if out.shape[1]:
            yield Simulation(out, sfreq, public)


class _NumpyStepper:
    def __init__(self, model, w, dsteps, p, k, n, state, sigma, dt, heun, n_skip, decimate):
        self.model, self.w, self.dsteps, self.p = model, w, dsteps, p
        self.state, self.sigma, self.dt, self.heun = state, sigma, dt, heun
        self.n_skip, self.decimate, self.k, self.n = n_skip, decimate, k, n
        self.length = int(dsteps.max()) + 1
        self.sent = model.coupling_variable(state, p)  # what each region sends now
        self.history = np.repeat(self.sent[None], self.length, axis=0)  # (L, K, N, c)
        self.delayed = bool(dsteps.any())
        self.cols = np.arange(n)[None, :]

    def run(self, t0, n_steps, noise):
        model, p, dt = self.model, self.p, self.dt
        sq = np.sqrt(dt)
        out = []
        for s in range(n_steps):
            t = t0 + s
            if self.delayed:
                # past[i, j] = z_j(t - d_ij)
                past = self.history[(t - self.dsteps) % self.length, :, self.cols]
                coupling = np.einsum("ij,ijkc->kic", self.w, past)
            else:
                coupling = np.einsum("ij,kjc->kic", self.w, self.sent)
            nz = self.sigma * sq * noise[s].transpose(2, 1, 0)
            f0 = model.drift(self.state, coupling, p)
            if self.heun:
                pred = self.state + dt * f0 + nz
                self.state = self.state + 0.5 * dt * (f0 + model.drift(pred, coupling, p)) + nz
            else:
                self.state = self.state + dt * f0 + nz
            self.sent = model.coupling_variable(self.state, p)
            self.history[(t + 1) % self.length] = self.sent
            r = t - self.n_skip
            if r >= 0 and r % self.decimate == 0:
                out.append(model.observe(self.state))
        return np.stack(out, axis=1) if out else np.empty((self.k, 0, self.n))


class _NumbaStepper:
    def __init__(self, model, w, dsteps, p, k, n, state, sigma, dt, heun, n_skip, decimate):
        self.kernel = _numba.kernel_for(model)
        sent = model.coupling_variable(state, p)  # (K, N, c)
        self.plan = _numba.plan(w, dsteps, k, sent.shape[-1])
        self.dt, self.heun, self.n_skip, self.decimate, self.k, self.n = dt, heun, n_skip, decimate, k, n
        order = [s.name for s in model.params] + ["_strength"]

        def units(a):  # (K, N, v) -> (v, N * K): unit j = i * K + k, see _numba
            return np.ascontiguousarray(a.transpose(2, 1, 0).reshape(a.shape[2], n * k))

        self.prm = units(
            np.stack(
                [
                    np.broadcast_to(p[name] if p[name].ndim == 2 else p[name][:, None], (k, n))
                    for name in order
                ],
                axis=-1,
            )
        )
        self.sigsq = units(sigma * np.sqrt(dt))
        self.state = units(state)
        # (N, L, c, K): each region's past along the rows, see _numba
        self.hist = np.ascontiguousarray(
            np.repeat(sent.transpose(1, 2, 0)[:, None], int(dsteps.max()) + 1, axis=1)
        )
        self.acc = np.zeros((n, self.plan.block, sent.shape[-1], k))  # the current block's far input

    def noise_from(self, generator):
        self.rng, self.words = generator, _normal.state_of(generator)

    def run(self, t0, n_steps, noise=None):
        r0, r1 = max(t0 - self.n_skip, 0), t0 + n_steps - self.n_skip
        n_out = max(0, -(-r1 // self.decimate) - (-(-r0 // self.decimate)))
        out = np.empty((self.k, n_out, self.n))
        got = self.kernel(
            self.state,
            self.hist,
            self.acc,
            t0,
            n_steps,
            *self.plan.arrays(),
            self.prm,
            self.sigsq,
            self.words,
            *_normal.tables(),
            self.dt,
            self.heun,
            self.n_skip,
            self.decimate,
            out,
        )
        _normal.set_state(self.rng, self.words)  # the generator goes on where the kernel stopped
        return out[:, :got]
