"""Validation: one network seen by EEG and MEG — recovery, and what the second kind of sensors adds.

Run from the repository root (needs ``../shared/data`` or ``--data``)::

    python benchmarks/validation/eeg_meg.py                 # 20 synthetic patients, seed 0
    python benchmarks/validation/eeg_meg.py --patients 5 --sensors all

Each synthetic patient is one network (TVB's 76-region template, the
network parameters drawn as in ``recovery.py``) seen through the **MNE
sample person's real sensors**: its digitised EEG electrodes and its
Neuromag MEG helmet (magnetometers and planar gradiometers, the recording's
device-to-head transform), from its 1-s SSS recording. By default a subset
(every 4th EEG electrode, every 6th MEG sensor: 15 EEG, 51 MEG) keeps a
patient to about 20 s (three fits); ``--sensors all`` uses all 60 + 306. The EEG and
the MEG are two recordings of one session (as in ``sample_data/``): each
part's PSD is drawn from the exact Welch law (60 segments) of its own
sensor cross-spectrum, with its own observation model (gain, aperiodic
background, exponent, knee; the MEG's drawn apart from the EEG's).

Each session is fitted three times from the same features, defaults
otherwise: an EEG twin of its EEG, an MEG twin of its MEG, and one
``Twin(modality="eeg+meg")`` of both.

Printed:

* bias, r and 90 % coverage of the shared network parameters (damping
  ``a``, alpha frequency ``f``, coupling ``G``) for each of the three twins
  (target 85-95 %);
* the value of the second kind of sensors: the posterior sd of ``a``,
  ``f`` and ``G`` with both against each alone (ratio, min/median/max over
  patients; below 1 means the second kind narrowed it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _synthetic import draw_theta
from joint import _line, _mmm
from recovery import meg_theta, welch_draw

import neurotwin
from neurotwin.twin import Twin

SHARED = ("a", "f", "G")
SEGMENTS = 60
FITS = {"eeg": ("eeg",), "meg": ("meg",), "eeg+meg": ("eeg", "meg")}


def geometry(data: Path, sensors: str):
    """The sample person's sensors as features (``psd`` of its 1 s; only the geometry is used) and
    TVB's template, its weights scaled as the twin scales them."""
    import mne

    from neurotwin.features import compute_features
    from neurotwin.model import template_connectome
    from neurotwin.model.connectome import normalize_weights

    raw = mne.io.read_raw_fif(
        data / "mne-testing-data" / "SSS" / "sample_audvis_trunc_raw_sss.fif", verbose="error"
    ).load_data()
    step_e, step_m = (1, 1) if sensors == "all" else (4, 6)
    picks = np.r_[mne.pick_types(raw.info, eeg=True)[::step_e], mne.pick_types(raw.info, meg=True)[::step_m]]
    raw.pick([raw.ch_names[i] for i in picks])
    con = template_connectome("tvb76", tvb_data=data / "tvb-data-3.0.0" / "tvb_data")
    return compute_features(raw, ["psd"], subject="syn", session="01"), normalize_weights(con, "max")


def draw_psd(part, theta: np.ndarray, noise: np.random.Generator) -> np.ndarray:
    """A part's PSD ``(C, F)`` drawn from the exact Welch law of its sensor cross-spectrum."""
    return welch_draw(part.sensor_csd(theta, part.freqs), noise, SEGMENTS)


def session(geom, base, psd: dict, parts: tuple[str, ...]):
    """The features of ``parts`` of one drawn session (the channels of the others left out)."""
    from neurotwin.features import FeatureArray, FeatureSet

    part = {"eeg": base.eeg, "meg": base.meg}
    chans = [c for m in parts for c in part[m].channels]
    values = np.vstack([psd[m] for m in parts])
    arrays = {k: v for k, v in geom.arrays.items() if k != "psd"}
    coords = {"channel": chans, "freq": list(base.eeg.freqs)}
    arrays["psd"] = FeatureArray(values, ("channel", "freq"), coords, unit="mixed")
    return FeatureSet(geom.table.iloc[:0], arrays, {"psd": {"n_averages": SEGMENTS}})


def patient(i: int, seed: int, geom, con, base) -> dict:
    """One patient: its truth and the three twins' 90 % intervals and sds of the shared parameters."""
    rng = np.random.default_rng(seed * 1000 + i)
    noise = np.random.default_rng(seed * 1000 + i + 500)
    net = draw_theta(rng)
    # each kind of sensors its own observation model, one network
    theta_e = meg_theta(base.eeg, net)
    theta_m = meg_theta(base.meg, {**draw_theta(rng), **{k: net[k] for k in ("a", "f", "G", "velocity")}})
    psd = {"eeg": draw_psd(base.eeg, theta_e, noise), "meg": draw_psd(base.meg, theta_m, noise)}
    truth = {k: net[k] for k in SHARED}
    out = {"truth": truth}
    for modality, parts in FITS.items():
        twin = Twin("syn", modality=modality, connectome=con, random_state=i)
        post = twin.fit(session(geom, base, psd, parts)).states_[0].posterior
        iv = post.interval(0.9)
        out[modality] = {k: (truth[k], *iv[k], float(post.sd[post.names.index(k)])) for k in SHARED}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sensors", choices=("subset", "all"), default="subset")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[3] / "shared" / "data"))
    args = parser.parse_args()
    neurotwin.set_log_level("error")
    from neurotwin.twin.objectives import EegMegObjective

    geom, con = geometry(Path(args.data), args.sensors)
    base = EegMegObjective.build(geom, con, Twin("syn", modality="eeg+meg", connectome=con))
    n_e, n_m = len(base.eeg.channels), len(base.meg.channels)
    print(
        f"neurotwin {neurotwin.__version__}: one network seen by EEG and MEG (seed {args.seed}); "
        f"the MNE sample person's {n_e} EEG electrodes and {n_m} MEG sensors, TVB's 76 regions"
    )
    t0 = time.perf_counter()
    res = [patient(i, args.seed, geom, con, base) for i in range(args.patients)]
    print(f"{args.patients} synthetic patients, {(time.perf_counter() - t0) / args.patients:.1f} s each")
    for modality in FITS:
        print(f"{modality} twin:")
        for k in SHARED:
            _line(k, [r[modality][k][:4] for r in res], k != "f")
    print("the value of the second kind of sensors: posterior sd, both / one alone (min / median / max)")
    for k in SHARED:
        both = np.array([r["eeg+meg"][k][4] for r in res])
        ratios = [both / np.array([r[m][k][4] for r in res]) for m in ("eeg", "meg")]
        print(f"  {k:<3} both / EEG alone {_mmm(ratios[0])}    both / MEG alone {_mmm(ratios[1])}")


if __name__ == "__main__":
    main()
