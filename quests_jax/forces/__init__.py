"""Entropy forces: information entropy and dH as differentiable functions of atomic
positions and the cell, for biased MD, metadynamics and structure generation.

* Collective variables: ``collective_variable``, ``CollectiveVariable``, ``KINDS``;
  their dH reductions, pure callables ``(dh, mask) -> ()``: ``Reduction`` (the base
  of your own), ``MeanDH``, ``SmoothMaxDH``, ``SumAboveDH``, ``CountAboveDH``,
  ``REDUCTIONS`` (by name), ``reduce_delta_entropy``.
* Forces and stress of any JAX energy: ``energy_forces``, ``energy_forces_stress``,
  ``voigt``.
* Structure generation by gradient ascent (extra: generate): ``optimize_structure``,
  ``OptimizationResult``, ``repulsion``.
* ASE: ``EntropyBiasCalculator``, ``with_bias`` (add the bias to any ASE calculator).
* Public submodules: ``jaxmd`` (bias energies in JAX-MD's conventions),
  ``metadynamics`` (well-tempered metadynamics in one ``lax.scan``).
"""

from . import jaxmd, metadynamics
from ._calculator import EntropyBiasCalculator, with_bias
from ._collective import (
    KINDS,
    REDUCTIONS,
    CollectiveVariable,
    CountAboveDH,
    MeanDH,
    Reduction,
    SmoothMaxDH,
    SumAboveDH,
    collective_variable,
    reduce_delta_entropy,
)
from ._mechanics import energy_forces, energy_forces_stress, voigt
from ._optimise import OptimizationResult, optimize_structure, repulsion

__all__ = [
    "KINDS",
    "REDUCTIONS",
    "CollectiveVariable",
    "CountAboveDH",
    "EntropyBiasCalculator",
    "MeanDH",
    "OptimizationResult",
    "Reduction",
    "SmoothMaxDH",
    "SumAboveDH",
    "collective_variable",
    "energy_forces",
    "energy_forces_stress",
    "jaxmd",
    "metadynamics",
    "optimize_structure",
    "reduce_delta_entropy",
    "repulsion",
    "voigt",
    "with_bias",
]
