"""An ASE calculator for the entropy bias, to add to any ASE calculator.

    from ase.calculators.emt import EMT
    from quests_jax.forces import EntropyBiasCalculator, with_bias

    bias = EntropyBiasCalculator(x_reference, kind="dH_mean", strength=-0.5, smooth=0.5)
    atoms.calc = with_bias(EMT(), bias)          # ASE's SumCalculator: EMT + bias
    VelocityVerlet(atoms, 1 * units.fs).run(1000)

The bias energy is ``strength * CV`` in eV (``strength`` in eV per nat; negative
rewards novelty), with forces and, for cells periodic along all three axes, the
stress (ASE's conventions, from one reverse pass: :mod:`quests_jax.forces._mechanics`). The CV
is a :class:`~quests_jax.forces.CollectiveVariable`; its static neighbour search
is planned on the first frame and re-planned whenever a frame changes size,
periodicity or outgrows it, so compiled code is reused along a trajectory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.calculators.mixing import SumCalculator

from .._core.array_types import Rows
from .._core.errors import InputTypeError, InputValueError
from .._core.retry import until_it_fits
from ._collective import collective_variable
from ._mechanics import energy_forces, energy_forces_stress, voigt


@eqx.filter_jit
def _evaluate(cv, positions, cell, with_stress: bool):
    if with_stress:
        return energy_forces_stress(cv, positions, cell)
    return (*energy_forces(cv, positions, cell), None)


class EntropyBiasCalculator(Calculator):
    """Energy, forces and stress of ``strength * CV`` for ASE (see the module docstring).

    Args:
        reference: (n_ref, 2k - 1) descriptors (for ``kind="entropy"``: the dataset the
            frame joins, or None for the frame's own entropy). Make them with the same
            ``k``, ``cutoff`` and ``smooth``.
        strength: eV per nat.
        dtype: "float32" (default) or "float64" (needs ``jax_enable_x64``).

    ``kind``, ``smooth`` and the other keywords (``h``, ``k``, ``cutoff``,
    ``features``, ...) are those of the CV, passed to
    :func:`quests_jax.collective_variable`; ``smooth`` defaults to 0.5 A, the
    continuous descriptor. ``kind`` is a name or a reduction, e.g.
    ``CountAboveDH(threshold=2.0)``.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(
        self,
        reference: Rows | None = None,
        *,
        kind: str | Callable = "dH_mean",
        strength: float = -0.1,
        smooth: float | None = 0.5,
        dtype: str = "float32",
        **cv_options: Any,
    ):
        super().__init__()
        if not np.isfinite(strength):
            raise InputValueError(f"strength must be a finite number (eV per nat), got {strength}")
        if dtype not in ("float32", "float64"):
            raise InputValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.dtype = np.dtype(dtype)
        self.reference = None if reference is None else np.asarray(reference, self.dtype)
        self.strength = float(strength)
        self.cv_options: dict[str, Any] = dict(cv_options, reference=self.reference, smooth=smooth)
        self.kind = kind
        self.cv = None
        self._signature = None
        # check the options now (on a dummy frame), not at the first MD step
        collective_variable(kind, np.zeros((1, 3)), np.zeros((3, 3)), False, **self.cv_options)

    def _cv_for(self, positions, cell, pbc):
        signature = (len(positions), tuple(bool(p) for p in pbc))
        if self.cv is None or signature != self._signature:
            self.cv = collective_variable(self.kind, positions, cell, pbc, **self.cv_options)
            self._signature = signature
        return self.cv

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        pbc = tuple(bool(p) for p in self.atoms.pbc)
        with_stress = "stress" in properties
        if with_stress and not all(pbc):
            raise PropertyNotImplementedError("stress needs a cell periodic along all three axes")
        positions = np.asarray(self.atoms.positions)
        cell = np.asarray(self.atoms.cell[:])
        cv = self._cv_for(positions, cell, pbc)
        r, c = jnp.asarray(positions, self.dtype), jnp.asarray(cell, self.dtype)
        # a frame that outgrew the neighbour search gets one sized for it
        cv, _ = until_it_fits(
            lambda cv: (cv, bool(cv.overflow(r, c))),
            cv,
            lambda cv: cv.replanned(positions, cell),
            what="the neighbour search",
        )
        self.cv = cv
        value, forces, stress = _evaluate(cv, r, c, with_stress)
        energy = self.strength * float(value)
        self.results["energy"] = self.results["free_energy"] = energy
        self.results["forces"] = self.strength * np.asarray(forces, np.float64)
        if with_stress:
            self.results["stress"] = self.strength * np.asarray(voigt(stress), np.float64)


def with_bias(calculator: Calculator, bias: EntropyBiasCalculator) -> SumCalculator:
    """``calculator`` + ``bias`` as one ASE calculator (ASE's ``SumCalculator``)."""
    if not isinstance(bias, EntropyBiasCalculator):
        raise InputTypeError(f"bias must be an EntropyBiasCalculator, got {type(bias).__name__}")
    return SumCalculator([calculator, bias])
