"""Reproducible HTML reports: one per patient (sessions, preprocessing, features, twin, longitudinal view)
and one per study, each ending with provenance and a generated methods section.

Examples
--------
>>> from neurotwin.report import subject_report, study_report
>>> callable(subject_report) and callable(study_report)
True
"""

from .study import study_report
from .subject import subject_report

__all__ = ["study_report", "subject_report"]
