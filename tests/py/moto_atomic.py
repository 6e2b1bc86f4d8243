"""moto server with one request processed at a time.

DynamoDB applies a conditional write atomically: of two racing `UpdateItem`s conditioned on
the same old value, exactly one succeeds. moto's threaded server evaluates the condition and
applies the update without a lock, so under load both can succeed, and the catalog's
conformance test (8 racers finishing one snapshot) sees two winners that real DynamoDB would
never produce. Serializing request handling restores that guarantee; connections are still
served by threads, so keep-alive clients do not block each other, and SQS (long polls, no
races) is left unlocked.

Usage: moto_atomic.py -H HOST -p PORT   (the same flags as moto_server)
"""

import argparse
import threading

from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-H", "--host", default="127.0.0.1")
    ap.add_argument("-p", "--port", type=int, default=5000)
    args = ap.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def atomic(environ, start_response):
        # SQS long polls (ReceiveMessage with a wait) would hold the lock for seconds, and
        # nothing the suite races on lives in SQS.
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("AmazonSQS."):
            return app(environ, start_response)
        with lock:
            # The body is produced inside the lock too: a response is part of the request.
            return list(app(environ, start_response))

    run_simple(args.host, args.port, atomic, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
