"""Opt-in (`pytest -m full`): the four article configs at full steps on the bundled MNIST, about
four minutes on 2 cores. The checks are the article's claims, with room for machine differences."""

from __future__ import annotations

import pytest

from conftest import cli, only_run, summary_of

pytestmark = pytest.mark.full


def _run(config: str, runs_dir) -> dict:
    result = cli("run", f"configs/{config}.yaml", "--runs-dir", runs_dir / config, "--quiet")
    assert result.exit_code == 0, result.output
    return summary_of(only_run(runs_dir / config))


def test_tied_autoencoder_beats_untied_near_the_article(tmp_path):
    untied, tied = _run("untied_ae", tmp_path), _run("tied_ae", tmp_path)
    assert untied["metrics"]["test_loss"] == pytest.approx(0.184, abs=0.01)
    assert tied["metrics"]["test_loss"] == pytest.approx(0.148, abs=0.01)
    assert tied["metrics"]["test_loss"] < untied["metrics"]["test_loss"] - 0.02


def test_mlp_pair_near_the_article(tmp_path):
    shared, independent = _run("mlp_shared", tmp_path), _run("mlp_averaged", tmp_path)
    for metrics in (shared["metrics"], independent["metrics"]):
        assert metrics["acc_net1"] > 0.97 and metrics["acc_net2"] > 0.97
    averaged = independent["metrics"]["acc_averaged"]
    assert averaged > max(independent["metrics"]["acc_net1"], independent["metrics"]["acc_net2"])
    net2_start = {}
    for name in ("mlp_shared", "mlp_averaged"):
        rows = (only_run(tmp_path / name) / "metrics.csv").read_text().splitlines()
        net2_start[name] = float(next(row for row in rows if row.startswith("net2,0,")).split(",")[2])
    assert net2_start["mlp_shared"] < 0.2 * net2_start["mlp_averaged"]
