"""Synthetic recordings with known truth, and the sample study."""

from .meg import make_meg_sensors, make_resting_meg
from .sample import SAMPLE_TRUTH, make_sample_study, sample_data_path
from .synthetic import (
    CHANNELS_1020,
    hopf_ou_timeseries,
    make_connectome,
    make_resting_bold,
    make_resting_eeg,
    write_tvb_zip,
)

__all__ = [
    "CHANNELS_1020",
    "SAMPLE_TRUTH",
    "hopf_ou_timeseries",
    "make_connectome",
    "make_meg_sensors",
    "make_resting_bold",
    "make_resting_eeg",
    "make_resting_meg",
    "make_sample_study",
    "sample_data_path",
    "write_tvb_zip",
]
