"""``quests-jax bench``: a small case of the suite end to end (report fields, float64
checks within their bounds), the device check's verdicts, --compare, bad input."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from quests_jax import benchmark
from quests_jax.cli import main

TINY = {
    "descriptors": [500],
    "entropy": [2_000],
    "dH": [(500, 2_000)],
    "cv_dH": [108],
    "md_step": [108],
    "sharded_entropy": [2_000],
    "reference_gpu": [],
}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    """The quick suite at tiny sizes, through the command line."""
    path = tmp_path_factory.mktemp("bench") / "report.json"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(benchmark, "QUICK", TINY)
        mp.setattr(benchmark, "CV_REFERENCE_ROWS", {True: 1_000, False: 1_000})
        mp.setattr(benchmark, "CHECK_ROWS", 300)
        assert main(["bench", "--check", "-o", str(path)]) == 0
    return json.loads(path.read_text())


@pytest.mark.slow
def test_report_fields(tiny_report):
    report = tiny_report
    assert set(report["device"]) >= {"platform", "kind", "count", "host"}
    assert report["device"]["platform"] == "cpu"
    assert report["jax_version"] and report["mode"] == "quick"
    names = [r["name"] for r in report["results"]]
    expected = ["descriptors_500", "entropy_2000", "dH_500_vs_2000", "cv_dH_108"]
    assert names[:4] == expected and names[-1] == "sharded_entropy_2000"
    assert any(n.startswith("md_step_") for n in names) or report["skipped"]
    for r in report["results"]:
        assert set(r) >= {"name", "value", "unit", "error_vs_float64", "sizes"}
        assert np.isfinite(r["value"]) and r["value"] > 0
        assert r["run_s"] > 0 and r["compile_s"] >= 0 and r["peak_memory_bytes"] > 0
    by_name = {r["name"]: r for r in report["results"]}
    dh = by_name["dH_500_vs_2000"]
    assert dh["sizes"] == {"queries": 500, "references": 2000}
    assert dh["pairs_per_s"] == pytest.approx(500 * 2000 / dh["run_s"])
    assert 0 < dh["peak_fraction"] < 2
    assert dh["error_vs_float64"] < 5e-5  # the float32 path's bound
    assert by_name["entropy_2000"]["error_vs_float64"] < 1e-6
    assert by_name["cv_dH_108"]["details"]["forces_error_vs_float64"] < 1e-3
    assert benchmark.check(report) == []


def test_check_names_every_failure(tiny_report):
    report = copy.deepcopy(tiny_report)
    results = {r["name"]: r for r in report["results"]}
    results["dH_500_vs_2000"]["error_vs_float64"] = 2e-4
    results["entropy_2000"]["value"] = float("nan")
    results["descriptors_500"]["error_vs_float64"] = None
    results["cv_dH_108"]["details"]["forces_error_vs_float64"] = 0.01
    failures = benchmark.check(report)
    assert len(failures) == 4, failures
    text = " ".join(failures)
    for name in ("dH_500_vs_2000", "entropy_2000", "descriptors_500", "cv_dH_108"):
        assert name in text


def test_check_line_and_status(tmp_path, capsys, monkeypatch, tiny_report):
    """--check ends with one PASS / FAIL line; FAIL exits 1."""
    bad = copy.deepcopy(tiny_report)
    bad["results"][1]["error_vs_float64"] = 1.0
    monkeypatch.setattr(benchmark, "run_suite", lambda **kw: bad)
    with pytest.raises(SystemExit) as stop:
        run(capsys, "bench", "--check")
    assert stop.value.code == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("FAIL: 1 of")


def test_compare(tmp_path, capsys, tiny_report):
    a = tmp_path / "a.json"
    b = tmp_path / "b.json"
    a.write_text(json.dumps(tiny_report))
    faster = copy.deepcopy(tiny_report)
    for r in faster["results"]:
        r["value"] /= 2
    faster["device"]["kind"] = "NVIDIA H200"
    b.write_text(json.dumps(faster))
    code, out, _ = run(capsys, "bench", "--compare", a, b)
    assert code == 0
    lines = out.splitlines()
    assert "NVIDIA H200" in lines[0]
    row = next(line for line in lines if line.startswith("dH_500_vs_2000"))
    assert row.split()[-1] == "0.50"


def test_reports_without_a_field_and_checks_of_nothing_are_one_line(
    tmp_path, capsys, monkeypatch, tiny_report
):
    """Issue 27: --compare of a report without device.platform gave a KeyError
    traceback; --check --only reference_gpu printed "PASS: 0 workloads"."""
    broken = copy.deepcopy(tiny_report)
    del broken["device"]["platform"]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(tiny_report))
    b.write_text(json.dumps(broken))
    code, _, err = run(capsys, "bench", "--compare", a, b)
    assert code == 1 and err.count("\n") == 1 and "'device.platform'" in err, err
    del broken["results"][0]["unit"]
    b.write_text(json.dumps(broken))
    code, _, err = run(capsys, "bench", "--compare", a, b)
    assert code == 1 and "device.platform" in err
    only_reference = copy.deepcopy(tiny_report)
    only_reference["results"] = [dict(tiny_report["results"][0], name="reference_gpu_entropy")]
    monkeypatch.setattr(benchmark, "run_suite", lambda **kw: only_reference)
    with pytest.raises(SystemExit) as stop:
        run(capsys, "bench", "--check", "--only", "reference_gpu")
    assert stop.value.code == 1
    captured = capsys.readouterr()
    assert captured.out.strip().splitlines()[-1].startswith("FAIL")
    assert "no workload with a float64 bound ran" in captured.err


def test_bad_reports_and_outputs(tmp_path, capsys):
    not_report = tmp_path / "x.json"
    not_report.write_text("[1, 2]")
    code, _, err = run(capsys, "bench", "--compare", not_report, not_report)
    assert code == 1 and "not a quests-jax bench report" in err
    code, _, err = run(capsys, "bench", "--compare", tmp_path / "missing.json", not_report)
    assert code == 1 and "missing.json" in err
    existing = tmp_path / "r.json"
    existing.write_text("{}")
    code, _, err = run(capsys, "bench", "--quick", "-o", existing)
    assert code == 1 and "--overwrite" in err
    assert existing.read_text() == "{}"
    with pytest.raises(ValueError, match="unknown workloads"):
        benchmark.run_suite(only=["nope"])


def test_reference_gpu_runs_only_with_pytorch_on_a_gpu():
    """Without PyTorch seeing a GPU the reference's GPU entropy is skipped (None), and
    the suite lists it as skipped."""
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    if has_gpu:
        pytest.skip("PyTorch sees a GPU here")
    x = np.zeros((10, 63), np.float32)
    assert benchmark.bench_reference_gpu(10, x) is None
