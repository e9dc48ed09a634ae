"""RA key placement (DESIGN.md): the RA key as a PEM file beside an HSM that
keeps only the CA key, for HSMs that refuse RSA PKCS#1 v1.5 decryption.
Real scep-provision, SoftHSMv2 token, signer, gateway and Redis; strongSwan
pki and scep-probe as clients."""

import os
import stat
import subprocess
import unittest

from harness import (SOFTHSM_MODULE, Stack, binary, free_port, http, metric,
                     openssl, require_tool)
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
        require_tool(self, "pkcs11-tool")
        out = subprocess.run(
            ["pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", "scep-it",
             "--login", "--pin", Stack.PIN, "--list-objects", "--type", "privkey"],
            env=self.stack.env(), capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("label:      scep-ca", out.stdout)
        self.assertNotIn("scep-ra", out.stdout)
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
             "--token-label", "scep-it-again", "--ra-key-file", self.stack.ra_key_pem,
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


if __name__ == "__main__":
    unittest.main()
