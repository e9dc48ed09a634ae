"""RA key rollover without failed enrollments: `scep-provision --rollover-ra`
gives the RA a new key while the signer keeps accepting requests encrypted
to the previous RA certificate (devices that fetched GetCACert before every
gateway published the new one), until `--drop-previous-ra`. Real
scep-provision, SoftHSMv2, signer, gateway and Redis; strongSwan pki (with
its RA certificates cached from before the rollover) and scep-probe."""

import json
import os
import shutil
import subprocess
import time
import unittest

from harness import (SOFTHSM_MODULE, Stack, binary, http, metric, openssl,
                     pkcs11_private_keys, post_until_served)
from test_conformance import StrongSwanClient

PREVIOUS = "scep_signer_previous_ra_decryptions_total"


class RaRolloverMixin:
    """Shared steps; the subclasses place the RA key in the token or a file."""

    def provision(self, *flags):
        out = subprocess.run(
            [binary("scep-provision"), "--module", SOFTHSM_MODULE, "--token-label", "scep-it",
             "--out-dir", self.stack.pki, "--pin-file", self.stack.pin_file, *flags,
             *self.placement()],
            env=self.stack.env(), capture_output=True, text=True, timeout=120)
        self.assertNotIn(Stack.PIN, out.stdout + out.stderr)
        return out

    def restart_signer(self):
        self.stack.stop_process("signer")
        self.stack.start_signer()
        self.assertEqual(self.stack.wait_readyz(200, "signer")[0], 200)

    def probe(self, name, ra):
        reply = post_until_served(self.stack, lambda: self.stack.probe_request(
            name, "tid-" + name, os.urandom(16).hex(), ra=ra))
        self.assertEqual(reply[0], 200, reply[2][:200])
        return self.stack.probe_open(name, reply[2])

    def signer_events(self, event):
        return [json.loads(line) for line in self.stack.log("signer").splitlines()
                if line.startswith("{") and f'"{event}"' in line]

    def published_ra_serials(self):
        status, _, body = http("GET", self.stack.url + "?operation=GetCACert")
        self.assertEqual(status, 200)
        text = openssl("pkcs7", "-inform", "DER", "-print_certs", "-text", input=body).decode()
        return text.replace(":", "").upper()

    def serial(self, pem):
        return openssl("x509", "-in", pem, "-noout", "-serial").decode().split("=")[1].strip()

    def rollover_keeps_old_devices_enrolling(self, strongswan):
        old_ra = os.path.join(self.stack.dir, "ra-before-rollover.pem")
        shutil.copy(self.stack.ra_pem, old_ra)
        old_public = openssl("x509", "-in", old_ra, "-noout", "-pubkey")
        # A device that fetched the CA certificates before the rollover.
        client = StrongSwanClient(self, self.stack, "rollover") if strongswan else None

        out = self.provision("--rollover-ra")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("RA key rolled over", out.stdout)
        self.assertIn("--drop-previous-ra", out.stdout)
        previous_pem = os.path.join(self.stack.pki, "ra-previous.pem")
        self.assertEqual(openssl("x509", "-in", previous_pem, "-noout", "-fingerprint"),
                         openssl("x509", "-in", old_ra, "-noout", "-fingerprint"))
        new_public = openssl("x509", "-in", self.stack.ra_pem, "-noout", "-pubkey")
        self.assertNotEqual(new_public, old_public, "a new RA key")
        verified = subprocess.run(["openssl", "verify", "-CAfile", self.stack.ca_pem,
                                   self.stack.ra_pem], capture_output=True, text=True)
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)
        # Running it again while the previous key is kept changes nothing.
        again = self.provision("--rollover-ra")
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("--drop-previous-ra", again.stdout + again.stderr)
        self.assertEqual(openssl("x509", "-in", self.stack.ra_pem, "-noout", "-pubkey"),
                         new_public)

        self.restart_signer()
        accepted = self.signer_events("previous_ra_accepted")
        self.assertEqual(len(accepted), 1, self.stack.log("signer")[-2000:])
        self.assertEqual(accepted[0]["serial"].upper().lstrip("0"),
                         self.serial(old_ra).lstrip("0"))
        self.assertEqual(accepted[0]["key"], self.expected_previous_key())

        # The gateway publishes the new RA certificate at its next refresh.
        new_serial = self.serial(self.stack.ra_pem)
        deadline = time.time() + 15
        while time.time() < deadline and new_serial not in self.published_ra_serials():
            time.sleep(0.2)
        self.assertIn(new_serial, self.published_ra_serials())
        self.assertNotIn(self.serial(old_ra), self.published_ra_serials())

        before = metric(self.stack.scrape("signer"), PREVIOUS, ca="default")
        rep = self.probe("old-ra-device", old_ra)
        self.assertEqual(rep["pkiStatus"], 0, rep)
        rep = self.probe("new-ra-device", self.stack.ra_pem)
        self.assertEqual(rep["pkiStatus"], 0, rep)
        if client is not None:
            out = client.enroll(client.key("dev"), "CN=rollover-strongswan", "--password",
                                self.stack.challenge)
            self.assertEqual(out.returncode, 0,
                             out.stderr.decode() + self.stack.log("gateway")[-2000:])
            issued = os.path.join(self.stack.dir, "rollover-strongswan.pem")
            with open(issued, "wb") as f:
                f.write(out.stdout)
            verified = subprocess.run(["openssl", "verify", "-CAfile", self.stack.ca_pem,
                                       issued], capture_output=True, text=True)
            self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)
        after = metric(self.stack.scrape("signer"), PREVIOUS, ca="default")
        self.assertEqual(after - before, 2 if client is not None else 1,
                         "only the requests encrypted to the previous RA count")

        # Dropping the previous RA ends it: after a restart, a request to the
        # old RA certificate is refused, signed, and nothing is issued.
        out = self.provision("--drop-previous-ra")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("removed", out.stdout)
        self.assertFalse(os.path.exists(previous_pem))
        self.restart_signer()
        rep = self.probe("old-ra-late", old_ra)
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (2, 1), rep)  # badMessageCheck
        rep = self.probe("new-ra-late", self.stack.ra_pem)
        self.assertEqual(rep["pkiStatus"], 0, rep)
        return old_public, new_public


class TokenRaRolloverTest(RaRolloverMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(gateway_args=["--ca_refresh_seconds=1"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def placement(self):
        return []

    def expected_previous_key(self):
        return "token:scep-it:scep-ra.previous"

    def test_rollover_keeps_devices_with_the_old_ra_certificate_enrolling(self):
        self.rollover_keeps_old_devices_enrolling(strongswan=True)
        keys = pkcs11_private_keys(self, self.stack, "scep-it", Stack.PIN)
        self.assertIn("label:      scep-ra\n", keys + "\n")
        self.assertNotIn("scep-ra.previous", keys)
        self.assertIn("label:      scep-ca", keys)


class FileRaRolloverTest(RaRolloverMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(ra_key_file=True, gateway_args=["--ca_refresh_seconds=1"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def placement(self):
        return ["--ra-key-file", self.stack.ra_key_pem]

    def expected_previous_key(self):
        return "file:" + self.stack.ra_key_pem[:-len(".pem")] + "-previous.pem"

    def test_rollover_with_the_ra_key_in_a_file(self):
        _, new_public = self.rollover_keeps_old_devices_enrolling(strongswan=False)
        self.assertEqual(openssl("pkey", "-in", self.stack.ra_key_pem, "-pubout"), new_public)
        self.assertFalse(os.path.exists(self.stack.ra_key_pem[:-4] + "-previous.pem"))


if __name__ == "__main__":
    unittest.main()
