"""Config loading: defaults, overrides, round trip, and a fuzz test of the loader."""

from __future__ import annotations

import os
import string

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scopelab.config import AutoencoderConfig, MlpPairConfig, dump_config, load_config
from scopelab.errors import InputError


def test_article_configs_hold_the_article_settings():
    tied = load_config("configs/tied_ae.yaml")
    assert isinstance(tied, AutoencoderConfig) and tied.name == "tied_ae" and tied.model.tied
    assert (tied.train.steps, tied.train.batch_size, tied.train.optimizer, tied.train.learning_rate) == (
        10000,
        128,
        "adagrad",
        0.1,
    )
    assert (tied.model.input_size, tied.model.hidden_size, tied.model.init_std) == (784, 625, 0.05)
    assert (tied.data.train_start, tied.data.train_stop, tied.train.log_every) == (5000, None, 1000)
    assert load_config("configs/untied_ae.yaml") == AutoencoderConfig(
        name="untied_ae", description=load_config("configs/untied_ae.yaml").description
    )
    shared, averaged = load_config("configs/mlp_shared.yaml"), load_config("configs/mlp_averaged.yaml")
    assert isinstance(shared, MlpPairConfig) and shared.sharing == "shared" and averaged.sharing == "independent"
    for pair in (shared, averaged):
        first, second = pair.networks
        assert (first.optimizer, first.learning_rate, first.steps, first.train_start, first.train_stop) == (
            "adagrad",
            0.003,
            5000,
            0,
            30000,
        )
        assert (second.optimizer, second.learning_rate, second.steps, second.train_start, second.train_stop) == (
            "adam",
            0.001,
            5000,
            30000,
            60000,
        )
        assert (pair.train.batch_size, pair.model.weight_decay, pair.model.hidden_size) == (100, 0.01, 625)
    assert [n.scope for n in shared.networks] == ["mlp1", "mlp1"]
    assert [n.scope for n in averaged.networks] == ["mlp1", "mlp2"]


def test_overrides_are_typed_and_reach_lists():
    config = load_config(
        "configs/mlp_averaged.yaml",
        ["networks.1.learning_rate=1e-3", "train.seed=7", "networks.0.train_stop=null", "description=hello world"],
    )
    assert config.networks[1].learning_rate == 0.001 and config.train.seed == 7
    assert config.networks[0].train_stop is None and config.description == "hello world"


def test_override_of_a_key_the_file_leaves_out(tmp_path):
    path = tmp_path / "short.yaml"
    path.write_text("experiment: autoencoder\nmodel: {hidden_size: 3}\n")
    config = load_config(path, ["model.tied=true", "train.steps=5"])
    assert config.model == config.model.__class__(hidden_size=3, tied=True) and config.train.steps == 5


def test_resolved_config_round_trips(tmp_path):
    for name in ("tied_ae", "mlp_shared"):
        config = load_config(f"configs/{name}.yaml", ["train.seed=3"])
        path = tmp_path / f"{name}.yaml"
        path.write_text(dump_config(config))
        assert load_config(path) == config


KEYS = [
    "experiment",
    "name",
    "train",
    "train.steps",
    "train.learning_rate",
    "model.tied",
    "model",
    "networks",
    "networks.0.scope",
    "networks.1",
    "networks.5.steps",
    "data.path",
    "sharing",
    "x.y",
    "",
    "train.steps.z",
]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True), st.text(string.printable, max_size=8)
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(KEYS + ["steps", "tied", "scope"]), inner, max_size=4),
    ),
    max_leaves=12,
)


FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 300))  # FUZZ_EXAMPLES=4000 for a longer hunt


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(["autoencoder", "mlp_pair", None]),
    document=documents,
    overrides=st.lists(
        st.one_of(
            st.text(string.printable, max_size=20),
            st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), st.text(max_size=8)),
        ),
        max_size=3,
    ),
)
def test_fuzz_loader_gives_a_config_or_the_config_error(tmp_path_factory, base, document, overrides):
    if base and isinstance(document, dict):
        document = {"experiment": base, **document}
    path = tmp_path_factory.getbasetemp() / "fuzz.yaml"
    path.write_text(yaml.safe_dump(document))
    try:
        config = load_config(path, overrides)
    except InputError as error:
        assert str(error) and "\n" not in str(error)
    else:
        assert isinstance(config, (AutoencoderConfig, MlpPairConfig))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_raw_yaml_text(tmp_path_factory, text):
    path = tmp_path_factory.getbasetemp() / "raw.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_config(path)
    except InputError as error:
        assert str(error)


def test_a_base_chain_merges_nested_keys_deeply(tmp_path):
    """Each layer sets other keys of the same mappings, every value unlike the defaults: a shallow merge (a
    child's `train:` replacing its base's whole `train:`) would drop the base's values for the defaults."""
    (tmp_path / "bottom.yaml").write_text(yaml.safe_dump({
        "experiment": "autoencoder",
        "model": {"hidden_size": 40, "init_std": 0.2},
        "train": {"learning_rate": 0.37, "optimizer": "sgd", "log_every": 7, "checkpoint_every": 21},
    }))
    (tmp_path / "middle.yaml").write_text(yaml.safe_dump({"base": "bottom.yaml", "train": {"steps": 12}}))
    (tmp_path / "top.yaml").write_text(yaml.safe_dump({"base": "middle.yaml", "model": {"tied": True},
                                                        "train": {"batch_size": 9}}))
    config = load_config(tmp_path / "top.yaml", ("train.seed=3",))
    train, model = config.train, config.model
    assert (train.learning_rate, train.optimizer, train.log_every, train.checkpoint_every) == (0.37, "sgd", 7, 21), (
        "the base's train.* values were lost under a child's train: mapping (a shallow merge of the base chain)"
    )
    assert (train.steps, train.batch_size, train.seed) == (12, 9, 3), "a child's or --set's own train.* value was lost"
    assert (model.hidden_size, model.init_std, model.tied) == (40, 0.2, True), "the base's model.* values were lost"
