"""Issue 21, what reproduce and compare count, what provenance keeps, and how big an input may be: reproduce
reuses a run only when its config and its data match; compare counts re-runs of one seed once; no secret from
the environment reaches a run directory or `show`; sweeps, seed lists and base: chains are refused beyond their
limits before anything is built or read. Each test fails on the code before the fix."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scopelab import provenance, reproduce
from scopelab.config import CHAIN_LIMIT, MAX_BASE_CHAIN, dump_config, load_config
from scopelab.config_source import builtin_path
from scopelab.data import data_checksum
from scopelab.errors import InputError
from scopelab.reproduce_request import ReproduceRequest
from scopelab.runs import RunDir, RunRecord
from scopelab.safe_read import CONFIG_LIMIT, YAML_NODES
from scopelab.sweep.grid import MAX_MEMBERS, check_sweep_size, parse_seeds

from conftest import cli, only_run, summary_of, tiny_autoencoder, write_config, write_idx_dir

# --- reproduce: the same config AND the same data ---------------------------------------------------------------


def article_run(runs_dir: Path, name: str, checksum: str | None, stamp: str = "100000") -> RunDir:
    """A completed --quick run of an article config at seed 0, as the runner records it (what plan reads)."""
    path = builtin_path(name)
    config = load_config(path, (*reproduce.quick_overrides(load_config(path)), "train.seed=0"))
    run = RunDir(runs_dir / f"20261127-{stamp}-{name}")
    run.path.mkdir(parents=True)
    run.write_text("config.yaml", dump_config(config))
    run.write_record(RunRecord(run.run_id, name, config.experiment, "completed", data_checksum=checksum))
    return run


def reused(runs_dir: Path) -> tuple[list[str], list[str]]:
    """The run ids plan() reuses, and what it says about those it passes over."""
    said: list[str] = []
    targets = reproduce.plan(ReproduceRequest(runs_dir, quick=True), said.append)
    return [target.run.run_id for target in targets if target.reused], said


def test_reproduce_does_not_reuse_a_run_trained_on_other_data(runs_dir, mnist_dir, monkeypatch):
    monkeypatch.delenv("SCOPELAB_DATA", raising=False)
    bundled = [article_run(runs_dir, name, data_checksum()).run_id for name in reproduce.ARTICLE_CONFIGS]
    assert reused(runs_dir) == (bundled, [])
    # The same resolved configs, but SCOPELAB_DATA now points at other data: nothing is the article's result.
    monkeypatch.setenv("SCOPELAB_DATA", str(mnist_dir))
    found, said = reused(runs_dir)
    assert found == []
    assert said == [f"reproduce: not reused, trained on other data (their data checksum differs): "
                    f"{', '.join(bundled[:3])} and 1 more"]
    # A run made on that other data is the one reused under it.
    other = article_run(runs_dir, "tied_ae", data_checksum(str(mnist_dir)), stamp="110000").run_id
    assert reused(runs_dir)[0] == [other]


def test_reproduce_does_not_reuse_a_run_whose_data_changed_in_place(runs_dir, tmp_path, monkeypatch):
    data = write_idx_dir(tmp_path / "data")
    monkeypatch.setenv("SCOPELAB_DATA", str(data))
    run = article_run(runs_dir, "mlp_shared", data_checksum(str(data))).run_id
    assert reused(runs_dir)[0] == [run]
    write_idx_dir(data, train=700)  # same path, other images
    assert reused(runs_dir)[0] == []


def test_reproduce_does_not_reuse_a_run_that_recorded_no_data_checksum(runs_dir, monkeypatch):
    monkeypatch.delenv("SCOPELAB_DATA", raising=False)
    old = article_run(runs_dir, "untied_ae", None).run_id  # made before runs recorded their data
    found, said = reused(runs_dir)
    assert found == []
    assert said == ["reproduce: not reused, made by an older scopelab that recorded no data checksum, so what "
                    f"they trained on cannot be checked: {old}"]


def test_data_checksum_is_of_the_files_and_matches_what_a_run_loads(tmp_path):
    from scopelab.data import load_mnist

    first, other = write_idx_dir(tmp_path / "a"), write_idx_dir(tmp_path / "c", train=601)
    same = shutil.copytree(first, tmp_path / "b")
    assert data_checksum(str(first)) == data_checksum(str(same)) == load_mnist(str(first)).checksum
    assert data_checksum(str(other)) != data_checksum(str(first))
    assert data_checksum() == load_mnist().checksum != data_checksum(str(first))  # the bundled copy
    with pytest.raises(InputError, match="no such data directory"):
        data_checksum(str(tmp_path / "missing"))


# --- provenance: an allowlist, and never a secret ----------------------------------------------------------------

SECRETS = {
    "TF_TOKEN_app_terraform_io": "tok-9f3ac1e7-terraform",
    "TF_VAR_db_password": "pw-5d8e20b4-database",
    "AWS_SECRET_ACCESS_KEY": "aws-c7b61f0a-secret",
}


def test_a_run_records_no_secret_and_the_checksum_of_its_data(tmp_path, mnist_dir, monkeypatch):
    """A real tiny run with secrets and an allowlisted variable in its environment: the allowlisted one is
    recorded (and shown), no secret is in any byte of the run directory, nor in `show` (text or json). Its data's
    checksum is recorded, and a resume on other data refused."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SCOPELAB_DATA", str(mnist_dir))  # allowlisted: it is what the run trains on
    config = tiny_autoencoder(mnist_dir)
    del config["data"]["path"]
    runs_dir = tmp_path / "runs"
    result = cli("run", write_config(tmp_path / "tiny.yaml", config), "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 0, result.stderr
    run = only_run(runs_dir)
    summary = summary_of(run)
    assert summary["provenance"]["env"] == {"SCOPELAB_DATA": str(mnist_dir)}
    assert summary["data_checksum"] == data_checksum(str(mnist_dir))
    files = [path for path in run.rglob("*") if path.is_file()]
    assert len(files) > 5  # config, summary, metrics, log, checkpoint and events
    shown = [cli("show", run.name, "--runs-dir", runs_dir, *fmt).stdout for fmt in ((), ("--format", "json"))]
    assert f"SCOPELAB_DATA={mnist_dir}" in shown[0]
    assert json.loads(shown[1])["provenance"]["env"] == {"SCOPELAB_DATA": str(mnist_dir)}
    for name, value in SECRETS.items():
        for path in files:
            assert value.encode() not in path.read_bytes(), f"{name}'s value is in {path}"
        assert all(value not in output and name not in output for output in shown)
    # Resumed on other data, the run would be half of each under the first one's checksum: refused, one line.
    (run / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    monkeypatch.setenv("SCOPELAB_DATA", str(write_idx_dir(tmp_path / "other", train=601)))
    resumed = cli("run", "--resume", run.name, "--runs-dir", runs_dir, "--quiet")
    assert resumed.exit_code == 2 and resumed.stderr.count("\n") == 1
    assert f"run {run.name} trained on data with checksum {summary['data_checksum']}" in resumed.stderr
    assert summary_of(run)["status"] == "interrupted"


def test_show_hides_the_secrets_an_older_run_recorded(tmp_path):
    """scopelab 0.1 recorded every TF_* variable: show prints only what a run records now."""
    run = tmp_path / "runs" / "20261127-100000-cfg"
    run.mkdir(parents=True)
    env = {**SECRETS, "TF_DETERMINISTIC_OPS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    record = {"run_id": run.name, "config_name": "cfg", "experiment": "autoencoder", "status": "completed",
              "format_version": 2, "provenance": {"command": "scopelab run cfg", "env": env}}
    (run / "summary.json").write_text(json.dumps(record))
    text = cli("show", run.name, "--runs-dir", run.parent).stdout
    shown = json.loads(cli("show", run.name, "--runs-dir", run.parent, "--format", "json").stdout)
    assert "TF_DETERMINISTIC_OPS=1" in text and "TF_CPP_MIN_LOG_LEVEL" not in text
    assert shown["provenance"]["env"] == {"TF_DETERMINISTIC_OPS": "1"}
    for value in SECRETS.values():
        assert value not in text and value not in json.dumps(shown)


def test_provenance_matches_names_exactly_and_never_keeps_a_secret_name(monkeypatch):
    env = {"TF_DETERMINISTIC_OPS": "1", "TF_DETERMINISTIC_OPS_X": "1", "XTF_XLA_FLAGS": "x", "OMP_NUM_THREADS": "2",
           "MY_API_KEY": "k", "HF_TOKEN": "t"}
    assert provenance.recordable(env) == {"OMP_NUM_THREADS": "2", "TF_DETERMINISTIC_OPS": "1"}
    # Even allowlisted (by mistake, one day), a name that suggests a secret is left out, in any case.
    monkeypatch.setattr(provenance, "ENV_ALLOWLIST", (*provenance.ENV_ALLOWLIST, "MY_API_KEY", "HF_TOKEN", "db_Pass"))
    assert provenance.recordable({**env, "db_Password": "p"}) == {"OMP_NUM_THREADS": "2", "TF_DETERMINISTIC_OPS": "1"}
    assert not any(provenance.SECRET_NAME.search(name) for name in provenance.ENV_ALLOWLIST[:-3])


# --- compare: a re-run of a seed is not another repeat -----------------------------------------------------------


def fake_run(runs_dir: Path, run_id: str, name: str, seed: int, test_loss: float) -> None:
    """A completed autoencoder run written by hand: config, one logged loss, summary."""
    run = runs_dir / run_id
    run.mkdir(parents=True)
    tied = name == "tied"
    config = {"name": name, "experiment": "autoencoder", "model": {"tied": tied}, "train": {"seed": seed}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    (run / "metrics.csv").write_text(f"network,step,loss,accuracy\nautoencoder,0,{test_loss},\n")
    record = {"run_id": run_id, "config_name": name, "experiment": "autoencoder", "status": "completed",
              "format_version": 2, "seed": seed, "metrics": {"test_loss": test_loss}}
    (run / "summary.json").write_text(json.dumps(record))


def test_compare_counts_re_runs_of_a_seed_once_and_says_which_it_kept(tmp_path):
    """Two seeds of each config, each run four times: n is 2, not 8, and the newest run of each seed counts."""
    runs_dir = tmp_path / "runs"
    ids = []
    for name, base in (("untied", 0.30), ("tied", 0.20)):
        for seed in (0, 1):
            for again in range(4):
                run_id = f"20261127-1{again}{seed}00{name == 'tied':d}-{name}"
                fake_run(runs_dir, run_id, name, seed, base + seed / 100 + again / 1000)
                ids.append(run_id)
    by_id = cli("compare", *ids, "--format", "json", "--runs-dir", runs_dir)
    by_name = cli("compare", "untied", "tied", "--format", "json", "--runs-dir", runs_dir)
    for result in (by_id, by_name):
        assert result.exit_code == 0, result.stderr
        (comparison,) = json.loads(result.stdout)["comparisons"]
        assert [(group["label"], group["n"]) for group in comparison["groups"]] == [("untied", 2), ("tied", 2)]
        test = next(row for row in comparison["rows"] if row["kind"] == "test")
        assert test["values"]["tied"]["mean"] == pytest.approx(0.2 + 0.005 + 0.003)  # the newest of seeds 0 and 1
        notes = result.stderr.splitlines()
        assert len(notes) == 4 and all(note.startswith("note: ") for note in notes)
        assert ("note: tied seed 1 ran 4 times with the same config; one repeat: kept 20261127-131001-tied "
                "(the newest), dropped 20261127-121001-tied, 20261127-111001-tied, 20261127-101001-tied") in notes
    each = cli("compare", *ids[:4], "--each", "--format", "json", "--runs-dir", runs_dir)
    assert len(json.loads(each.stdout)["comparisons"][0]["groups"]) == 4 and each.stderr == ""  # --each pools none


# --- sizes: refused before anything is built or read -------------------------------------------------------------

MEMORY = 1 << 30  # address space for a refusal: building 100,000,000 seeds or 1,000,000 members needs far more


def scopelab_limited(tmp_path: Path, *args) -> subprocess.CompletedProcess:
    """The CLI in its own process, its memory capped: code that builds what it should count runs out of memory
    (MemoryError) or is still planning at the timeout, a hang guard far beyond the second a refusal takes."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))

    return subprocess.run([sys.executable, "-m", "scopelab", *map(str, args), "--runs-dir", tmp_path / "runs"],
                          capture_output=True, text=True, cwd=tmp_path, preexec_fn=cap, timeout=120)


@pytest.mark.parametrize("command, said", [
    (("run", "tiny.yaml", "--seeds", "100000000"), "--seeds 100000000: 100,000,000 seeds"),
    (("reproduce", "--seeds", "1000000", "--quick"), "--seeds 1000000: 4,000,000 runs (4 configs x 1,000,000 seeds)"),
    (("sweep", "tiny.yaml", "--grid", "train.learning_rate=" + ",".join(f"0.{i:04d}" for i in range(1, 1001)),
      "--grid", "train.batch_size=" + ",".join(str(i) for i in range(1, 1001))),
     "a sweep of 1,000,000 members (--grid train.learning_rate: 1,000 values x --grid train.batch_size: 1,000 values)"),
])
def test_too_many_runs_are_refused_before_they_are_built(tmp_path, mnist_dir, command, said):
    write_config(tmp_path / "tiny.yaml", tiny_autoencoder(mnist_dir))
    result = scopelab_limited(tmp_path, *command)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr == f"Error: {said}, over the limit of 10,000 runs one command plans; split it up.\n"
    assert result.stdout == "" and not (tmp_path / "runs").exists()


def test_the_limit_counts_members_without_building_them():
    assert len(parse_seeds(str(MAX_MEMBERS))) == MAX_MEMBERS
    assert len(parse_seeds(",".join(map(str, range(MAX_MEMBERS))))) == MAX_MEMBERS
    check_sweep_size({"a": ["1"] * 100, "b": ["1"] * 10}, list(range(10)))  # 10,000: allowed
    for too_many in (lambda: parse_seeds(str(MAX_MEMBERS + 1)),
                     lambda: parse_seeds(",".join(map(str, range(MAX_MEMBERS + 1)))),
                     lambda: parse_seeds("9" * 5000),  # int() alone would refuse it with a ValueError
                     lambda: check_sweep_size({"a": ["1"] * 1000, "b": ["1"] * 1000}, None),
                     lambda: check_sweep_size({"a": ["1"] * 100}, list(range(101)))):
        with pytest.raises(InputError):
            too_many()


def test_reproduce_refuses_seeds_before_planning_any(monkeypatch, tmp_path):
    def no_config(*args, **kwargs):
        raise AssertionError("a config was loaded: the targets were being built")

    monkeypatch.setattr(reproduce, "load_config", no_config)
    with pytest.raises(InputError, match="10,004 runs"):
        reproduce.plan(ReproduceRequest(tmp_path / "runs", seeds=MAX_MEMBERS // 4 + 1))


# --- base: chains ------------------------------------------------------------------------------------------------


def chain(directory: Path, length: int, padding: int = 0) -> Path:
    """file0.yaml -> file1.yaml -> ... -> the last, which holds the config; each padded with a comment."""
    directory.mkdir(exist_ok=True)
    for index in range(length):
        last = index == length - 1
        text = "experiment: autoencoder\ntrain: {steps: 5}\n" if last else f"base: file{index + 1}.yaml\n"
        (directory / f"file{index}.yaml").write_text(text + "#" * padding + "\n")
    return directory / "file0.yaml"


def test_a_base_chain_of_the_maximum_length_loads(tmp_path):
    assert load_config(chain(tmp_path, MAX_BASE_CHAIN)).train.steps == 5


def test_a_longer_base_chain_is_refused_before_its_next_file_is_read(tmp_path):
    top = chain(tmp_path, 40)
    (tmp_path / f"file{MAX_BASE_CHAIN}.yaml").write_text("{ not yaml")  # the first file too many: never read
    result = cli("config", "show", top)
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {tmp_path}/file{MAX_BASE_CHAIN - 1}.yaml: base 'file{MAX_BASE_CHAIN}.yaml' "
                             f"would make the base chain of {top} longer than {MAX_BASE_CHAIN} files.\n")


def test_a_base_chain_over_the_total_size_is_refused_before_its_next_file_is_read(tmp_path):
    files = CHAIN_LIMIT // (CONFIG_LIMIT - 1000) + 1  # each under the 1 MB one config may have; together over
    top = chain(tmp_path, files, padding=CONFIG_LIMIT - 1000)
    last = tmp_path / f"file{files - 1}.yaml"
    last.write_text("{ not yaml" + "#" * (CONFIG_LIMIT - 1000))  # the file that crosses the limit: never read
    result = cli("config", "show", top)
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {tmp_path}/file{files - 2}.yaml: base 'file{files - 1}.yaml' would make the "
                             f"base chain of {top} more than {CHAIN_LIMIT:,} bytes in all.\n")


def test_a_base_chain_shares_one_yaml_node_limit(tmp_path):
    """Parsing costs ~20 us a node: 32 files of 100,000 nodes each would take a minute, so the chain shares them."""
    many = YAML_NODES * 3 // 5
    (tmp_path / "big.yaml").write_text(f"base: bigger.yaml\ndescription: [{', '.join(['x'] * many)}]\n")
    (tmp_path / "bigger.yaml").write_text(f"experiment: autoencoder\nname: [{', '.join(['y'] * many)}]\n")
    result = cli("config", "show", tmp_path / "big.yaml")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {tmp_path}/bigger.yaml: the config file expands to more than {YAML_NODES:,} "
                             "YAML nodes with the documents read before it (through its aliases).\n")


def test_the_limits_are_what_the_docs_say():
    text = (Path(__file__).resolve().parents[1] / "docs" / "reliability.md").read_text()
    assert f"{MAX_MEMBERS:,} runs" in text and f"{MAX_BASE_CHAIN} files" in text and "4 MB" in text
    for name in provenance.ENV_ALLOWLIST:
        assert f"`{name}`" in text
    assert CHAIN_LIMIT == 4 << 20
