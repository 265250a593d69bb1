"""A worker process of the local executor (`python -m scopelab.sweep PARENT_PID`): runs member after member,
each given as one JSON line on stdin, and answers each with its result as one JSON line on stdout.
TensorFlow is imported once per worker, not once per member."""

import json
import os
import sys

from scopelab import signals
from scopelab.signals import die_with_parent, stop_at_once
from scopelab.sweep.member import run_member

die_with_parent(int(sys.argv[1]))
# Results go out on the real stdout; anything else that prints goes to stderr, so a result is one clean line.
results = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
with stop_at_once(repeats_wind_down=True):
    for line in sys.stdin:
        signals.stopping = False  # a new member; a driver that stopped sends none
        results.write(json.dumps(run_member(json.loads(line))) + "\n")
        results.flush()
