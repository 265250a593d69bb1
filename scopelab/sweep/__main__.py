"""A worker process of the local executor (`python -m scopelab.sweep TASK`): run the member given as JSON
and report its result on the last stdout line."""

import json
import sys

from scopelab.signals import die_with_parent, stop_at_once
from scopelab.sweep.member import run_member

member_task = json.loads(sys.argv[1])
die_with_parent(member_task["parent"])
with stop_at_once():
    print(json.dumps(run_member(member_task)))
