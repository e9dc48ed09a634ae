"""Fault: the signer pod replaced by one at another address, as a rollout
or a node drain does it. The headless Service's DNS names the new pod; the
old one is terminated. The gateway must follow at once: before, gRPC looked
the name up again at most every 30 s, and every enrollment in between was
answered 503 against the old address.

The gateway resolves the signer through a small DNS server of the test's
own (dns://127.0.0.1:PORT/signer.test), which answers A queries with
whatever the test says the signer's addresses are now."""

import os
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
import harness  # noqa: E402


class FakeDns:
    """UDP DNS server on 127.0.0.1: every A query is answered with
    `addresses` (TTL 0); other queries get an empty NOERROR answer."""

    def __init__(self):
        self.addresses = []
        self.a_queries = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self):
        self.sock.close()

    def _serve(self):
        while True:
            try:
                query, peer = self.sock.recvfrom(512)
            except OSError:
                return  # closed
            answer = self._answer(query)
            if answer:
                self.sock.sendto(answer, peer)

    def _answer(self, query):
        if len(query) < 12:
            return None
        (ident,) = struct.unpack(">H", query[:2])
        end = 12
        while end < len(query) and query[end] != 0:
            end += query[end] + 1  # labels
        if end + 5 > len(query):
            return None
        question = query[12:end + 5]  # name, type, class
        (qtype,) = struct.unpack(">H", query[end + 1:end + 3])
        records = b""
        count = 0
        if qtype == 1:  # A
            self.a_queries += 1
            for address in list(self.addresses):
                # The name by pointer to the question (offset 12).
                records += struct.pack(">HHHIH", 0xC00C, 1, 1, 0, 4)
                records += socket.inet_aton(address)
                count += 1
        header = struct.pack(">HHHHHH", ident, 0x8180, 1, count, 0, 0)
        return header + question + records


class SignerMovedToAnotherAddress(unittest.TestCase):
    def setUp(self):
        self.stack = harness.Stack().start()
        self.addCleanup(self.stack.stop)
        self.dns = FakeDns()
        self.addCleanup(self.dns.close)

    def start_signer_at(self, name, address, port):
        argv = [a for a in self.stack.signer_argv()
                if not a.startswith(("--listen=", "--metrics_port="))]
        metrics_port = harness.free_port()
        argv += [f"--listen={address}:{port}", f"--metrics_port={metrics_port}"]
        self.stack.spawn(name, argv)
        status, body = self.stack.wait_readyz(200, port=metrics_port, timeout=60)
        self.assertEqual(status, 200, f"{name}: {body}\n{self.stack.log(name)}")

    def enroll(self, url, n):
        request = self.stack.probe_request("moved", f"tid-moved-{n}", f"{n:032x}")
        return harness.http("POST", url + "?operation=PKIOperation", request)

    def test_enrollment_follows_the_signer_to_its_new_address(self):
        port = harness.free_port()
        self.dns.addresses = ["127.0.0.2"]
        self.start_signer_at("signer-a", "127.0.0.2", port)
        http_port, metrics_port = harness.free_port(), harness.free_port()
        self.stack.start_gateway(
            name="gateway-dns", http_port=http_port, metrics_port=metrics_port,
            extra=[f"--signer=dns://127.0.0.1:{self.dns.port}/signer.test:{port}",
                   "--signer_deadline_ms=5000"])
        status, body = self.stack.wait_readyz(200, port=metrics_port, timeout=60)
        self.assertEqual(status, 200, body + self.stack.log("gateway-dns"))
        url = f"http://127.0.0.1:{http_port}/scep"
        status, _, _ = self.enroll(url, 1)
        self.assertEqual(status, 200, self.stack.log("gateway-dns")[-3000:])

        # The rollout: the new pod is ready, DNS names it alone, the old
        # one is terminated (its GOAWAY makes the gateway resolve again).
        self.start_signer_at("signer-b", "127.0.0.3", port)
        self.dns.addresses = ["127.0.0.3"]
        lookups_before = self.dns.a_queries
        self.stack.stop_process("signer-a")
        # Devices are served by the new signer within seconds (retrying
        # 503s as they would), not after the lookup gRPC allowed only 30 s
        # after the last one: a liveness bound far from both, not a
        # benchmark (here the first request is served).
        deadline = time.time() + 10
        n = 2
        while True:
            status, headers, _ = self.enroll(url, n)
            if status != 503 or time.time() > deadline:
                break
            n += 1
            time.sleep(0.2)
        self.assertEqual(status, 200, (headers, self.stack.log("gateway-dns")[-3000:]))
        self.assertGreater(self.dns.a_queries, lookups_before)


if __name__ == "__main__":
    unittest.main(verbosity=2)
