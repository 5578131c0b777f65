"""Connectomes for the model: templates, weight normalisation, lesions.

The connectome type itself is :class:`neurotwin.io.Connectome` (read from
a subject's diffusion data or a template). TVB's 76- and 68-region
template connectomes come from the ``tvb-data`` package when it is
installed (``pip install "neurotwin[tvb]"``): it is GPL-3 data, so it is
never copied into neurotwin.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from .._validation import check_option, did_you_mean
from ..errors import ConfigError
from ..io import Connectome, read_connectome

__all__ = ["TEMPLATES", "lesion", "normalize_weights", "template_connectome"]

#: template name -> file inside the tvb_data package
TEMPLATES = {"tvb76": "connectivity/connectivity_76.zip", "tvb68": "connectivity/connectivity_68.zip"}


def template_connectome(name: str = "tvb76", *, tvb_data: str | os.PathLike | None = None) -> Connectome:
    """TVB's template connectome (76 or 68 regions), offline.

    Parameters
    ----------
    name : "tvb76" | "tvb68"
        Which template.
    tvb_data : path | None
        The ``tvb_data`` package folder; None finds the installed package.

    Returns
    -------
    connectome : Connectome

    Raises
    ------
    neurotwin.errors.ConfigError
        When ``tvb-data`` is not installed (naming the extra to install).

    Examples
    --------
    >>> from neurotwin.model import template_connectome
    >>> try:
    ...     n = template_connectome("tvb76").n_regions
    ... except Exception as err:  # tvb-data is an optional extra
    ...     n = 76 if "neurotwin[tvb]" in str(err) else None
    >>> n
    76
    """
    check_option(name, TEMPLATES, "name")
    if tvb_data is None:
        spec = importlib.util.find_spec("tvb_data")
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(
                f"the {name} template comes from the 'tvb-data' package (GPL-3 data, not "
                f'bundled): pip install "neurotwin[tvb]", or pass tvb_data= its folder, or '
                f"use the subject's own connectome (neurotwin.io.read_connectome)."
            )
        tvb_data = list(spec.submodule_search_locations)[0]
    path = Path(tvb_data) / TEMPLATES[name]
    con = read_connectome(path)
    return replace(
        con,
        name=name,
        centres=tvb_to_ras(con.centres),
        provenance={**con.provenance, "template": name, "source": "tvb-data", "frame": "RAS"},
    )


def tvb_to_ras(xyz: np.ndarray) -> np.ndarray:
    """TVB's template frame (x anterior, y left, z up; mm) to RAS (x right, y anterior, z up).

    TVB's default connectivity, cortex and EEG sensors share that frame:
    its ``rV1`` centre is at x = -70 mm, ``rPFCPOL`` at x = +79 mm, ``rA1``
    at y = -47 mm, and its sensor ``T8`` at y = -84 mm. MNE's head frame,
    into which the lead field places the sources, is RAS-like.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.model.connectome import tvb_to_ras
    >>> tvb_to_ras(np.array([[79.0, -15.0, -16.0]])).tolist()  # the right frontal pole
    [[15.0, 79.0, -16.0]]
    """
    xyz = np.asarray(xyz, float)
    return np.column_stack([-xyz[:, 1], xyz[:, 0], xyz[:, 2]])


def normalize_weights(con: Connectome, method: str = "max") -> Connectome:
    """A copy with rescaled weights.

    ``"max"``: largest weight 1; ``"sum"``: each region's input sums to 1
    (rows); ``"log"``: ``log1p(w)`` then max 1 (streamline counts span
    orders of magnitude); ``"none"``: unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.io import Connectome
    >>> from neurotwin.model import normalize_weights
    >>> w = normalize_weights(Connectome(np.array([[0, 2.0], [4.0, 0]]), directed=True), "sum").weights
    >>> w.sum(axis=1).tolist()
    [1.0, 1.0]
    """
    check_option(method, ("max", "sum", "log", "none"), "method")
    w = con.weights.astype(float)
    if method == "log":
        w = np.log1p(w)
    if method in ("max", "log") and w.max() > 0:
        w = w / w.max()
    elif method == "sum":
        s = w.sum(axis=1, keepdims=True)
        w = np.divide(w, s, out=np.zeros_like(w), where=s > 0)
    directed = con.directed or method == "sum"
    return replace(con, weights=w, directed=directed, provenance={**con.provenance, "normalized": method})


def region_index(con: Connectome, region) -> int:
    """The index of a region given by label or index (an error names the near labels).

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.io import Connectome
    >>> from neurotwin.model.connectome import region_index
    >>> region_index(Connectome(np.zeros((2, 2)), labels=["lV1", "rV1"]), "rV1")
    1
    """
    if isinstance(region, (int, np.integer)):
        if not 0 <= region < con.n_regions:
            raise ConfigError(f"region index {region} is outside 0..{con.n_regions - 1}.")
        return int(region)
    labels = list(con.labels) if con.labels else []
    if region not in labels:
        raise ConfigError(f"no region {region!r} in this connectome.{did_you_mean(str(region), labels)}")
    return labels.index(region)


def lesion(con: Connectome, regions=(), edges=()) -> Connectome:
    """A copy with regions disconnected and/or edges removed (for what-if simulations).

    Parameters
    ----------
    regions : sequence of str or int
        Regions (labels or indices) whose connections all go to zero.
    edges : sequence of (str or int, str or int)
        Connections to remove (both directions).

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.io import Connectome
    >>> from neurotwin.model import lesion
    >>> con = Connectome(np.ones((3, 3)) - np.eye(3), labels=["A", "B", "C"])
    >>> lesion(con, regions=["B"]).weights.sum(axis=0).tolist()
    [1.0, 0.0, 1.0]
    """

    def index(r):
        return region_index(con, r)

    w = con.weights.copy()
    for r in regions:
        i = index(r)
        w[i, :] = w[:, i] = 0.0
    for a, b in edges:
        i, j = index(a), index(b)
        w[i, j] = w[j, i] = 0.0
    done = {"regions": [str(r) for r in regions], "edges": [[str(a), str(b)] for a, b in edges]}
    return replace(con, weights=w, provenance={**con.provenance, "lesion": done})
