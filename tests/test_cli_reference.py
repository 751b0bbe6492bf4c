"""The reference's command lines run unchanged: every option of its CLI is accepted,
its JSON keys are written, and its commands read the descriptor files we write."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from ase.io import write

import quests_jax as qj
from conftest import md_frames
from quests_jax.cli import build_parser, main

click = pytest.importorskip("click")
reference_cli = pytest.importorskip("quests.cli.quests")

# the reference's JSON keys per command (quests 2026.x, quests/cli/*.py)
REFERENCE_KEYS = {
    "entropy": ["file", "n_envs", "k", "cutoff", "bandwidth", "jobs", "entropy",
                "descriptor_time", "entropy_time"],
    "entropy_sampler": ["file", "n_envs", "k", "cutoff", "bandwidth", "jobs", "sample",
                        "num_runs", "entropies", "descriptor_time", "entropies_times"],
    "learning_curve": ["file", "n_envs", "k", "cutoff", "bandwidth", "jobs", "fractions",
                       "num_runs", "descriptor_time", "learning_curve"],
    "metrics": ["file", "n_envs", "k", "cutoff", "bandwidth", "jobs", "entropy", "diversity",
                "descriptor_time", "entropy_time"],
    "overlap": ["test_file", "reference_file", "test_envs", "reference_envs", "k", "cutoff",
                "bandwidth", "jobs", "eps", "overlap", "computation_time"],
    "dH": ["reference_file", "test_file", "test_envs", "ref_envs", "k", "cutoff", "bandwidth",
           "jobs", "delta_entropy"],
    "approx_dH": ["reference_file", "test_file", "test_envs", "ref_envs", "k", "n", "cutoff",
                  "bandwidth", "jobs", "delta_entropy", "time"],
    "dH_traj": ["file", "num_frames", "num_envs", "k", "cutoff", "bandwidth", "jobs",
                "delta_entropy"],
    "compress": ["reference", "k", "cutoff", "bandwidth", "jobs", "compress_time",
                 "metrics_time", "orig_n_structs", "orig_n_envs", "comp_H", "comp_D",
                 "comp_n_structs", "comp_n_envs", "overlap", "selected"],
}  # fmt: skip
LEARNING_CURVE_ENTRY = ["fraction", "entropies", "entropies_times", "mean_entropy", "std_entropy"]


@pytest.fixture(autouse=True)
def no_disk_cache(monkeypatch):
    monkeypatch.setenv("QUESTS_JAX_CACHE_DIR", "")
    yield
    jax.config.update("jax_enable_x64", False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference_cli")
    runs = md_frames(temperatures=(300, 3000), samples=3)
    write(root / "cold.xyz", runs[300])
    write(root / "hot.xyz", runs[3000])
    write(root / "traj.xyz", runs[300] + runs[3000])
    return root


def _value(param) -> list[str]:
    if param.is_flag:
        return []
    kind = getattr(param.type, "name", "")
    return {"integer": ["2"], "float": ["0.5"]}.get(kind, ["x"])


def test_every_reference_option_is_accepted():
    parser = build_parser()
    for name, command in sorted(reference_cli.quests.commands.items()):
        positional = [
            "1.0" if name == "bandwidth" else "in.xyz"
            for p in command.params if isinstance(p, click.Argument)
        ]  # fmt: skip
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            for option in param.opts + param.secondary_opts:
                args = parser.parse_args([name, *positional, option, *_value(param)])
                assert args.command == name, (name, option)


@pytest.mark.parametrize("command", sorted(REFERENCE_KEYS))
def test_the_reference_json_keys_are_written(command, files, tmp_path, capsys):
    inputs = {
        "entropy": ["cold.xyz"], "entropy_sampler": ["traj.xyz", "-s", "50", "-n", "2"],
        "learning_curve": ["traj.xyz", "-f", "0.5,1.0"], "metrics": ["cold.xyz"],
        "overlap": ["hot.xyz", "cold.xyz"], "dH": ["hot.xyz", "cold.xyz"],
        "approx_dH": ["hot.xyz", "cold.xyz", "-g", "10"], "dH_traj": ["traj.xyz", "--per-atom"],
        "compress": ["traj.xyz", "-s", "2"],
    }[command]  # fmt: skip
    out = tmp_path / "out.json"
    argv = [command, *[str(files / a) if a.endswith(".xyz") else a for a in inputs]]
    assert main([*argv, "-j", "2", "-o", str(out)]) == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    assert [k for k in REFERENCE_KEYS[command] if k not in result] == []
    assert result["jobs"] == 2
    if command == "learning_curve":
        assert all(set(LEARNING_CURVE_ENTRY) <= set(e) for e in result["learning_curve"])
    if command == "entropy_sampler":
        assert len(result["entropies_times"]) == result["num_runs"] == 2


def test_the_reference_reads_our_descriptor_files(files, tmp_path, capsys):
    from quests.cli.load_file import descriptors_from_file
    from quests.entropy import entropy as reference_entropy

    out = tmp_path / "cold.npz"
    assert main(["make_descriptors", str(files / "cold.xyz"), "-o", str(out)]) == 0
    x, _ = descriptors_from_file(str(out), 32, 5.0)
    ours = qj.get_descriptors(__import__("ase.io").io.read(files / "cold.xyz", ":"))
    np.testing.assert_array_equal(x, ours)
    assert reference_entropy(x, 0.015) == pytest.approx(float(qj.entropy(ours)), rel=1e-5)
    # and we read them back with their frame sizes (compress needs them)
    assert main(["compress", str(out), "-s", "1", "-o", str(tmp_path / "c.json")]) == 0

    reshaped = tmp_path / "cold3d.npz"
    assert main(["make_descriptors", str(files / "cold.xyz"), "-r", "-o", str(reshaped)]) == 0
    assert descriptors_from_file(str(reshaped), 32, 5.0)[0].shape == (3, 32, 63)
    assert main(["entropy", str(reshaped), "-o", str(tmp_path / "e.json")]) == 0
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["entropy"] == pytest.approx(float(qj.entropy(ours)), rel=1e-6)
    capsys.readouterr()
