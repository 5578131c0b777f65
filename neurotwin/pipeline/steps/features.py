"""The ``features`` step: a FeatureSet of the preprocessed recording."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ..._validation import did_you_mean
from ...errors import ConfigError
from ...features import FEATURES, compute_features
from ._base import Step


class Features(Step):
    """Compute features (:func:`neurotwin.features.compute_features`).

    Parameters
    ----------
    features : list of str
        Feature names; default: PSD, band power, IAF, aperiodic fit,
        spectral edge and theta/beta ratio.
    feature_params : dict
        ``{feature: {parameter: value}}`` overriding the defaults, e.g.
        ``feature_params = { iaf = { search = [7.0, 14.0] } }``.
    psd_method : "welch" | "multitaper"
        PSD estimator.
    n_per_seg : float
        Welch segment length in seconds.
    fmax : float
        Top of the PSD in Hz.
    n_blocks : int
        Contiguous blocks for the values' jackknife standard errors (the
        table's ``se``); 0 skips them (features then cost about 2.3x less).

    Examples
    --------
    >>> from neurotwin.datasets import make_resting_eeg
    >>> from neurotwin.pipeline.steps import Features
    >>> fs = Features(features=["band_power"]).apply(make_resting_eeg(duration=20, random_state=0))
    >>> sorted(set(fs.table["band"]))
    ['alpha', 'beta', 'delta', 'gamma', 'theta']
    """

    step: Literal["features"] = "features"
    accepts: ClassVar[tuple[str, ...]] = ("raw", "epochs", "timeseries", "table")
    produces: ClassVar[str | None] = "features"
    out_suffix: ClassVar[str | None] = "features"
    features: list[str] = Field(
        default_factory=lambda: ["psd", "band_power", "iaf", "aperiodic", "spectral_edge", "theta_beta"],
        min_length=1,
    )
    feature_params: dict[str, dict] = Field(default_factory=dict)
    psd_method: Literal["welch", "multitaper"] = "welch"
    n_per_seg: float = Field(2.0, gt=0)
    fmax: float = Field(45.0, gt=0)
    n_blocks: int = Field(10, ge=0)

    @field_validator("n_blocks")
    @classmethod
    def _blocks(cls, n):
        if n in (1, 2):
            raise ValueError("n_blocks must be 0 (no standard errors) or at least 3")
        return n

    @field_validator("features")
    @classmethod
    def _known(cls, names):
        for name in names:
            if name not in FEATURES:
                raise ValueError(
                    f"unknown feature {name!r}; features are {sorted(FEATURES)}."
                    f"{did_you_mean(name, FEATURES)}"
                )
        return names

    @model_validator(mode="after")
    def _params(self):
        """Feature parameters are checked when the pipeline is loaded (``neurotwin pipeline check``)."""
        for name, given in self.feature_params.items():
            if name not in FEATURES:
                raise ValueError(
                    f"feature_params names {name!r}, which is not a feature; features are "
                    f"{sorted(FEATURES)}.{did_you_mean(name, FEATURES)}"
                )
            if name not in self.features:
                raise ValueError(f"feature_params names {name!r}, which is not in features {self.features}")
            try:
                FEATURES[name].check_params(given)
            except ConfigError as err:
                raise ValueError(str(err)) from None
        return self

    def apply(self, data, log=None):
        fs = compute_features(
            data,
            self.features,
            params=self.feature_params,
            psd_method=self.psd_method,
            n_per_seg=self.n_per_seg,
            fmax=self.fmax,
            n_blocks=self.n_blocks,
        )
        if log is not None:
            log.update(n_values=len(fs), n_not_ok=int((fs.table["status"] != "ok").sum()))
        return fs
