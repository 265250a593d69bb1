#!/usr/bin/env bash
# Statement coverage of scopelab under the test suite, the `python -m scopelab` subprocesses, sweep
# workers and Ray workers included ([tool.coverage] in pyproject.toml). Prints the table, misses by line.
# ~6-10 min on 2 busy cores. PYTHON= picks the interpreter; extra arguments go to pytest (-m 'not ray', a file).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
export COVERAGE_FILE="$PWD/.coverage"   # absolute: the subprocesses run in the tests' temporary directories
rm -f .coverage .coverage.*
"$PYTHON" -m coverage run -m pytest -q -p no:cacheprovider "$@" || echo "coverage.sh: some tests failed (above); the table still counts them" >&2
"$PYTHON" -m coverage combine -q
"$PYTHON" -m coverage report
