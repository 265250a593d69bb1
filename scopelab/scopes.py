"""`scopelab scopes`: the article's naming sequence (ARTICLE.md section 1), run in a fresh graph.

Only the code column is typed in; every name in the output is what TensorFlow returned just now,
and the reuse error is TensorFlow's own message.
"""

from __future__ import annotations

import json
import textwrap

from scopelab.quiet_tf import import_tensorflow

HEADERS = ("code", "name", "rule")
WRAP = {"code": 46, "name": 30, "rule": 40}  # table cells wrap at these widths: 120 columns in all


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


def show(fmt: str) -> str:
    """The naming table as text (`table`), a Markdown table (`markdown`) or JSON rows (`json`)."""
    rows = naming_rows()
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "markdown":
        lines = ["| code | name | rule |", "|---|---|---|"]
        lines += [f"| `{r['code']}` | `{r['name']}` | {r['rule']} |" for r in rows]
        return "\n".join(lines)
    return _text_table(rows)


def _text_table(rows: list[dict[str, str]]) -> str:
    """Columns wrapped to WRAP widths, a blank line between rows so that wrapped cells stay readable."""
    wrapped = [{key: textwrap.wrap(r[key], WRAP[key], break_on_hyphens=False) or [""] for key in HEADERS} for r in rows]
    widths = {key: max(len(key), *(len(line) for cells in wrapped for line in cells[key])) for key in HEADERS}
    rule = "  ".join("-" * widths[key] for key in HEADERS)
    lines = ["  ".join(key.ljust(widths[key]) for key in HEADERS).rstrip(), rule]
    for number, cells in enumerate(wrapped):
        if number:
            lines.append("")
        height = max(len(cells[key]) for key in HEADERS)
        for index in range(height):
            parts = [(cells[key][index] if index < len(cells[key]) else "").ljust(widths[key]) for key in HEADERS]
            lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)
