"""Rebuild ``sample_data/`` (deterministic: the same bytes every run).

Usage: ``python sample_data/make_sample_data.py``. See
:func:`neurotwin.datasets.make_sample_study` for what the study holds.
"""

from pathlib import Path

from neurotwin.datasets import make_sample_study

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    study = here / "study.tmp"
    make_sample_study(study, overwrite=True, verbose=True)
    # keep this script: replace everything else in sample_data/
    for item in here.iterdir():
        if item.name not in {"make_sample_data.py", "study.tmp"}:
            if item.is_dir():
                import shutil

                shutil.rmtree(item)
            else:
                item.unlink()
    for item in study.iterdir():
        item.rename(here / item.name)
    study.rmdir()
