"""Runs the load generators of an example side by side: every command starts at once, each in a
session of its own, and run_together returns their outputs once all have exited. A command that
exits non-zero, or does not finish within the timeout, ends the example through `fail`; whatever
happens, no process is left running (the whole session of each is killed).

    outputs = run_together([cmd1, cmd2], env, timeout=70, what="wrk", fail=fail)
"""

import os
import signal
import subprocess


def run_together(commands, env, timeout, what, fail):
    procs = []
    try:
        for cmd in commands:
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True,
                                          start_new_session=True))
        outputs = []
        for p in procs:
            try:
                out, _ = p.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                fail(f"{what} did not finish in {timeout} s")
            outputs.append(out)
            if p.returncode != 0:
                fail(f"{what} exited with {p.returncode}:\n{out}")
        return outputs
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
