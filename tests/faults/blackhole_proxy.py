"""A TCP forwarder that can be partitioned: once `partition()` is called it
forwards nothing more in either direction and never closes a connection,
and a new connection is accepted but never reaches the backend. That is
what a peer on a node that lost its network (or lost power) looks like:
no reset, no FIN, just silence. (The kernel still acknowledges what is
sent into it, as it would not across a real partition; peers notice only
what a protocol-level check, such as an HTTP/2 PING, notices.)"""

import select
import socket
import threading

from tcp_balancer import end_both


class BlackholeProxy:
    def __init__(self, backend_port, host="127.0.0.1"):
        self.backend_port = backend_port
        self.partitioned = threading.Event()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(256)
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self.upstream_ports = []  # local ports of the connections to the backend
        self._held = []  # sockets kept open, unserved, while partitioned
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def partition(self):
        self.partitioned.set()

    def heal(self):
        """The network is back for new connections; those the partition cut
        off stay silent (as after a real one: their peers' timeouts or
        keepalives end them), and what was sent into them is never
        delivered."""
        self.partitioned.clear()

    def _accept(self):
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.partitioned.is_set():
                self._held.append(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.backend_port), 2)
            except OSError:
                client.close()
                continue
            self.connections += 1
            self.upstream_ports.append(upstream.getsockname()[1])
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src, dst):
        try:
            while not self._stopped:
                if self.partitioned.is_set():
                    self._held.append(src)
                    return  # silence: nothing forwarded, nothing closed
                readable, _, _ = select.select([src], [], [], 0.05)
                if not readable:
                    continue
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        end_both(src, dst)

    def backend_still_connected(self):
        """Connections to the backend the backend still holds ESTABLISHED
        (from /proc/net/tcp: it has not closed its end)."""
        backend, mine = self.backend_port, set(self.upstream_ports)
        held = 0
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):  # gRPC listens dual-stack
            with open(table) as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    local, remote, state = fields[1], fields[2], fields[3]
                    if (state == "01" and int(local.rsplit(":", 1)[1], 16) == backend
                            and int(remote.rsplit(":", 1)[1], 16) in mine):
                        held += 1
        return held

    def stop(self):
        self._stopped = True
        self._listener.close()
        for s in self._held:
            try:
                s.close()
            except OSError:
                pass
