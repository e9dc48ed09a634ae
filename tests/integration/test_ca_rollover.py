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

from harness import SOFTHSM_MODULE, Stack, binary, free_port, http, openssl
from test_conformance import StrongSwanClient

TOKEN = "Admin-Token-For-Integration-Tests"
STATIC = {"mode": "static", "secret_env": "SCEP_CHALLENGE"}
PKI_OP = "?operation=PKIOperation"


class RolloverSteps:
    """The steps of README "CA rollover" on the stack make_stack() starts."""

    def setUp(self):
        self.stack = self.make_stack()
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


class CaRolloverTest(RolloverSteps, unittest.TestCase):
    def make_stack(self):
        return Stack(gateway_args=["--ca_refresh_seconds=1"]).start()

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


def key_id(pem):
    """The CA key identifier as the gateway's URLs name it (lower-case hex
    subjectKeyIdentifier)."""
    text = openssl("x509", "-in", pem, "-noout", "-ext", "subjectKeyIdentifier").decode()
    return text.splitlines()[1].strip().replace(":", "").lower()


class PreviousCaRevocationTest(RolloverSteps, unittest.TestCase):
    """After the switch, relying parties still check the revocation of the
    old CA's certificates: `openssl ocsp` against the old CA certificate
    alone, and `openssl verify -crl_check -crl_download` following the old
    certificate's own CRL URL (a `{key}` URL, and with
    --crl_legacy_path_keys the plain /crl/default.crl), before and after a
    revocation with scepctl. Before, OCSP answered `unauthorized` and the
    CRL at either URL was the new CA's."""

    def make_stack(self):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        profiles = {"profiles": [
            {"name": "default", "challenge": STATIC,
             "crl_distribution_points": [self.base + "/crl/default/{key}.crl"],
             "ca_issuers": [self.base + "/ca/default/{key}.crt"],
             "ocsp_urls": [self.base + "/ocsp"]},
            {"name": "legacy", "challenge": STATIC,
             "crl_distribution_points": [self.base + "/crl/default.crl"],
             "ocsp_urls": [self.base + "/ocsp"]}]}
        return Stack(legacy=False, admin_token=TOKEN, profiles=profiles, http_port=self.port,
                     gateway_args=["--ca_refresh_seconds=1"]).start()

    def enroll(self, profile, name, ra=None):
        body = self.stack.probe_request(name, "tid-" + name, os.urandom(16).hex(), ra=ra)
        status, _, reply = http("POST", f"{self.stack.url}/{profile}{PKI_OP}", body)
        self.assertEqual(status, 200, reply)
        rep = self.stack.probe_open(name, reply)
        self.assertEqual(rep["pkiStatus"], 0, rep)
        path = os.path.join(self.stack.dir, name + ".pem")
        with open(path, "w") as f:
            f.write(rep["pem"])
        return path

    def ocsp(self, ca, cert):
        url = openssl("x509", "-in", cert, "-noout", "-ocsp_uri").decode().strip()
        return subprocess.run(["openssl", "ocsp", "-issuer", ca, "-cert", cert, "-CAfile", ca,
                               "-url", url], capture_output=True, text=True, timeout=60)

    def verify_crl(self, ca, cert):
        return subprocess.run(["openssl", "verify", "-crl_check", "-crl_download", "-CAfile", ca,
                               cert], capture_output=True, text=True, timeout=60)

    def revoke(self, cert):
        serial = openssl("x509", "-noout", "-serial", "-in", cert).decode().strip()
        serial = serial.split("=")[1].lower().lstrip("0")
        out = self.stack.scepctl("certs", "revoke", "--serial", serial, "--reason",
                                 "keyCompromise")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_revocation_of_old_ca_certificates_after_the_switch(self):
        old_ca = os.path.join(self.stack.dir, "old-ca.pem")
        shutil.copy(self.stack.ca_pem, old_ca)
        old_id = key_id(old_ca)
        old_cert = self.enroll("default", "old-keyed")
        legacy_cert = self.enroll("legacy", "old-legacy")
        text = openssl("x509", "-in", old_cert, "-noout", "-text").decode()
        self.assertIn(f"URI:{self.base}/crl/default/{old_id}.crl", text)
        self.assertIn(f"CA Issuers - URI:{self.base}/ca/default/{old_id}.crt", text)

        self.provision_next_ca()
        shutil.copy(old_ca, os.path.join(self.next_dir, "ca-previous.pem"))
        self.switch_signer()
        accepted = [json.loads(line) for line in self.stack.log("signer").splitlines()
                    if '"previous_ca_accepted"' in line]
        self.assertEqual(len(accepted), 1, self.stack.log("signer")[-2000:])
        self.assertEqual(accepted[0]["key_id"], old_id)
        self.assertTrue(accepted[0]["key"].startswith("token:"), accepted[0])
        self.assertNotIn("previous_ca_key_missing", self.stack.log("signer"))
        self.wait_published(previous_cas=1)
        next_ca = os.path.join(self.next_dir, "ca.pem")

        # Not revoked: good, and the CRL at the old certificate's URL is the
        # old CA's (signed by its key, which the token kept).
        good = self.ocsp(old_ca, old_cert)
        self.assertEqual(good.returncode, 0, good.stdout + good.stderr)
        self.assertIn("Response verify OK", good.stderr)
        self.assertIn(f"{old_cert}: good", good.stdout)
        ok = self.verify_crl(old_ca, old_cert)
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        status, _, body = http("GET", f"{self.base}/ca/default/{old_id}.crt")
        self.assertEqual(status, 200)
        self.assertEqual(openssl("x509", "-inform", "DER", "-noout", "-fingerprint", input=body),
                         openssl("x509", "-in", old_ca, "-noout", "-fingerprint"))
        # /crl/default.crl is the new CA's: useless to the legacy certificate.
        self.assertNotEqual(self.verify_crl(old_ca, legacy_cert).returncode, 0)

        self.revoke(old_cert)
        self.revoke(legacy_cert)
        revoked = self.ocsp(old_ca, old_cert)
        self.assertEqual(revoked.returncode, 0, revoked.stdout + revoked.stderr)
        self.assertIn("Response verify OK", revoked.stderr)
        self.assertIn(f"{old_cert}: revoked", revoked.stdout)
        self.assertIn("Reason: keyCompromise", revoked.stdout)
        self.assertIn(f"{legacy_cert}: revoked", self.ocsp(old_ca, legacy_cert).stdout)
        refused = self.verify_crl(old_ca, old_cert)
        self.assertNotEqual(refused.returncode, 0, refused.stdout)
        self.assertIn("certificate revoked", refused.stdout + refused.stderr)

        # The current CA's CRL at its own key URL, signed by the new key.
        status, _, body = http("GET", f"{self.base}/crl/default/{key_id(next_ca)}.crl")
        self.assertEqual(status, 200)
        checked = subprocess.run(["openssl", "crl", "-inform", "DER", "-CAfile", next_ca,
                                  "-noout"], input=body, capture_output=True)
        self.assertEqual(checked.returncode, 0, checked.stderr)

        # The legacy URL serves the old CA's CRL once the gateway is told.
        self.stack.stop_process("gateway")
        self.stack.start_gateway(
            extra=list(self.stack.gateway_args) + [f"--crl_legacy_path_keys={old_id}"])
        self.assertEqual(self.stack.wait_readyz(200, "gateway")[0], 200)
        legacy = self.verify_crl(old_ca, legacy_cert)
        self.assertNotEqual(legacy.returncode, 0, legacy.stdout)
        self.assertIn("certificate revoked", legacy.stdout + legacy.stderr)


if __name__ == "__main__":
    unittest.main()
