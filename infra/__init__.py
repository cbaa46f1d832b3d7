"""Running palette-worker's infrastructure: the native stack and its bootstrap.

``infra.stack`` is the entry point (``palette stack up|down|status|env``); the other
modules are its parts: ``processes`` (detached processes, pid files, ports),
``state`` (``stack.json``), ``components`` (what runs and how it is checked),
``seaweed`` and ``broker`` (the S3 server and Redis).
"""
