"""The sample study shipped in ``sample_data/`` and the code that makes it.

Three subjects x three sessions of synthetic eyes-closed resting EEG
(:func:`~neurotwin.datasets.make_resting_eeg`: 1/f background, posterior
alpha, 50 Hz mains, blinks on VEOG, one bad channel each) written as a BIDS
dataset with mne-bids, and one T1 per subject copied from the small
anatomical image that ships in nibabel's wheel (the same anatomy for all
three; it is a placeholder for structural steps, not a real person's MRI),
and a synthetic 40-region connectome per subject
(``derivatives/connectomes/``, :func:`~neurotwin.datasets.make_connectome`)
for the twins, since the study has no diffusion data.

Subject ``01`` also has resting BOLD at sessions 01 and 03
(:func:`~neurotwin.datasets.make_resting_bold`: the linear Hopf network of
its connectome, 400 volumes at TR 2 s (13 min), in 2 x 2 x 2-voxel regions of a
synthetic label volume ``anat/*_desc-synthetic_dseg.nii.gz`` of each of
those sessions, with a ``_dseg.tsv`` naming them as the connectome does),
and 30 s of resting MEG at every session
(:func:`~neurotwin.datasets.make_resting_meg`: 8 sites of a synthetic
helmet, drawn from the MEG twin's model of the same connectome, whose
regions carry orientations), so its twin is one EEG + MEG + BOLD twin whose
states keep the regional volumes (``mri_structural``) of their session. Its
EEG is simulated independently of that network (the sample shows the
plumbing; it is not a validation of the joint model).

Subject ``02`` is the longitudinal case: its alpha peak slows from 10.0 to
9.0 Hz over the three sessions, 90 days apart. The others stay within
0.1 Hz of their own alpha frequency.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .._docs import fill_doc
from .._logging import logger, verbose
from ..errors import DataError, MissingFileError
from .synthetic import _CSF, _WM, make_connectome, make_resting_bold, make_resting_eeg, write_tvb_zip

__all__ = ["make_sample_study", "sample_data_path", "SAMPLE_TRUTH"]

#: Ground truth of the sample study: (subject, session) -> parameters.
SAMPLE_TRUTH: dict[tuple[str, str], dict] = {}
_SUBJECTS = {  # subject: (alpha per session, aperiodic exponent, bad channel, sex, age)
    "01": ((10.4, 10.5, 10.4), 1.4, "T7", "F", 34),
    "02": ((10.0, 9.5, 9.0), 1.6, "P8", "M", 67),
    "03": ((9.8, 9.7, 9.8), 1.5, "F8", "F", 45),
}
for _sub, (_alphas, _chi, _bad, _sex, _age) in _SUBJECTS.items():
    for _i, _a in enumerate(_alphas):
        SAMPLE_TRUTH[(_sub, f"{_i + 1:02d}")] = {
            "alpha_freq": _a,
            "aperiodic_exponent": _chi,
            "bad_channel": _bad,
            "days": 90 * _i,
        }

#: subject: the sessions with resting MEG (30 s, 8 sensor sites of a synthetic helmet)
_MEG = {"01": ("01", "02", "03")}
for _ses in _MEG["01"]:
    SAMPLE_TRUTH[("01", _ses)]["meg"] = {"f": SAMPLE_TRUTH[("01", _ses)]["alpha_freq"]}
#: subject: the sessions with resting BOLD (the simulated network's damping and coupling)
_BOLD = {"01": ("01", "03")}
_BOLD_NETWORK = {"a": -0.05, "coupling": 0.05, "n_volumes": 400}
for _ses in _BOLD["01"]:
    SAMPLE_TRUTH[("01", _ses)]["bold"] = {"a": _BOLD_NETWORK["a"], "G": _BOLD_NETWORK["coupling"]}

_SFREQ, _DURATION = 128.0, 60.0
_FIRST_DATE = dt.datetime(2000, 1, 10, 9, 0, tzinfo=dt.UTC)


@fill_doc
@verbose
def make_sample_study(
    out_dir: str | os.PathLike, *, overwrite: bool = False, verbose: bool | str | int | None = None
) -> Path:
    """Write the sample BIDS study (deterministic: same bytes every time).

    Parameters
    ----------
    out_dir : str | os.PathLike
        Folder to create (must not exist unless ``overwrite``).
    overwrite : bool
        Replace an existing folder.
    %(verbose)s

    Returns
    -------
    out_dir : pathlib.Path
        The study root.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neurotwin.datasets import make_sample_study
    >>> root = make_sample_study(pathlib.Path(tempfile.mkdtemp()) / "study")
    >>> sorted(p.name for p in root.glob("sub-*"))
    ['sub-01', 'sub-02', 'sub-03']
    """
    import nibabel as nib
    from mne_bids import BIDSPath, make_dataset_description, write_anat, write_raw_bids

    out_dir = Path(out_dir)
    if out_dir.exists():
        if not overwrite:
            raise DataError(f"{out_dir}: exists; pass overwrite=True to replace it.")
        shutil.rmtree(out_dir)
    t1_src = Path(nib.__file__).parent / "tests" / "data" / "anatomical.nii"
    if not t1_src.is_file():
        raise MissingFileError(f"{t1_src}: nibabel's bundled test image is missing; reinstall nibabel.")
    # build in a temporary folder next to the target, then move into place
    tmp = Path(tempfile.mkdtemp(prefix=".sample-", dir=out_dir.parent if out_dir.parent.exists() else None))
    root = tmp / "study"
    for k, (sub, (alphas, chi, bad, sex, age)) in enumerate(_SUBJECTS.items()):
        for i, alpha in enumerate(alphas):
            ses = f"{i + 1:02d}"
            raw = make_resting_eeg(
                duration=_DURATION,
                sfreq=_SFREQ,
                alpha_freq=alpha,
                aperiodic_exponent=chi,
                bad_channels=(bad,),
                random_state=1000 * (k + 1) + i,
            )
            date = _FIRST_DATE + dt.timedelta(days=SAMPLE_TRUTH[(sub, ses)]["days"])
            raw.set_meas_date(date)
            birthday = dt.date(date.year - age, 1, 1)
            with raw.info._unlock():
                raw.info["subject_info"] = {"sex": 2 if sex == "F" else 1, "hand": 1, "birthday": birthday}
            bp = BIDSPath(subject=sub, session=ses, task="rest", datatype="eeg", root=root)
            write_raw_bids(raw, bp, format="EDF", allow_preload=True, overwrite=True, verbose="error")
        anat = BIDSPath(
            subject=sub, session="01", datatype="anat", suffix="T1w", extension=".nii.gz", root=root
        )
        write_anat(nib.load(t1_src), anat, overwrite=True, verbose="error")
        # no diffusion data: a synthetic connectome stands in for the subject's own (the twin uses it)
        con_dir = root / "derivatives" / "connectomes" / f"sub-{sub}"
        con_dir.mkdir(parents=True, exist_ok=True)
        # (sub-01's regions also have orientations: its MEG sees the network through them)
        con = make_connectome(40, random_state=k, orientations=sub in _MEG)
        write_tvb_zip(con, con_dir / f"sub-{sub}_desc-synthetic_connectome.zip")
        for i, ses in enumerate(_MEG.get(sub, ())):
            _write_meg(root, sub, ses, con, age=age, sex=sex, random_state=10 * (k + 1) + i)
        for i, ses in enumerate(_BOLD.get(sub, ())):
            _write_bold(root, sub, ses, con, random_state=100 * (k + 1) + i)
    make_dataset_description(
        path=root,
        name="neurotwin sample study (synthetic)",
        dataset_type="raw",
        authors=["neurotwin developers"],
        overwrite=True,
        verbose="error",
        generated_by=[{"Name": "neurotwin.datasets.make_sample_study"}],
    )
    (root / "README").write_text(
        "Synthetic resting EEG made by neurotwin.datasets.make_sample_study (deterministic).\n"
        "sub-02's alpha slows from 10.0 to 9.0 Hz across sessions. T1 images are nibabel's\n"
        "bundled test image 'anatomical.nii' (same anatomy for every subject).\n"
        "sub-01 also has synthetic resting BOLD (ses-01, ses-03) of its connectome's network\n"
        "(derivatives/connectomes/), in the regions of its sessions' anat/*_desc-synthetic_dseg.nii.gz,\n"
        "and 30 s of resting MEG a session (a synthetic 8-site helmet) drawn from the MEG twin's\n"
        "model of that connectome (dipoles along its regions' orientations).\n"
    )
    shutil.move(str(root), str(out_dir))
    shutil.rmtree(tmp, ignore_errors=True)
    n_bytes = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    logger.info("Sample study written to %s (%.1f MB)", out_dir, n_bytes / 1e6)
    return out_dir


def _write_meg(root: Path, sub: str, ses: str, con, *, age: int, sex: str, random_state: int) -> None:
    """The session's resting MEG (FIF, 16-bit), drawn from the MEG twin's model of the connectome at
    the session's alpha frequency (:func:`~neurotwin.datasets.meg.make_resting_meg`)."""
    import mne
    from mne_bids import BIDSPath, write_raw_bids

    from .meg import make_resting_meg

    truth = SAMPLE_TRUTH[(sub, ses)]
    raw = make_resting_meg(con, alpha_freq=truth["meg"]["f"], n_sites=8, random_state=random_state)
    date = _FIRST_DATE + dt.timedelta(days=truth["days"])
    raw.set_meas_date(date)
    with raw.info._unlock():
        birthday = dt.date(date.year - age, 1, 1)
        raw.info["subject_info"] = {"sex": 2 if sex == "F" else 1, "hand": 1, "birthday": birthday}
    peak = np.abs(raw.get_data()).max(axis=1)
    with raw.info._unlock():  # 16 bits a sample: each channel's step is its peak / 2^14
        for ch, top in zip(raw.info["chs"], peak):
            ch["cal"], ch["range"] = float(top / 2**14), 1.0
    with tempfile.TemporaryDirectory() as tmp:  # mne-bids writes a FIF from a file
        path = Path(tmp) / "meg_raw.fif"
        raw.save(path, fmt="short", verbose="error")
        raw = mne.io.read_raw_fif(path, verbose="error")
        bp = BIDSPath(subject=sub, session=ses, task="rest", datatype="meg", root=root)
        write_raw_bids(raw, bp, overwrite=True, verbose="error")


def _write_bold(root: Path, sub: str, ses: str, con, *, random_state: int) -> None:
    """One resting BOLD run and its session's label volume of a sample subject; its row in scans.tsv."""
    import json

    import nibabel as nib

    bold, labels, names, _ = make_resting_bold(con, **_BOLD_NETWORK, random_state=random_state)
    func = root / f"sub-{sub}" / f"ses-{ses}" / "func"
    func.mkdir(parents=True, exist_ok=True)
    stem = f"sub-{sub}_ses-{ses}_task-rest_bold"
    nib.save(bold, func / f"{stem}.nii.gz")
    sidecar = {"TaskName": "rest", "RepetitionTime": float(bold.header.get_zooms()[3])}
    (func / f"{stem}.json").write_text(json.dumps(sidecar, indent=2) + "\n")
    # the same synthetic anatomy each session (its regional volumes join the twin's states)
    anat = root / f"sub-{sub}" / f"ses-{ses}" / "anat"
    anat.mkdir(parents=True, exist_ok=True)
    nib.save(labels, anat / f"sub-{sub}_ses-{ses}_desc-synthetic_dseg.nii.gz")
    names = {**names, _WM: "Cerebral-White-Matter", _CSF: "Ventricles-CSF"}
    rows = "".join(f"{i}\t{n}\n" for i, n in sorted(names.items()))
    (anat / f"sub-{sub}_ses-{ses}_desc-synthetic_dseg.tsv").write_text("index\tname\n" + rows)
    # acquired an hour after the EEG of the same session
    scans = root / f"sub-{sub}" / f"ses-{ses}" / f"sub-{sub}_ses-{ses}_scans.tsv"
    date = _FIRST_DATE + dt.timedelta(days=SAMPLE_TRUTH[(sub, ses)]["days"], hours=1)
    with open(scans, "a") as fh:
        fh.write(f"func/{stem}.nii.gz\t{date.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}\n")


def sample_data_path() -> Path:
    """Return the ``sample_data/`` folder of a neurotwin source checkout.

    Returns
    -------
    path : pathlib.Path
        The sample study root.

    Raises
    ------
    neurotwin.errors.MissingFileError
        If neurotwin was installed without its source tree; then make a copy
        with :func:`make_sample_study`.

    Examples
    --------
    >>> from neurotwin.datasets import sample_data_path
    >>> (sample_data_path() / "participants.tsv").is_file()
    True
    """
    path = Path(__file__).resolve().parents[2] / "sample_data"
    if not (path / "dataset_description.json").is_file():
        raise MissingFileError(
            f"{path}: no sample study here (neurotwin was installed without its "
            "source tree). Make one with neurotwin.datasets.make_sample_study(folder)."
        )
    return path
