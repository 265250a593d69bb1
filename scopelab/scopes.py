"""`scopelab scopes`: the article's naming sequence (ARTICLE.md section 1), run in a fresh graph,
and with `--api tf2` each step next to what TensorFlow 2 does for the same intent (eager mode).

Only the code columns are typed in; every name in the output is what TensorFlow returned just now,
and every error is TensorFlow's own message.
"""

from __future__ import annotations

from scopelab.quiet_tf import import_tensorflow
from scopelab.report.tables import Table, to_json, to_markdown, to_text

HEADERS = ("code", "name", "rule")
WRAP = {"code": 46, "name": 30, "rule": 40}  # table cells wrap at these widths: 120 columns in all
TF2_HEADERS = ("code", "name", "tf2 code", "tf2 name", "tf2 rule")
TF2_WRAP = {"code": 24, "name": 18, "tf2 code": 28, "tf2 name": 18, "tf2 rule": 26}  # 122 columns


def naming_rows() -> list[dict[str, str]]:
    """Run the sequence in a new tf.Graph; one row per step: the code, the name TF gave, the rule."""
    tf = import_tensorflow()
    tf1 = tf.compat.v1
    rows: list[dict[str, str]] = []

    def row(code: str, name: str, rule: str) -> None:
        rows.append({"code": code, "name": name, "rule": rule})

    with tf.Graph().as_default():
        with tf.name_scope("my_scope"):
            v1 = tf1.get_variable("var1", [1])
            row('name_scope("my_scope"): get_variable("var1", [1])', v1.name, "get_variable ignores name_scope")
            v2 = tf.Variable(1.0, name="var2")
            row('name_scope("my_scope"): Variable(1.0, name="var2")', v2.name, "name_scope names tf.Variable")
            total = tf.add(v1, v2)
            row('name_scope("my_scope"): add(v1, v2)', total.name, "name_scope names ops")
        with tf1.variable_scope("my_scope"):
            v1 = tf1.get_variable("var1", [1])
            row('variable_scope("my_scope"): get_variable("var1", [1])', v1.name,
                "variable_scope names the variables of get_variable")
            v2 = tf.Variable(1.0, name="var2")
            row('variable_scope("my_scope"): Variable(1.0, name="var2")', v2.name,
                "variable_scope also opens a name scope; my_scope/ was taken, so TensorFlow uniquified it")
            total = tf.add(v1, v2)
            row('variable_scope("my_scope"): add(v1, v2)', total.name, "ops land in that uniquified name scope too")
        with tf1.variable_scope("my_scope2"):
            v4 = tf1.get_variable("var4", [1], initializer=tf1.constant_initializer(4.0))
            row('variable_scope("my_scope2"): get_variable("var4", [1], initializer=constant_initializer(4.0))',
                v4.name, "a new variable in my_scope2")
        try:
            with tf1.variable_scope("my_scope2"):
                tf1.get_variable("var4")
            outcome = "no error"
        except ValueError as error:
            outcome = f"ValueError: {error}"
        row('variable_scope("my_scope2"): get_variable("var4")', outcome,
            "the same name again without reuse: reuse must be asked for")
        with tf1.variable_scope("my_scope2", reuse=True):
            again = tf1.get_variable("var4", [1])
            row('variable_scope("my_scope2", reuse=True): get_variable("var4", [1])', again.name,
                f"reuse=True returns the existing variable (same object: {again is v4})")
        with tf1.variable_scope("my_scope2"):
            tf1.get_variable_scope().reuse_variables()
            again = tf1.get_variable("var4", [1])
            row('variable_scope("my_scope2"): get_variable_scope().reuse_variables(); get_variable("var4", [1])',
                again.name, f"reuse_variables() turns reuse on for the open scope (same object: {again is v4})")
    return rows


def tf2_rows() -> list[dict[str, str]]:
    """The same intents the TensorFlow 2 way, run eagerly; one row per row of `naming_rows`. One sequence
    read top to bottom, as the article's: kept whole although it runs past 50 lines."""
    tf = import_tensorflow()
    rows: list[dict[str, str]] = []

    def row(code: str, name: str, rule: str) -> None:
        rows.append({"tf2 code": code, "tf2 name": name, "tf2 rule": rule})

    with tf.name_scope("my_scope"):
        v1 = tf.Variable(1.0, name="var1")
        v2 = tf.Variable(1.0, name="var2")
        total = tf.add(v1, v2)
    row('name_scope("my_scope"): Variable(1.0, name="var1")', v1.name,
        "no get_variable in TF2: tf.Variable is the one way, and name_scope names it, eager or not")
    row('name_scope("my_scope"): Variable(1.0, name="var2")', v2.name, "as in TF1")
    row('name_scope("my_scope"): add(v1, v2), eager; then traced in a tf.function',
        f"{_eager_name(total)}; traced: {_traced_names(tf, v1, v2, 1)[0]}",
        "an eager tensor has no name; in a traced graph name_scope names ops as in TF1")

    module = _scoped_module(tf, "my_scope", "var1", 1.0)
    row('class M(tf.Module): with self.name_scope: Variable(1.0, name="var1"); M(name="my_scope")',
        module.var1.name, "a tf.Module opens its own name scope for its variables: what variable_scope named")
    with tf.name_scope("my_scope"):
        again = tf.Variable(1.0, name="var2")
    row('name_scope("my_scope") again: Variable(1.0, name="var2")', again.name,
        f"eager name scopes are never uniquified: two variables, one name (same object: {again is v2})")
    row('in one tf.function: name_scope("my_scope") twice, add(v1, v2) in each', _traced_names(tf, v1, v2, 2)[1],
        "inside one traced graph op names are still made unique")
    import keras

    dense = keras.layers.Dense(1, name="my_scope2")
    dense.build((None, 1))
    row('keras.layers.Dense(1, name="my_scope2").build((None, 1))',
        f"path {dense.kernel.path}, name {dense.kernel.name}",
        f"Keras {keras.__version__} names a layer's weight by its path, layer/weight")
    with tf.name_scope("my_scope2"):
        v4 = tf.Variable(4.0, name="var4")
        second = tf.Variable(4.0, name="var4")
    row('name_scope("my_scope2"): Variable(4.0, name="var4") twice', f"{v4.name} and {second.name}",
        f"no error: names are labels, not keys, so asking again makes a second variable (same object: {second is v4})")

    class Holder(tf.Module):
        def __init__(self, owner):
            super().__init__(name="holder")
            self.var4 = owner.var4  # the object itself: this is what reuse=True becomes

    owner = _scoped_module(tf, "my_scope2", "var4", 4.0)
    holder = Holder(owner)
    row("class Holder(tf.Module): self.var4 = owner.var4", holder.var4.name,
        f"reuse becomes holding the object: hand it to whoever needs it (same object: {holder.var4 is owner.var4})")
    row(*_shim_row(tf))
    return rows


def _scoped_module(tf, name: str, variable: str, value: float):
    """A tf.Module named `name` that makes one variable in its own name scope: TF2's variable_scope."""

    class Scoped(tf.Module):
        def __init__(self):
            super().__init__(name=name)
            with self.name_scope:
                setattr(self, variable, tf.Variable(value, name=variable))

    return Scoped()


def _eager_name(tensor) -> str:
    try:
        return tensor.name
    except AttributeError as error:
        return f"AttributeError: {error}"


def _traced_names(tf, v1, v2, times: int) -> list[str]:
    """The names of `add(v1, v2)` traced `times` times in one tf.function, each in name_scope my_scope."""
    names = []

    @tf.function
    def traced():
        for _ in range(times):
            with tf.name_scope("my_scope"):
                names.append(tf.add(v1, v2).name)

    traced.get_concrete_function()
    return names


def _shim_row(tf) -> tuple[str, str, str]:
    """tf.compat.v1.keras.utils.track_tf1_style_variables: TF1 code (variable_scope, get_variable)
    inside a Keras layer's call, its variables tracked by the layer. TensorFlow routes
    tf.compat.v1.keras to tf_keras's v1 API only with TF_USE_LEGACY_KERAS set, so it is read from
    there directly, leaving this process's tf.keras as it is."""
    code = "@track_tf1_style_variables call(): variable_scope(\"my_scope2\"): get_variable(\"var4\", [1]), called twice"
    try:
        from tf_keras.api._v1 import keras as keras_v1
    except ImportError as error:
        return code, f"ImportError: {error}", "the migration shim needs tf_keras: pip install 'scopelab[shim]'"
    tf1 = tf.compat.v1

    class Layer(keras_v1.layers.Layer):
        @keras_v1.utils.track_tf1_style_variables
        def call(self, inputs):
            with tf1.variable_scope("my_scope2"):
                return inputs * tf1.get_variable("var4", [1], initializer=tf1.constant_initializer(4.0))

    layer = Layer(name="shim")
    layer(tf.ones([1]))
    layer(tf.ones([1]))
    names = [variable.name for variable in layer.trainable_weights]
    return code, ", ".join(names), (f"migration shim: TF1 naming and reuse inside a layer; {len(names)} variable "
                                    "after two calls, tracked by the layer")


def show(fmt: str, api: str = "tf1") -> str:
    """The naming table as text (`table`), a Markdown table (`markdown`) or JSON rows (`json`); with
    api `tf2`, each article row next to its TensorFlow 2 counterpart."""
    if api == "tf2":
        rows = [{"code": old["code"], "name": old["name"], **new} for old, new in zip(naming_rows(), tf2_rows())]
        headers, wrap = TF2_HEADERS, TF2_WRAP
    else:
        rows, headers, wrap = naming_rows(), HEADERS, WRAP
    table = Table("", list(headers), [[row[key] for key in headers] for row in rows],
                  code={index for index, key in enumerate(headers) if "rule" not in key},
                  wrap=tuple(wrap[key] for key in headers))
    return RENDERERS[fmt](table)


# Text wraps its cells (to `wrap`, a blank line between rows); markdown puts code and names in backticks.
RENDERERS = {"table": to_text, "markdown": to_markdown, "json": to_json}
