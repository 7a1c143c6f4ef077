"""Smoke test of the throughput benchmark (``gainnet-benchmark --quick``).

Timings are never asserted: the machine is shared. Only the report's shape.
"""

from __future__ import annotations

import json
from pathlib import Path

from gainnet_rl.studies import benchmark


def test_quick_benchmark_writes_a_report(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "bench.json"
    argv = ["--quick", "--scenarios", "small", "medium", "--num-envs", "1", "8"]
    assert benchmark.main([*argv, "--no-mobile-env", "--output", str(out)]) == 0
    report = json.loads(out.read_text())
    assert "CartPole-v1" in report["references"]
    rows = {(r["scenario"], r["env"], r["num_envs"]) for r in report["results"]}
    assert rows == {
        (s, kind, n)
        for s in ("small", "medium")
        for kind, n in (("scalar", 1), ("batched", 1), ("batched", 8))
    }
    for r in report["results"]:
        assert len(r["runs"]) == report["repeats"] >= 1
        assert r["env_steps_per_s"] > 0
        assert r["state_bytes_per_env"] > 0
        assert r["ratio_to"]["CartPole-v1"] > 0
    medium_scalar = next(
        r for r in report["results"] if r["scenario"] == "medium" and r["env"] == "scalar"
    )
    assert medium_scalar["target"] == benchmark.TARGETS[("medium", None)]
    assert "env-steps/s" in capsys.readouterr().out
