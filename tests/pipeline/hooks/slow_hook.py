#!/usr/bin/env python3
"""A hook that hangs past its timeout and has spawned a child of its own.

It writes "<pgid> <child pid>" to $CLAUDE_PROJECT_DIR/slow_hook.pids so the test can check
that the whole process group was killed.
"""

import os
import subprocess
import sys
import time

child = subprocess.Popen(["sleep", "30"])
path = os.path.join(os.environ["CLAUDE_PROJECT_DIR"], "slow_hook.pids")
with open(path + ".tmp", "w") as handle:
    handle.write(f"{os.getpgrp()} {child.pid}\n")
os.replace(path + ".tmp", path)  # atomic: the test never reads half a line
print('{"decision": "block", "reason": "too late to count"}')
sys.stdout.flush()
time.sleep(30)
