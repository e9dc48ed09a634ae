"""RA key placement (DESIGN.md): the RA key in another token of the same
module, in a token of another module, or as a PEM file, beside an HSM token
that keeps the CA key. Real scep-provision, SoftHSMv2 tokens, signer, gateway
and Redis; strongSwan pki and scep-probe as clients."""

import os
import stat
import subprocess
import unittest

from harness import (SOFTHSM_MODULE, Stack, binary, free_port, http, metric,
                     openssl, pkcs11_private_keys)
from test_conformance import StrongSwanClient


class RaKeyFileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(ra_key_file=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def test_devices_enroll_and_only_the_ca_key_works_in_the_token(self):
        before = self.stack.scrape("signer")
        client = StrongSwanClient(self, self.stack, "rafile")
        out = client.enroll(client.key("dev"), "CN=ra-file-device", "--password",
                            self.stack.challenge)
        self.assertEqual(out.returncode, 0, out.stderr.decode() + self.stack.log("gateway"))
        cert = os.path.join(self.stack.dir, "ra-file-device.pem")
        with open(cert, "wb") as f:
            f.write(out.stdout)
        verified = subprocess.run(["openssl", "verify", "-CAfile", self.stack.ca_pem, cert],
                                  capture_output=True, text=True)
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)

        reply = http("POST", self.stack.url + "?operation=PKIOperation",
                     self.stack.probe_request("probe-rafile", "tid-rafile",
                                              os.urandom(16).hex()))
        self.assertEqual(reply[0], 200)
        rep = self.stack.probe_open("probe-rafile", reply[2])
        self.assertEqual(rep["pkiStatus"], 0, rep)

        after = self.stack.scrape("signer")
        ops = "scep_signer_pkcs11_operations_total"
        # Two certificates signed in the token; the RA's decryptions and
        # CertRep signatures happened outside it.
        self.assertGreaterEqual(metric(after, ops, key="ca") - metric(before, ops, key="ca"), 2)
        self.assertEqual(metric(after, ops, key="ra"), 0)
        self.assertGreaterEqual(
            metric(after, "scep_signer_rpc_total", method="DecryptEnvelope", code="OK")
            - metric(before, "scep_signer_rpc_total", method="DecryptEnvelope", code="OK"), 2)

    def test_token_holds_the_ca_key_only_and_the_file_is_private(self):
        keys = pkcs11_private_keys(self, self.stack, "scep-it", Stack.PIN)
        self.assertIn("label:      scep-ca", keys)
        self.assertNotIn("scep-ra", keys)
        mode = stat.S_IMODE(os.stat(self.stack.ra_key_pem).st_mode)
        self.assertEqual(mode, 0o600, oct(mode))
        self.assertIn("file " + self.stack.ra_key_pem, self.stack.provision_output)

    def test_published_ra_certificate_is_the_key_files(self):
        status, _, body = http("GET", self.stack.url + "?operation=GetCACert")
        self.assertEqual(status, 200)
        pems = openssl("pkcs7", "-inform", "DER", "-print_certs", input=body).decode()
        published = set()
        for block in pems.split("-----END CERTIFICATE-----")[:-1]:
            pem = block[block.index("-----BEGIN CERTIFICATE-----"):] + \
                "-----END CERTIFICATE-----\n"
            published.add(openssl("x509", "-noout", "-pubkey", input=pem.encode()))
        file_public = openssl("pkey", "-in", self.stack.ra_key_pem, "-pubout")
        self.assertIn(file_public, published)

    def signer_start_error(self, ra_key_file):
        """Starts a second signer with `ra_key_file`; it must exit at start.
        Returns its output."""
        argv = [binary("scep-signer"), f"--listen=127.0.0.1:{free_port()}",
                f"--pkcs11_module={SOFTHSM_MODULE}", "--token_label=scep-it",
                f"--pin_file={self.stack.pin_file}", f"--ca_cert={self.stack.ca_pem}",
                f"--ra_cert={self.stack.ra_pem}", f"--ra_key_file={ra_key_file}",
                f"--metrics_port={free_port()}", "--insecure_plaintext"]
        # No terminal and no stdin: an encrypted key must not wait for a
        # passphrase.
        out = subprocess.run(argv, env=self.stack.env(), stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=60)
        self.assertNotEqual(out.returncode, 0, out.stdout + out.stderr)
        text = out.stdout + out.stderr
        self.assertNotIn("PRIVATE KEY", text)
        return text

    def test_signer_refuses_a_key_file_that_does_not_fit(self):
        other = os.path.join(self.stack.dir, "other-ra-key.pem")
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", other)
        self.assertIn("RA certificate does not match its key", self.signer_start_error(other))

        encrypted = os.path.join(self.stack.dir, "encrypted-ra-key.pem")
        openssl("pkey", "-in", self.stack.ra_key_pem, "-aes256", "-passout",
                "pass:Sekret-Passphrase", "-out", encrypted)
        text = self.signer_start_error(encrypted)
        self.assertIn("no unencrypted PEM private key in " + encrypted, text)
        self.assertNotIn("Sekret-Passphrase", text)

        missing = os.path.join(self.stack.dir, "no-such-key.pem")
        self.assertIn("cannot open key file " + missing, self.signer_start_error(missing))

    def test_provisioning_again_keeps_the_key_file(self):
        before = openssl("pkey", "-in", self.stack.ra_key_pem, "-pubout")
        out_dir = os.path.join(self.stack.dir, "pki-again")
        out = subprocess.run(
            [binary("scep-provision"), "--module", SOFTHSM_MODULE,
             "--token-label", "again-it", "--ra-key-file", self.stack.ra_key_pem,
             "--out-dir", out_dir],
            env=self.stack.env(SCEP_HSM_PIN=Stack.PIN, SCEP_HSM_SO_PIN=Stack.SO_PIN),
            capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertRegex(out.stdout, r"RA key: +file .*\(existing\)")
        self.assertEqual(openssl("pkey", "-in", self.stack.ra_key_pem, "-pubout"), before)
        ra_public = openssl("x509", "-in", os.path.join(out_dir, "ra.pem"), "-noout",
                            "-pubkey")
        self.assertEqual(ra_public, before)
        # Issued by the new token's CA.
        verified = subprocess.run(
            ["openssl", "verify", "-CAfile", os.path.join(out_dir, "ca.pem"),
             os.path.join(out_dir, "ra.pem")], capture_output=True, text=True)
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)

        # ra.pem lost (or removed to get a new one): --if-missing issues it
        # again and keeps ca.pem, whose fingerprint MDM profiles pin.
        with open(os.path.join(out_dir, "ca.pem"), "rb") as f:
            ca_before = f.read()
        os.remove(os.path.join(out_dir, "ra.pem"))
        out = subprocess.run(
            [binary("scep-provision"), "--module", SOFTHSM_MODULE,
             "--token-label", "again-it", "--ra-key-file", self.stack.ra_key_pem,
             "--out-dir", out_dir, "--if-missing"],
            env=self.stack.env(SCEP_HSM_PIN=Stack.PIN), capture_output=True, text=True,
            timeout=120)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("CA certificate kept", out.stdout)
        with open(os.path.join(out_dir, "ca.pem"), "rb") as f:
            self.assertEqual(f.read(), ca_before)
        self.assertEqual(openssl("x509", "-in", os.path.join(out_dir, "ra.pem"), "-noout",
                                 "-pubkey"), before)


class RaOtherTokenTest(unittest.TestCase):
    """The RA key in another token of the CA's module, with its own PIN."""

    other_module = False

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(ra_token="ra-it", ra_other_module=cls.other_module).start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def enroll_with_probe(self, name):
        reply = http("POST", self.stack.url + "?operation=PKIOperation",
                     self.stack.probe_request(name, "tid-" + name, os.urandom(16).hex()))
        self.assertEqual(reply[0], 200)
        rep = self.stack.probe_open(name, reply[2])
        self.assertEqual(rep["pkiStatus"], 0, rep)

    def test_devices_enroll_with_the_ra_key_in_its_own_token(self):
        before = self.stack.scrape("signer")
        client = StrongSwanClient(self, self.stack, "ratoken")
        out = client.enroll(client.key("dev"), "CN=ra-token-device", "--password",
                            self.stack.challenge)
        self.assertEqual(out.returncode, 0, out.stderr.decode() + self.stack.log("gateway"))
        self.enroll_with_probe("probe-ratoken")
        after = self.stack.scrape("signer")
        ops = "scep_signer_pkcs11_operations_total"
        # Per enrollment: the RA decrypts and signs the CertRep, the CA signs.
        self.assertGreaterEqual(metric(after, ops, key="ra", result="ok")
                                - metric(before, ops, key="ra", result="ok"), 4)
        self.assertGreaterEqual(metric(after, ops, key="ca", result="ok")
                                - metric(before, ops, key="ca", result="ok"), 2)
        status, body = self.stack.readyz("signer")
        self.assertEqual(status, 200, body)

    def test_each_token_holds_its_own_key_and_pins_stay_secret(self):
        ca_token = pkcs11_private_keys(self, self.stack, "scep-it", Stack.PIN)
        ra_token = pkcs11_private_keys(self, self.stack, "ra-it", Stack.RA_PIN)
        self.assertIn("label:      scep-ca", ca_token)
        self.assertNotIn("scep-ra", ca_token)
        self.assertIn("label:      scep-ra", ra_token)
        self.assertNotIn("scep-ca", ra_token)
        self.assertRegex(self.stack.provision_output,
                         r"RA token: +ra-it \(created\)"
                         + (r" of .*libsofthsm2-copy\.so" if self.other_module else r"\n"))
        for name in ("signer", "gateway"):
            log = self.stack.log(name)
            self.assertNotIn(Stack.RA_PIN, log)
            self.assertNotIn(Stack.PIN, log)
        self.assertIn("token:ra-it:scep-ra", self.stack.log("signer"))

    def test_wrong_ra_pin_stops_the_signer_at_start_naming_the_token(self):
        wrong = os.path.join(self.stack.dir, "wrong-ra-pin")
        with open(wrong, "w") as f:
            f.write("999999-wrong\n")
        argv = [binary("scep-signer"), f"--listen=127.0.0.1:{free_port()}",
                f"--pkcs11_module={SOFTHSM_MODULE}", "--token_label=scep-it",
                f"--pin_file={self.stack.pin_file}", f"--ca_cert={self.stack.ca_pem}",
                f"--ra_cert={self.stack.ra_pem}", "--ra_token_label=ra-it",
                f"--ra_pin_file={wrong}", f"--metrics_port={free_port()}",
                "--insecure_plaintext"]
        if self.other_module:
            argv.append("--ra_pkcs11_module=" + os.path.join(
                self.stack.dir, "other-hsm", "libsofthsm2-copy.so"))
        out = subprocess.run(argv, env=self.stack.env(), stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=60)
        self.assertNotEqual(out.returncode, 0)
        text = out.stdout + out.stderr
        self.assertIn("login to token 'ra-it' failed", text)
        self.assertNotIn("999999-wrong", text)
        self.assertNotIn(Stack.PIN, text)


class RaOtherModuleTest(RaOtherTokenTest):
    """The RA key in a token reached through another PKCS#11 module (here a
    copy of SoftHSMv2's library: another HSM's, as far as the signer can
    tell), opened as a second Token beside the CA's."""

    other_module = True


if __name__ == "__main__":
    unittest.main()
