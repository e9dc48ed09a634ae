"""A CA under the organisation's own root: `scep-provision --ca-csr` has the
token's CA key request a certificate, an OpenSSL root (playing the
corporate root) signs it, `--import-ca --ca-chain` installs it and issues
the RA certificate; the signer publishes the chain, GetCACert carries it,
devices enroll and their certificates verify up to the root only. Real
scep-provision, SoftHSMv2, signer, gateway and Redis; scep-probe and
strongSwan pki as clients."""

import json
import os
import plistlib
import ssl
import subprocess
import time
import unittest

from harness import (SOFTHSM_MODULE, Stack, binary, free_port, http, metric, openssl,
                     post_until_served)
from test_conformance import StrongSwanClient

ROOT_EXT = """[req]
distinguished_name = dn
[dn]
[v3_root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_issuing]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


class SubordinateCaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(gateway_args=["--ca_refresh_seconds=1"],
                          admin_token="Admin-Token-Subordinate").start()
        d = cls.root_dir = os.path.join(cls.stack.dir, "corporate-root")
        os.makedirs(d)
        cls.ext = os.path.join(d, "ext.cnf")
        with open(cls.ext, "w") as f:
            f.write(ROOT_EXT)
        cls.root_key = os.path.join(d, "root.key")
        cls.root_pem = os.path.join(d, "root.pem")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", cls.root_key,
                "-subj", "/O=Example Corp/CN=Example Corp Root", "-days", "7300",
                "-config", cls.ext, "-extensions", "v3_root", "-out", cls.root_pem)

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def provision(self, *flags):
        out = subprocess.run(
            [binary("scep-provision"), "--module", SOFTHSM_MODULE, "--token-label", "scep-it",
             "--out-dir", self.stack.pki, "--pin-file", self.stack.pin_file, *flags],
            env=self.stack.env(), capture_output=True, text=True, timeout=120)
        self.assertNotIn(Stack.PIN, out.stdout + out.stderr)
        return out

    def sign_as_root(self, csr, out, extensions="v3_issuing"):
        openssl("x509", "-req", "-in", csr, "-CA", self.root_pem, "-CAkey", self.root_key,
                "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "3650",
                "-extfile", self.ext, "-extensions", extensions, "-out", out)

    def test_ca_under_a_corporate_root(self):
        csr = os.path.join(self.root_dir, "issuing.csr")
        out = self.provision("--ca-csr", csr, "--ca-subject", "O=Example Corp,CN=Example Devices CA")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("--import-ca", out.stdout)
        text = openssl("req", "-in", csr, "-noout", "-text", "-verify").decode()
        self.assertIn("CN = Example Devices CA", text)
        self.assertIn("CA:TRUE", text)
        # The request is for the CA key already in the token.
        self.assertEqual(openssl("req", "-in", csr, "-noout", "-pubkey"),
                         openssl("x509", "-in", self.stack.ca_pem, "-noout", "-pubkey"))
        issuing = os.path.join(self.root_dir, "issuing.pem")
        self.sign_as_root(csr, issuing)

        # A chain that does not lead to the CA's issuer is refused, nothing written.
        other_root = os.path.join(self.root_dir, "other-root.pem")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                os.path.join(self.root_dir, "other.key"), "-subj", "/CN=Other Root",
                "-days", "30", "-config", self.ext, "-extensions", "v3_root",
                "-out", other_root)
        with open(self.stack.ca_pem, "rb") as f:
            before = f.read()
        refused = self.provision("--import-ca", issuing, "--ca-chain", other_root)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("does not verify under its chain", refused.stdout + refused.stderr)
        with open(self.stack.ca_pem, "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertFalse(os.path.exists(os.path.join(self.stack.pki, "ca-chain.pem")))

        out = self.provision("--import-ca", issuing, "--ca-chain", self.root_pem)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("Root SHA-256", out.stdout)
        verified = subprocess.run(["openssl", "verify", "-CAfile", self.root_pem, "-untrusted",
                                   self.stack.ca_pem, self.stack.ra_pem],
                                  capture_output=True, text=True)
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)

        self.stack.stop_process("signer")
        self.stack.start_signer()
        self.assertEqual(self.stack.wait_readyz(200, "signer")[0], 200)
        expiry = metric(self.stack.scrape("signer"),
                        "scep_signer_certificate_expiry_timestamp_seconds", ca="default",
                        role="chain")
        root_end = openssl("x509", "-in", self.root_pem, "-noout", "-enddate").decode()
        self.assertEqual(expiry, ssl.cert_time_to_seconds(root_end.strip().split("=", 1)[1]))
        issuing_fp = openssl("x509", "-in", issuing, "-noout", "-fingerprint", "-sha256")
        root_fp = openssl("x509", "-in", self.root_pem, "-noout", "-fingerprint", "-sha256")
        deadline = time.time() + 20
        published = []
        while time.time() < deadline:
            status, _, body = http("GET", self.stack.url + "?operation=GetCACert")
            if status == 200:
                pems = openssl("pkcs7", "-inform", "DER", "-print_certs", input=body).decode()
                published = [openssl("x509", "-noout", "-fingerprint", "-sha256",
                                     input=("-----BEGIN CERTIFICATE-----" + b).encode())
                             for b in pems.split("-----BEGIN CERTIFICATE-----")[1:]]
                if issuing_fp in published:
                    break
            time.sleep(0.2)
        self.assertIn(issuing_fp, published)
        self.assertIn(root_fp, published, "GetCACert carries the chain up to the root")
        self.assertEqual(len(published), 3)  # CA, RA, root
        changed = [json.loads(line) for line in self.stack.log("gateway").splitlines()
                   if line.startswith("{") and '"ca_certificates_changed"' in line]
        self.assertTrue(changed)
        self.assertEqual(changed[-1]["ca_chain"], 1)
        # The admin API names the root an MDM's trusted-certificate profile
        # installs.
        shown = self.stack.scepctl("profiles", "show", "--profile", "default", "--json")
        self.assertEqual(shown.returncode, 0, shown.stderr)
        profile = json.loads(shown.stdout)["profiles"][0]
        self.assertEqual(profile["rootSha256"], root_fp.decode().split("=", 1)[1].strip())
        self.assertEqual(profile["caSha256"], issuing_fp.decode().split("=", 1)[1].strip())
        config = self.stack.scepctl("mobileconfig", "--profile", "default", "--url",
                                    self.stack.url)
        self.assertEqual(config.returncode, 0, config.stderr)
        payloads = plistlib.loads(config.stdout.encode())["PayloadContent"]
        self.assertEqual([p["PayloadType"] for p in payloads],
                         ["com.apple.security.scep", "com.apple.security.root"])
        with open(self.root_pem, "rb") as f:
            root_der = openssl("x509", "-outform", "DER", input=f.read())
        self.assertEqual(payloads[1]["PayloadContent"], root_der)

        reply = post_until_served(self.stack, lambda: self.stack.probe_request(
            "sub-device", "tid-sub", os.urandom(16).hex()))
        self.assertEqual(reply[0], 200)
        rep = self.stack.probe_open("sub-device", reply[2])
        self.assertEqual(rep["pkiStatus"], 0, rep)
        cert = os.path.join(self.stack.dir, "sub-device.pem")
        with open(cert, "w") as f:
            f.write(rep["pem"])
        # Relying parties trust only the corporate root.
        verified = subprocess.run(["openssl", "verify", "-CAfile", self.root_pem, "-untrusted",
                                   self.stack.ca_pem, cert], capture_output=True, text=True)
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)

        client = StrongSwanClient(self, self.stack, "subordinate")
        out = client.enroll(client.key("dev"), "CN=strongswan-under-root", "--password",
                            self.stack.challenge)
        self.assertEqual(out.returncode, 0, out.stderr.decode() + self.stack.log("gateway")[-2000:])
        ss_cert = os.path.join(self.stack.dir, "strongswan-under-root.pem")
        with open(ss_cert, "wb") as f:
            f.write(out.stdout)
        verified = subprocess.run(["openssl", "verify", "-CAfile", self.root_pem, "-untrusted",
                                   self.stack.ca_pem, ss_cert], capture_output=True, text=True)
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)

        # A signer whose ca-chain.pem does not fit refuses to start, naming it.
        chain = os.path.join(self.stack.pki, "ca-chain.pem")
        with open(chain, "rb") as f:
            good_chain = f.read()
        with open(other_root, "rb") as f, open(chain, "wb") as g:
            g.write(f.read())
        try:
            bad = subprocess.run(
                [binary("scep-signer"), f"--listen=127.0.0.1:{free_port()}",
                 f"--pkcs11_module={SOFTHSM_MODULE}", "--token_label=scep-it",
                 f"--pin_file={self.stack.pin_file}", f"--ca_cert={self.stack.ca_pem}",
                 f"--ra_cert={self.stack.ra_pem}", f"--metrics_port={free_port()}",
                 "--insecure_plaintext"],
                env=self.stack.env(), capture_output=True, text=True, timeout=60)
        finally:
            with open(chain, "wb") as g:
                g.write(good_chain)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("does not verify under its chain", bad.stdout + bad.stderr)


if __name__ == "__main__":
    unittest.main()
