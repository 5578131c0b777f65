"""Validation: does a regional volume's SE (``volumes`` feature) cover the partial-volume error?

Run from the repository root::

    python benchmarks/validation/volume_se.py       # needs ../shared/data (NEUROTWIN_SHARED_DATA)

The SE of :mod:`neurotwin.features.mri` is ``voxel volume x sqrt(n_boundary / 12)``:
boundary voxels' quantisation errors taken as independent. Two checks of
that against the spread it claims to be, each over the same object
sampled on shifted grids (nothing here is fitted):

* spheres of radius 4, 8 and 12 voxels whose centre moves within a voxel
  (300 draws each): SD of the voxel volume across positions;
* the MNE sample person's ``aseg.mgz`` (3 mm voxels) sampled every 2nd
  voxel at each of its 8 grid phases: SD of each region's volume across
  phases, for every region with at least 50 voxels at the coarse grid.

Printed: the ratio SD / predicted SE (1 when the SE is right; above 1: the
SE understates the quantisation error), min/median/max.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import nibabel as nib
import numpy as np

from neurotwin.pipeline.steps.mri import boundary_counts


def _spheres(rng) -> list[float]:
    ratios = []
    for r in (4, 8, 12):
        n = 2 * r + 6
        g = np.arange(n)
        x, y, z = np.meshgrid(g, g, g, indexing="ij")
        counts, nb = [], []
        for _ in range(300):
            c = n / 2 + rng.random(3)
            lab = (((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2) <= r * r).astype(int)
            counts.append(lab.sum())
            nb.append(boundary_counts(lab, 2)[1])
        ratio = np.std(counts) / np.sqrt(np.mean(nb) / 12)
        print(f"  sphere r={r:2d}: volume {np.mean(counts):7.0f} voxels, SD/SE {ratio:.2f}")
        ratios.append(ratio)
    return ratios


def _aseg(path: Path) -> list[float]:
    lab = np.asarray(nib.load(path).dataobj).astype(int)
    size = lab.max() + 1
    vols, nbs = [], []
    for o in itertools.product(range(2), repeat=3):
        sub = lab[o[0] :: 2, o[1] :: 2, o[2] :: 2]
        vols.append(np.bincount(sub.ravel(), minlength=size))
        nbs.append(boundary_counts(sub, size))
    vols, nbs = np.array(vols, float), np.array(nbs, float)
    keep = [i for i in range(1, size) if vols[:, i].mean() >= 50]
    ratios = [float(vols[:, i].std() / np.sqrt(nbs[:, i].mean() / 12)) for i in keep]
    print(f"  aseg: {len(keep)} regions, SD/SE per region " + " ".join(f"{x:.2f}" for x in ratios))
    return ratios


def main() -> None:
    rng = np.random.default_rng(0)
    print("spheres (centre moved within a voxel):")
    s = _spheres(rng)
    print(f"  SD/SE min/median/max {min(s):.2f}/{np.median(s):.2f}/{max(s):.2f}")
    root = Path(os.environ.get("NEUROTWIN_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared/data"))
    aseg = root / "mne-testing-data/subjects/sample/mri/aseg.mgz"
    if not aseg.is_file():
        print(f"no {aseg}: the real segmentation's check is skipped")
        return
    print("MNE sample aseg (every 2nd voxel, each of 8 grid phases):")
    a = _aseg(aseg)
    print(f"  SD/SE min/median/max {min(a):.2f}/{np.median(a):.2f}/{max(a):.2f}")


if __name__ == "__main__":
    main()
