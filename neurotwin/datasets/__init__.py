"""Synthetic recordings with known truth, and the sample study."""

from .sample import SAMPLE_TRUTH, make_sample_study, sample_data_path
from .synthetic import CHANNELS_1020, make_resting_eeg

__all__ = ["CHANNELS_1020", "SAMPLE_TRUTH", "make_resting_eeg", "make_sample_study", "sample_data_path"]
