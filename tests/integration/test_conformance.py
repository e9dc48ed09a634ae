"""RFC 8894 conformance through the real stack: RenewalReq, CertPoll,
GetCert, GetCRL, GetNextCACert, algorithm agility and failure paths, with
strongSwan pki and scep-probe (issue: complete RFC 8894)."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import Stack, free_port, http, openssl, require_tool

PKI_OP = "?operation=PKIOperation"


def pki(*args, timeout=120):
    return subprocess.run(["pki", *args], capture_output=True, timeout=timeout)


class StrongSwanClient:
    """pki --scep against a stack, keys and certificates in one directory."""

    def __init__(self, testcase, stack, name, profile=None):
        require_tool(testcase, "pki")
        self.stack = stack
        self.url = stack.url + ("/" + profile if profile else "")
        self.dir = os.path.join(stack.dir, "ss-" + name)
        os.makedirs(self.dir)
        self.ca = os.path.join(self.dir, "ca.der")
        self.ra = os.path.join(self.dir, "ra.der")
        openssl("x509", "-in", stack.ca_pem, "-outform", "DER", "-out", self.ca)
        openssl("x509", "-in", stack.ra_pem, "-outform", "DER", "-out", self.ra)

    def key(self, name):
        path = os.path.join(self.dir, name + ".der")
        with open(path, "wb") as f:
            f.write(pki("--gen", "--type", "rsa", "--size", "2048").stdout)
        return path

    def enroll(self, key, dn, *extra):
        return pki("--scep", "--url", self.url, "--in", key, "--dn", dn,
                   "--cacert-enc", self.ra, "--cacert-sig", self.ra,
                   "--cacert", self.ca, "--outform", "pem", *extra)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


class ConformanceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack().start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def post(self, body):
        status, headers, reply = http("POST", self.stack.url + PKI_OP, body)
        self.assertEqual(status, 200, reply)
        return reply

    def probe_enroll(self, name, tid, **extra):
        reply = self.post(self.stack.probe_request(name, tid, os.urandom(16).hex(), **extra))
        rep = self.stack.probe_open(name, reply)
        self.assertEqual(rep["pkiStatus"], 0, rep)
        cert = write(os.path.join(self.stack.dir, f"dev-{name}", "issued-first.pem"),
                     rep["pem"].encode())
        return cert

    def test_caps_advertise_renewal_not_rollover(self):
        status, _, body = http("GET", self.stack.url + "?operation=GetCACaps")
        caps = body.decode().split()
        self.assertIn("Renewal", caps)
        self.assertNotIn("GetNextCACert", caps)
        status, _, _ = http("GET", self.stack.url + "?operation=GetNextCACert")
        self.assertEqual(status, 404)

    def test_strongswan_renewal_with_new_key(self):
        client = StrongSwanClient(self, self.stack, "renew")
        old_key = client.key("old")
        dn = "C=CH, O=Example Fleet, CN=it-renewal"
        out = client.enroll(old_key, dn, "--password", self.stack.challenge)
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace"))
        old_cert = write(os.path.join(client.dir, "old.pem"), out.stdout)
        new_key = client.key("new")
        out = client.enroll(new_key, dn, "--cert", old_cert, "--key", old_key)
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace")
                         + self.stack.log("gateway")[-2000:])
        new_cert = write(os.path.join(client.dir, "new.pem"), out.stdout)
        self.assertIn("RenewalReq", self.stack.log("gateway"))
        verify = subprocess.run(["openssl", "verify", "-CAfile", self.stack.ca_pem, new_cert],
                                capture_output=True, text=True)
        self.assertEqual(verify.returncode, 0, verify.stderr)
        self.assertNotEqual(openssl("x509", "-in", old_cert, "-noout", "-serial"),
                            openssl("x509", "-in", new_cert, "-noout", "-serial"))
        new_pub = openssl("pkey", "-inform", "DER", "-in", new_key, "-pubout")
        self.assertEqual(openssl("x509", "-in", new_cert, "-noout", "-pubkey"), new_pub)

    def test_strongswan_des3_where_legacy_is_allowed(self):
        client = StrongSwanClient(self, self.stack, "des3")
        out = client.enroll(client.key("k"), "CN=it-des3", "--password",
                            self.stack.challenge, "--cipher", "des3")
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace"))

    def test_single_des_client_through_gateway_and_signer(self):
        # Old clients (micromdm scepclient) still send single DES. The
        # signer decrypts it and answers in kind through OpenSSL's legacy
        # provider, which both services keep in a library context of its own.
        reply = self.post(self.stack.probe_request(
            "des", "tid-des", os.urandom(16).hex(), cipher="des-cbc", digest="sha1"))
        rep = self.stack.probe_open("des", reply)
        self.assertEqual(rep["pkiStatus"], 0, rep)
        self.assertEqual(rep["cipher"], "des-cbc", rep)
        self.assertEqual(rep["certificates"], 1, rep)

    def test_get_pkioperation_larger_than_8k_reaches_scep(self):
        # GET-only clients put the whole message in the request line; 8 KiB
        # of headers (the HTTP server's old limit) is less than a PKCSReq
        # with 4096-bit keys and a CA-issued signer certificate. A 12 KB
        # message is read (and, being junk, is HTTP 400 as a malformed
        # pkiMessage, not 431); past the limit is still 431.
        status, _, body = http("GET", self.stack.url + "?operation=PKIOperation&message="
                               + "A" * 12000)
        self.assertEqual(status, 400, body)
        self.assertIn(b"malformed pkiMessage", body)
        status, _, _ = http("GET", self.stack.url + "?operation=PKIOperation&message="
                            + "A" * 200000)
        self.assertEqual(status, 431)

    def test_ber_envelope_as_jscep_and_apple_send_it(self):
        # The pkcsPKIEnvelope in BER with indefinite lengths (BouncyCastle,
        # Apple): the gateway reads it re-encoded as DER and the signer
        # decrypts it; before session 25, FAILURE badMessageCheck.
        reply = self.post(self.stack.probe_request(
            "ber", "tid-ber", os.urandom(16).hex(), cipher="aes-256-cbc",
            **{"ber-envelope": "1"}))
        rep = self.stack.probe_open("ber", reply)
        self.assertEqual(rep["pkiStatus"], 0, rep)
        self.assertEqual(rep["cipher"], "aes-256-cbc", rep)
        self.assertEqual(rep["certificates"], 1, rep)

    def test_certpoll_getcert_and_crl_after_revocation(self):
        cert = self.probe_enroll("lifecycle", "tid-lifecycle")
        # CertPoll for the finished transaction: the same certificate.
        rep = self.stack.probe_open("lifecycle", self.post(self.stack.probe_request(
            "lifecycle", "tid-lifecycle", os.urandom(16).hex(), type="certpoll",
            ca=self.stack.ca_pem, target=cert)))
        self.assertEqual(rep["pkiStatus"], 0, rep)
        self.assertEqual(rep["pem"], open(cert).read())
        # CertPoll for an unknown transaction: FAILURE badCertId (4).
        rep = self.stack.probe_open("lifecycle", self.post(self.stack.probe_request(
            "lifecycle", "tid-unknown", os.urandom(16).hex(), type="certpoll",
            ca=self.stack.ca_pem, target=cert)))
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (2, 4), rep)
        self.assertTrue(rep["failInfoText"])
        # GetCert by issuer and serial.
        rep = self.stack.probe_open("lifecycle", self.post(self.stack.probe_request(
            "lifecycle", "tid-getcert", os.urandom(16).hex(), type="getcert",
            ca=self.stack.ca_pem, target=cert)))
        self.assertEqual(rep["pkiStatus"], 0, rep)
        self.assertEqual(rep["pem"], open(cert).read())
        # Revoke (test hook into the certificate index), then GetCRL.
        subprocess.run([self.stack_binary("scep-probe"), "revoke", "--redis-port",
                        str(self.stack.redis_port), "--target", cert, "--reason", "1"],
                       check=True, timeout=30)
        crl = os.path.join(self.stack.dir, "crl.pem")
        reply = self.post(self.stack.probe_request(
            "lifecycle", "tid-getcrl", os.urandom(16).hex(), type="getcrl",
            ca=self.stack.ca_pem, target=cert))
        rep = self.probe_open_crl("lifecycle", reply, crl)
        self.assertEqual(rep["pkiStatus"], 0, rep)
        text = subprocess.run(["openssl", "crl", "-in", crl, "-CAfile", self.stack.ca_pem,
                               "-noout", "-text"], capture_output=True, text=True)
        self.assertIn("verify OK", text.stderr + text.stdout)
        serial = openssl("x509", "-in", cert, "-noout", "-serial").decode().split("=")[1].strip()
        self.assertIn(serial.upper(), text.stdout.replace(":", "").upper())
        self.assertIn("Key Compromise", text.stdout)
        self.assertIn("X509v3 CRL Number", text.stdout)
        # A revoked certificate cannot renew.
        rep = self.stack.probe_open("lifecycle", self.post(self.stack.probe_request(
            "lifecycle", "tid-renew-revoked", os.urandom(16).hex(), type="renewal",
            cert=cert)))
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (2, 2), rep)
        self.assertIn("revoked", rep["failInfoText"])

    def test_certpoll_pending_then_rejected(self):
        cert = self.probe_enroll("poll-pending", "tid-poll-first")
        hook = [self.stack_binary("scep-probe"), None, "--redis-port",
                str(self.stack.redis_port), "--tid", "tid-awaiting"]
        poll = lambda: self.stack.probe_open("poll-pending", self.post(
            self.stack.probe_request("poll-pending", "tid-awaiting", os.urandom(16).hex(),
                                     type="certpoll", ca=self.stack.ca_pem, target=cert)))
        hook[1] = "hold"
        subprocess.run(hook, check=True, timeout=30)
        self.assertEqual(poll()["pkiStatus"], 3)  # PENDING
        hook[1] = "reject"
        subprocess.run(hook, check=True, timeout=30)
        rep = poll()
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (2, 2), rep)
        self.assertIn("rejected", rep["failInfoText"])

    def test_oaep_key_transport_and_ec_device_key(self):
        self.probe_enroll("oaep-ec", "tid-oaep-ec", oaep="1", **{"key-type": "ec"})

    def test_same_key_renewal_in_the_transaction_gets_a_new_certificate(self):
        """certmonger renews with the same key in the same transaction: the
        byte-identical CSR, signed with the certificate issued to it. Right
        after the first issuance the signer's recent-issuance cache (for
        retries of a transaction) answered it with that certificate again
        (test_certmonger flaked on it under load)."""
        first = self.probe_enroll("samekey", "tid-samekey")
        with open(first) as f:
            first_pem = f.read()
        rep = self.stack.probe_open("samekey", self.post(self.stack.probe_request(
            "samekey", "tid-samekey", os.urandom(16).hex(), cert=first)), cert=first)
        self.assertEqual(rep["pkiStatus"], 0, rep)
        self.assertTrue(rep["pem"])
        self.assertNotEqual(rep["pem"], first_pem)
        self.assertNotEqual(openssl("x509", "-noout", "-serial", input=rep["pem"].encode()),
                            openssl("x509", "-in", first, "-noout", "-serial"))

    def test_renewal_signed_by_a_stranger_is_refused(self):
        # A self-signed certificate is not ours: badMessageCheck (1).
        rep = self.stack.probe_open("stranger", self.post(self.stack.probe_request(
            "stranger", "tid-stranger", os.urandom(16).hex(), type="renewal")))
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (2, 1), rep)

    # -- helpers ----------------------------------------------------------
    def stack_binary(self, name):
        from harness import binary
        return binary(name)

    def probe_open_crl(self, name, reply, crl_out):
        import json
        d = os.path.join(self.stack.dir, "dev-" + name)
        rep = write(os.path.join(d, "crl-reply.der"), reply)
        out = subprocess.run(
            [self.stack_binary("scep-probe"), "open", "--key", os.path.join(d, "key.pem"),
             "--cert", os.path.join(d, "cert.pem"), "--in", rep, "--crl-out", crl_out],
            check=True, capture_output=True, text=True, timeout=60)
        return json.loads(out.stdout)


class StrictProfileTest(unittest.TestCase):
    """Without --allow_legacy: DES, 3DES and SHA-1 are refused."""

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(legacy=False).start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def test_caps_do_not_offer_legacy(self):
        caps = http("GET", self.stack.url + "?operation=GetCACaps")[2].decode().split()
        self.assertNotIn("DES3", caps)
        self.assertNotIn("SHA-1", caps)

    def test_strongswan_des3_is_refused(self):
        client = StrongSwanClient(self, self.stack, "strict-des3")
        out = client.enroll(client.key("k"), "CN=it-strict-des3", "--password",
                            self.stack.challenge, "--cipher", "des3")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("badAlg", self.stack.log("gateway"))

    def test_strongswan_aes_still_works(self):
        client = StrongSwanClient(self, self.stack, "strict-aes")
        out = client.enroll(client.key("k"), "CN=it-strict-aes", "--password",
                            self.stack.challenge)
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace"))


class RolloverTest(unittest.TestCase):
    def test_get_next_ca_cert(self):
        tmp = tempfile.mkdtemp(prefix="scep-next-ca-")
        try:
            key = os.path.join(tmp, "next.key")
            cert = os.path.join(tmp, "next.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", key, "-out", cert, "-subj", "/CN=Next CA",
                            "-days", "30"], check=True, capture_output=True)
            # The RA certificate the next CA issued (RFC 8894 section 3.5.2:
            # "the new CA certificate and any new RA certificates").
            ra_key = os.path.join(tmp, "next-ra.key")
            ra_csr = os.path.join(tmp, "next-ra.csr")
            ra_cert = os.path.join(tmp, "next-ra.pem")
            subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", ra_key, "-out", ra_csr, "-subj", "/CN=Next RA"],
                           check=True, capture_output=True)
            subprocess.run(["openssl", "x509", "-req", "-in", ra_csr, "-CA", cert,
                            "-CAkey", key, "-CAcreateserial", "-out", ra_cert, "-days", "30"],
                           check=True, capture_output=True)
            stack = Stack(signer_args=[f"--next_ca_cert={cert}",
                                       f"--next_ra_cert={ra_cert}"]).start()
            try:
                caps = http("GET", stack.url + "?operation=GetCACaps")[2].decode().split()
                self.assertIn("GetNextCACert", caps)
                status, headers, body = http("GET", stack.url + "?operation=GetNextCACert")
                self.assertEqual(status, 200)
                self.assertEqual(headers["Content-Type"], "application/x-x509-next-ca-cert")
                signer = os.path.join(tmp, "signer.pem")
                inner = subprocess.run(
                    ["openssl", "cms", "-verify", "-noverify", "-inform", "DER",
                     "-signer", signer], input=body, capture_output=True)
                self.assertEqual(inner.returncode, 0, inner.stderr)
                # Signed by the current RA.
                fingerprint = ["x509", "-noout", "-fingerprint", "-sha256", "-in"]
                self.assertEqual(openssl(*fingerprint, signer), openssl(*fingerprint, stack.ra_pem))
                certs = openssl("pkcs7", "-inform", "DER", "-print_certs", input=inner.stdout)
                self.assertIn(b"subject=CN = Next CA", certs)
                self.assertIn(b"subject=CN = Next RA", certs)
                # A next RA certificate the next CA did not issue stops the
                # signer at start, naming the problem.
                out = subprocess.run(
                    stack.signer_argv() + [f"--next_ca_cert={cert}",
                                           f"--next_ra_cert={stack.ra_pem}",
                                           f"--listen=127.0.0.1:{free_port()}",
                                           f"--metrics_port={free_port()}"],
                    env=stack.env(), capture_output=True, text=True, timeout=60)
                self.assertEqual(out.returncode, 1, out.stderr[-500:])
                self.assertIn("the next RA certificate is not issued by the next CA", out.stderr)
            finally:
                stack.stop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class EcdsaCaTest(unittest.TestCase):
    def test_strongswan_enrolls_under_ecdsa_p256_ca(self):
        stack = Stack(ca_key="ec:p256").start()
        try:
            client = StrongSwanClient(self, stack, "ec-ca")
            out = client.enroll(client.key("k"), "CN=it-ec-ca", "--password", stack.challenge)
            self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace"))
            cert = write(os.path.join(client.dir, "cert.pem"), out.stdout)
            verify = subprocess.run(["openssl", "verify", "-CAfile", stack.ca_pem, cert],
                                    capture_output=True, text=True)
            self.assertEqual(verify.returncode, 0, verify.stderr)
            self.assertIn("ecdsa-with-SHA256",
                          openssl("x509", "-in", cert, "-noout", "-text").decode())
        finally:
            stack.stop()


if __name__ == "__main__":
    unittest.main()
