"""Launch one stack component detached, print its pid, exit (run as a script by spawn()).

Run with ``python -I`` from ``infra.processes.spawn``: it starts the component in a new
session with its output appended to a log file, then leaves without waiting, so the
component is re-parented to init and outlives both this launcher and the caller.
"""

import json
import os
import subprocess
import sys


def main() -> None:
    spec = json.loads(sys.argv[1])
    with open(spec["log"], "ab") as log:
        try:
            child = subprocess.Popen(
                spec["command"],
                cwd=spec["cwd"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            print(f"{spec['command'][0]}: {exc}", file=sys.stderr)
            os._exit(1)
    print(child.pid, flush=True)
    os._exit(0)  # no Popen finaliser, no waiting: the child is on its own now


if __name__ == "__main__":
    main()
