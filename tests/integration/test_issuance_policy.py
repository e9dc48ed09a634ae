"""The signer's issuance policy and audit trail: bounds on what the CA key
signs that hold whatever a gateway asks (here a gateway whose profiles ask
for more than the CA allows, as a misconfigured or compromised one would),
and one audit line per certificate signed or refused. Real SoftHSMv2,
signer, gateway and Redis; scep-probe as the device."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import Stack, free_port, http, metric, openssl

PKI_OP = "?operation=PKIOperation"

REFUSED = "scep_signer_issuance_refused_total"
ISSUED = "scep_signer_certificates_issued_total"

POLICY = {"default_ca": {
    "max_validity_days": 90,
    "allowed_extended_key_usage": ["clientAuth"],
    "allowed_san_types": ["dns"],
    "permitted_dns_domains": ["devices.example"],
    "allowed_digests": ["sha256"]}}


def static(name, **fields):
    return dict(name=name, challenge={"mode": "static", "secret_env": "SCEP_CHALLENGE"},
                **fields)


class IssuancePolicyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="scep-policy-")
        cls.policy = os.path.join(cls.tmp, "issuance-policy.json")
        with open(cls.policy, "w") as f:
            json.dump(POLICY, f)
        cls.audit = os.path.join(cls.tmp, "audit.log")
        cls.stack = Stack(
            profiles={"profiles": [
                static("default", validity_days=60),
                # Each asks for something the CA's policy does not allow.
                static("server", validity_days=60, extended_key_usage=["clientAuth", "serverAuth"]),
                static("long", validity_days=365),
                static("sha512", validity_days=60, digest="sha512")]},
            signer_args=[f"--issuance_policy={cls.policy}", f"--audit_log={cls.audit}"],
            admin_token="policy-admin").start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def enroll(self, profile, name, san=None):
        tid = "tid-" + name
        extra = {"san": san} if san else {}
        request = self.stack.probe_request(name, tid, os.urandom(16).hex(), **extra)
        status, _, body = http("POST", f"{self.stack.url}/{profile}{PKI_OP}", request)
        self.assertEqual(status, 200, body[:200])
        return request, self.stack.probe_open(name, body)

    def audit_lines(self, event, **fields):
        with open(self.audit) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        return [line for line in lines if line["event"] == event
                and all(line.get(k) == v for k, v in fields.items())]

    def signer_metric(self, name, **labels):
        return metric(self.stack.scrape("signer"), name, **labels) or 0

    def test_within_the_policy_is_issued_and_audited(self):
        _, rep = self.enroll("default", "laptop-1")
        self.assertEqual(rep["pkiStatus"], 0, rep)
        serial = openssl("x509", "-noout", "-serial",
                         input=rep["pem"].encode()).decode().strip().split("=")[1]
        [line] = self.audit_lines("certificate_issued", transaction_id="tid-laptop-1")
        self.assertEqual(int(line["serial"], 16), int(serial, 16))
        self.assertEqual(line["ca"], "default")
        self.assertEqual(line["subject"], "CN=laptop-1")
        self.assertEqual(line["subject_alt_name"], "DNS:laptop-1.devices.example")
        self.assertTrue(line["caller"].startswith("ipv4:127.0.0.1:"), line)
        self.assertEqual(line["extended_key_usage"], "clientAuth")
        self.assertEqual(line["key_usage"], "digitalSignature,keyEncipherment")
        self.assertEqual(len(line["public_key_sha256"]), 64)

    def assert_refused(self, profile, name, rule, text, san=None):
        before = self.signer_metric(REFUSED, ca="default", rule=rule)
        issued_before = self.signer_metric(ISSUED)
        request, rep = self.enroll(profile, name, san=san)
        # A signed FAILURE badRequest naming the bound; nothing signed.
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (2, 2), rep)
        self.assertIn("refused by the CA's issuance policy: " + text, rep["failInfoText"])
        self.assertEqual(rep["pem"], "")
        self.assertEqual(self.signer_metric(REFUSED, ca="default", rule=rule), before + 1)
        self.assertEqual(self.signer_metric(ISSUED), issued_before)
        [line] = self.audit_lines("issuance_refused", transaction_id="tid-" + name)
        self.assertEqual((line["rule"], line["ca"]), (rule, "default"))
        self.assertIn(text, line["reason"])
        # A retransmission gets the same answer, not a certificate.
        status, _, body = http("POST", f"{self.stack.url}/{profile}{PKI_OP}", request)
        self.assertEqual(status, 200)
        again = self.stack.probe_open(name, body)
        self.assertEqual((again["pkiStatus"], again["failInfo"]), (2, 2), again)
        self.assertEqual(self.signer_metric(ISSUED), issued_before)

    def test_extended_key_usage_outside_the_policy_is_refused(self):
        self.assert_refused("server", "server-1", "extended_key_usage",
                            "extended key usage serverAuth is not allowed")

    def test_validity_beyond_the_policy_is_refused(self):
        self.assert_refused("long", "long-1", "validity", "validity of 365 days (at most 90)")

    def test_digest_outside_the_policy_is_refused(self):
        self.assert_refused("sha512", "sha512-1", "digest", "signature digest sha512")

    def test_dns_name_outside_the_permitted_domains_is_refused(self):
        # The profile copies the request's SAN as asked; the CA does not.
        self.assert_refused("default", "phish-1", "dns_domain",
                            "DNS name www.bank.example is outside the permitted domains",
                            san="www.bank.example")

    def test_gateway_warns_at_start_about_profiles_outside_the_policy(self):
        warnings = [json.loads(line) for line in self.stack.log("gateway").splitlines()
                    if '"event":"profile_outside_issuance_policy"' in line]
        self.assertEqual(sorted((w["profile"], w["problem"]) for w in warnings), [
            ("long", "validity_days 365 exceeds the CA's max_validity_days 90"),
            ("server", "extended_key_usage serverAuth is not among the CA's "
                       "allowed_extended_key_usage"),
            ("sha512", "digest sha512 is not among the CA's sha256")])

    def test_scepctl_shows_which_profiles_exceed_the_policy(self):
        out = self.stack.scepctl("profiles", "show", "--profile", "long", "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        [profile] = json.loads(out.stdout)["profiles"]
        self.assertEqual(profile["outsideIssuancePolicy"],
                         ["validity_days 365 exceeds the CA's max_validity_days 90"])
        out = self.stack.scepctl("profiles", "list")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("warning: profile server: extended_key_usage serverAuth is not among "
                      "the CA's allowed_extended_key_usage (the signer refuses its "
                      "certificates)", out.stdout)
        self.assertNotIn("warning: profile default:", out.stdout)

    def test_rotated_audit_log_is_reopened_on_sighup(self):
        rotated = self.audit + ".1"
        os.rename(self.audit, rotated)
        self.stack.procs["signer"].send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while '"event":"audit_log_reopened"' not in self.stack.log("signer"):
            self.assertLess(time.time(), deadline, "no audit_log_reopened")
            time.sleep(0.1)
        _, rep = self.enroll("default", "rotated-1")
        self.assertEqual(rep["pkiStatus"], 0, rep)
        self.assertEqual(len(self.audit_lines("certificate_issued",
                                              transaction_id="tid-rotated-1")), 1)
        with open(rotated) as f:
            self.assertNotIn("tid-rotated-1", f.read())
        self.assertIsNone(self.stack.procs["signer"].poll())  # still serving

    def test_a_wrong_policy_file_stops_the_signer_at_start(self):
        bad = os.path.join(self.tmp, "bad-policy.json")
        for content, expected in [
                ({"issuing_cas": {"vpn": {}}}, "issuing_cas.vpn: this signer serves no issuing CA"),
                ({"default_ca": {"allowed_key_usage": ["keyCertSign"]}},
                 "default_ca.allowed_key_usage: keyCertSign is a CA usage")]:
            with open(bad, "w") as f:
                json.dump(content, f)
            out = subprocess.run(
                self.stack.signer_argv() + [f"--issuance_policy={bad}",
                                            f"--listen=127.0.0.1:{free_port()}",
                                            f"--metrics_port={free_port()}"],
                env=self.stack.env(), capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 1, out.stderr[-500:])
            self.assertIn("start_failed", out.stderr)
            self.assertIn(expected, out.stderr)
            self.assertNotIn(Stack.PIN, out.stdout + out.stderr)


class IssuanceRateLimitTest(unittest.TestCase):
    """scep-signer --max_issuance_per_minute: a caller past its rate gets
    503 + Retry-After from the gateway, nothing is signed or lost, and the
    identical request succeeds once the bucket refills."""

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(signer_args=["--max_issuance_per_minute=3"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def post(self, request):
        return http("POST", f"{self.stack.url}{PKI_OP}", request)

    def test_over_the_rate_is_503_then_the_same_request_succeeds(self):
        for i in range(3):
            request = self.stack.probe_request(f"rate-{i}", f"tid-rate-{i}", os.urandom(16).hex())
            status, _, body = self.post(request)
            self.assertEqual(status, 200)
            self.assertEqual(self.stack.probe_open(f"rate-{i}", body)["pkiStatus"], 0)
        issued = metric(self.stack.scrape("signer"), "scep_signer_certificates_issued_total")
        late = self.stack.probe_request("rate-late", "tid-rate-late", os.urandom(16).hex())
        for _ in range(2):
            status, headers, _ = self.post(late)
            self.assertEqual(status, 503)
            self.assertIn("Retry-After", headers)
        signer = self.stack.scrape("signer")
        self.assertEqual(metric(signer, "scep_signer_issuance_rate_limited_total"), 2)
        self.assertEqual(metric(signer, "scep_signer_certificates_issued_total"), issued)
        limited = [json.loads(line) for line in self.stack.log("signer").splitlines()
                   if '"event":"issuance_rate_limited"' in line]
        self.assertEqual(len(limited), 1, limited)  # the first refusal of the minute
        self.assertEqual(limited[0]["transaction_id"], "tid-rate-late")
        self.assertEqual(limited[0]["profile"], "default")
        self.assertIn("more than 3 certificates a minute", limited[0]["reason"])
        # One token back every 20 s: the identical request now succeeds.
        time.sleep(21)
        status, _, body = self.post(late)
        self.assertEqual(status, 200)
        self.assertEqual(self.stack.probe_open("rate-late", body)["pkiStatus"], 0)


class AuditRequiredTest(unittest.TestCase):
    """scep-signer --audit_required: while the audit trail cannot be written
    (here: the file is /dev/full, every write fails with ENOSPC) no
    certificate leaves the signer; the device gets 503 + Retry-After and,
    once the trail is writable again, the identical request gets a
    certificate whose audit line is there."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="scep-audit-")
        cls.audit = os.path.join(cls.tmp, "audit.log")
        os.symlink("/dev/full", cls.audit)
        cls.stack = Stack(signer_args=[f"--audit_log={cls.audit}",
                                       "--audit_required"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_no_certificate_leaves_the_signer_unaudited(self):
        request = self.stack.probe_request("audited", "tid-audited", os.urandom(16).hex())
        status, headers, body = http("POST", f"{self.stack.url}{PKI_OP}", request)
        self.assertEqual(status, 503, body[:200])
        self.assertIn("Retry-After", headers)
        signer = self.stack.scrape("signer")
        withheld = metric(signer, "scep_signer_certificates_withheld_total")
        self.assertGreaterEqual(withheld, 1)
        self.assertGreaterEqual(metric(signer, "scep_signer_audit_write_errors_total"), withheld)
        # The gateway received no certificate.
        self.assertEqual(metric(self.stack.scrape(), "scep_gateway_certificates_issued_total")
                         or 0, 0)
        # The trail becomes writable (the operator freed space / fixed the
        # mount) and the signer reopens it on SIGHUP.
        os.unlink(self.audit)
        self.stack.procs["signer"].send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while '"event":"audit_log_reopened"' not in self.stack.log("signer"):
            self.assertLess(time.time(), deadline, "no audit_log_reopened")
            time.sleep(0.1)
        status, _, body = http("POST", f"{self.stack.url}{PKI_OP}", request)
        self.assertEqual(status, 200, body[:200])
        rep = self.stack.probe_open("audited", body)
        self.assertEqual(rep["pkiStatus"], 0, rep)
        with open(self.audit) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        issued = [line for line in lines if line["event"] == "certificate_issued"
                  and line.get("transaction_id") == "tid-audited"]
        self.assertEqual(len(issued), 1, lines)
        # The certificate the device got is the one the line records.
        serial = openssl("x509", "-noout", "-serial",
                         input=rep["pem"].encode()).decode().split("=")[1].strip()
        self.assertEqual(issued[0]["serial"].upper().lstrip("0"), serial.upper().lstrip("0"))
        self.assertEqual(metric(self.stack.scrape(), "scep_gateway_certificates_issued_total"), 1)
        self.assertEqual(metric(self.stack.scrape("signer"),
                                "scep_signer_certificates_withheld_total"), withheld)


if __name__ == "__main__":
    unittest.main()
