"""CA rollover, the switch: the signer moves to the next CA (a new CA key and
RA key in the same token, their certificates in another directory) and keeps
the replaced CA certificate as ca-previous.pem beside the new ca.pem. Devices
holding certificates of the old CA renew with them (strongSwan pki, a
RenewalReq signed by the old certificate) and get certificates of the new
CA; without ca-previous.pem such a renewal is refused. Real scep-provision,
SoftHSMv2, signer, gateway and Redis."""

import json
import os
import shutil
import subprocess
import time
import unittest

from harness import SOFTHSM_MODULE, Stack, binary, http, openssl
from test_conformance import StrongSwanClient


class CaRolloverTest(unittest.TestCase):
    def setUp(self):
        self.stack = Stack(gateway_args=["--ca_refresh_seconds=1"]).start()
        self.addCleanup(self.stack.stop)
        self.next_dir = os.path.join(self.stack.dir, "pki-next")

    def provision_next_ca(self):
        out = subprocess.run(
            [binary("scep-provision"), "--module", SOFTHSM_MODULE, "--token-label", "scep-it",
             "--ca-label", "scep-ca-next", "--ra-label", "scep-ra-next",
             "--ca-subject", "CN=SCEP Next CA", "--ra-subject", "CN=SCEP Next RA",
             "--out-dir", self.next_dir, "--pin-file", self.stack.pin_file, "--if-missing"],
            env=self.stack.env(SCEP_HSM_SO_PIN=Stack.SO_PIN), capture_output=True, text=True,
            timeout=120)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def switch_signer(self):
        """Restarts the signer on the next CA's keys and certificates."""
        self.stack.stop_process("signer")
        argv = [arg for arg in self.stack.signer_argv()
                if not arg.startswith(("--ca_cert=", "--ra_cert="))]
        argv += [f"--ca_cert={self.next_dir}/ca.pem", f"--ra_cert={self.next_dir}/ra.pem",
                 "--ca_key_label=scep-ca-next", "--ra_key_label=scep-ra-next"]
        self.stack.spawn("signer", argv)
        self.assertEqual(self.stack.wait_readyz(200, "signer")[0], 200)

    def gateway_events(self, event):
        return [json.loads(line) for line in self.stack.log("gateway").splitlines()
                if line.startswith("{") and f'"{event}"' in line]

    def wait_published(self, previous_cas):
        """Until the gateway serves the next CA with `previous_cas` kept."""
        deadline = time.time() + 20
        while time.time() < deadline:
            status, _, body = http("GET", self.stack.url + "?operation=GetCACert")
            published = openssl("pkcs7", "-inform", "DER", "-print_certs", input=body)
            events = [e for e in self.gateway_events("ca_certificates_changed")
                      if e.get("previous_cas") == previous_cas]
            if status == 200 and b"SCEP Next CA" in published and events:
                self.assertNotIn(b"SCEP Dev CA", published)
                return
            time.sleep(0.2)
        self.fail("the gateway did not publish the next CA: "
                  + self.stack.log("gateway")[-2000:])

    def verifies(self, ca, cert):
        return subprocess.run(["openssl", "verify", "-CAfile", ca, cert],
                              capture_output=True).returncode == 0

    def test_certificates_of_the_old_ca_renew_after_the_switch(self):
        client = StrongSwanClient(self, self.stack, "ca-rollover")
        old_key = client.key("old")
        out = client.enroll(old_key, "CN=ca-rollover", "--password", self.stack.challenge)
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace"))
        old_cert = os.path.join(client.dir, "old.pem")
        with open(old_cert, "wb") as f:
            f.write(out.stdout)
        old_ca = os.path.join(self.stack.dir, "old-ca.pem")
        shutil.copy(self.stack.ca_pem, old_ca)

        self.provision_next_ca()
        self.switch_signer()
        self.wait_published(previous_cas=0)
        # The device fetches the CA certificates again (GetCACert).
        next_ca = os.path.join(self.next_dir, "ca.pem")
        openssl("x509", "-in", next_ca, "-outform", "DER", "-out", client.ca)
        openssl("x509", "-in", os.path.join(self.next_dir, "ra.pem"), "-outform", "DER",
                "-out", client.ra)

        # Without ca-previous.pem the old certificate is nobody's.
        out = client.enroll(client.key("refused"), "CN=ca-rollover", "--cert", old_cert,
                            "--key", old_key)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("renewal must be signed with a certificate issued by this CA",
                      self.stack.log("gateway"))

        shutil.copy(old_ca, os.path.join(self.next_dir, "ca-previous.pem"))
        self.switch_signer()
        accepted = [json.loads(line) for line in self.stack.log("signer").splitlines()
                    if '"previous_ca_accepted"' in line]
        self.assertEqual(len(accepted), 1, self.stack.log("signer")[-2000:])
        self.assertEqual(accepted[0]["subject"], "CN=SCEP Dev CA")
        self.assertEqual(accepted[0]["sha256"].replace(":", "").upper(),
                         openssl("x509", "-in", old_ca, "-noout", "-fingerprint", "-sha256")
                         .decode().split("=")[1].strip().replace(":", ""))
        self.wait_published(previous_cas=1)

        out = client.enroll(client.key("new"), "CN=ca-rollover", "--cert", old_cert,
                            "--key", old_key)
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace")
                         + self.stack.log("gateway")[-2000:])
        renewed = os.path.join(client.dir, "renewed.pem")
        with open(renewed, "wb") as f:
            f.write(out.stdout)
        self.assertTrue(self.verifies(next_ca, renewed))
        self.assertFalse(self.verifies(old_ca, renewed))
        self.assertEqual(openssl("x509", "-in", renewed, "-noout", "-subject"),
                         openssl("x509", "-in", old_cert, "-noout", "-subject"))
        # The renewed certificate renews in turn, under the new CA.
        out = client.enroll(client.key("newer"), "CN=ca-rollover", "--cert", renewed,
                            "--key", os.path.join(client.dir, "new.der"))
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace"))

        # A certificate of a CA neither current nor previous still does not.
        stranger_dir = os.path.join(self.stack.dir, "stranger")
        os.makedirs(stranger_dir)
        stranger_key = os.path.join(stranger_dir, "key.pem")
        stranger = os.path.join(stranger_dir, "cert.pem")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", stranger_key,
                "-out", stranger, "-subj", "/CN=ca-rollover", "-days", "30")
        stranger_der = os.path.join(stranger_dir, "key.der")
        openssl("pkey", "-in", stranger_key, "-outform", "DER", "-out", stranger_der)
        out = client.enroll(client.key("stranger"), "CN=ca-rollover", "--cert", stranger,
                            "--key", stranger_der)
        self.assertNotEqual(out.returncode, 0)


if __name__ == "__main__":
    unittest.main()
