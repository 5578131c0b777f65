"""Benchmark: the default resting-EEG pipeline against the same steps in plain MNE.

Run as a script (it is not a test)::

    python benchmarks/bench_pipeline.py              # 10- and 60-minute recordings, 3 repeats
    python benchmarks/bench_pipeline.py --quick      # 2- and 6-minute recordings, 2 repeats

Recordings: 64 EEG channels + VEOG at 500 Hz from neurotwin's simulator
(1/f background, 10 Hz alpha, 50 Hz mains, blinks, one bad channel),
written once to FIF in a temporary folder.

Cases, each timed in a fresh process pinned to one CPU core with one BLAS
thread (so the peak RSS is that case's own), after a warm-up on 30 s of
data (imports and first-call set-up, ~1.5 s, are paid once per process):

* ``neurotwin steps``: :meth:`neurotwin.pipeline.Pipeline.process`, i.e.
  the pipeline's step code on the recording read from disk (the default
  ``resting_eeg`` preprocessing, without its final ``features`` step);
* ``plain MNE``: the same steps written as a user would without neurotwin
  (MNE notch/filter/resample, pyprep's deviation+correlation criteria,
  ``interpolate_bads``, MNE ICA with ``find_bads_eog``, average reference,
  fixed-length epochs with autoreject's threshold), the baseline;
* ``neurotwin run``: the whole runner (study discovery, input hashing,
  every step cached to disk, BIDS-derivatives output) on 1 and 2
  subjects, to show the cost of caching and the scaling with subjects.

Printed per case: wall time min/median/max over repeats, times real time,
ratio to the plain-MNE baseline, and the peak RSS above the process's
footprint before reading the data, as a multiple of the raw array size.
Targets (issue 3): >= 200x real time without ICA on one core; peak memory
<= 2.5x the raw array; cost linear in duration and subjects.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ONE_THREAD, pin_one_core, reset_peak, status_mb

SFREQ = 500.0
N_EEG = 64


def _channels() -> list[str]:
    from neurotwin.io import standard_montage

    return [c for c in standard_montage().ch_names if c[-1].isdigit() or c.endswith("z")][:N_EEG]


def make_recording(path: Path, minutes: float, seed: int) -> None:
    """Simulate one recording and write it as FIF (double precision)."""
    from neurotwin.datasets import make_resting_eeg

    raw = make_resting_eeg(
        duration=minutes * 60,
        sfreq=SFREQ,
        ch_names=_channels(),
        line_freq=50.0,
        blink_rate=0.2,
        bad_channels=["T8"],
        random_state=seed,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    raw.save(path, fmt="double", overwrite=True, verbose="error")


def _pipeline(ica: bool):
    import neurotwin.pipeline as ntp
    from neurotwin.pipeline.config import PipelineConfig

    data = ntp.load("resting_eeg").config.model_dump(mode="json")
    # preprocessing only: the features step has its own benchmark (bench_features.py)
    drop = {"features"} | (set() if ica else {"ica"})
    data["steps"] = [s for s in data["steps"] if s["step"] not in drop]
    return ntp.Pipeline(PipelineConfig.model_validate(data))


def plain_mne(raw, ica: bool):
    """The default pipeline's steps, as plain MNE (+ pyprep, autoreject) calls."""
    import mne
    from autoreject import get_rejection_threshold
    from pyprep import NoisyChannels

    raw.notch_filter([50.0, 100.0, 150.0], picks="data", verbose="error")
    raw.filter(1.0, 45.0, picks="data", verbose="error")
    raw.resample(250.0, verbose="error")
    nc = NoisyChannels(raw, do_detrend=False, random_state=0)
    nc.find_bad_by_nan_flat()
    nc.find_bad_by_deviation()
    nc.find_bad_by_correlation()
    raw.info["bads"] = nc.get_bads()
    raw.interpolate_bads(reset_bads=True, verbose="error")
    if ica:
        model = mne.preprocessing.ICA(
            n_components=0.99,
            method="picard",
            random_state=97,
            fit_params={"ortho": False, "extended": True},
            verbose="error",
        )
        model.fit(raw, picks="eeg", decim=3, verbose="error")
        model.exclude, _ = model.find_bads_eog(raw, threshold=0.5, measure="correlation", verbose="error")
        model.apply(raw, verbose="error")
    raw.set_eeg_reference("average", projection=False, verbose="error")
    epochs = mne.make_fixed_length_epochs(raw, duration=2.0, preload=True, verbose="error")
    epochs.drop_bad(
        reject=get_rejection_threshold(epochs, ch_types="eeg", random_state=97, verbose=False),
        verbose="error",
    )
    return epochs


def worker(case: str, target: str, ica: bool) -> dict:
    """One measurement, in this (fresh) process."""
    import mne

    import neurotwin.pipeline  # noqa: F401 - imports before the baseline RSS

    pin_one_core()
    pipe = _pipeline(ica)
    # warm-up on 30 s of data: imports and first-call set-up are paid once per process, not per
    # recording, so they stay out of the steady-state figures (and out of the memory baseline)
    from neurotwin.datasets import make_resting_eeg

    warm = make_resting_eeg(duration=30, sfreq=SFREQ, ch_names=_channels(), line_freq=50.0, random_state=0)
    if case == "run":  # the runner's own path: reading, hashing, caching
        with tempfile.TemporaryDirectory() as wdir:
            (Path(wdir) / "study/sub-w/eeg").mkdir(parents=True)
            warm.save(Path(wdir) / "study/sub-w/eeg/sub-w_task-rest_eeg.fif", verbose="error")
            pipe.run(Path(wdir) / "study", Path(wdir) / "out", progress="off")
    elif case == "steps":
        pipe.process(warm.copy())
    else:
        plain_mne(warm.copy(), ica)
    del warm
    base = status_mb("VmRSS")
    reset_peak()
    t0 = time.perf_counter()
    if case == "run":
        study, out = target.split("::")
        result = pipe.run(study, out, progress="off")
        assert result.exit_code == 0, result.summary().to_string()
        n_samples = sum(
            mne.io.read_raw_fif(p, verbose="error").n_times for p in Path(study).rglob("*_eeg.fif")
        )
        n_rec = len(list(Path(study).rglob("*_eeg.fif")))
    else:
        raw = mne.io.read_raw_fif(target, preload=True, verbose="error")
        n_samples, n_rec = raw.n_times, 1
        if case == "steps":
            pipe.process(raw)
        else:
            plain_mne(raw, ica)
    seconds = time.perf_counter() - t0
    peak = status_mb("VmHWM")
    raw_mb = n_samples / n_rec * (N_EEG + 1) * 8 / 2**20  # one recording's float64 array
    return {
        "seconds": seconds,
        "real_s": n_samples / SFREQ,
        "peak_mb": peak,
        "base_mb": base,
        "raw_mb": raw_mb,
    }


def measure(case: str, target: str, ica: bool, repeats: int, fresh_out=None) -> list[dict]:
    runs = []
    for _ in range(repeats):
        out = None if fresh_out is None else tempfile.mkdtemp(dir=fresh_out)
        arg = target if out is None else f"{target}::{out}"
        env = {**os.environ, **ONE_THREAD}
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", case, arg, str(int(ica))],
            capture_output=True,
            text=True,
            env=env,
        )
        if proc.returncode:
            raise RuntimeError(f"{case} failed:\n{proc.stderr[-3000:]}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        if out is not None:
            shutil.rmtree(out)  # the next repeat starts from nothing, with no dirty pages pending
            os.sync()
    return runs


def report(label: str, runs: list[dict], baseline: list[dict] | None) -> float:
    secs = [r["seconds"] for r in runs]
    med = statistics.median(secs)
    xrt = runs[0]["real_s"] / med
    extra = max(r["peak_mb"] - r["base_mb"] for r in runs)
    ratio = f"{med / statistics.median([b['seconds'] for b in baseline]):5.2f}x" if baseline else "  -   "
    print(
        f"  {label:<34} {min(secs):7.2f} {med:7.2f} {max(secs):7.2f}  {xrt:7.0f}x  {ratio}   "
        f"{extra:7.0f} MB = {extra / runs[0]['raw_mb']:4.2f}x raw ({runs[0]['raw_mb']:.0f} MB)"
    )
    return med


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durations", type=float, nargs="+", default=[10.0, 60.0], help="minutes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2 and 6 minutes, 2 repeats")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        case, target, ica = args.worker
        print(json.dumps(worker(case, target, bool(int(ica)))))
        return
    durations, repeats = ([2.0, 6.0], 2) if args.quick else (args.durations, args.repeats)
    import mne

    import neurotwin

    print(
        f"neurotwin {neurotwin.__version__}, MNE {mne.__version__}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs (each case pinned to one core, one BLAS thread)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        medians = {}
        for minutes in durations:
            tag = f"{minutes:g}min"
            for sub in ("a", "b") if minutes == durations[0] else ("a",):
                make_recording(
                    tmp / tag / f"sub-{sub}/eeg/sub-{sub}_task-rest_eeg.fif", minutes, seed=ord(sub)
                )
            one = tmp / f"{tag}-one"
            fif = str(tmp / tag / "sub-a/eeg/sub-a_task-rest_eeg.fif")
            (one / "sub-a/eeg").mkdir(parents=True)
            (one / "sub-a/eeg/sub-a_task-rest_eeg.fif").symlink_to(fif)
            print(
                f"\n{minutes:g} min, {N_EEG} ch + VEOG, {SFREQ:g} Hz          "
                f"   min  median     max  x real  vs MNE   peak RSS above start"
            )
            for ica in (False, True):
                name = "with ICA" if ica else "without ICA"
                base = measure("mne", fif, ica, repeats)
                report(f"plain MNE, {name}", base, None)
                medians[(minutes, ica)] = report(
                    f"neurotwin steps, {name}", measure("steps", fif, ica, repeats), base
                )
            base = measure("mne", fif, False, 1)
            outs = tmp / "outs"
            outs.mkdir(exist_ok=True)
            medians[(minutes, "run1")] = report(
                "neurotwin run, 1 subject, no ICA", measure("run", str(one), False, repeats, outs), base
            )
            if minutes == durations[0]:
                medians["run2"] = report(
                    "neurotwin run, 2 subjects, no ICA",
                    measure("run", str(tmp / tag), False, repeats, outs),
                    None,
                )
        if len(durations) > 1:
            lo, hi = durations[0], durations[-1]

            def grow(key):
                return medians[(hi, key)] / medians[(lo, key)]

            print(
                f"\nscaling with duration ({lo:g} -> {hi:g} min, x{hi / lo:g}): steps without ICA "
                f"x{grow(False):.2f}, with ICA x{grow(True):.2f}, run x{grow('run1'):.2f}"
            )
        print(f"scaling with subjects (1 -> 2): run x{medians['run2'] / medians[(durations[0], 'run1')]:.2f}")


if __name__ == "__main__":
    main()
