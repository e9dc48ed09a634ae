"""Redis lost the certificate index (restarted without persistence:
FLUSHALL here). Devices that renew with RenewalReq sign with certificates the
index no longer has; by default they are refused (badCertId) until enrolled
anew. With `scep-gateway --renewal_reindex` a renewal signed with a
certificate this CA issued records it again and renews, unless the
revocation list, restored from the last CRL, has its serial; and `scepctl
certs revoke --cert` revokes a certificate whose serial the index forgot.
Real redis-server, signer, gateway and scepctl."""

import os
import unittest

from harness import Stack, http, metric, openssl, require_tool

PKI_OP = "?operation=PKIOperation"


class IndexLossTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(admin_token="index-loss-admin-token",
                          gateway_args=["--renewal_reindex"]).start()
        cls.stack.wait_readyz(200)

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def request(self, name, tid, **extra):
        """Sends a probe-built pkiMessage; the opened CertRep."""
        status, _, reply = http("POST", self.stack.url + PKI_OP, self.stack.probe_request(
            name, tid, os.urandom(16).hex(), **extra))
        self.assertEqual(status, 200, reply[:200])
        return self.stack.probe_open(name, reply, cert=extra.get("cert"))

    def enroll(self, name):
        """PKCSReq; the certificate's path and serial (as the index keys it)."""
        rep = self.request(name, f"tid-{name}")
        self.assertEqual(rep["pkiStatus"], 0, rep)
        path = os.path.join(self.stack.dir, f"dev-{name}", "issued-first.pem")
        with open(path, "w") as f:
            f.write(rep["pem"])
        serial = openssl("x509", "-in", path, "-noout", "-serial").decode()
        return path, serial.strip().split("=")[1].lower()

    def test_renewals_after_redis_lost_the_index(self):
        require_tool(self, "redis-cli")
        keeper, keeper_serial = self.enroll("keeper")
        revokee, revokee_serial = self.enroll("revokee")
        out = self.stack.scepctl("certs", "revoke", "--serial", revokee_serial,
                                 "--reason", "keyCompromise")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        status, _, crl = http("GET", f"http://127.0.0.1:{self.stack.http_port}/crl/default.crl")
        self.assertEqual(status, 200, crl[:200])
        saved = os.path.join(self.stack.dir, "last.crl")
        with open(saved, "wb") as f:
            f.write(crl)

        stolen, stolen_serial = self.enroll("stolen")

        self.assertEqual(self.stack.redis_cli("FLUSHALL"), "OK")
        out = self.stack.scepctl("crl", "restore", "--in", saved)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(self.stack.redis_cli("HEXISTS", "scep:revoked", revokee_serial), "1")
        self.assertEqual(self.stack.redis_cli("EXISTS", f"scep:cert:{keeper_serial}"), "0")

        with open(keeper) as f:
            keeper_pem = f.read()
        before = self.stack.scrape()
        rep = self.request("keeper", "tid-keeper-renewal", type="renewal", cert=keeper)
        self.assertEqual(rep["pkiStatus"], 0, rep)
        self.assertNotEqual(rep["pem"], keeper_pem)
        after = self.stack.scrape()
        reindexed = "scep_gateway_certificates_reindexed_total"
        self.assertEqual(metric(after, reindexed, profile="default")
                         - metric(before, reindexed, profile="default"), 1)
        self.assertIn('"event":"certificate_reindexed"', self.stack.log("gateway"))
        self.assertEqual(self.stack.redis_cli("EXISTS", f"scep:cert:{keeper_serial}"), "1")
        # GetCert finds the old certificate again.
        rep = self.request("keeper", "tid-keeper-getcert", type="getcert",
                           ca=self.stack.ca_pem, target=keeper)
        self.assertEqual(rep["pkiStatus"], 0, rep)
        self.assertEqual(rep["pem"], keeper_pem)

        # The revoked device stays refused: its serial is on the restored list.
        rep = self.request("revokee", "tid-revokee-renewal", type="renewal", cert=revokee)
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (2, 2), rep)
        self.assertIn("revoked", rep["failInfoText"])
        self.assertEqual(self.stack.redis_cli("EXISTS", f"scep:cert:{revokee_serial}"), "0")
        self.assertEqual(metric(self.stack.scrape(), reindexed, profile="default")
                         - metric(before, reindexed, profile="default"), 1)

        # A device lost meanwhile: its serial alone is unknown now; the
        # certificate itself (from the device, the MDM) revokes it.
        out = self.stack.scepctl("certs", "revoke", "--serial", stolen_serial,
                                 "--reason", "keyCompromise")
        self.assertNotEqual(out.returncode, 0, out.stdout)
        self.assertIn("--cert", out.stderr)
        out = self.stack.scepctl("certs", "revoke", "--cert", stolen,
                                 "--reason", "keyCompromise")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn(f"revoked {stolen_serial}", out.stdout)
        self.assertIn('"recorded_again":true', self.stack.log("gateway"))
        status, _, crl = http("GET", f"http://127.0.0.1:{self.stack.http_port}/crl/default.crl")
        self.assertEqual(status, 200, crl[:200])
        with open(saved, "wb") as f:
            f.write(crl)
        text = openssl("crl", "-inform", "DER", "-in", saved, "-noout", "-text").decode()
        listed = text.replace(":", "").upper()
        self.assertIn(stolen_serial.upper(), listed)
        self.assertIn(revokee_serial.upper(), listed)
        rep = self.request("stolen", "tid-stolen-renewal", type="renewal", cert=stolen)
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (2, 2), rep)
        self.assertIn("revoked", rep["failInfoText"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
