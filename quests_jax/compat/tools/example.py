# Copied from the reference package quests (quests/tools/example.py), whose licence
# follows: general helpers of its scripts and figures, not QUESTS computations, so
# that `quests.tools` imports keep working after `quests` -> `quests_jax.compat`.
#
# BSD 3-Clause License
#
# Copyright (c) 2024, Daniel Schwalbe-Koda, Lawrence Livermore National Security, LLC
# All rights reserved.
#
# Redistribution and use in source and binary forms, with or without
# modification, are permitted provided that the following conditions are met:
#
# * Redistributions of source code must retain the above copyright notice, this
#   list of conditions and the following disclaimer.
#
# * Redistributions in binary form must reproduce the above copyright notice,
#   this list of conditions and the following disclaimer in the documentation
#   and/or other materials provided with the distribution.
#
# * Neither the name of the copyright holder nor the names of its
#   contributors may be used to endorse or promote products derived from
#   this software without specific prior written permission.
#
# THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
# AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
# IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
# DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
# FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
# DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
# SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
# CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
# OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
# OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.

import random

import numpy as np
from ase.build import bulk, make_supercell


def get_reference_structures(frac=1.0, supercell=1):
    fcc = bulk("Cu", "fcc", a=frac * 3.58)
    bcc = bulk("Cu", "bcc", a=frac * 2.84)
    hcp = bulk("Cu", "hcp", a=frac * 2.53)

    if supercell > 1:
        fcc = make_supercell(fcc, np.eye(3) * supercell)
        bcc = make_supercell(bcc, np.eye(3) * supercell)
        hcp = make_supercell(hcp, np.eye(3) * supercell)

    return fcc, bcc, hcp


def get_noisy_structures(frac=1.0, noise=0.05, supercell_size=6):
    fcc, bcc, hcp = get_reference_structures(frac=frac)

    sfcc = make_supercell(fcc, supercell_size * np.eye(3))
    sbcc = make_supercell(bcc, supercell_size * np.eye(3))
    shcp = make_supercell(hcp, supercell_size * np.eye(3))

    sfcc.translate(noise * np.random.randn(len(sfcc), 3))
    sbcc.translate(noise * np.random.randn(len(sbcc), 3))
    shcp.translate(noise * np.random.randn(len(shcp), 3))

    return sfcc, sbcc, shcp


def get_multicomponent_structures(frac=1.0, supercell=1, ratio=0.5, seed: int | None = None):
    fcc = bulk("Au", "fcc", a=frac * 4.08)
    bcc = bulk("Au", "bcc", a=frac * 3.31)
    hcp = bulk("Au", "hcp", a=frac * 2.88)

    if supercell > 1:
        fcc = make_supercell(fcc, np.eye(3) * supercell)
        bcc = make_supercell(bcc, np.eye(3) * supercell)
        hcp = make_supercell(hcp, np.eye(3) * supercell)

    if seed is not None:
        random.seed(seed)

    for struct in [fcc, bcc, hcp]:
        indices = list(range(len(struct)))
        selected = random.sample(indices, k=int(ratio * len(struct)))
        for i in selected:
            struct[i].symbol = "Ag"

    return fcc, bcc, hcp
