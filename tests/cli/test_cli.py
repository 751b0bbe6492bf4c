"""The quests-jax command line, run in-process (and once as an installed script)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from ase.io import read, write

import quests_jax as qj
from conftest import cu_cluster, cubic_cu, free_port, write_lammps_dump
from quests_jax import InputValueError
from quests_jax.cli import analysis, main
from quests_jax.cli.common import (
    ImagePath,
    InputPath,
    OutputPath,
    check_all_outputs,
    input_paths,
)
from quests_jax.describe._files import read_descriptor_file


@pytest.fixture(autouse=True)
def no_disk_cache(monkeypatch):
    monkeypatch.setenv("QUESTS_JAX_CACHE_DIR", "")
    yield
    jax.config.update("jax_enable_x64", False)  # --dtype float64 switches it on


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    solid = [cubic_cu(2, seed=s) for s in range(3)]
    hot = [cubic_cu(2, seed=10 + s) for s in range(2)]
    for atoms in hot:
        atoms.rattle(0.3, seed=1)
    write(root / "solid.xyz", solid)
    write(root / "hot.xyz", hot)
    write(root / "cluster.xyz", cu_cluster())
    (root / "garbage.xyz").write_text("this is not\na structure file\n")
    # compare with what the files hold (extxyz rounds positions to 1e-8 A)
    return root, read(root / "solid.xyz", ":"), read(root / "hot.xyz", ":")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_entropy_json_matches_library(files, capsys, tmp_path):
    root, solid, _ = files
    out_json = tmp_path / "e.json"
    code, out, err = run(capsys, "entropy", root / "solid.xyz", "-o", out_json)
    assert code == 0, err
    result = json.loads(out_json.read_text())
    for key in (
        "file",
        "n_envs",
        "k",
        "cutoff",
        "bandwidth",
        "entropy",
        "descriptor_time",
        "entropy_time",
    ):
        assert key in result
    assert result["n_envs"] == 96
    expected = float(qj.entropy(qj.get_descriptors(solid), 0.015))
    assert result["entropy"] == pytest.approx(expected, rel=1e-6)
    assert "entropy:" in out and "described in" in err and "computed in" in err


def test_entropy_options_multi_bandwidth_float64_index(files, capsys, tmp_path):
    root, solid, _ = files
    out_json = tmp_path / "e.json"
    code, _, err = run(
        capsys,
        "entropy",
        root / "solid.xyz",
        "-b",
        "0.01",
        "0.02",
        "--dtype",
        "float64",
        "--index",
        "0:2",
        "-k",
        "16",
        "--cutoff",
        "4.5",
        "--batch-size",
        "32",
        "-o",
        out_json,
    )
    assert code == 0, err
    result = json.loads(out_json.read_text())
    assert result["n_envs"] == 64 and result["k"] == 16 and result["dtype"] == "float64"
    with jax.enable_x64(True):
        x = qj.get_descriptors(solid[:2], k=16, cutoff=4.5, dtype="float64")
        expected = np.asarray(qj.entropy(x, np.array([0.01, 0.02])))
    np.testing.assert_allclose(result["entropy"], expected, rtol=1e-12)


def test_dh_json_and_extxyz(files, capsys, tmp_path):
    root, solid, hot = files
    code, out, err = run(
        capsys, "dH", root / "hot.xyz", root / "solid.xyz", "-o", tmp_path / "d.json"
    )
    assert code == 0, err
    result = json.loads((tmp_path / "d.json").read_text())
    assert result["test_envs"] == 64 and result["ref_envs"] == 96
    expected = np.asarray(qj.delta_entropy(qj.get_descriptors(hot), qj.get_descriptors(solid)))
    np.testing.assert_allclose(result["delta_entropy"], expected, rtol=1e-5)
    assert "fraction dH > 0" in out
    # the per-atom dH written back into the structures
    code, _, err = run(capsys, "dH", root / "hot.xyz", root / "solid.xyz", "-o", tmp_path / "d.xyz")
    assert code == 0, err
    frames = read(tmp_path / "d.xyz", index=":")
    np.testing.assert_allclose(
        np.concatenate([a.arrays["dH"] for a in frames]), expected, rtol=1e-5
    )


def test_descriptors_npz_round_trip_and_overlap(files, capsys, tmp_path):
    root, solid, _ = files
    npz = tmp_path / "solid.npz"
    code, out, err = run(capsys, "descriptors", root / "solid.xyz", "-o", npz)
    assert code == 0, err
    data = read_descriptor_file(npz)
    np.testing.assert_allclose(data.x, qj.get_descriptors(solid), rtol=1e-6)
    assert data.frame_sizes.tolist() == [32, 32, 32] and data.k == 32
    # descriptors files are accepted wherever structures are
    code, _, err = run(capsys, "overlap", npz, root / "solid.xyz", "-o", tmp_path / "o.json")
    assert code == 0, err
    result = json.loads((tmp_path / "o.json").read_text())
    assert result["overlap"] == 1.0 and result["eps"] == 1e-5
    code, _, err = run(capsys, "overlap", root / "hot.xyz", npz, "-o", tmp_path / "o2.json")
    assert json.loads((tmp_path / "o2.json").read_text())["overlap"] < 0.5


def test_bandwidth_from_file_and_volume(files, capsys, tmp_path):
    root, _, _ = files
    code, out, _ = run(capsys, "bandwidth", root / "solid.xyz", "-o", tmp_path / "b.json")
    assert code == 0
    result = json.loads((tmp_path / "b.json").read_text())
    assert result["volume_per_atom"] == pytest.approx(3.61**3 / 4)
    assert result["bandwidth"] == pytest.approx(qj.get_bandwidth(3.61**3 / 4))
    code, out, _ = run(capsys, "bandwidth", "11.76", "--cutoff-fit")
    assert code == 0 and "cutoff fit" in out
    code, _, err = run(capsys, "bandwidth", root / "cluster.xyz")
    assert code == 1 and "not periodic" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["entropy", "missing.xyz"], "missing.xyz: no such file"),
        (["entropy", "{root}/garbage.xyz"], "ASE cannot read it"),
        (
            ["entropy", "{root}/solid.xyz", "--format", "vasp"],
            "ASE cannot read it as format 'vasp'",
        ),
        (["entropy", "{root}/solid.xyz", "--index", "5:7"], "no frames selected"),
        (["dH", "{root}/solid.xyz", "missing.npz"], "missing.npz: no such file"),
        (["descriptors", "{root}/solid.xyz", "-o", "/no/such/dir/x.npz"], "does not exist"),
        (["descriptors", "{root}/garbage.xyz", "-o", "{root}/g.npy"], "ASE cannot read it"),
        (["entropy", "{root}/solid.xyz", "--coordinator", "127.0.0.1:1"], "go together"),
        (
            [
                "dH",
                "{root}/hot.xyz",
                "{root}/solid.xyz",
                "--coordinator",
                "127.0.0.1:1",
                "--num-processes",
                "2",
                "--process-id",
                "2",
            ],
            "--process-id must be in 0 .. 1",
        ),
    ],
)
def test_user_errors_are_one_line(files, capsys, argv, message):
    root = files[0]
    code, out, err = run(capsys, *[a.format(root=root) for a in argv])
    assert code == 1
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "raised, code, expected",
    [
        (ValueError("boom"), 70, "internal error (ValueError: boom). This is a fault in"),
        (KeyError("rows"), 70, "internal error (KeyError: 'rows')"),
        (InputValueError("x has NaN entries"), 1, "error: x has NaN entries"),
    ],
)
def test_bugs_are_told_from_bad_input(files, capsys, monkeypatch, raised, code, expected):
    """A library input error is the user's (one line, status 1); any other exception
    is a bug: one line saying so and asking for a report (status 70), its traceback
    with --debug. Before, every ValueError / TypeError read as bad input."""
    root = files[0]

    def broken(*args, **kwargs):
        raise raised

    monkeypatch.setattr(analysis, "compute_entropy_and_diversity", broken)
    status, _, err = run(capsys, "entropy", root / "solid.xyz")
    assert status == code
    errors = [line for line in err.splitlines() if line.startswith("quests-jax: error:")]
    assert len(errors) == 1 and expected in errors[0] and "Traceback" not in err, err
    assert ("please report" in err) == (code == 70)
    with pytest.raises(type(raised)):
        main(["--debug", "entropy", str(root / "solid.xyz")])


@pytest.mark.parametrize(
    "argv",
    [
        ["entropy", "x.xyz", "-b", "0"],
        ["entropy", "x.xyz", "-b", "abc"],
        ["entropy", "x.xyz", "-k", "-3"],
        ["entropy", "x.xyz", "--cutoff", "nan"],
        ["entropy", "x.xyz", "--dtype", "float16"],
        ["entropy", "x.xyz", "--batch-size", "0"],
        ["overlap", "a.xyz", "b.xyz", "--eps", "inf"],
        ["frobnicate"],
    ],
)
def test_bad_option_values_exit_2(capsys, argv):
    """One line, like every other error (argparse printed its usage block before)."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("quests-jax: error: ") and err.count("\n") == 1, err
    assert "usage:" not in err and "--help)" in err


def test_an_option_declares_itself_an_input_or_an_output(tmp_path):
    """A new command's options need no registry: their type says what they are. An
    output option of a name no command had is checked before compute (it exists, it is
    an input); an input option is fingerprinted (input_paths)."""
    source = tmp_path / "data.xyz"
    source.write_text("x")
    report = tmp_path / "report.json"
    report.write_text("{}")
    args = argparse.Namespace(
        data=InputPath(source), summary_report=OutputPath(report), overwrite=False
    )
    assert input_paths(args) == [str(source)]
    with pytest.raises(OSError, match=f"output {report} exists"):
        check_all_outputs(args)
    args.summary_report = OutputPath(source)
    with pytest.raises(qj.InputError, match="--summary-report .* is an input of this command"):
        check_all_outputs(args)
    args.summary_report, args.figure = OutputPath(tmp_path / "new.json"), ImagePath("f.xyz")
    with pytest.raises(qj.InputError, match="--figure f.xyz: give a file ending in one of"):
        check_all_outputs(args)


def test_refuses_to_overwrite(files, capsys, tmp_path):
    root = files[0]
    target = tmp_path / "e.json"
    target.write_text("precious")
    code, _, err = run(capsys, "entropy", root / "solid.xyz", "-o", target)
    assert code == 1 and "--overwrite" in err
    assert target.read_text() == "precious"
    code, _, err = run(capsys, "entropy", root / "solid.xyz", "-o", target, "--overwrite")
    assert code == 0 and json.loads(target.read_text())["n_envs"] == 96
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".quests-jax-")]  # no temp left


def test_installed_script_and_disk_cache(files, tmp_path):
    root = files[0]
    env = dict(os.environ, QUESTS_JAX_CACHE_DIR=str(tmp_path / "cache"))
    script = os.path.join(os.path.dirname(sys.executable), "quests-jax")
    done = subprocess.run(
        [script, "entropy", str(root / "solid.xyz")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "entropy:" in done.stdout
    assert os.listdir(tmp_path / "cache")  # compiled programs persisted for the next run


def test_other_ase_formats(files, capsys, tmp_path):
    """VASP and LAMMPS dump inputs go through ASE like any other."""
    _, solid, _ = files
    write(tmp_path / "POSCAR", solid[0], format="vasp")
    code, out, err = run(capsys, "bandwidth", tmp_path / "POSCAR", "--format", "vasp")
    assert code == 0, err
    assert "h = " in out
    write_lammps_dump(tmp_path / "traj.dump", solid)
    out_json = tmp_path / "dump.json"
    code, out, err = run(
        capsys,
        "entropy",
        tmp_path / "traj.dump",
        "--format",
        "lammps-dump-text",
        "--index",
        ":2",
        "-o",
        out_json,
    )
    assert code == 0, err
    assert "environments: 64" in out
    expected = float(qj.entropy(qj.get_descriptors(solid[:2], dtype="float64"), 0.015))
    assert json.loads(out_json.read_text())["entropy"] == pytest.approx(expected, rel=1e-5)


def test_descriptors_npy_streamed(files, capsys, tmp_path):
    """descriptors -o x.npy streams frames into a memory-mappable file; entropy and dH
    read it back (a memory map) and agree with the structure inputs."""
    root, solid, hot = files
    out = tmp_path / "solid.npy"
    code, _, err = run(capsys, "descriptors", root / "solid.xyz", "-o", out)
    assert code == 0, err
    x = np.load(out, mmap_mode="r")
    np.testing.assert_allclose(x, qj.get_descriptors(solid), atol=1e-6)
    assert not (tmp_path / "solid.npy.partial").exists()
    code, _, err = run(capsys, "descriptors", root / "solid.xyz", "-o", out)
    assert code == 1 and "--overwrite" in err
    code, _, err = run(capsys, "dH", root / "hot.xyz", out, "-o", tmp_path / "a.json")
    assert code == 0, err
    code, _, err = run(
        capsys, "dH", root / "hot.xyz", root / "solid.xyz", "-o", tmp_path / "b.json"
    )
    assert code == 0, err
    a = json.loads((tmp_path / "a.json").read_text())["delta_entropy"]
    b = json.loads((tmp_path / "b.json").read_text())["delta_entropy"]
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _cli_env(devices: int) -> dict:
    return dict(
        os.environ, JAX_NUM_CPU_DEVICES=str(devices), JAX_PLATFORMS="cpu", QUESTS_JAX_CACHE_DIR=""
    )


@pytest.mark.slow
def test_several_devices_and_processes(files, tmp_path):
    """The CLI shards over 3 devices (one process), and over 2 processes x 2 devices
    with jax.distributed on 127.0.0.1, and gives the single-device results."""
    root, solid, hot = files
    expected_h = float(qj.entropy(qj.get_descriptors(solid)))
    expected_dh = np.asarray(qj.delta_entropy(qj.get_descriptors(hot), qj.get_descriptors(solid)))
    cli = [sys.executable, "-m", "quests_jax.cli"]
    done = subprocess.run(
        cli + ["entropy", str(root / "solid.xyz"), "-o", str(tmp_path / "e.json")],
        env=_cli_env(3),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "on 3 devices in 1 processes" in done.stderr
    entropy = json.loads((tmp_path / "e.json").read_text())["entropy"]
    assert entropy == pytest.approx(expected_h, rel=1e-5)

    port = free_port()
    argv = ["dH", str(root / "hot.xyz"), str(root / "solid.xyz"), "-o", str(tmp_path / "d.json")]
    argv += ["--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
    procs = [
        subprocess.Popen(
            cli + argv + ["--process-id", str(i)],
            env=_cli_env(2),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    # process 0 reports (gloo's own connection lines aside)
    assert "test environments:" in outputs[0][0] and "test environments:" not in outputs[1][0]
    assert "on 4 devices in 2 processes" in outputs[0][1]
    dh = np.asarray(json.loads((tmp_path / "d.json").read_text())["delta_entropy"])
    scale = np.maximum(np.abs(expected_dh), 1.0)
    assert dh.shape == expected_dh.shape
    assert np.max(np.abs(dh - expected_dh) / scale) <= 1e-5
