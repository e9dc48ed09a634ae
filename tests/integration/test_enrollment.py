"""End-to-end enrollment through the real stack with real SCEP clients:
micromdm scepclient and strongSwan pki, plus replay, retransmission and
signer outage checks (issue: enrollment end to end)."""

import base64
import os
import re
import subprocess
import unittest
import urllib.parse

from harness import Stack, http, openssl, pkcs11_private_keys, require_tool


def x509_text(pem):
    return openssl("x509", "-noout", "-text", "-nameopt", "RFC2253",
                   input=pem if isinstance(pem, bytes) else pem.encode()).decode()


class EnrollmentTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack().start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def assert_issued_by_ca(self, cert_path):
        out = subprocess.run(["openssl", "verify", "-CAfile", self.stack.ca_pem,
                              "-purpose", "sslclient", cert_path],
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_get_ca_caps(self):
        status, headers, body = http("GET", self.stack.url + "?operation=GetCACaps")
        self.assertEqual(status, 200)
        caps = body.decode().split()
        for cap in ("AES", "SHA-256", "SHA-512", "POSTPKIOperation", "SCEPStandard"):
            self.assertIn(cap, caps)

    def test_get_ca_cert(self):
        status, headers, body = http("GET", self.stack.url + "?operation=GetCACert")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/x-x509-ca-ra-cert")
        pems = openssl("pkcs7", "-inform", "DER", "-print_certs", input=body).decode()
        self.assertEqual(pems.count("BEGIN CERTIFICATE"), 2)

    def test_scepclient_enrolls(self):
        require_tool(self, "scepclient")
        d = os.path.join(self.stack.dir, "scepclient")
        os.makedirs(d)
        # No -ca-fingerprint: with it, scepclient 2.1 encrypts to the CA
        # certificate alone and expects the CA to sign the reply, which an
        # RA-based server (keys separated as RFC 8894 section 2.1.2 allows)
        # cannot do. scepclient runs in a fresh directory because it reuses
        # csr.pem and self.pem left in its working directory.
        out = subprocess.run(
            ["scepclient", "-server-url", self.stack.url, "-challenge",
             self.stack.challenge, "-private-key", os.path.join(d, "key.pem"),
             "-certificate", os.path.join(d, "cert.pem"),
             "-cn", "it-scepclient", "-organization", "Example Fleet"],
            capture_output=True, text=True, timeout=120, cwd=d)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr +
                         self.stack.log("gateway"))
        cert = os.path.join(d, "cert.pem")
        self.assert_issued_by_ca(cert)
        text = x509_text(open(cert, "rb").read())
        self.assertRegex(text, r"Subject: .*CN=it-scepclient")
        self.assertIn("O=Example Fleet", text)
        self.assertIn("TLS Web Client Authentication", text)
        # The certificate is for the key scepclient generated.
        key_pub = openssl("pkey", "-in", os.path.join(d, "key.pem"), "-pubout")
        cert_pub = openssl("x509", "-in", cert, "-noout", "-pubkey")
        self.assertEqual(key_pub, cert_pub)

    def strongswan_enroll(self, name, san, extra=()):
        require_tool(self, "pki")
        d = os.path.join(self.stack.dir, name)
        os.makedirs(d)
        key = os.path.join(d, "key.der")
        with open(key, "wb") as f:
            f.write(subprocess.run(["pki", "--gen", "--type", "rsa", "--size", "2048"],
                                   capture_output=True, check=True).stdout)
        ca = os.path.join(d, "ca.der")
        ra = os.path.join(d, "ra.der")
        openssl("x509", "-in", self.stack.ca_pem, "-outform", "DER", "-out", ca)
        openssl("x509", "-in", self.stack.ra_pem, "-outform", "DER", "-out", ra)
        out = subprocess.run(
            ["pki", "--scep", "--url", self.stack.url, "--in", key,
             "--dn", f"C=CH, O=Example Fleet, CN={name}", "--san", san,
             "--password", self.stack.challenge, "--cacert-enc", ra,
             "--cacert-sig", ra, "--cacert", ca, "--outform", "pem", *extra],
            capture_output=True, timeout=120)
        return out, d

    def test_strongswan_enrolls_with_aes_and_san(self):
        out, d = self.strongswan_enroll("it-strongswan", "it-strongswan.devices.example")
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace")
                         + self.stack.log("gateway"))
        cert = os.path.join(d, "cert.pem")
        with open(cert, "wb") as f:
            f.write(out.stdout)
        self.assert_issued_by_ca(cert)
        text = x509_text(out.stdout)
        self.assertRegex(text, r"Subject: CN=it-strongswan,O=Example Fleet,C=CH")
        self.assertIn("DNS:it-strongswan.devices.example", text)
        self.assertIn("Digital Signature, Key Encipherment", text)

    def test_strongswan_enrolls_with_sha512(self):
        out, d = self.strongswan_enroll("it-strongswan-512", "sha512.devices.example",
                                        ("--digest", "sha512"))
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace"))
        self.assertIn("DNS:sha512.devices.example", x509_text(out.stdout))

    def test_wrong_challenge_is_signed_failure(self):
        req = self.stack.probe_request("wrong-challenge", "tid-wrong", "11" * 16,
                                       challenge="integration-secret")
        status, headers, body = http("POST", self.stack.url + "?operation=PKIOperation", req)
        self.assertEqual(status, 200)
        rep = self.stack.probe_open("wrong-challenge", body)
        self.assertEqual(rep["pkiStatus"], 2)
        self.assertEqual(rep["failInfo"], 2)  # badRequest
        self.assertNotIn(self.stack.challenge, self.stack.log("gateway"))

    def test_csr_with_a_broken_self_signature_is_refused_by_the_signer(self):
        # The message is signed properly with the CSR's key, so the gateway
        # leaves the CSR's own signature to the signer (over gRPC).
        url = self.stack.url + "?operation=PKIOperation"
        bad = self.stack.probe_request("broken-csr", "tid-broken-csr", "c1" * 16,
                                       **{"break-csr-signature": "1"})
        status, _, body = http("POST", url, bad)
        self.assertEqual(status, 200)
        rep = self.stack.probe_open("broken-csr", body)
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (2, 1), rep)  # badMessageCheck
        self.assertIn("signature does not verify", rep["failInfoText"])
        self.assertEqual(rep["certificates"], 0)
        # Nothing stays claimed: the repaired request (same key, subject and
        # transactionID, new nonce) is issued.
        good = self.stack.probe_request("broken-csr", "tid-broken-csr", "c2" * 16)
        status, _, body = http("POST", url, good)
        rep = self.stack.probe_open("broken-csr", body)
        self.assertEqual(rep["pkiStatus"], 0, rep)
        self.assertEqual(rep["certificates"], 1)

    def test_replay_and_retransmission(self):
        url = self.stack.url + "?operation=PKIOperation"
        first = self.stack.probe_request("replay", "tid-replay", "22" * 16)
        status, _, body = http("POST", url, first)
        self.assertEqual(status, 200)
        rep = self.stack.probe_open("replay", body)
        self.assertEqual(rep["pkiStatus"], 0, rep)
        self.assertEqual(rep["recipientNonce"], "22" * 16)
        self.assertEqual(rep["transactionID"], "tid-replay")
        issued = rep["pem"]
        # The identical message again (an HTTP client or a proxy retrying a
        # request whose answer it lost), by POST and by GET: answered as the
        # first one was, the same certificate.
        status, _, body = http("POST", url, first)
        rep = self.stack.probe_open("replay", body)
        self.assertEqual(rep["pkiStatus"], 0, rep)
        self.assertEqual(rep["pem"], issued)
        self.assertEqual(rep["recipientNonce"], "22" * 16)
        query = urllib.parse.urlencode({"operation": "PKIOperation",
                                        "message": base64.b64encode(first).decode()})
        status, _, body = http("GET", self.stack.url + "?" + query)
        self.assertEqual(status, 200)
        rep = self.stack.probe_open("replay", body)
        self.assertEqual(rep["pkiStatus"], 0, rep)
        self.assertEqual(rep["pem"], issued)
        # Another message carrying that senderNonce: a replay, no certificate.
        other = self.stack.probe_request("replay", "tid-replay", "22" * 16)
        self.assertNotEqual(other, first)
        status, _, body = http("POST", url, other)
        rep = self.stack.probe_open("replay", body)
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (2, 2), rep)
        self.assertEqual(rep["certificates"], 0)
        # Retransmission: same transaction and CSR, new nonce -> same cert.
        again = self.stack.probe_request("replay", "tid-replay", "33" * 16)
        status, _, body = http("POST", url, again)
        rep = self.stack.probe_open("replay", body)
        self.assertEqual(rep["pkiStatus"], 0, rep)
        self.assertEqual(rep["pem"], issued)

    def redis(self, *args):
        return self.stack.redis_cli(*args)

    def test_transaction_keeps_only_the_serial_of_an_indexed_certificate(self):
        url = self.stack.url + "?operation=PKIOperation"
        status, _, body = http("POST", url, self.stack.probe_request(
            "serialref", "tid-serialref", "44" * 16))
        rep = self.stack.probe_open("serialref", body)
        self.assertEqual(rep["pkiStatus"], 0, rep)
        serial = openssl("x509", "-noout", "-serial", input=rep["pem"].encode()
                         ).decode().strip().split("=")[1].lower()
        keys = self.redis("--scan", "--pattern", "scep:*:txn:" + b"tid-serialref".hex())
        self.assertEqual(len(keys.split()), 1, keys)
        # One copy of the certificate in Redis: the index entry; the
        # transaction refers to it by serial.
        self.assertEqual(self.redis("HGET", keys, "state"), "issued")
        self.assertEqual(self.redis("HEXISTS", keys, "cert"), "0")
        record = {"serial": self.redis("HGET", keys, "serial")}
        self.assertEqual(record["serial"].lstrip("0"), serial.lstrip("0"), record)
        self.assertEqual(self.redis("EXISTS", "scep:cert:" + record["serial"]), "1")
        # A retransmission still gets the very certificate, read via the index.
        status, _, body = http("POST", url, self.stack.probe_request(
            "serialref", "tid-serialref", "55" * 16))
        again = self.stack.probe_open("serialref", body)
        self.assertEqual(again["pkiStatus"], 0, again)
        self.assertEqual(again["pem"], rep["pem"])
        # Index entry gone (expired first): a signed FAILURE badCertId, not
        # an empty SUCCESS and not a second certificate.
        self.assertEqual(self.redis("DEL", "scep:cert:" + record["serial"]), "1")
        status, _, body = http("POST", url, self.stack.probe_request(
            "serialref", "tid-serialref", "66" * 16))
        self.assertEqual(status, 200)
        gone = self.stack.probe_open("serialref", body)
        self.assertEqual((gone["pkiStatus"], gone["failInfo"]), (2, 4), gone)

    def test_malformed_request_is_400(self):
        status, _, _ = http("POST", self.stack.url + "?operation=PKIOperation", b"\x30\x03junk")
        self.assertEqual(status, 400)
        status, _, _ = http("GET", self.stack.url + "?operation=Nope")
        self.assertEqual(status, 400)

    def test_ca_key_is_sensitive_and_not_extractable(self):
        listing = pkcs11_private_keys(self, self.stack, "scep-it", Stack.PIN)
        blocks = listing.split("Private Key Object")
        ca = [b for b in blocks if "label:      scep-ca" in b]
        self.assertEqual(len(ca), 1, listing)
        access = re.search(r"Access:\s*(.*)", ca[0])
        self.assertIsNotNone(access, ca[0])
        flags = [f.strip() for f in access.group(1).split(",")]
        self.assertIn("sensitive", flags)
        self.assertIn("never extractable", flags)
        self.assertNotIn("extractable", flags)


class DependencyOutageTest(unittest.TestCase):
    """503 + Retry-After while the signer or Redis is down; recovery without
    restarting the gateway."""

    def test_signer_down_is_503_then_recovers(self):
        stack = Stack().start()
        try:
            url = stack.url + "?operation=PKIOperation"
            req = stack.probe_request("outage", "tid-outage", "44" * 16)
            stack.stop_process("signer")
            status, headers, _ = http("POST", url, req)
            self.assertEqual(status, 503)
            self.assertIn("Retry-After", headers)
            # GetCACaps does not need the signer.
            self.assertEqual(http("GET", stack.url + "?operation=GetCACaps")[0], 200)
            stack.start_signer()
            rep = None
            for _ in range(100):
                status, _, body = http("POST", url, req)
                if status == 200:
                    rep = stack.probe_open("outage", body)
                    break
                self.assertEqual(status, 503)
                import time
                time.sleep(0.1)
            self.assertIsNotNone(rep, "signer did not come back")
            # The identical request was never half-processed: it succeeds.
            self.assertEqual(rep["pkiStatus"], 0, rep)
        finally:
            stack.stop()

    def _refused_while_redis_is_down(self, stack, name, tid, nonce_hex):
        """Stops Redis and checks a PKCSReq gets 503 + Retry-After; returns
        the URL and the request, to send again once Redis is back."""
        url = stack.url + "?operation=PKIOperation"
        req = stack.probe_request(name, tid, nonce_hex)
        stack.stop_process("redis")
        status, headers, _ = http("POST", url, req)
        self.assertEqual(status, 503)
        self.assertIn("Retry-After", headers)
        return url, req

    def test_redis_down_is_503_then_recovers(self):
        stack = Stack().start()
        try:
            url, req = self._refused_while_redis_is_down(
                stack, "redis-outage", "tid-redis", "55" * 16)
            stack.restart_redis()
            # The gateway's Redis pools fail fast for a short cooldown after
            # the failures (circuit breaker), then the identical request
            # goes through: 503 + Retry-After until then, nothing else.
            import time
            for _ in range(50):
                status, headers, body = http("POST", url, req)
                if status != 503:
                    break
                self.assertIn("Retry-After", headers)
                time.sleep(0.1)
            self.assertEqual(status, 200)
            self.assertEqual(stack.probe_open("redis-outage", body)["pkiStatus"], 0)
        finally:
            stack.stop()

    def test_without_the_breaker_the_next_request_after_redis_returns_succeeds(self):
        # --redis_failure_cooldown_ms=0 turns the circuit breaker off: every
        # request tries Redis, so the first one after the restart goes
        # through (and each one during the outage waits for its timeout).
        stack = Stack(gateway_args=["--redis_failure_cooldown_ms=0"]).start()
        try:
            url, req = self._refused_while_redis_is_down(
                stack, "no-breaker", "tid-no-breaker", "77" * 16)
            stack.restart_redis()
            status, _, body = http("POST", url, req)
            self.assertEqual(status, 200)
            self.assertEqual(stack.probe_open("no-breaker", body)["pkiStatus"], 0)
        finally:
            stack.stop()


if __name__ == "__main__":
    unittest.main()
