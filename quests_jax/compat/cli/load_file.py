"""``quests.cli.load_file``: descriptors of a structure file, as the reference's
command line (and its author's analysis scripts) load them."""

from __future__ import annotations

import numpy as np
from ase.io import read

from ..descriptor import get_descriptors
from ..tools.time import Timer


def descriptors_from_file(file, k, cutoff):
    """(descriptors (N, 2k - 1) float64, seconds spent): a ``.npz`` file as saved by
    ``make_descriptors`` is loaded; any other file is read with ASE and described."""
    if file.endswith(".npz"):
        with Timer() as t, open(file, "rb") as f:
            x = np.load(f)
            if isinstance(x, np.lib.npyio.NpzFile):  # a real zip: the reference keeps it open
                x = {key: x[key] for key in x.files}
        return x, t.time
    dset = read(file, index=":")
    with Timer() as t:
        x = get_descriptors(dset, k=k, cutoff=cutoff)
    return x, t.time


def descriptors_from_traj(file, k, cutoff):
    """(a list of each frame's descriptors, the frames, seconds spent describing): the
    frames are described together (one call, the same rows as frame by frame)."""
    dset = read(file, index=":")
    with Timer() as t:
        x = get_descriptors(dset, k=k, cutoff=cutoff)
        x = np.split(x, np.cumsum([len(frame) for frame in dset])[:-1])
    return x, dset, t.time
