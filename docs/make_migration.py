"""Write docs/migration.md: every public name of the reference package `quests` and
where it lives in quests_jax (or why it does not), from both packages as installed.

    python docs/make_migration.py            # rewrites docs/migration.md
    python docs/make_migration.py --check    # exit 1 if docs/migration.md is stale

Public names: the functions, classes and click commands a module of `quests`
defines, and its UPPER_CASE constants. Every module of the reference's tree must
import from quests_jax.compat (the script fails otherwise). Modules that need packages not installed
here (torch for `quests.gpu`, ray for `quests.compression.parallel`) are read from
their source.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import pkgutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "migration.md")

# Where the JAX-first native API has the same job (not a complete list: the compat
# layer covers everything it provides).
NATIVE = {
    "descriptor.get_descriptors": "quests_jax.get_descriptors (float32 by default)",
    "descriptor.get_descriptors_multicomponent": "quests_jax.get_descriptors_multicomponent",
    "descriptor.descriptor_pbc": "quests_jax.descriptor (one frame; jit / vmap / grad)",
    "descriptor.descriptor_nopbc": "quests_jax.descriptor (one frame; jit / vmap / grad)",
    "entropy.entropy": "quests_jax.entropy",
    "entropy.perfect_entropy": "quests_jax.perfect_entropy",
    "entropy.diversity": "quests_jax.diversity",
    "entropy.delta_entropy": "quests_jax.delta_entropy",
    "entropy.get_all_metrics": "quests_jax.get_all_metrics",
    "entropy.kernel_sum": "quests_jax.kernel_sum (and log_kernel_sum)",
    "entropy.kernel_sum_multi_bandwidth": "quests_jax.kernel_sum with a vector h",
    "entropy.weighted_kernel_sum": "quests_jax.weighted_kernel_sum",
    "entropy.weighted_kernel_sum_multi_bandwidth": "quests_jax.weighted_kernel_sum, vector h",
    "entropy.get_bandwidth": "quests_jax.get_bandwidth",
    "entropy.approx_delta_entropy": "quests_jax.approx_delta_entropy ((M, H) for vector h)",
    "compression.compress.DatasetCompressor": "quests_jax.tools.compress + summary",
    "compression.fps.fps": "quests_jax.tools.fps (takes a FrameSet)",
    "compression.fps.msc": "quests_jax.tools.msc (takes a FrameSet)",
    "compression.fps.msc_conditional": "quests_jax.tools.msc_conditional",
    "compression.baseline.random_sample": "quests_jax.tools.random_sample (seeded)",
    "compression.baseline.mean_fps": "quests_jax.tools.mean_fps (seeded)",
    "compression.baseline.k_means": "quests_jax.tools.k_means (seeded)",
    "mcmc.augment_pbc": "quests_jax.tools.monte_carlo (jitted; or forces.optimize_structure)",
    "mcmc.augment_pbc_approx": "quests_jax.tools.monte_carlo on the index's data",
    "mcmc.get_index": "an exact index (query like pynndescent's)",
    "entropy.find_equal": "the nearest row within eps (kernels.nearest_sq_distances)",
    "compression.baseline.k_means_entropy": "quests_jax.tools.k_means(pick='entropy')",
    "gpu.entropy.entropy": "quests_jax.entropy (any JAX device)",
    "gpu.entropy.delta_entropy": "quests_jax.delta_entropy (any JAX device)",
    "gpu.entropy.diversity": "quests_jax.diversity (any JAX device)",
    "gpu.entropy.kernel_sum": "quests_jax.kernel_sum (any JAX device)",
    "gpu.entropy.perfect_entropy": "quests_jax.perfect_entropy (any JAX device)",
    **{
        f"matrix.{n}": "NumPy / SciPy (quests_jax does not need it)"
        for n in (
            "sum_positive",
            "sumexp",
            "wsumexp",
            "logsumexp",
            "norm",
            "cdist",
            "cdist_Linf",
            "pdist",
            "argsort",
            "inverse_3d",
            "stack_xyz",
        )
    },
}

_CELL_LIST = "the reference's numba cell-list internals; quests_jax searches with vesin"
NOT_PROVIDED = {
    "descriptor.descriptor_x1": "numba kernel on a distance matrix; quests_jax.descriptor",
    "descriptor.descriptor_x2": "numba kernel on a distance matrix; quests_jax.descriptor",
    "descriptor.get_num_bins": _CELL_LIST,
    "descriptor.to_contiguous_index": _CELL_LIST,
    "descriptor.to_tuple_index": _CELL_LIST,
    "descriptor.create_bin_dict": _CELL_LIST,
    "descriptor.wrap_pbc": _CELL_LIST,
    "descriptor.bin_atoms": _CELL_LIST,
    "compression.fps.select_fps_greedy": "one greedy step on a distance matrix (internal)",
    "compression.fps.select_msc_greedy": "one greedy step on a distance matrix (internal)",
    "compression.fps.select_msc_weighted": "one greedy step on a distance matrix (internal)",
    "compression.fps.SELECT_FNS": "the table of those steps; compat fps takes method='fps'",
    "compression.parallel.segment_compress": (
        "ray-parallel chunked compression; quests_jax's msc is one device loop"
    ),
    "compression.parallel.process_dataset": "ray worker of segment_compress",
}

HEADER = """# Migrating from `quests`

*Generated by `docs/make_migration.py` from the installed `quests` ({version}) and
quests_jax; do not edit by hand.*

**In one line.** Replace `quests` by `quests_jax.compat` in the import paths:

```python
from quests_jax.compat.descriptor import get_descriptors  # was: from quests.descriptor ...
from quests_jax.compat.entropy import entropy, delta_entropy  # was: from quests.entropy ...
from quests_jax.compat.compression import DatasetCompressor
from quests_jax.compat.gpu.entropy import entropy  # any JAX device; torch optional
from quests_jax.compat.cli.log import format_time, logger  # and every quests.cli module
```

`quests_jax.compat` has the reference's module tree (every module, `quests.cli`
included), names, signatures, defaults, numbers and return types (NumPy arrays;
NumPy floats, which are Python floats too; torch tensors from `quests.gpu` where
torch is installed). It is a thin layer over the JAX library. What is the same on
purpose, though the native API differs:

* **+inf where the reference's kernel sums underflow.** The reference computes
  dH = -log sum_j exp(-d_j^2 / 2h^2) in the descriptors' dtype: an environment far
  from every reference row gets p = 0 and dH = +inf (float32 descriptors, e.g.
  `get_descriptors(dtype="float32")`: from dH ~ 104 nats on; float64: from ~745),
  with NumPy's "divide by zero" warning. compat returns the same: rows within 20
  nats of the dtype's underflow are recomputed with the reference's own arithmetic
  (exp in the dtype, subnormals included), so a client ranking frames by summed dH
  picks the reference's frames. The same for `kernel_sum` (0), `weighted_kernel_sum`
  (nan where p = 0) and `approx_delta_entropy`. The native API
  (`quests_jax.delta_entropy`) sums in log space and stays finite and exact there:
  the number to use in new code.
* `approx_delta_entropy` returns the reference's dtypes: float32 for a number `h`
  (pynndescent's distances are float32), the rows' dtype for an array `h`.
* `quests.gpu`: where torch is installed, results are CPU torch tensors of the
  inputs' dtype, as the reference's (which moves every block's sums to the CPU), so
  `.cpu().numpy()`, `.item()` and torch arithmetic work; they share memory with the
  NumPy results (no copy). Inputs may be tensors (on any device), NumPy or JAX
  arrays. Without torch, the same numbers come as NumPy (torch is not a dependency:
  its wheel brings ~4 GB of CUDA libraries). As the reference, `gpu.entropy.diversity`
  is sum_i 1/p(x_i), without the CPU module's log. `quests.gpu.matrix` helpers take
  and return NumPy.
* `quests.cli`: `log` and `load_file` are the reference's helpers; each command
  (`quests.cli.entropy.entropy`, the group `quests.cli.quests.quests`) runs the same
  command of `quests-jax` in a fresh process when called like a click command
  (`entropy(["data.xyz"], standalone_mode=False)` returns its exit status);
  `make_descriptors` writes float64 files, as the reference (the native
  `quests-jax make_descriptors` writes float32 unless `--dtype float64`).
  `quests.compression.parallel` (ray) exists, and its two names raise one ImportError
  saying what to use instead.

What differs:

* `batch_size` is accepted everywhere and changes nothing: quests_jax picks its own
  block size (the results do not depend on it). `device` (quests.gpu) too: JAX places
  arrays itself, on a GPU or TPU when there is one.
* The arithmetic is float32 unless JAX's x64 mode is on
  (`jax.config.update("jax_enable_x64", True)`): results agree with the reference to
  about 1e-5 relative (1e-10 with x64). Descriptors are float64 by default, as in the
  reference.
* Result types are the reference's: float32 inputs give float32 arrays and
  `np.float32` scalars, float64 inputs float64. Integer and float16 descriptors, which
  the reference refuses, give float64 and float32 results (never integers).
* `approx_delta_entropy` finds the n nearest references exactly (the reference's
  pynndescent search is approximate, and its keywords are accepted and ignored), so
  its dH is never above the reference's and equal where pynndescent found the true
  neighbours.
* Compression: `fps` and `msc` choose the same frames as the reference. Greedy
  methods take `size` as a count, as the reference (whose loops treat `size=0.5` as
  one frame; use `DatasetCompressor.frac_to_size` for a fraction). `random`,
  `mean_fps` and `k_means` draw from seeded generators (a `seed` keyword, 0 by
  default), so their frames differ from the reference's unseeded draws.
* `mcmc.augment_pbc` honours `target_dH` (the reference scores against its default
  target whatever is passed) and draws from JAX's seeded generator. `mcmc.get_index`
  returns an exact index with pynndescent's `query`; `augment_pbc_approx` anneals
  against the exact dH of the index's data (which the n-nearest score approximates).
* **Perfect crystals.** With k = 32 the cut often falls inside a shell of
  equidistant neighbours (fcc: 12 + 6 + 24; bcc, diamond likewise). x1 is the same
  whichever are kept, but x2 is not: up to 3e-3 (9%) for perfect fcc Cu. The
  reference keeps whichever its floating-point rounding puts first, which cannot be
  reproduced; quests_jax keeps the tied ones in a fixed geometric order (the
  projection of their displacement on one irrational direction), the same on every
  path and for any atom order and translation, and warns once per call
  (`DescriptorTieWarning`) naming the frames concerned. Rattled by 1e-4 A, or at a
  k that closes a shell (12, 18, 42 for fcc), the two agree to 1e-12.
* `entropy.find_equal` returns, for each row, the nearest row within `eps` (the
  reference: any row within `eps`); they differ only where several rows are that close.

**The native API** (`import quests_jax`) is JAX-first: results are JAX arrays, so that
they stay on the device and compose with `jit`, `vmap` and `grad`. Convert with
`float(H)` and `np.asarray(dH)` where NumPy is wanted (JSON, in-place edits).
`kernel_sum(x, y)` and friends use the reference's argument names there too.

**The command line** (`quests-jax`) accepts every option of the reference's `quests`
command (tested): `-j/--jobs` is accepted and has no effect (XLA picks its threads);
`approx_dH -g` likewise. JSON outputs carry the reference's keys (and more).
`quests-jax make_descriptors -o x.npz` writes a file the reference reads (the array,
then a small zip of frame sizes, k and cutoff, which `np.load` ignores). One
deliberate difference: an existing output file is never replaced without
`--overwrite` (the reference exits silently with status 0 instead).

## Every public name of `quests`

{count} names in {modules} modules: {provided} in `quests_jax.compat`, {missing} not
provided (with the reason).

"""


def _is_click_command(value) -> bool:
    return type(value).__module__.startswith("click.")


def _public_from_module(module) -> list[str]:
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or inspect.ismodule(value):
            continue
        if _is_click_command(value):
            names.append(name)
        elif inspect.isfunction(value) or inspect.isclass(value) or callable(value):
            if getattr(value, "__module__", None) == module.__name__:
                names.append(name)
        elif name.isupper():
            names.append(name)
    return names


def _public_from_source(path: str) -> list[str]:
    names = []
    for node in ast.parse(open(path).read()).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name) and t.id.isupper()]
    return names


def reference_modules() -> list[str]:
    """Every module of the reference's tree, relative to quests (packages included)."""
    import quests

    return [
        info.name.removeprefix("quests.")
        for info in pkgutil.walk_packages(quests.__path__, "quests.")
    ]


def missing_modules() -> list[str]:
    """Modules of the reference's tree that quests_jax.compat lacks."""
    missing = []
    for module in reference_modules():
        try:
            importlib.import_module(f"quests_jax.compat.{module}")
        except ModuleNotFoundError:
            missing.append(module)
    return missing


def reference_names() -> dict[str, list[str]]:
    """{module path relative to quests: [public names]} for every module."""
    import quests

    found = {}
    for info in pkgutil.walk_packages(quests.__path__, "quests."):
        try:
            names = _public_from_module(importlib.import_module(info.name))
        except ImportError:  # torch or ray not installed: read the source
            spec = importlib.util.find_spec(info.name)
            names = _public_from_source(spec.origin)
        if names:
            found[info.name.removeprefix("quests.")] = names
    return found


def _compat_has(module: str, name: str) -> bool:
    try:
        return hasattr(importlib.import_module(f"quests_jax.compat.{module}"), name)
    except ImportError:  # the module, or a name it deliberately refuses
        return False


def render() -> str:
    import quests  # noqa: F401

    version = importlib.metadata.version("quests")
    if missing := missing_modules():
        raise SystemExit(f"not in quests_jax.compat: {', '.join(missing)}")
    found = reference_names()
    rows, provided, missing = [], 0, 0
    for module in sorted(found):
        rows.append(f"\n### `quests.{module}`\n")
        rows.append("| name | quests_jax.compat | native quests_jax / why not provided |")
        rows.append("|---|---|---|")
        for name in found[module]:
            key = f"{module}.{name}"
            if _compat_has(module, name):
                provided += 1
                where = f"`quests_jax.compat.{module}.{name}`"
                note = NATIVE.get(key, NATIVE.get(key.removeprefix("gpu."), ""))
                command = getattr(importlib.import_module(f"quests_jax.compat.{module}"), name)
                if not note and getattr(command, "name", "") and module.startswith("cli."):
                    note = f"`quests-jax {command.name}` (in a fresh process)"
            else:
                missing += 1
                where = "not provided"
                if key not in NOT_PROVIDED:
                    raise SystemExit(f"{key}: neither in quests_jax.compat nor explained")
                note = NOT_PROVIDED[key]
            rows.append(f"| `{name}` | {where} | {note} |")
    count = provided + missing
    head = HEADER.format(
        version=version, count=count, modules=len(found), provided=provided, missing=missing
    )
    return head + "\n".join(rows) + "\n"


def _without_version(text: str) -> str:
    """The guide minus the line naming the installed version (a new release of
    `quests` with the same names leaves it true)."""
    return "\n".join(line for line in text.splitlines() if "from the installed" not in line)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = open(OUT).read() if os.path.exists(OUT) else ""
        if _without_version(current) != _without_version(text):
            print(f"{OUT} is stale: run python docs/make_migration.py", file=sys.stderr)
            return 1
        return 0
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
