"""The dataset-tool commands of quests-jax, each on small files, JSON checked against
the library; bad input gives one error line and a non-zero exit; the reference's
command lines, options and JSON keys work unchanged."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from ase.build import bulk
from ase.io import read, write

import quests_jax as qj
from conftest import md_frames, rattle, write_lammps_dump
from quests_jax import tools as compression
from quests_jax.cli import build_parser, main
from quests_jax.tools._frame_sets import FrameSet

COMMANDS = [
    "entropy",
    "entropy_sampler",
    "make_descriptors",
    "descriptors",
    "dH",
    "approx_dH",
    "dH_traj",
    "bandwidth",
    "overlap",
    "learning_curve",
    "compress",
    "metrics",
    "mcmc",
    "generate",
    "active_learning",
    "uq",
]


@pytest.fixture(autouse=True)
def no_disk_cache(monkeypatch):
    monkeypatch.setenv("QUESTS_JAX_CACHE_DIR", "")
    yield
    jax.config.update("jax_enable_x64", False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("tools")
    runs = md_frames(temperatures=(300, 1200, 3000), samples=4)
    write(root / "traj.xyz", [f for fs in runs.values() for f in fs])
    write(root / "cold.xyz", runs[300])
    write(root / "hot.xyz", runs[3000])
    return root


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def descriptors_of(path, **kw):
    return qj.get_descriptors(read(path, ":"), **kw)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: quests-jax" in capsys.readouterr().out


@pytest.mark.slow
def test_compress_json_and_structures(files, capsys, tmp_path):
    out = tmp_path / "c.json"
    code, stdout, err = run(capsys, "compress", files / "traj.xyz", "-s", "4", "-o", out)
    assert code == 0, err
    result = json.loads(out.read_text())
    frames = read(files / "traj.xyz", ":")
    data = FrameSet.from_list([qj.get_descriptors([f]) for f in frames])
    expected = compression.msc(data, 4)
    assert result["selected"] == expected.tolist()
    summary = compression.summary(data, expected)
    assert result["comp_H"] == pytest.approx(summary["entropy"], rel=1e-5)
    assert result["comp_D"] == pytest.approx(summary["diversity"], rel=1e-5)
    assert result["overlap"] == pytest.approx(summary["overlap"])
    assert (result["orig_n_structs"], result["comp_n_structs"]) == (12, 4)
    assert result["comp_n_envs"] == 4 * 32 and "kept 4 of 12 frames" in stdout
    # a fraction, another method, structures out in an ASE format
    out_xyz = tmp_path / "kept.xyz"
    code, _, err = run(
        capsys, "compress", files / "traj.xyz", "-s", "0.25", "-m", "fps", "-o", out_xyz
    )
    assert code == 0, err
    kept = read(out_xyz, ":")
    order = compression.fps(data, 3)
    assert len(kept) == 3
    for atoms, i in zip(kept, order, strict=True):
        np.testing.assert_allclose(atoms.positions, frames[i].positions)


def test_compress_with_reference(files, capsys, tmp_path):
    out = tmp_path / "c.json"
    code, _, err = run(
        capsys, "compress", files / "hot.xyz", "-r", files / "cold.xyz", "-s", "2", "-o", out
    )
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["method"] == "msc_conditional" and len(result["selected"]) == 2
    data = FrameSet.from_list([qj.get_descriptors([f]) for f in read(files / "hot.xyz", ":")])
    expected = compression.msc_conditional(data, 2, descriptors_of(files / "cold.xyz"))
    assert result["selected"] == expected.tolist()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compress", "missing.xyz"], "no such file"),
        (["compress", "{traj}", "-m", "best"], "unknown method"),
        (["compress", "{traj}", "-s", "40"], "larger than the dataset"),
        (["compress", "{traj}", "-m", "msc_conditional"], "needs a reference"),
        (["learning_curve", "{traj}", "-f", "0.5,1.5"], "(0, 1]"),
        (["learning_curve", "{traj}", "-f", "0,0.5"], "(0, 1]"),
        (["learning_curve", "{traj}", "-f", "a,b"], "numbers separated by commas"),
        (["dH_traj", "{traj}", "-w", "-1"], "--window must be >= 0"),
        (["dH_traj", "missing.xyz"], "no such file"),
        (["uq", "{traj}", "missing.xyz"], "no such file"),
        (["mcmc", "{traj}", "-i", "99"], "--index must be in"),
        (["approx_dH", "{cold}", "{cold}", "-n", "1000"], "more than the"),
    ],
)
def test_bad_input_is_one_line(files, capsys, argv, message):
    argv = [a.format(traj=files / "traj.xyz", cold=files / "cold.xyz") for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[-1].startswith("quests-jax: error:") and message in lines[-1]
    assert "Traceback" not in err


@pytest.mark.parametrize("size", ["0", "-1", "nan"])
def test_bad_size_option_exits_2(files, capsys, size):
    with pytest.raises(SystemExit) as exit_info:
        main(["compress", str(files / "traj.xyz"), "-s", size])
    assert exit_info.value.code == 2
    assert "must be > 0" in capsys.readouterr().err


def test_learning_curve_json_and_plot(files, capsys, tmp_path):
    out, png = tmp_path / "lc.json", tmp_path / "lc.png"
    code, stdout, err = run(
        capsys,
        "learning_curve",
        files / "traj.xyz",
        "-f",
        "0.2,0.4,0.6,1.0",
        "-n",
        "2",
        "-o",
        out,
        "--plot",
        png,
    )
    assert code == 0, err
    result = json.loads(out.read_text())
    curve = result["learning_curve"]
    assert [c["fraction"] for c in curve] == [0.2, 0.4, 0.6, 1.0]
    x = descriptors_of(files / "traj.xyz")
    assert curve[-1]["entropies"] == [pytest.approx(float(qj.entropy(x)), rel=1e-5)]
    assert [len(c["entropies"]) for c in curve] == [2, 2, 2, 1]
    gap = result["information_gap"]
    assert set(gap) == {"a", "b", "c", "gap", "rms"} and "information gap" in stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dh_traj_json_xyz_and_plot(files, capsys, tmp_path):
    out, png = tmp_path / "t.json", tmp_path / "t.png"
    code, _, err = run(
        capsys,
        "dH_traj",
        files / "traj.xyz",
        "-r",
        files / "cold.xyz",
        "-w",
        "1",
        "-o",
        out,
        "--plot",
        png,
        "--progress",
    )
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["num_frames"] == 12 and len(result["frames"]) == 12
    frames = read(files / "traj.xyz", ":")
    ref = descriptors_of(files / "cold.xyz")
    last = qj.get_descriptors([frames[-1]])
    rec = result["frames"][-1]
    assert rec["entropy"] == pytest.approx(float(qj.entropy(last)), rel=1e-5)
    assert rec["dH_reference_max"] == pytest.approx(
        float(qj.delta_entropy(last, ref).max()), rel=1e-5
    )
    assert png.stat().st_size > 0
    out_xyz = tmp_path / "t.xyz"
    code, _, err = run(capsys, "dH_traj", files / "traj.xyz", "-o", out_xyz)
    assert code == 0, err
    back = read(out_xyz, ":")
    assert len(back) == 12 and "dH_previous" not in back[0].arrays
    prev = qj.get_descriptors([frames[-2]])
    np.testing.assert_allclose(
        back[-1].arrays["dH_previous"], qj.delta_entropy(last, prev), rtol=1e-5, atol=1e-5
    )


def test_dh_traj_reads_lammps_dumps_and_matches_the_reference(files, capsys, tmp_path):
    """--per-atom gives the reference's 'delta_entropy' (each frame against itself)."""
    frames = read(files / "traj.xyz", ":")
    write_lammps_dump(tmp_path / "md.dump", frames)
    out = tmp_path / "t.json"
    code, _, err = run(
        capsys,
        "dH_traj",
        tmp_path / "md.dump",
        "--format",
        "lammps-dump-text",
        "-w",
        "0",
        "--per-atom",
        "-o",
        out,
    )
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["num_frames"] == len(frames) and "dH_previous" not in result
    for atoms, got, rec in zip(frames, result["delta_entropy"], result["frames"], strict=True):
        x = qj.get_descriptors([atoms], dtype="float64")
        expected = np.asarray(qj.delta_entropy(x, x))
        tol = 1e-5 * np.maximum(np.abs(expected), 1)
        assert np.all(np.abs(np.asarray(got) - expected) <= tol)
        assert rec["dH_self_max"] == pytest.approx(expected.max(), rel=1e-5, abs=1e-5)
    reference = pytest.importorskip("quests.entropy")
    x = qj.get_descriptors([frames[-1]], dtype="float64")
    expected = reference.delta_entropy(x, x)
    np.testing.assert_allclose(result["delta_entropy"][-1], expected, rtol=1e-5, atol=1e-5)


def test_uq_report_structures_and_plot(files, capsys, tmp_path):
    out, xyz, png = tmp_path / "uq.json", tmp_path / "uq.xyz", tmp_path / "uq.png"
    code, stdout, err = run(
        capsys,
        "uq",
        files / "hot.xyz",
        files / "cold.xyz",
        "-t",
        "2",
        "-o",
        out,
        "--structures",
        xyz,
        "--plot",
        png,
    )
    assert code == 0, err
    report = json.loads(out.read_text())
    dh = np.asarray(
        qj.delta_entropy(descriptors_of(files / "hot.xyz"), descriptors_of(files / "cold.xyz"))
    )
    assert report["fraction_above"] == pytest.approx((dh > 2).mean())
    assert report["worst_atoms"][0]["dH"] == pytest.approx(dh.max(), rel=1e-5)
    back = read(xyz, ":")
    np.testing.assert_allclose(np.concatenate([a.arrays["dH"] for a in back]), dh, rtol=1e-5)
    assert png.stat().st_size > 0 and "environments" in stdout


def test_metrics_approx_dh_and_sampler_json(files, capsys, tmp_path):
    cold, hot = descriptors_of(files / "cold.xyz"), descriptors_of(files / "hot.xyz")
    out = tmp_path / "m.json"
    assert run(capsys, "metrics", files / "cold.xyz", "-o", out)[0] == 0
    result = json.loads(out.read_text())
    h, d, dh = qj.get_all_metrics(cold)
    assert result["entropy"] == pytest.approx(float(h), rel=1e-6)
    assert result["diversity"] == pytest.approx(float(d), rel=1e-6)
    np.testing.assert_allclose(result["dH"], dh, rtol=1e-5, atol=1e-5)

    out = tmp_path / "a.json"
    assert (
        run(capsys, "approx_dH", files / "hot.xyz", files / "cold.xyz", "-n", "2", "-o", out)[0]
        == 0
    )
    result = json.loads(out.read_text())
    assert result["n"] == 2 and result["test_envs"] == hot.shape[0]
    np.testing.assert_allclose(
        result["delta_entropy"], qj.approx_delta_entropy(hot, cold, n=2), rtol=1e-5, atol=1e-5
    )

    out = tmp_path / "s.json"
    code, _, err = run(capsys, "entropy_sampler", files / "traj.xyz", "-s", "1000", "-o", out)
    assert code == 0, err
    result = json.loads(out.read_text())
    x = descriptors_of(files / "traj.xyz")
    assert result["num_runs"] == 1
    assert result["entropies"][0] == pytest.approx(float(qj.entropy(x)), rel=1e-5)


def test_approx_dh_summarises_each_bandwidth(files, capsys):
    """With several -b it printed the summary of the first environment (dh[0])."""
    cold, hot = descriptors_of(files / "cold.xyz"), descriptors_of(files / "hot.xyz")
    code, out, err = run(
        capsys,
        "approx_dH",
        files / "hot.xyz",
        files / "cold.xyz",
        "-n",
        "2",
        "-b",
        "0.01",
        "0.02",
    )
    assert code == 0, err
    assert f"test environments:      {hot.shape[0]}" in out
    dh = np.asarray(qj.approx_delta_entropy(hot, cold, [0.01, 0.02], n=2))
    means = out.split("approx dH mean:")[1].split("\n")[0].strip(" []").split()
    np.testing.assert_allclose([float(v) for v in means], dh.mean(axis=0), rtol=1e-3)


@pytest.mark.slow
def test_mcmc_and_active_learning(files, capsys, tmp_path):
    out = tmp_path / "new.xyz"
    code, _, err = run(
        capsys,
        "mcmc",
        files / "cold.xyz",
        "-i",
        "1",
        "-n",
        "60",
        "-t",
        "3",
        "-o",
        out,
        "--compare",
    )
    assert code == 0, err
    start, new = read(out, ":")
    np.testing.assert_allclose(start.positions, read(files / "cold.xyz", "1").positions)
    ref = descriptors_of(files / "cold.xyz")
    dh = np.asarray(qj.delta_entropy(qj.get_descriptors([new]), ref))
    assert new.info["score"] == pytest.approx(np.abs(dh - 3).mean(), rel=1e-3, abs=1e-3)
    out_json = tmp_path / "mc.json"
    assert run(capsys, "generate", files / "cold.xyz", "-n", "20", "-o", out_json)[0] == 0
    result = json.loads(out_json.read_text())
    assert len(result["scores"]) == 20 and len(result["dH"]) == 32

    out = tmp_path / "al.xyz"
    code, stdout, err = run(
        capsys,
        "active_learning",
        files / "cold.xyz",
        "-g",
        "2",
        "-s",
        "2",
        "-n",
        "20",
        "-o",
        out,
        "--full",
    )
    assert code == 0, err
    frames = read(out, ":")
    assert len(frames) == 4 + 4 and [a.info["gen"] for a in frames[4:]] == [1, 1, 2, 2]


def test_outputs_are_never_replaced_silently(files, capsys, tmp_path):
    out = tmp_path / "c.json"
    out.write_text("keep me")
    code, _, err = run(capsys, "compress", files / "traj.xyz", "-s", "2", "-o", out)
    assert code == 1 and "exists" in err and out.read_text() == "keep me"
    png = tmp_path / "p.png"
    png.write_text("keep")
    code, _, err = run(capsys, "dH", files / "hot.xyz", files / "cold.xyz", "--plot", png)
    assert code == 1 and "exists" in err and png.read_text() == "keep"


def test_dh_plot(files, capsys, tmp_path):
    png = tmp_path / "dh.png"
    code, _, err = run(capsys, "dH", files / "hot.xyz", files / "cold.xyz", "--plot", png)
    assert code == 0, err
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_plot_titles_fit(files, capsys, tmp_path, monkeypatch):
    """Titles name files, not their folders, and wrap within the figure (a whole path
    ran past its edge); no title gives no "None" line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from quests_jax.tools import plots

    titles = []
    monkeypatch.setattr(plt.Axes, "set_title", lambda ax, text, **kw: titles.append(text))
    deep = tmp_path / ("a-very-long-folder-name-" * 4) / "hot.xyz"
    deep.parent.mkdir()
    deep.write_bytes((files / "hot.xyz").read_bytes())
    code, _, err = run(capsys, "dH", deep, files / "cold.xyz", "--plot", tmp_path / "p.png")
    assert code == 0, err
    assert titles[-1].splitlines()[0] == "dH of hot.xyz against cold.xyz"
    plots.dh_histogram(np.linspace(-1, 1, 5), tmp_path / "q.png", title=str(deep))
    plots.dh_histogram(np.linspace(-1, 1, 5), tmp_path / "r.png", title=None)
    assert all(len(line) <= 52 for line in titles[-2].splitlines()) and str(deep) not in titles[-2]
    assert titles[-1].startswith("40.0% of 5 environments") and "None" not in titles[-1]


def test_parser_lists_every_command():
    text = build_parser().format_help()
    for command in COMMANDS:
        assert command in text


# --------------------------------------------------------------------------------------
# the reference's command lines run unchanged: every option of its CLI is accepted, its
# JSON keys are written, and its commands read the descriptor files we write


# the reference's JSON keys per command (quests 2026.x, quests/cli/*.py)
REFERENCE_KEYS = {
    "entropy": [
        "file",
        "n_envs",
        "k",
        "cutoff",
        "bandwidth",
        "jobs",
        "entropy",
        "descriptor_time",
        "entropy_time",
    ],
    "entropy_sampler": [
        "file",
        "n_envs",
        "k",
        "cutoff",
        "bandwidth",
        "jobs",
        "sample",
        "num_runs",
        "entropies",
        "descriptor_time",
        "entropies_times",
    ],
    "learning_curve": [
        "file",
        "n_envs",
        "k",
        "cutoff",
        "bandwidth",
        "jobs",
        "fractions",
        "num_runs",
        "descriptor_time",
        "learning_curve",
    ],
    "metrics": [
        "file",
        "n_envs",
        "k",
        "cutoff",
        "bandwidth",
        "jobs",
        "entropy",
        "diversity",
        "descriptor_time",
        "entropy_time",
    ],
    "overlap": [
        "test_file",
        "reference_file",
        "test_envs",
        "reference_envs",
        "k",
        "cutoff",
        "bandwidth",
        "jobs",
        "eps",
        "overlap",
        "computation_time",
    ],
    "dH": [
        "reference_file",
        "test_file",
        "test_envs",
        "ref_envs",
        "k",
        "cutoff",
        "bandwidth",
        "jobs",
        "delta_entropy",
    ],
    "approx_dH": [
        "reference_file",
        "test_file",
        "test_envs",
        "ref_envs",
        "k",
        "n",
        "cutoff",
        "bandwidth",
        "jobs",
        "delta_entropy",
        "time",
    ],
    "dH_traj": [
        "file",
        "num_frames",
        "num_envs",
        "k",
        "cutoff",
        "bandwidth",
        "jobs",
        "delta_entropy",
    ],
    "compress": [
        "reference",
        "k",
        "cutoff",
        "bandwidth",
        "jobs",
        "compress_time",
        "metrics_time",
        "orig_n_structs",
        "orig_n_envs",
        "comp_H",
        "comp_D",
        "comp_n_structs",
        "comp_n_envs",
        "overlap",
        "selected",
    ],
}
LEARNING_CURVE_ENTRY = ["fraction", "entropies", "entropies_times", "mean_entropy", "std_entropy"]


def _value(param) -> list[str]:
    if param.is_flag:
        return []
    kind = getattr(param.type, "name", "")
    return {"integer": ["2"], "float": ["0.5"]}.get(kind, ["x"])


def test_every_reference_option_is_accepted():
    click = pytest.importorskip("click")
    reference_cli = pytest.importorskip("quests.cli.quests")
    parser = build_parser()
    for name, command in sorted(reference_cli.quests.commands.items()):
        positional = [
            "1.0" if name == "bandwidth" else "in.xyz"
            for p in command.params
            if isinstance(p, click.Argument)
        ]
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            for option in param.opts + param.secondary_opts:
                args = parser.parse_args([name, *positional, option, *_value(param)])
                assert args.command == name, (name, option)


@pytest.mark.parametrize("command", sorted(REFERENCE_KEYS))
def test_the_reference_json_keys_are_written(command, files, tmp_path, capsys):
    inputs = {
        "entropy": ["cold.xyz"],
        "entropy_sampler": ["traj.xyz", "-s", "50", "-n", "2"],
        "learning_curve": ["traj.xyz", "-f", "0.5,1.0"],
        "metrics": ["cold.xyz"],
        "overlap": ["hot.xyz", "cold.xyz"],
        "dH": ["hot.xyz", "cold.xyz"],
        "approx_dH": ["hot.xyz", "cold.xyz", "-g", "10"],
        "dH_traj": ["traj.xyz", "--per-atom"],
        "compress": ["traj.xyz", "-s", "2"],
    }[command]
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
    ours = qj.get_descriptors(read(files / "cold.xyz", ":"))
    np.testing.assert_array_equal(x, ours)
    assert reference_entropy(x, 0.015) == pytest.approx(float(qj.entropy(ours)), rel=1e-5)
    # and we read them back with their frame sizes (compress needs them)
    assert main(["compress", str(out), "-s", "1", "-o", str(tmp_path / "c.json")]) == 0

    reshaped = tmp_path / "cold3d.npz"
    assert main(["make_descriptors", str(files / "cold.xyz"), "-r", "-o", str(reshaped)]) == 0
    n_frames = len(read(files / "cold.xyz", ":"))
    assert descriptors_from_file(str(reshaped), 32, 5.0)[0].shape == (n_frames, 32, 63)
    assert main(["entropy", str(reshaped), "-o", str(tmp_path / "e.json")]) == 0
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["entropy"] == pytest.approx(float(qj.entropy(ours)), rel=1e-6)
    capsys.readouterr()


@pytest.mark.slow
def test_active_learning_describes_each_structure_once(files, capsys, tmp_path, monkeypatch):
    """The pool's descriptors grow by each generation's new structures; the pool is not
    described again every generation (it was: 4 + 6 + 8 frames for three generations)."""
    import quests_jax.describe as describe

    described = []
    real = describe.get_descriptors

    def counting(frames, *args, **kwargs):
        described.append(len(frames))
        return real(frames, *args, **kwargs)

    monkeypatch.setattr(describe, "get_descriptors", counting)
    out = tmp_path / "al.xyz"
    code, _, err = run(
        capsys, "active_learning", files / "cold.xyz", "-g", "3", "-s", "2", "-n", "5", "-o", out
    )
    assert code == 0, err
    assert described == [4, 2, 2] and len(read(out, ":")) == 6


def test_learning_curve_fractions_default_as_the_library_and_the_reference():
    """The command's default fractions are the library's (0.1 to 0.9), which are the
    reference command's; the command used 0.1 to 1.0."""
    from quests.cli.learning_curve import learning_curve as reference_command

    from quests_jax.cli import build_parser
    from quests_jax.tools import DEFAULT_FRACTIONS

    args = build_parser().parse_args(["learning_curve", "data.xyz"])
    ours = [float(f) for f in args.fractions.split(",")]
    theirs = next(p.default for p in reference_command.params if p.name == "fractions")
    assert ours == list(DEFAULT_FRACTIONS) == [float(f) for f in theirs.split(",")]


def test_outputs_keep_what_the_user_asked_for(capsys, tmp_path):
    """Issue 27, item 6: `dH -o out.extxyz` wrote JSON into it; `dH -b 0.01 0.1 -o
    out.xyz` kept the first bandwidth only; `uq --structures` and `dH_traj -o .xyz`
    dropped the DFT energies and forces; `dH_traj --index 30:` numbered file frame 30
    as frame 0 (frames count from the start of the file)."""
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = []
    for i in range(12):
        atoms = rattle(bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2), 0.1, i)
        forces = np.full((len(atoms), 3), float(i))
        atoms.calc = SinglePointCalculator(atoms, energy=-float(i), forces=forces)
        frames.append(atoms)
    traj = tmp_path / "traj.xyz"
    write(traj, frames)

    out = tmp_path / "dh.extxyz"
    code, _, err = run(capsys, "dH", traj, traj, "-o", out)
    assert code == 0, err
    written = read(out, ":")
    assert len(written) == 12 and written[3].get_potential_energy() == -3.0
    assert written[3].arrays["dH"].shape == (32,)

    out = tmp_path / "two.xyz"
    code, _, err = run(capsys, "dH", traj, traj, "-b", "0.01", "0.1", "-o", out)
    assert code == 0, err
    both = read(out, ":")[0]
    assert both.arrays["dH"].shape == (32, 2)
    np.testing.assert_allclose(both.info["dH_bandwidth"], [0.01, 0.1])
    assert not np.allclose(both.arrays["dH"][:, 0], both.arrays["dH"][:, 1])

    code, _, err = run(capsys, "dH", traj, traj, "-o", tmp_path / "dh.cif")
    assert code == 1 and "extended XYZ" in err and not (tmp_path / "dh.cif").exists()

    out = tmp_path / "uq.xyz"
    code, _, err = run(capsys, "uq", traj, traj, "--structures", out)
    assert code == 0, err
    kept = read(out, ":")
    assert kept[5].get_potential_energy() == -5.0
    np.testing.assert_allclose(kept[5].get_forces(), 5.0)

    for index, first in (("8:", 8), ("-3:", 9), ("2:11:4", 2)):
        out = tmp_path / f"traj{first}.json"
        code, _, err = run(capsys, "dH_traj", traj, f"--index={index}", "-o", out)
        assert code == 0, err
        numbers = [r["frame"] for r in json.loads(out.read_text())["frames"]]
        step = 4 if index == "2:11:4" else 1
        assert numbers == list(range(first, 12 if step == 1 else 11, step)), (index, numbers)
    out = tmp_path / "traj.out.xyz"
    code, _, err = run(capsys, "dH_traj", traj, "--index=8:", "-o", out)
    assert code == 0, err
    assert read(out, "0").get_potential_energy() == -8.0


def test_descriptor_files_of_other_settings_are_not_mixed(capsys, tmp_path):
    """Issue 27, item 3: `descriptors -c 3 -o t3.npz; descriptors -o r5.npz; dH t3.npz
    r5.npz` gave a mean dH of 1143 instead of ~8, although both files record their
    cutoff. Files are checked against each other and against the command's settings
    (which describe the structure inputs), in dH, uq, overlap, compress -r, dH_traj -r."""
    frames = [rattle(bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2), 0.1, i) for i in range(4)]
    traj = tmp_path / "cu.xyz"
    write(traj, frames)
    t3, r5 = tmp_path / "t3.npz", tmp_path / "r5.npz"
    assert run(capsys, "descriptors", traj, "-c", "3", "-o", t3)[0] == 0
    assert run(capsys, "descriptors", traj, "-o", r5)[0] == 0
    for argv in (
        ("dH", t3, r5),
        ("dH", traj, t3),
        ("uq", traj, t3),
        ("overlap", r5, t3),
        ("compress", traj, "-r", t3, "-s", "2"),
        ("dH_traj", traj, "-r", t3),
        ("dH", r5, traj, "-c", "3"),
    ):
        code, _, err = run(capsys, *argv)
        assert code == 1 and "other settings" in err and "cutoff" in err, (argv, err)
    assert run(capsys, "dH", traj, t3, "-c", "3")[0] == 0  # the same settings: fine
    assert run(capsys, "dH", t3, t3)[0] == 0


def test_multicomponent_files_of_other_species_are_not_mixed(capsys, tmp_path):
    """Issue 27: multicomponent descriptors of other species (Cu O vs Cu Zr) have the
    same width and were compared block by block as if alike. Files record their
    species now (save_descriptor_file(species=...)) and are checked."""
    from quests_jax.describe import read_descriptor_file, save_descriptor_file

    x = np.random.default_rng(0).normal(scale=0.05, size=(40, 3 * 63)).astype(np.float32) + 0.3
    files = {}
    for species in (("Cu", "O"), ("Cu", "Zr")):
        files[species] = tmp_path / f"{'-'.join(species)}.npz"
        save_descriptor_file(files[species], x, [40], k=32, cutoff=5.0, species=species)
        assert read_descriptor_file(files[species]).species == species
    code, _, err = run(capsys, "dH", files["Cu", "O"], files["Cu", "Zr"])
    assert code == 1 and "other settings" in err and "species Cu O" in err, err
    assert run(capsys, "dH", files["Cu", "O"], files["Cu", "O"])[0] == 0


def test_input_options_describe_the_first_input_only(capsys, tmp_path):
    """Issue 27, item 2: --index, --format and --types applied to the reference file
    too: `dH test train --index -1` used one training frame; `dH_traj md.lammpstrj
    --format lammps-dump-text -r train.xyz` (the docs' own example) failed. They
    describe the first input; --reference-index / -format / -types the reference."""
    frames = [rattle(bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2), 0.1, i) for i in range(6)]
    train = tmp_path / "train.xyz"
    write(train, frames)
    test = tmp_path / "test.xyz"
    write(test, frames[:3])
    out = tmp_path / "dh.json"
    code, _, err = run(capsys, "dH", test, train, "--index", "-1", "-o", out)
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["ref_envs"] == 6 * 32 and result["test_envs"] == 32
    out = tmp_path / "dh2.json"
    code, _, err = run(capsys, "dH", test, train, "--reference-index", "0:2", "-o", out)
    assert code == 0, err
    assert json.loads(out.read_text())["ref_envs"] == 2 * 32
    dump = tmp_path / "md.lammpstrj"
    write_lammps_dump(dump, frames[:2])
    code, _, err = run(
        capsys, "dH_traj", dump, "--format", "lammps-dump-text", "--types", "1:Cu", "-r", train
    )
    assert code == 0, err
    code, _, err = run(capsys, "compress", train, "-r", test, "--index", "0:4", "-s", "2")
    assert code == 0, err
    code, out_text, err = run(capsys, "uq", test, train, "--index", "0:1")
    assert code == 0, err
    assert "against 192 training environments" in out_text
