"""Bad input gets a clear error naming the argument, before any computation."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

import quests_jax as qj
from conftest import cubic_cu

ATOMS = cubic_cu(2)


@pytest.mark.unchecked_types
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(k=0), ValueError, "k must be >= 1"),
        (dict(k=2.5), TypeError, "k must be an integer"),
        (dict(k=True), TypeError, "k must be an integer"),
        (dict(cutoff=0.0), ValueError, "cutoff must be a finite number > 0"),
        (dict(cutoff=-1.0), ValueError, "cutoff must be a finite number > 0"),
        (dict(cutoff=float("nan")), ValueError, "cutoff"),
    ],
)
def test_bad_configuration(kwargs, error, match):
    with pytest.raises(error, match=match):
        qj.descriptor(ATOMS.positions, ATOMS.cell.array, True, **kwargs)
    with pytest.raises(error, match=match):
        qj.get_descriptors([ATOMS], **kwargs)


@pytest.mark.unchecked_types
def test_bad_positions():
    bad = ATOMS.positions.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"positions has 1 atom\(s\) with NaN or infinite.*atom 3"):
        qj.descriptor(bad, ATOMS.cell.array, True)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="positions"):
        qj.descriptor(bad, ATOMS.cell.array, True)
    with pytest.raises(ValueError, match="positions is empty"):
        qj.descriptor(np.zeros((0, 3)), ATOMS.cell.array, True)
    with pytest.raises(ValueError, match=r"positions must have shape \(N, 3\)"):
        qj.descriptor(np.zeros((4, 2)), ATOMS.cell.array, True)


@pytest.mark.unchecked_types
def test_bad_cell():
    with pytest.raises(ValueError, match="cell has NaN"):
        qj.descriptor(ATOMS.positions, np.full((3, 3), np.nan), True)
    flat = ATOMS.cell.array.copy()
    flat[2] = flat[0] + flat[1]
    with pytest.raises(ValueError, match=r"cell is degenerate.*\[0, 1, 2\] span zero volume"):
        qj.descriptor(ATOMS.positions, flat, True)
    with pytest.raises(ValueError, match=r"cell vector 2 is zero but pbc\[2\] is True"):
        qj.descriptor(ATOMS.positions, np.diag([5.0, 5.0, 0.0]), True)
    # the same cell is fine where that axis is not periodic
    qj.descriptor(ATOMS.positions, np.diag([5.0, 5.0, 0.0]), (True, True, False))
    with pytest.raises(ValueError, match="zero area"):
        qj.descriptor(
            ATOMS.positions, np.array([[5.0, 0, 0], [10.0, 0, 0], [0, 0, 5]]), (True, True, False)
        )
    with pytest.raises(ValueError, match=r"cell must have shape \(3, 3\)"):
        qj.descriptor(ATOMS.positions, np.eye(2), True)


@pytest.mark.unchecked_types
def test_bad_pbc_and_mask():
    with pytest.raises(ValueError, match="pbc must be a bool or three bools"):
        qj.descriptor(ATOMS.positions, ATOMS.cell.array, (True, False))
    with pytest.raises(ValueError, match="atom_mask must have shape"):
        qj.descriptor(ATOMS.positions, ATOMS.cell.array, True, atom_mask=np.ones(3, bool))
    with pytest.raises(ValueError, match="atom_mask selects no atom"):
        qj.descriptor(ATOMS.positions, ATOMS.cell.array, True, atom_mask=np.zeros(len(ATOMS), bool))


def test_dataset_errors_name_the_frame_and_come_before_compute(monkeypatch):
    import quests_jax.describe._dataset as ds

    def fail(*a, **k):
        raise AssertionError("computed before validating")

    monkeypatch.setattr(ds, "_compute", fail)
    bad = ATOMS.copy()
    bad.positions[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"dset\[2\]: positions has 1 atom"):
        qj.get_descriptors([ATOMS, ATOMS, bad])
    with pytest.raises(ValueError, match=r"dset\[1\]: positions is empty"):
        qj.get_descriptors([ATOMS, Atoms()])
    with pytest.raises(ValueError, match="dset is empty"):
        qj.get_descriptors([])
    with pytest.raises(TypeError, match=r"dset\[0\] is not an ase.Atoms"):
        qj.get_descriptors([np.zeros((3, 3))])
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        qj.get_descriptors([ATOMS], dtype="float16")
    with pytest.raises(ValueError, match="species is empty"):
        qj.get_descriptors_multicomponent([ATOMS], species=[])


def test_the_suite_checks_public_signatures_and_shapes():
    """In the tests every public function checks its arguments against its
    annotations at each call (tests/conftest.py): shapes shared between arguments
    included (the width d of y and x), and a wrong type is caught before the library
    sees it. Without the checks the width mismatch below would reach the library's
    own validation."""
    from jaxtyping import TypeCheckError

    from conftest import CHECKED_FUNCTIONS

    assert CHECKED_FUNCTIONS >= 60  # every public face's functions
    y, x = np.zeros((3, 63), np.float32), np.zeros((4, 61), np.float32)
    with pytest.raises(TypeCheckError, match="delta_entropy"):
        qj.delta_entropy(y, x)
    with pytest.raises(TypeCheckError, match="batch_size"):
        qj.entropy(x, 0.015, batch_size="64")
    assert qj.entropy.__wrapped__.__module__ == "quests_jax.information._quantities"
