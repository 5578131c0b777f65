"""What objectives made of parts share: a part's view of the twin, and a part a session lacks.

A joint objective (:mod:`.joint`: a sensor spectrum and BOLD) and the
EEG + MEG one (:mod:`.sensors`) build each part from the session's features
with the part's own objective, which reads its settings and its own first
state from :func:`part_twin`. A part the session has no features of keeps
its parameters at their prior (the previous state's), laid out by the
first state's record of it (:class:`Layout`, :func:`part_record`).

Examples
--------
>>> import numpy as np
>>> from neurotwin.twin.inference import Prior
>>> from neurotwin.twin.objectives.parts import Layout, part_record
>>> from types import SimpleNamespace
>>> part = SimpleNamespace(prior=Prior(["f"], ["identity"], np.array([10.0]), np.array([2.0])),
...                        summary={"channels": ["Oz"]})
>>> Layout(part_record(part)).n_params
1
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..inference import Prior

__all__ = ["Layout", "PartTwin", "build_parts", "part_record", "part_twin", "sub_prior"]


class PartTwin(SimpleNamespace):
    """What a part's ``build`` reads of its twin: settings, the lead-field cache, the first state."""


def part_twin(twin, part: str) -> PartTwin:
    """The twin as part ``part`` sees it: the same settings, its own record of the first state."""
    first = twin.states_[0] if twin.states_ else None
    states = [] if first is None else [SimpleNamespace(features=first.features["parts"][part])]
    return PartTwin(
        states_=states,
        _cache=twin._cache,
        head=twin.head,
        anatomy=getattr(twin, "anatomy", None),
        effective_connectivity=twin.effective_connectivity,
        subject=twin.subject,
        population=getattr(twin, "population", None),
    )


def part_record(part) -> dict:
    """A built part's summary with its prior's layout (what :class:`Layout` reads back); a
    :class:`Layout`'s own record."""
    if isinstance(part, Layout):
        return part.summary
    pr = part.prior
    record = {
        **part.summary,
        "prior": {
            "names": list(pr.names),
            "transforms": list(pr.transforms),
            "mean": [float(x) for x in pr.mean],
            "sd": [float(x) for x in pr.sd],
        },
        "n_extra": int(getattr(part, "n_extra", 0)),
    }
    if getattr(part, "regions", None) is not None:
        record["regions"] = list(part.regions)
    return record


class Layout:
    """A part's parameters when it has no features in a session (from the first state's record)."""

    def __init__(self, stored: dict):
        p = stored["prior"]
        self.prior = Prior(p["names"], p["transforms"], np.asarray(p["mean"]), np.asarray(p["sd"]))
        self.n_extra = int(stored.get("n_extra", 0))
        self.n_params = len(p["names"]) + self.n_extra
        self.regions = stored.get("regions")
        self.summary = stored


def sub_prior(prior: Prior, index, names=None) -> Prior:
    """The prior of the parameters at ``index`` (independent: the sds; ``names`` renames them)."""
    index = np.asarray(index, int)
    return Prior(
        list(names) if names is not None else [prior.names[i] for i in index],
        [prior.transforms[i] for i in index],
        np.asarray(prior.mean, float)[index],
        np.asarray(prior.sd, float)[index],
    )


def build_parts(classes: dict, present, features, connectome, twin, view=None) -> dict:
    """Each part's objective (``classes``: part -> objective class): built from the features when the
    session has it (``view(features, part)``: what the part reads of them), else laid out by the
    first state's record of it."""
    first = twin.states_[0] if twin.states_ else None
    view = view or (lambda fs, m: fs)
    return {
        m: cls.build(view(features, m), connectome, part_twin(twin, m))
        if m in present
        else Layout(first.features["parts"][m])
        for m, cls in classes.items()
    }
