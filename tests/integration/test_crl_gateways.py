"""Several gateway pods serve one CRL. After a revocation, CRL requests
reaching two gateways at once made each sign its own CRL (cRLNumbers n and
n+1) and serve it until the next revocation (days, maybe), so a relying
party behind the load balancer saw the number go back and forth (RFC 5280
section 5.2.3: it only increases), and Redis cached whichever was written
last. Now the higher-numbered CRL is cached and, from the moment it is,
served by both. Real redis-server, signer and two gateways; OpenSSL reads
the CRLs."""

import os
import subprocess
import threading
import unittest

from harness import Stack, free_port, http, metric, require_tool

ROUNDS = 8
PER_GATEWAY = 6


class CrlAcrossGatewaysTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(admin_token="crl-admin-token").start()
        cls.port_b, metrics_b = free_port(), free_port()
        # (No admin API on the second one: the port is the first one's.)
        cls.stack.start_gateway(name="gateway-b", http_port=cls.port_b,
                                metrics_port=metrics_b, extra=())
        assert cls.stack.wait_readyz(200, port=metrics_b)[0] == 200

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def openssl_crl(self, der, *flags):
        """`openssl crl -inform DER -noout FLAGS` of `der`: its output."""
        path = os.path.join(self.stack.dir, "read.crl")
        with open(path, "wb") as f:
            f.write(der)
        out = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", path, "-noout",
                              *flags], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout

    def crl_number(self, der):
        text = self.openssl_crl(der, "-crlnumber")
        return int(text.strip().split("=", 1)[1], 16)  # crlNumber=0x05

    def listed(self, der):
        """Serials (lower-case hex) a DER CRL lists."""
        return {line.split(":", 1)[1].strip().lower()
                for line in self.openssl_crl(der, "-text").splitlines()
                if "Serial Number:" in line}

    @staticmethod
    def serial(n):
        """As the index keys serials: hex of the serial's bytes."""
        digits = "%x" % n
        return digits.zfill(len(digits) + len(digits) % 2)

    def revoke(self, serial):
        """A revocation as the admin API's Revoke leaves it."""
        revoke = ("redis.call('HSET', 'scep:revoked', ARGV[1], "
                  "redis.call('TIME')[1] .. ':1') redis.call('INCR', 'scep:crl:gen') "
                  "return 1")
        self.assertEqual(self.stack.redis_cli("EVAL", revoke, "0", serial), "1")

    def crl(self, port=None):
        status, _, body = http(
            "GET", f"http://127.0.0.1:{port or self.stack.http_port}/crl/default.crl")
        self.assertEqual(status, 200, body[:200])
        return body

    def fetch_at_once(self):
        """PER_GATEWAY requests to each gateway, released together; the
        bodies (one per request)."""
        ports = [self.stack.http_port, self.port_b] * PER_GATEWAY
        start = threading.Barrier(len(ports))
        bodies = [None] * len(ports)

        def fetch(i):
            start.wait()
            status, _, body = http("GET", f"http://127.0.0.1:{ports[i]}/crl/default.crl")
            self.assertEqual(status, 200, body[:200])
            bodies[i] = body

        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(len(ports))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertNotIn(None, bodies)
        return bodies

    def fetch_each(self):
        """One request to each gateway, one after the other."""
        bodies = []
        for port in (self.stack.http_port, self.port_b):
            status, _, body = http("GET", f"http://127.0.0.1:{port}/crl/default.crl")
            self.assertEqual(status, 200, body[:200])
            bodies.append(body)
        return bodies

    def test_gateways_converge_on_one_crl_after_each_revocation(self):
        require_tool(self, "redis-cli")
        numbers = []
        for round_ in range(ROUNDS):
            self.revoke(self.serial(0x10000 + round_))
            burst = {self.crl_number(body) for body in set(self.fetch_at_once())}
            # Both gateways may sign at the same moment; whichever CRL is
            # numbered higher is cached, and from then on both serve it.
            after = [self.crl_number(body) for body in self.fetch_each()]
            self.assertEqual(after, [max(burst)] * 2,
                             f"round {round_}: during the burst {sorted(burst)}, then {after}")
            cached = int(self.stack.redis_cli("HGET", "scep:crl:cache", "number"))
            self.assertEqual(cached, max(burst))
            numbers.append(max(burst))
            if numbers[:-1]:
                self.assertGreater(min(burst), numbers[-2], "cRLNumber went back")
        # Racing requests are no loss of revocations (test order: before
        # test_revocations_redis_lost_come_back, which loses them).
        for name in ("gateway", "gateway-b"):
            self.assertNotIn("crl_revocations_lost", self.stack.log(name))

    def test_revocations_redis_lost_come_back(self):
        """Redis restarted without persistence (FLUSHALL here) under
        gateways that keep the CRL: the next CRL still lists every
        revocation, numbered on; then, with no gateway holding them, the
        admin API restores them from a saved CRL."""
        require_tool(self, "redis-cli")
        before = {self.serial(0x20000 + i) for i in range(3)}
        for serial in sorted(before):
            self.revoke(serial)
        kept = self.crl()
        kept_b = self.crl(self.port_b)
        self.assertEqual(kept, kept_b)
        self.assertTrue(before <= self.listed(kept))
        kept_number = self.crl_number(kept)
        saved = os.path.join(self.stack.dir, "saved.crl")
        with open(saved, "wb") as f:
            f.write(kept)

        self.assertEqual(self.stack.redis_cli("FLUSHALL"), "OK")
        self.revoke(self.serial(0x20010))  # a device revoked after the loss
        after = self.crl()
        self.assertTrue(before | {"020010"} <= self.listed(after), self.listed(after))
        self.assertGreater(self.crl_number(after), kept_number)
        self.assertEqual(self.crl(self.port_b), after)  # the other one converges on it
        self.assertIn('"event":"crl_revocations_lost"', self.stack.log("gateway"))
        restored = metric(self.stack.scrape(),
                          "scep_gateway_crl_revocations_restored_total")
        self.assertEqual(restored, len(kept_listed := self.listed(kept)), kept_listed)

        # Redis loses everything again; this time the admin restores from
        # the CRL saved before (a gateway's own CRL now lists 20010 too).
        self.assertEqual(self.stack.redis_cli("FLUSHALL"), "OK")
        out = self.stack.scepctl("crl", "restore", "--in", saved)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(f"restored {len(kept_listed)} of {len(kept_listed)} revocations", out.stdout)
        self.assertEqual(int(self.stack.redis_cli("HLEN", "scep:revoked")), len(kept_listed))
        self.assertGreaterEqual(int(self.stack.redis_cli("GET", "scep:crl:number")),
                                kept_number)
        again = self.stack.scepctl("crl", "restore", "--in", saved)
        self.assertIn(f"restored 0 of {len(kept_listed)}", again.stdout)
        # Not this CA's CRL (a flipped signature byte): refused, nothing recorded.
        tampered = os.path.join(self.stack.dir, "tampered.crl")
        with open(tampered, "wb") as f:
            f.write(kept[:-5] + bytes([kept[-5] ^ 1]) + kept[-4:])
        bad = self.stack.scepctl("crl", "restore", "--in", tampered)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("signature", bad.stderr)
        final = self.crl()
        self.assertTrue(before | {"020010"} <= self.listed(final))
        self.assertGreater(self.crl_number(final), self.crl_number(after))


if __name__ == "__main__":
    unittest.main(verbosity=2)
