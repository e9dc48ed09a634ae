#!/usr/bin/env python3
"""A notice receiver for benchmarks: answers every POST 200 at once and
counts what it got. With it running, a profile's `notify.url` pointing at
it shows what issuance notices cost an enrollment (bench/README.md,
session 21):

  python3 bench/notice_receiver.py --port 18090 --out /tmp/notices.json &
  python3 bench/compare.py --skip-micromdm ... \
      --candidate-gateway-args=--profiles_file=/tmp/notify-profiles.json

It is also an external challenge verifier that allows everything: a POST
to a path ending in /verify gets {"allow": true} (counted in "verifies"),
for measuring what the verifier hook costs (session 22). With --tls-cert
and --tls-key it serves HTTPS instead (the TLS handshake in the
connection's thread, not the accepting one).

On SIGTERM or SIGINT it writes {"posts", "unique", "issued", "failed",
"verifies", "connections", "bytes", "cpu_seconds"} to --out (and standard
output) and exits."""

import argparse
import json
import os
import resource
import signal
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
SEEN = set()
COUNTS = {"posts": 0, "issued": 0, "failed": 0, "verifies": 0, "connections": 0, "bytes": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with LOCK:
            COUNTS["connections"] += 1

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path.endswith("/verify"):
            with LOCK:
                COUNTS["verifies"] += 1
            answer = b'{"allow": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
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
    p.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate chain")
    p.add_argument("--tls-key", help="... and this PEM key")
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)

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
    scheme = "https" if args.tls_cert else "http"
    print(f"notice receiver on {scheme}://127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
