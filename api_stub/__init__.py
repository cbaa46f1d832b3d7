"""HTTP edge of palette-worker: storage events in, Celery tasks out, results polled.

``events`` parses every storage event format into jobs (pure), ``app`` serves HTTP,
``lambda_handler`` is the AWS Lambda entry point, ``python -m api_stub`` runs the server.
"""
