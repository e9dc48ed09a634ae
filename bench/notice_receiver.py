#!/usr/bin/env python3
"""A notice receiver for benchmarks: answers every POST 200 at once and
counts what it got. With it running, a profile's `notify.url` pointing at
it shows what issuance notices cost an enrollment (bench/README.md,
session 21):

  python3 bench/notice_receiver.py --port 18090 --out /tmp/notices.json &
  python3 bench/compare.py --skip-micromdm ... \
      --candidate-gateway-args=--profiles_file=/tmp/notify-profiles.json

On SIGTERM or SIGINT it writes {"posts", "unique", "issued", "failed",
"bytes", "cpu_seconds"} to --out (and standard output) and exits."""

import argparse
import json
import os
import resource
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
SEEN = set()
COUNTS = {"posts": 0, "issued": 0, "failed": 0, "bytes": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            notice = json.loads(body)
        except ValueError:
            self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with LOCK:
            COUNTS["posts"] += 1
            COUNTS["bytes"] += len(body)
            if notice.get("notice_id") not in SEEN:
                SEEN.add(notice.get("notice_id"))
                event = notice.get("event")
                if event in ("issued", "failed"):
                    COUNTS[event] += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=18090)
    p.add_argument("--out", help="write the counts here at exit")
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True

    def finish(*_):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with LOCK:
            result = dict(COUNTS, unique=len(SEEN),
                          cpu_seconds=round(usage.ru_utime + usage.ru_stime, 3))
        text = json.dumps(result)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text + "\n")
        print(text, flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    print(f"notice receiver on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
