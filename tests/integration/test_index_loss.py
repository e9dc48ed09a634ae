"""Redis lost the certificate index (restarted without persistence:
FLUSHALL here). Devices that renew with RenewalReq sign with certificates the
index no longer has; by default they are refused (badCertId) until enrolled
anew. With `scep-gateway --renewal_reindex` a renewal signed with a
certificate this CA issued records it again and renews, unless the
revocation list, restored from the last CRL, has its serial; `scepctl
certs revoke --cert` revokes a certificate whose serial the index forgot;
and `scepctl certs restore --audit` records again every certificate of the
signer's audit trail (--audit_certificates).
Real redis-server, signer, gateway and scepctl."""

import base64
import json
import os
import unittest

from harness import Stack, http, metric, openssl, require_tool

PKI_OP = "?operation=PKIOperation"


class IndexLossTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(admin_token="index-loss-admin-token",
                          gateway_args=["--renewal_reindex"])
        cls.audit = os.path.join(cls.stack.dir, "issuance-audit.log")
        cls.stack.signer_args += ["--audit_log", cls.audit, "--audit_certificates"]
        cls.stack.start()
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

    def save_crl(self):
        status, _, crl = http("GET", f"http://127.0.0.1:{self.stack.http_port}/crl/default.crl")
        self.assertEqual(status, 200, crl[:200])
        saved = os.path.join(self.stack.dir, "last.crl")
        with open(saved, "wb") as f:
            f.write(crl)
        return saved

    def restore(self, audit, ok=True, stdin=None):
        out = self.stack.scepctl("certs", "restore", "--audit", audit, "--json", input=stdin)
        self.assertEqual(out.returncode == 0, ok, out.stdout + out.stderr)
        counts = json.loads(out.stdout)
        return {k: int(counts.get(k, 0)) for k in ("restored", "indexed", "revoked",
                                                  "expired")}, out.stderr

    def test_certificates_restored_from_the_audit_trail(self):
        require_tool(self, "redis-cli")
        serials = [self.enroll(name)[1] for name in ("tablet", "printer")]
        _, revoked = self.enroll("lost-phone")
        out = self.stack.scepctl("certs", "revoke", "--serial", revoked)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        saved = self.save_crl()
        with open(self.audit) as f:
            trail = [json.loads(line) for line in f if '"certificate_issued"' in line]
        mine = [t for t in trail if t["serial"] in serials + [revoked]]
        self.assertEqual(len(mine), 3, trail)
        for line in mine:
            self.assertEqual(line["profile"], "default", line)
            self.assertTrue(base64.b64decode(line["certificate"]).startswith(b"\x30\x82"))

        self.assertEqual(self.stack.redis_cli("FLUSHALL"), "OK")
        out = self.stack.scepctl("certs", "show", "--serial", serials[0])
        self.assertNotEqual(out.returncode, 0, out.stdout)
        # Revocations first, then the certificates.
        out = self.stack.scepctl("crl", "restore", "--in", saved)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        counts, _ = self.restore(self.audit)
        self.assertGreaterEqual(counts["restored"], 2, counts)
        self.assertGreaterEqual(counts["revoked"], 1, counts)
        for serial in serials:
            self.assertEqual(self.stack.redis_cli("EXISTS", f"scep:cert:{serial}"), "1")
            shown = json.loads(self.stack.scepctl("certs", "show", "--serial", serial,
                                                  "--json").stdout)
            self.assertEqual((shown["profile"], shown["status"]),
                             ("default", "CERTIFICATE_STATUS_VALID"), shown)
        # The revoked one is recorded as revoked, its CRL entry with its notAfter.
        shown = json.loads(self.stack.scepctl("certs", "show", "--serial", revoked,
                                              "--json").stdout)
        self.assertEqual(shown["status"], "CERTIFICATE_STATUS_REVOKED", shown)
        entry = self.stack.redis_cli("HGET", "scep:revoked", revoked)
        self.assertEqual(entry.split(":")[-1], str(int(shown["notAfterUnix"])), entry)
        listed = self.stack.scepctl("certs", "list", "--all").stdout
        for serial in serials:
            self.assertIn(serial, listed)

        # Twice is harmless: nothing new. (From standard input this time, as
        # from `kubectl logs scep-signer-0`.)
        with open(self.audit) as f:
            again, _ = self.restore("-", stdin=f.read())
        self.assertEqual(again["restored"], 0, again)
        self.assertEqual(again["indexed"],
                         counts["restored"] + counts["indexed"] + counts["revoked"], again)

        # A line whose certificate another CA signed is refused by its line.
        tampered = os.path.join(self.stack.dir, "tampered.log")
        other = os.path.join(self.stack.dir, "other")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", other + ".key", "-subj", "/CN=tablet", "-days", "30",
                "-out", other + ".pem")
        der = openssl("x509", "-in", other + ".pem", "-outform", "DER")
        with open(self.audit) as f, open(tampered, "w") as out_file:
            lines = f.readlines()
            out_file.writelines(lines)
            out_file.write(json.dumps({"event": "certificate_issued", "serial": "01",
                                       "profile": "default",
                                       "certificate": base64.b64encode(der).decode()}) + "\n")
        counts, stderr = self.restore(tampered, ok=False)
        self.assertIn(f"{tampered}:{len(lines) + 1} (serial ", stderr)
        self.assertIn("not issued by the CA of profile default", stderr)
        self.assertEqual(counts["restored"], 0, counts)

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
        self.assertEqual(self.stack.redis_cli("HGET", f"scep:cert:{revokee_serial}",
                                              "revoked"), "1")
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
