"""Opt-in (`pytest -m full`): the four article configs at full steps on the bundled MNIST, with
`model.api` tf1 and tf2, about eight minutes on 2 cores. The checks are the article's claims, with
room for machine differences, and that tf2 gives tf1's numbers."""

from __future__ import annotations

import pytest

from conftest import cli, only_run, summary_of

pytestmark = pytest.mark.full
APIS = ["tf1", "tf2"]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """Run a config once per api for the whole module: the equality test reuses the runs."""
    runs_dir, done = tmp_path_factory.mktemp("full"), {}

    def run(config: str, api: str):
        if (config, api) not in done:
            target = runs_dir / f"{config}-{api}"
            result = cli("run", f"configs/{config}.yaml", "--set", f"model.api={api}", "--runs-dir", target, "--quiet")
            assert result.exit_code == 0, result.output
            done[config, api] = only_run(target)
        return done[config, api]

    return run


@pytest.mark.parametrize("api", APIS)
def test_tied_autoencoder_beats_untied_near_the_article(full_run, api):
    untied, tied = (summary_of(full_run(config, api)) for config in ("untied_ae", "tied_ae"))
    assert untied["metrics"]["test_loss"] == pytest.approx(0.184, abs=0.01)
    assert tied["metrics"]["test_loss"] == pytest.approx(0.148, abs=0.01)
    assert tied["metrics"]["test_loss"] < untied["metrics"]["test_loss"] - 0.02


@pytest.mark.parametrize("api", APIS)
def test_mlp_pair_near_the_article(full_run, api):
    shared, independent = (summary_of(full_run(config, api)) for config in ("mlp_shared", "mlp_averaged"))
    for metrics in (shared["metrics"], independent["metrics"]):
        assert metrics["acc_net1"] > 0.97 and metrics["acc_net2"] > 0.97
    averaged = independent["metrics"]["acc_averaged"]
    assert averaged > max(independent["metrics"]["acc_net1"], independent["metrics"]["acc_net2"])
    net2_start = {}
    for name in ("mlp_shared", "mlp_averaged"):
        rows = (full_run(name, api) / "metrics.csv").read_text().splitlines()
        net2_start[name] = float(next(row for row in rows if row.startswith("net2,0,")).split(",")[2])
    assert net2_start["mlp_shared"] < 0.2 * net2_start["mlp_averaged"]


@pytest.mark.parametrize("config", ["tied_ae", "untied_ae", "mlp_shared", "mlp_averaged"])
def test_tf2_gives_the_tf1_numbers_at_full_size(full_run, config):
    tf1, tf2 = full_run(config, "tf1"), full_run(config, "tf2")
    assert (tf2 / "metrics.csv").read_text() == (tf1 / "metrics.csv").read_text()
    assert summary_of(tf2)["metrics"] == summary_of(tf1)["metrics"]
