"""A CRL for a large fleet: 150,000 revoked certificates (a million devices
after a year or two of retired and wiped ones) make a CRL of about 5 MB,
past gRPC's default 4 MiB message limit between gateway and signer, which
made every CRL request fail (503) from about 115,000 revocations on. The
revocations are written straight into Redis, as the admin API's Revoke
leaves them, so the test takes seconds. Real redis-server, signer, gateway,
and OpenSSL reading the CRL."""

import os
import subprocess
import unittest

from harness import Stack, http, require_tool

REVOKED = 150_000


class LargeCrlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(admin_token="crl-scale-token").start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def redis(self, *args):
        return self.stack.redis_cli(*args)

    def test_crl_with_150000_revocations_is_served(self):
        require_tool(self, "redis-cli")
        fill = ("local t = redis.call('TIME')[1] for i = 1, tonumber(ARGV[1]) do "
                "redis.call('HSET', 'scep:revoked', string.format('%032x', 65536 + i), "
                "t .. ':' .. (i % 6)) end redis.call('INCR', 'scep:crl:gen') return 1")
        self.assertEqual(self.redis("EVAL", fill, "0", str(REVOKED)), "1")
        status, headers, body = http(
            "GET", f"http://127.0.0.1:{self.stack.http_port}/crl/default.crl", timeout=120)
        self.assertEqual(status, 200, body[:200])
        self.assertGreater(len(body), 4 << 20)  # past gRPC's default limit
        path = os.path.join(self.stack.dir, "large.crl")
        with open(path, "wb") as f:
            f.write(body)
        out = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", path, "-noout",
                              "-text", "-verify", "-CAfile", self.stack.ca_pem],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("verify OK", out.stderr)  # signed by the CA
        self.assertEqual(out.stdout.count("Serial Number:"), REVOKED)
        last = "%X" % (65536 + REVOKED)
        self.assertIn("Serial Number: " + last.zfill(len(last) + len(last) % 2), out.stdout)

        # The admin API carries it too, both ways (gRPC's default 4 MiB
        # refused it): scepctl gets it, and restores from it into a
        # revocation list that lost every entry.
        fetched = os.path.join(self.stack.dir, "admin.crl")
        got = self.stack.scepctl("crl", "--out", fetched, timeout=120)
        self.assertEqual(got.returncode, 0, got.stderr)
        with open(fetched, "rb") as f:
            self.assertEqual(f.read(), body)
        self.assertEqual(self.redis("DEL", "scep:revoked"), "1")
        restored = self.stack.scepctl("crl", "restore", "--in", fetched, timeout=120)
        self.assertEqual(restored.returncode, 0, restored.stderr)
        self.assertIn(f"restored {REVOKED} of {REVOKED} revocations", restored.stdout)
        self.assertEqual(int(self.redis("HLEN", "scep:revoked")), REVOKED)

if __name__ == "__main__":
    unittest.main(verbosity=2)
