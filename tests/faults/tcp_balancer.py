"""A TCP load balancer for the fault tests, as a Kubernetes Service is to
gateway pods: each new connection goes to the next backend in turn that
accepts it; a backend that refuses (its pod is gone) is skipped. Bytes are
copied both ways until either side closes. No HTTP awareness, no retries of
data already sent: a connection whose backend dies is reset, as a device
would see it."""

import itertools
import socket
import threading


def end_both(src, dst):
    """One side of a forwarded connection is gone: end the other at once
    (shutdown also wakes the thread still reading it; a close alone would
    not), so the client sees its connection end as it would with a dead
    pod, and close the side this thread read from."""
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    src.close()


class Balancer:
    def __init__(self, backends, host="127.0.0.1", port=0):
        self.backends = list(backends)
        self._turn = itertools.count()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(256)
        self.port = self._listener.getsockname()[1]
        self.connections = {b: 0 for b in self.backends}
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _connect(self):
        for _ in range(len(self.backends)):
            backend = self.backends[next(self._turn) % len(self.backends)]
            try:
                upstream = socket.create_connection(("127.0.0.1", backend), timeout=2)
            except OSError:
                continue
            upstream.settimeout(None)
            self.connections[backend] += 1
            return upstream
        return None

    def _accept(self):
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = self._connect()
            if upstream is None:
                client.close()
                continue
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        end_both(src, dst)

    def stop(self):
        self._stopped = True
        self._listener.close()
