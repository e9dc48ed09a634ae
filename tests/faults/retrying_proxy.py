"""An HTTP reverse proxy for the fault tests, as ingress-nginx is to gateway
pods with `proxy-next-upstream: error timeout non_idempotent` and
`proxy-next-upstream-tries: 2`: each device connection is served by the
next backend in turn (so the kill of one cuts off the requests of half the
devices, as with tcp_balancer); when that backend refuses the connection or
the connection breaks
before a response arrives (its pod died), the proxy sends the identical
request to the next backend, and skips the failed one for `fail_timeout`
seconds (nginx's max_fails=1, fail_timeout=10s). The device only ever sees
a response (or 502 once every try failed). Keep-alive on both sides."""

import http.client
import http.server
import itertools
import threading
import time

# Response headers the gateway sets that a device may need.
_PASSED_HEADERS = ("Content-Type", "Retry-After", "Cache-Control")


class RetryingProxy:
    def __init__(self, backends, tries=2, fail_timeout=10.0, host="127.0.0.1"):
        self.backends = list(backends)
        self.tries = tries
        self.fail_timeout = fail_timeout
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._down_until = {b: 0.0 for b in self.backends}
        self.requests = {b: 0 for b in self.backends}  # requests answered by each
        self.resent = 0   # requests cut off after they were sent, sent again
        self.refused = 0  # connections a backend refused
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                self.upstreams = {}  # backend port -> kept-alive connection
                self.home = next(proxy._turn)  # this connection's backend

            def log_message(self, *args):
                pass

            def do_GET(self):
                self._forward(None)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self._forward(self.rfile.read(length))

            def _forward(self, body):
                headers = {"Content-Type": self.headers.get("Content-Type",
                                                            "application/octet-stream")}
                for attempt, backend in enumerate(proxy._order(self.home)):
                    if attempt == proxy.tries:
                        break
                    try:
                        status, reason, kept, data = self._exchange(backend, body, headers)
                    except (OSError, http.client.HTTPException) as e:
                        conn = self.upstreams.pop(backend, None)
                        if conn is not None:
                            conn.close()
                        with proxy._lock:
                            proxy._down_until[backend] = time.monotonic() + proxy.fail_timeout
                            if isinstance(e, ConnectionRefusedError):
                                proxy.refused += 1
                            else:
                                proxy.resent += 1
                        continue
                    with proxy._lock:
                        proxy.requests[backend] += 1
                    self.send_response(status, reason)
                    for name, value in kept:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_error(502, "no backend answered")

            def _exchange(self, backend, body, headers):
                conn = self.upstreams.get(backend)
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", backend, timeout=30)
                    self.upstreams[backend] = conn
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                kept = [(h, resp.getheader(h)) for h in _PASSED_HEADERS
                        if resp.getheader(h) is not None]
                if resp.will_close:
                    conn.close()
                    self.upstreams.pop(backend, None)
                return resp.status, resp.reason, kept, data

        self._server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _order(self, first):
        """Backends to try from the `first`-th on, those marked failed last."""
        ring = [self.backends[(first + i) % len(self.backends)]
                for i in range(len(self.backends))]
        now = time.monotonic()
        with self._lock:
            return sorted(ring, key=lambda b: self._down_until[b] > now)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
