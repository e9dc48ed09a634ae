"""Certificate profiles through the real stack: routing by /scep/{profile},
subject template and SAN policy, and the external challenge verifier (allow,
deny, timeout) with a small HTTP verifier run by the test."""

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import ssl
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from harness import Stack, http, openssl, free_port
from test_conformance import StrongSwanClient

PKI_OP = "?operation=PKIOperation"


class Verifier(BaseHTTPRequestHandler):
    seen = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Verifier.seen.append(body)
        if body["challenge"] == "slow":
            time.sleep(2)
        answer = {"allow": body["challenge"] == "allow-me"}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class ProfilesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.verifier_port = free_port()
        cls.server = ThreadingHTTPServer(("127.0.0.1", cls.verifier_port), Verifier)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.tmp = tempfile.mkdtemp(prefix="scep-profiles-")
        cls.profiles = os.path.join(cls.tmp, "profiles.json")
        with open(cls.profiles, "w") as f:
            json.dump({"profiles": [
                {"name": "default", "challenge": {"mode": "static", "secret_env": "SCEP_CHALLENGE"}},
                {"name": "wifi",
                 "subject": [{"type": "CN", "value": "{CN}"}, {"type": "O", "value": "Example Fleet"}],
                 "san_policy": [{"type": "dns", "patterns": ["*.devices.example"]}],
                 "validity_days": 30, "extended_key_usage": ["clientAuth", "serverAuth"],
                 "challenge": {"mode": "static", "secret_env": "SCEP_CHALLENGE"}},
                {"name": "limited", "rate_limits": {"per_client_per_minute": 2},
                 "challenge": {"mode": "static", "secret_env": "SCEP_CHALLENGE"}},
                {"name": "corp", "issuing_ca": "corp",
                 "challenge": {"mode": "static", "secret_env": "SCEP_CHALLENGE"}},
                {"name": "mdm", "challenge": {
                    "mode": "external", "verifier_timeout_ms": 500,
                    "verifier_url": f"http://127.0.0.1:{cls.verifier_port}/verify"}},
            ]}, f)
        cls.stack = Stack(gateway_args=[f"--profiles_file={cls.profiles}"],
                          issuing_cas=["corp"], admin_token="profiles-admin").start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        cls.server.shutdown()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def enroll(self, profile, name, challenge=None, san=None, ra=None, string_type=None):
        extra = {"san": san} if san else {}
        if string_type:
            extra["string-type"] = string_type
        url = f"{self.stack.url}/{profile}{PKI_OP}"
        req = self.stack.probe_request(name, "tid-" + name, os.urandom(16).hex(),
                                       challenge=challenge, ra=ra, **extra)
        status, headers, body = http("POST", url, req)
        if status != 200:
            return status, None
        return status, self.stack.probe_open(name, body)

    def test_profiles_show_each_cas_fingerprint_and_expiry(self):
        def enddate(pem):
            text = openssl("x509", "-in", pem, "-noout", "-enddate").decode().strip()
            return int(ssl.cert_time_to_seconds(text.split("=", 1)[1]))

        def fingerprint(pem):
            text = openssl("x509", "-in", pem, "-noout", "-fingerprint", "-sha256").decode()
            return text.strip().split("=", 1)[1]

        deadline = time.time() + 15  # the further CA's certificates load after start
        while True:
            out = self.stack.scepctl("profiles", "list", "--json")
            if out.returncode == 0 or time.time() > deadline or "not yet loaded" not in out.stderr:
                break
            time.sleep(0.2)
        self.assertEqual(out.returncode, 0, out.stderr)
        listed = {p["name"]: p for p in json.loads(out.stdout)["profiles"]}
        for name, files in (("default", {"ca": self.stack.ca_pem, "ra": self.stack.ra_pem}),
                            ("corp", self.stack.cas["corp"])):
            p = listed[name]
            self.assertEqual(p["caSha256"], fingerprint(files["ca"]), name)
            self.assertEqual(int(p["caNotAfter"]), enddate(files["ca"]), name)
            self.assertEqual(int(p["raNotAfter"]), enddate(files["ra"]), name)
        self.assertNotEqual(listed["default"]["caSha256"], listed["corp"]["caSha256"])
        table = self.stack.scepctl("profiles", "show", "--profile", "corp")
        self.assertEqual(table.returncode, 0, table.stderr)
        header, row = table.stdout.splitlines()[:2]
        columns = dict(zip(header.split("\t"), row.split("\t")))
        day = time.strftime("%Y-%m-%d", time.gmtime(enddate(self.stack.cas["corp"]["ra"])))
        self.assertEqual(columns["RA EXPIRES"], day, table.stdout)

    def test_unknown_profile_is_404(self):
        self.assertEqual(http("GET", self.stack.url + "/nope?operation=GetCACaps")[0], 404)
        self.assertEqual(http("GET", self.stack.url + "/wifi?operation=GetCACaps")[0], 200)

    def test_subject_template_and_usages(self):
        # scep-probe asks for SAN <name>.devices.example, inside the policy.
        status, rep = self.enroll("wifi", "tablet-1")
        self.assertEqual(rep["pkiStatus"], 0, rep)
        text = openssl("x509", "-noout", "-text", "-nameopt", "RFC2253",
                       input=rep["pem"].encode()).decode()
        self.assertIn("Subject: O=Example Fleet,CN=tablet-1", text)
        self.assertIn("TLS Web Server Authentication", text)
        self.assertIn("DNS:tablet-1.devices.example", text)

    def test_bmpstring_request_as_windows_writes_it(self):
        # CN and challengePassword as BMPString (UTF-16): the challenge
        # matches the secret, and the template puts the CN in the certificate
        # as UTF8String text (before session 25: FAILURE badMessageCheck
        # "challengePassword has the wrong type").
        self.assert_issued_as_utf8("wifi", "bmp-device")
        status, rep = self.enroll("wifi", "bmp-wrong", challenge="not-the-secret",
                                  string_type="bmp")
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (2, 2), rep)
        # Without a template the subject is the request's, and still issued
        # as UTF8String (RFC 5280 4.1.2.6); before, BMPString as requested.
        self.assert_issued_as_utf8("default", "bmp-plain")

    def assert_issued_as_utf8(self, profile, cn):
        """Enrolls `cn` with a BMPString subject and challenge under
        `profile`; the certificate's CN is a UTF8String."""
        status, rep = self.enroll(profile, cn, string_type="bmp")
        self.assertEqual(rep["pkiStatus"], 0, rep)
        der = openssl("x509", "-outform", "DER", input=rep["pem"].encode())
        dump = openssl("asn1parse", "-inform", "DER", input=der).decode()
        self.assertIn("UTF8STRING        :" + cn, dump)
        self.assertNotIn("BMPSTRING", dump)

    def test_strongswan_renews_under_the_subject_template(self):
        # The certificate's subject is the template's (O added); strongSwan
        # renews with the DN it was given, as certmonger and routers do.
        # Before session 25 the gateway compared that DN with the
        # certificate's and refused every such renewal.
        client = StrongSwanClient(self, self.stack, "tmpl", profile="wifi")
        old_key = client.key("old")
        san = ("--san", "sw-tmpl.devices.example")
        out = client.enroll(old_key, "CN=sw-tmpl", "--password", self.stack.challenge, *san)
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace"))
        old_cert = os.path.join(client.dir, "old.pem")
        with open(old_cert, "wb") as f:
            f.write(out.stdout)
        subject = openssl("x509", "-in", old_cert, "-noout", "-subject", "-nameopt", "RFC2253")
        self.assertEqual(subject.decode().strip(), "subject=O=Example Fleet,CN=sw-tmpl")
        out = client.enroll(client.key("new"), "CN=sw-tmpl", "--cert", old_cert,
                            "--key", old_key, *san)
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace")
                         + self.stack.log("gateway")[-2000:])
        self.assertEqual(openssl("x509", "-noout", "-subject", "-nameopt", "RFC2253",
                                 input=out.stdout), subject)
        self.assertIn("RenewalReq", self.stack.log("gateway"))
        # Another CN is another identity: refused.
        out = client.enroll(client.key("other"), "CN=someone-else", "--cert", old_cert,
                            "--key", old_key)
        self.assertNotEqual(out.returncode, 0)

    def test_certificate_renews_only_under_its_own_profile(self):
        # Before, a certificate of the default profile renewed under "mdm"
        # without that profile's external verifier ever hearing of it (a
        # renewal skips the challenge, and any manual approval).
        own = StrongSwanClient(self, self.stack, "cross-own")  # /scep: default
        other = StrongSwanClient(self, self.stack, "cross-other", profile="mdm")
        old_key = own.key("old")
        out = own.enroll(old_key, "CN=cross-profile", "--password", self.stack.challenge)
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace"))
        old_cert = os.path.join(own.dir, "old.pem")
        with open(old_cert, "wb") as f:
            f.write(out.stdout)
        out = other.enroll(other.key("new"), "CN=cross-profile", "--cert", old_cert,
                           "--key", old_key)
        self.assertNotEqual(out.returncode, 0, out.stdout)
        self.assertIn("the certificate was issued under another profile",
                      self.stack.log("gateway"))
        # Its own profile renews it.
        out = own.enroll(own.key("new"), "CN=cross-profile", "--cert", old_cert,
                         "--key", old_key)
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace")
                         + self.stack.log("gateway")[-2000:])

    def test_san_outside_policy_is_refused_not_rewritten(self):
        status, rep = self.enroll("wifi", "outside", san="evil.example")
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (2, 2), rep)
        self.assertIn("dns:evil.example", rep["failInfoText"])

    def test_rate_limit_per_client_is_429_with_retry_after(self):
        statuses = []
        for i in range(3):
            status, rep = self.enroll("limited", f"limited-{i}")
            statuses.append(status)
        self.assertEqual(statuses, [200, 200, 429])
        status, headers, _ = http("POST", f"{self.stack.url}/limited{PKI_OP}", b"x")
        self.assertEqual(status, 429)
        self.assertTrue(1 <= int(headers["Retry-After"]) <= 60, headers)
        # Other profiles are not affected.
        self.assertEqual(self.enroll("default", "unlimited-1")[0], 200)

    def fingerprint(self, pem_path):
        return openssl("x509", "-in", pem_path, "-noout", "-fingerprint",
                       "-sha256").decode().strip()

    def test_profile_with_its_own_issuing_ca(self):
        corp = self.stack.cas["corp"]
        tmp = tempfile.mkdtemp(prefix="corp-", dir=self.tmp)
        # GetCACert of the profile publishes that CA and its RA.
        status, _, body = http("GET", f"{self.stack.url}/corp?operation=GetCACert")
        self.assertEqual(status, 200)
        published = os.path.join(tmp, "published.pem")
        with open(published, "wb") as f:
            f.write(openssl("pkcs7", "-inform", "DER", "-print_certs", input=body))
        with open(published) as f:
            text = f.read()
        self.assertIn("CN = SCEP corp CA", text)
        self.assertIn("CN = SCEP corp RA", text)
        self.assertNotIn("SCEP Dev CA", text)
        self.assertNotEqual(self.fingerprint(corp["ca"]), self.fingerprint(self.stack.ca_pem))

        # Enrollment on the profile: issued by the corp CA, not the default.
        status, rep = self.enroll("corp", "corp-laptop", ra=corp["ra"])
        self.assertEqual(rep["pkiStatus"], 0, rep)
        cert = os.path.join(tmp, "corp-laptop.pem")
        with open(cert, "w") as f:
            f.write(rep["pem"])
        verified = subprocess.run(["openssl", "verify", "-CAfile", corp["ca"], cert],
                                  capture_output=True, text=True)
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)
        wrong = subprocess.run(["openssl", "verify", "-CAfile", self.stack.ca_pem, cert],
                               capture_output=True, text=True)
        self.assertNotEqual(wrong.returncode, 0)
        # A request encrypted to the default CA's RA cannot be opened by this
        # profile's RA: refused, nothing issued.
        status, rep = self.enroll("corp", "corp-wrong-ra")
        self.assertTrue(status == 400 or rep["pkiStatus"] == 2, (status, rep))

        # The admin API knows the CA; revocation lands in that CA's CRL only.
        serial = openssl("x509", "-in", cert, "-noout", "-serial").decode().strip()
        serial = serial.split("=", 1)[1].lower().lstrip("0")
        shown = self.stack.scepctl("certs", "show", "--serial", serial)
        self.assertEqual(shown.returncode, 0, shown.stderr)
        self.assertIn("issuing CA:  corp", shown.stdout)
        revoked = self.stack.scepctl("certs", "revoke", "--serial", serial,
                                     "--reason", "keyCompromise")
        self.assertEqual(revoked.returncode, 0, revoked.stderr)
        for profile, ca, listed in (("corp", corp["ca"], True),
                                    ("default", self.stack.ca_pem, False)):
            crl_path = os.path.join(tmp, f"{profile}.crl")
            got = self.stack.scepctl("crl", "--profile", profile, "--pem", "--out", crl_path)
            self.assertEqual(got.returncode, 0, got.stderr)
            # Signed by that profile's CA.
            check = subprocess.run(["openssl", "crl", "-in", crl_path, "-noout",
                                    "-CAfile", ca, "-text"], capture_output=True, text=True)
            self.assertEqual(check.returncode, 0, check.stderr)
            self.assertIn("verify OK", check.stderr + check.stdout)
            self.assertEqual(serial.upper() in check.stdout.replace(":", ""), listed,
                             (profile, check.stdout))

    def test_external_verifier_allows_denies_and_times_out(self):
        status, rep = self.enroll("mdm", "ext-allow", challenge="allow-me")
        self.assertEqual(rep["pkiStatus"], 0, rep)
        self.assertEqual(Verifier.seen[-1]["transaction_id"], "tid-ext-allow")
        self.assertIn("CN=ext-allow", Verifier.seen[-1]["subject"])
        status, rep = self.enroll("mdm", "ext-deny", challenge="deny-me")
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (2, 2), rep)
        # Past the 500 ms timeout: fail closed with 503 (retry later).
        status, rep = self.enroll("mdm", "ext-slow", challenge="slow")
        self.assertEqual(status, 503)
        # The challenge never reaches the logs.
        self.assertNotIn("allow-me", self.stack.log("gateway"))


if __name__ == "__main__":
    unittest.main()
