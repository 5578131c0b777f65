"""Loaders: EEG/MEG/iEEG to :class:`mne.io.Raw`, MRI to nibabel images,
connectomes to :class:`Connectome`, datasets to :class:`Study`."""

from ._registry import (
    ReaderSpec,
    find_reader,
    match_reader,
    register_reader,
    registered_readers,
    supported_formats,
)
from .bids import Study, discover_study
from .channels import infer_channel_type, normalize_name, standard_montage, standardize_channels
from .connectome import Connectome, read_connectome
from .deidentify import annotation_kept, deidentify_raw, scrub_participants
from .derivatives import Derivatives
from .mri import MRIInfo, freesurfer_lut, inspect_mri, read_mri
from .raw import read_eeg, read_meg, read_raw
from .timeseries import RegionTimeseries, read_timeseries

__all__ = [
    "Connectome",
    "Derivatives",
    "MRIInfo",
    "ReaderSpec",
    "RegionTimeseries",
    "Study",
    "annotation_kept",
    "deidentify_raw",
    "discover_study",
    "find_reader",
    "freesurfer_lut",
    "match_reader",
    "infer_channel_type",
    "inspect_mri",
    "normalize_name",
    "read_connectome",
    "read_eeg",
    "read_meg",
    "read_mri",
    "read_raw",
    "read_timeseries",
    "register_reader",
    "registered_readers",
    "scrub_participants",
    "standard_montage",
    "standardize_channels",
    "supported_formats",
]
