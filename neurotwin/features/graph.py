"""Graph measures of a connectivity matrix (weighted, undirected).

Strength and the weighted clustering coefficient (Onnela et al. 2005)
come from networkx; shortest paths from SciPy's Dijkstra on lengths
1/w, giving the characteristic path length and the weighted global
efficiency (Rubinov & Sporns 2010: networkx's ``global_efficiency`` is
unweighted only, so that mean of inverse distances is computed here);
modularity from networkx's Louvain communities (seeded). Negative weights
(anti-correlations) count as no connection.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .context import DEFAULT_BANDS, Context
from .registry import register_feature


def graph_measures(w: np.ndarray, seed: int = 0) -> dict:
    """Strength, clustering (per node), path length, efficiency, modularity of ``w``.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.features.graph import graph_measures
    >>> g = graph_measures(np.ones((4, 4)) - np.eye(4))
    >>> g["efficiency"], g["path_length"], g["strength"].tolist()
    (1.0, 1.0, [3.0, 3.0, 3.0, 3.0])
    """
    import networkx as nx
    from scipy.sparse.csgraph import shortest_path

    w = np.array(w, dtype=float)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or not np.isfinite(w).all():
        raise DataError(f"graph measures need a finite square matrix, got shape {w.shape}.")
    w = np.clip((w + w.T) / 2, 0, None)
    np.fill_diagonal(w, 0.0)
    n = len(w)
    graph = nx.from_numpy_array(w)
    clustering = nx.clustering(graph, weight="weight")
    with np.errstate(divide="ignore"):
        lengths = np.where(w > 0, 1.0 / w, 0.0)
    dist = shortest_path(lengths, method="D", directed=False)
    off = ~np.eye(n, dtype=bool)
    finite = np.isfinite(dist) & off
    path_length = float(dist[finite].mean()) if finite.any() else np.inf
    with np.errstate(divide="ignore"):
        inv = np.where(off, 1.0 / dist, 0.0)
    efficiency = float(inv[off].mean()) if n > 1 else 0.0
    if w.sum() > 0:
        communities = nx.community.louvain_communities(graph, weight="weight", seed=seed)
        modularity = float(nx.community.modularity(graph, communities, weight="weight"))
    else:
        communities, modularity = [], np.nan
    return {
        "strength": w.sum(axis=1),
        "clustering": np.array([clustering[i] for i in range(n)]),
        "path_length": path_length,
        "efficiency": efficiency,
        "modularity": modularity,
        "n_communities": len(communities),
    }


def _matrix(ctx: Context, method: str, band: str):
    from .connectivity import bold_fc, connectivity, envelope_correlation

    key = ("matrix", method, band)
    if key not in ctx.cache:
        if method.startswith("fc_"):
            _, arrays = bold_fc(ctx, kinds=[method[3:].replace("_", " ")])
            name = method
        elif method == "aec_orth":
            _, arrays = envelope_correlation(ctx, bands={band: DEFAULT_BANDS[band]})
            name = f"{method}_{band}"
        else:
            _, arrays = connectivity(ctx, methods=[method], bands={band: DEFAULT_BANDS[band]})
            name = f"{method}_{band}"
        ctx.cache[key] = arrays[name]
    return ctx.cache[key]


@register_feature(
    "graph",
    modality=("eeg", "meg", "bold"),
    unit="data",
    params={"method": "wpli2_debiased", "band": "alpha", "seed": 0},
    choices={
        "method": (
            "coh",
            "imcoh",
            "plv",
            "pli",
            "wpli2_debiased",
            "aec_orth",
            "fc_correlation",
            "fc_partial_correlation",
        ),
        "band": ("", *DEFAULT_BANDS),
    },  # "": none (BOLD FC)
    doc="Strength, clustering, path length, efficiency, modularity of a connectivity graph.",
    se="epochs",
)
def graph(ctx: Context, method="wpli2_debiased", band="alpha", seed=0) -> list[dict]:
    """Graph measures of one connectivity matrix (a method and band; ``fc_*`` for BOLD)."""
    arr = _matrix(ctx, method, band)
    names = arr.coords[arr.dims[0]]
    g = graph_measures(arr.values, seed=seed)
    tag = f"{method}_{band}" if band else method
    rows = [
        {"feature": "strength", "location": n, "band": tag, "value": v, "unit": "1"}
        for n, v in zip(names, g["strength"])
    ]
    rows += [
        {"feature": "clustering", "location": n, "band": tag, "value": v, "unit": "1"}
        for n, v in zip(names, g["clustering"])
    ]
    for feat in ("path_length", "efficiency", "modularity"):
        ok = np.isfinite(g[feat])
        rows.append(
            {
                "feature": feat,
                "location": "global",
                "band": tag,
                "value": g[feat],
                "unit": "1",
                "status": "ok" if ok else "not computable: disconnected or empty graph",
            }
        )
    return rows
