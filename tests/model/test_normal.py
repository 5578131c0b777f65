"""The compiled engine's Gaussian draws against NumPy's SFC64 ``standard_normal``."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from neurotwin.model import _normal


@pytest.mark.parametrize("seed", [0, 7, 2**40 + 3])
def test_compiled_normals_are_numpys(seed):
    """Same values (to the tables' rounding) and the same generator state afterwards, tails included."""
    ki, wi, fi = _normal.tables()
    normal, fill = _normal.compiled()
    generator = np.random.Generator(np.random.SFC64(seed))
    words = _normal.state_of(generator)
    ref = generator.standard_normal(1_000_000)
    out = np.empty(1_000_000)
    fill(words, out, ki, wi, fi)
    assert (np.abs(ref) > _normal.R).sum() > 100  # the tail and wedge paths ran
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(words, _normal.state_of(generator))  # every 64-bit draw consumed alike
    # and the generator continues from the kernel's state
    other = np.random.Generator(np.random.SFC64(seed))
    other.standard_normal(1_000_000)
    _normal.set_state(other, words)
    np.testing.assert_array_equal(other.standard_normal(5), generator.standard_normal(5))


def test_tables_describe_the_normal_ziggurat():
    ki, wi, fi = _normal.tables()
    x = wi * 2.0**52  # layer edges, from the top (layer 255 is R)
    assert x[255] == pytest.approx(_normal.R) and np.all(np.diff(x[1:]) > 0)
    np.testing.assert_allclose(fi[1:], np.exp(-0.5 * x[1:] ** 2), rtol=1e-15)
    assert ki[1] == 0 and np.all(ki[2:] < 2**52)
