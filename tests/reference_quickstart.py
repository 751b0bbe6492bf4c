# ruff: noqa: E501
"""The python code blocks of the reference's docs/quickstart.rst (github.com/dskoda/quests,
commit 81446fb, BSD-3-Clause, Copyright (c) 2024 Daniel Schwalbe-Koda, Lawrence Livermore
National Security, LLC), copied verbatim for tests/test_compat.py: the installed
distribution carries only its README."""

QUICKSTART_BLOCKS = [
    'from ase.io import read\nfrom quests.descriptor import get_descriptors\n\n# Load your dataset with ASE\ndset = read("dataset.xyz", index=":")\n\n# create descriptors with k=32 neighbors and a cutoff of 5 Å\nx = get_descriptors(dset, k=32, cutoff=5.0)\n',
    'from ase.io import read\nfrom quests.descriptor import get_descriptors\n\n# Load your dataset with ASE\ndset = read("dataset.xyz", index=":")\n\n# create descriptors with k=32 neighbors and a cutoff of 5 Å\nxs = [\n    x = get_descriptors(atoms, k=32, cutoff=5.0)\n    for atoms in dset\n]\n',
    "from quests.entropy import perfect_entropy, diversity\n\nh = 0.015\nbatch_size = 10000\nH = perfect_entropy(x, h=h, batch_size=batch_size)\nD = diversity(x, h=h, batch_size=batch_size)\n",
    'from ase.io import read\nfrom quests.descriptor import get_descriptors\nfrom quests.entropy import delta_entropy\n\ndset_x = read("reference.xyz", index=":")\ndset_y = read("test.xyz", index=":")\n\nk, cutoff = 32, 5.0\nx = get_descriptors(dset_x, k=k, cutoff=cutoff)\ny = get_descriptors(dset_y, k=k, cutoff=cutoff)\n\n# computes dH (Y | X)\ndH = delta_entropy(y, x, h=0.015)\n',
    'from ase.io import read\nfrom quests.descriptor import get_descriptors\nfrom quests.entropy import approx_delta_entropy\n\ndset_x = read("reference.xyz", index=":")\ndset_y = read("test.xyz", index=":")\n\nk, cutoff = 32, 5.0\nx = get_descriptors(dset_x, k=k, cutoff=cutoff)\ny = get_descriptors(dset_y, k=k, cutoff=cutoff)\n\n# approximates dH (Y | X)\n# n = 5 and graph_neighbors = 10 are arguments for\n# pynndescent, which performs an approximate nearest\n# neighbor search for dH\ndH = approx_delta_entropy(y, x, h=0.015, n=5, graph_neighbors=10)\n',
    "dH = delta_entropy(y, x, h=0.015)\neps = 1e-5\noverlap = (delta < dH).mean()\n",
    'import torch\nfrom ase.io import read\nfrom quests.descriptor import get_descriptors\nfrom quests.gpu.entropy import perfect_entropy\n\ndset = read("dataset.xyz", index=":")\nx = get_descriptors(dset, k=32, cutoff=5.0)\nx = torch.tensor(x, device="cuda")\nh = 0.015\nbatch_size = 10000\nH = perfect_entropy(x, h=h, batch_size=batch_size)\n',
]
