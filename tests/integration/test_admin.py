"""The admin API and scepctl through the real stack (issue 4): callers
without credentials are refused; one-time challenges work once, only once,
and expire; manual approval takes a PKCSReq from PENDING to SUCCESS (approve)
or FAILURE (reject) by CertPoll; revocation shows on the CRL; scepctl
mobileconfig prints a property list with a SCEP payload; with mutual TLS
only client certificates of the configured CA get in."""

import hashlib
import json
import os
import plistlib
import subprocess
import threading
import time
import unittest
import urllib.parse

import base64

from harness import Stack, free_port, http, metric, openssl, require_tool

PKI_OP = "?operation=PKIOperation"
TOKEN = "Admin-Token-For-Integration-Tests"
STATIC = {"mode": "static", "secret_env": "SCEP_CHALLENGE"}
PROFILES = {"profiles": [
    {"name": "default", "challenge": STATIC},
    {"name": "onetime", "template_name": "Device (one-time challenge)",
     "subject": [{"type": "CN", "value": "{CN}"}, {"type": "O", "value": "Example Fleet"}],
     "key_usage": ["digitalSignature", "keyEncipherment"],
     "challenge": {"mode": "one-time"}},
    {"name": "approval", "challenge": STATIC, "approval": "manual"},
    # Manual approval under a subject template: the device polls with the
    # subject it asked for, not the certificate's.
    {"name": "approval-o", "challenge": STATIC, "approval": "manual",
     "subject": [{"type": "CN", "value": "{CN}"}, {"type": "O", "value": "Example Fleet"}]},
]}

SUCCESS, FAILURE, PENDING = 0, 2, 3
BAD_REQUEST = 2


class AdminTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(legacy=False, admin_token=TOKEN, profiles=PROFILES).start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def ctl(self, *args, ok=True, **kw):
        out = self.stack.scepctl(*args, **kw)
        if ok:
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr +
                             self.stack.log("gateway")[-3000:])
        return out

    def enroll(self, profile, name, tid, challenge=None, **extra):
        """PKCSReq (or another type via extra) from device `name`; the
        decoded CertRep."""
        body = self.stack.probe_request(name, tid, os.urandom(16).hex(),
                                        challenge=challenge, **extra)
        status, _, reply = http("POST", f"{self.stack.url}/{profile}{PKI_OP}", body)
        self.assertEqual(status, 200, reply)
        return self.stack.probe_open(name, reply)

    def poll(self, profile, name, tid):
        target = os.path.join(self.stack.dir, "dev-" + name, "cert.pem")
        return self.enroll(profile, name, tid, type="certpoll", ca=self.stack.ca_pem,
                           target=target)

    def test_calls_without_credentials_are_refused(self):
        for token in (None, "wrong-token"):
            out = self.ctl("profiles", "list", ok=False, token=token)
            self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
            self.assertIn("UNAUTHENTICATED", out.stderr)
            self.assertNotIn(TOKEN, out.stderr)
        out = self.ctl("challenge", "create", "--profile", "onetime", ok=False, token=None)
        self.assertIn("UNAUTHENTICATED", out.stderr)
        self.assertEqual(out.stdout, "")
        # The device-facing port does not serve the admin API.
        self.assertNotEqual(self.stack.admin_port, self.stack.http_port)
        self.ctl("profiles", "list", token=TOKEN)  # env SCEP_ADMIN_TOKEN works

    def test_one_time_challenge_works_once_and_only_once(self):
        challenge = self.ctl("challenge", "create", "--profile", "onetime").stdout
        self.assertRegex(challenge, r"^[A-Za-z0-9_-]{32}\n$")
        challenge = challenge.strip()
        rep = self.enroll("onetime", "ot-first", "tid-ot-1", challenge=challenge)
        self.assertEqual(rep["pkiStatus"], SUCCESS, rep)
        self.assertIn("O = Example Fleet", openssl("x509", "-noout", "-subject",
                                                 input=rep["pem"].encode()).decode())
        rep = self.enroll("onetime", "ot-second", "tid-ot-2", challenge=challenge)
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (FAILURE, BAD_REQUEST), rep)
        # Never in a log line.
        self.assertNotIn(challenge, self.stack.log("gateway"))
        # A static-challenge profile mints none.
        out = self.ctl("challenge", "create", "--profile", "default", ok=False)
        self.assertIn("FAILED_PRECONDITION", out.stderr)

    def test_one_time_challenge_bound_to_a_subject(self):
        # The administrator writes the subject as it comes to mind: the
        # request's (CN=...), or the certificate's under the template, in
        # either order, any case or spacing, or as `requests list` prints it.
        for name, bound in (("ot-bound-1", "CN=ot-bound-1"),
                            ("ot-bound-2", "cn = OT-Bound-2 , O=example fleet"),
                            ("ot-bound-3", "O=Example Fleet,CN=ot-bound-3"),
                            ("ot-bound-4", "/CN=ot-bound-4")):
            challenge = self.ctl("challenge", "create", "--profile", "onetime",
                                 "--subject", bound).stdout.strip()
            rep = self.enroll("onetime", name, "tid-" + name, challenge=challenge)
            self.assertEqual(rep["pkiStatus"], SUCCESS, (bound, rep))
        # Another device: refused, and the challenge is used up.
        challenge = self.ctl("challenge", "create", "--profile", "onetime",
                             "--subject", "CN=someone-else").stdout.strip()
        rep = self.enroll("onetime", "ot-bound-5", "tid-ot-bound-5", challenge=challenge)
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (FAILURE, BAD_REQUEST), rep)
        self.assertIn("bound to another subject", rep["failInfoText"])
        # A misspelt --subject mints nothing (it minted an unbound one).
        out = self.ctl("challenge", "create", "--profile", "onetime",
                       "--subjet", "CN=ot-bound-6", ok=False)
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertEqual(out.stdout, "")
        self.assertIn("unknown flag --subjet", out.stderr)
        # A subject no request could match is refused when minted, not when
        # a device has used the challenge up.
        out = self.ctl("challenge", "create", "--profile", "onetime",
                       "--subject", "laptop-7", ok=False)
        self.assertIn("INVALID_ARGUMENT", out.stderr)
        self.assertIn("subject:", out.stderr)

    def test_one_time_challenge_identical_twins_both_succeed(self):
        # A proxy retrying on another connection while the first copy is
        # answered: the identical bytes twice at once. Both pass the
        # challenge (claimed by their one transaction) and get its one
        # certificate; before session 27 the second copy was told
        # "challenge unknown, expired or already used" although the
        # transaction got a certificate.
        for n in range(5):
            challenge = self.ctl("challenge", "create", "--profile", "onetime").stdout.strip()
            name = f"ot-twin-{n}"
            body = self.stack.probe_request(name, "tid-" + name, os.urandom(16).hex(),
                                            challenge=challenge)
            replies = [None, None]

            def post(i):
                replies[i] = http("POST", f"{self.stack.url}/onetime{PKI_OP}", body)

            threads = [threading.Thread(target=post, args=(i,)) for i in (0, 1)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            pems = []
            for status, _, reply in replies:
                self.assertEqual(status, 200, reply)
                rep = self.stack.probe_open(name, reply)
                self.assertEqual(rep["pkiStatus"], SUCCESS, (n, rep))
                pems.append(rep["pem"])
            self.assertEqual(pems[0], pems[1])
            # Spent with the certificate: another device is refused.
            rep = self.enroll("onetime", name + "-other", "tid-" + name + "-other",
                              challenge=challenge)
            self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (FAILURE, BAD_REQUEST), rep)

    def test_one_time_challenge_expires(self):
        challenge = self.ctl("challenge", "create", "--profile", "onetime",
                             "--ttl", "1s").stdout.strip()
        time.sleep(2)
        rep = self.enroll("onetime", "ot-late", "tid-ot-late", challenge=challenge)
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (FAILURE, BAD_REQUEST), rep)

    def pending_request(self, name, tid):
        rep = self.enroll("approval", name, tid)
        self.assertEqual(rep["pkiStatus"], PENDING, rep)
        listed = json.loads(self.ctl("requests", "list", "--profile", "approval",
                                     "--status", "requested", "--json").stdout)
        tids = [r for r in listed.get("requests", [])]
        import base64
        self.assertIn(tid, [base64.b64decode(r["transactionId"]).decode() for r in tids])
        self.assertEqual(self.poll("approval", name, tid)["pkiStatus"], PENDING)

    def test_manual_approval_pending_then_issued(self):
        self.pending_request("appr-ok", "tid-appr-ok")
        out = self.ctl("requests", "approve", "--profile", "approval", "--tid", "tid-appr-ok")
        self.assertIn("issued serial", out.stdout)
        rep = self.poll("approval", "appr-ok", "tid-appr-ok")
        self.assertEqual(rep["pkiStatus"], SUCCESS, rep)
        self.assertIn("appr-ok", openssl("x509", "-noout", "-subject",
                                         input=rep["pem"].encode()).decode())
        listed = self.ctl("requests", "list", "--profile", "approval").stdout
        self.assertRegex(listed, r"tid-appr-ok\tISSUED\t.*\ttoken\t[0-9a-f]+")
        audit = [json.loads(l) for l in self.stack.log("gateway").splitlines()
                 if l.startswith("{") and '"audit"' in l]
        moves = [(a.get("from"), a.get("to")) for a in audit
                 if a.get("transaction_id") == "tid-appr-ok"]
        self.assertEqual(moves, [("REQUESTED", "APPROVED"), ("APPROVED", "ISSUED")])
        self.assertTrue(all(a["actor"] == "token" and a["profile"] == "approval"
                            for a in audit if a.get("transaction_id") == "tid-appr-ok"))

    def test_manual_approval_rejected(self):
        self.pending_request("appr-no", "tid-appr-no")
        # The ID as `requests list --json` shows it (base64).
        import base64
        self.ctl("requests", "reject", "--profile", "approval", "--tid",
                 "b64:" + base64.b64encode(b"tid-appr-no").decode(),
                 "--reason", "unknown device")
        rep = self.poll("approval", "appr-no", "tid-appr-no")
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (FAILURE, BAD_REQUEST), rep)
        out = self.ctl("requests", "approve", "--profile", "approval", "--tid",
                       "tid-appr-no", ok=False)
        self.assertIn("FAILED_PRECONDITION", out.stderr)

    def test_revocation_reaches_the_crl(self):
        rep = self.enroll("default", "to-revoke", "tid-revoke", challenge=self.stack.challenge)
        self.assertEqual(rep["pkiStatus"], SUCCESS, rep)
        # As `openssl x509 -serial` prints it (upper case), and with colons
        # as `openssl x509 -text` does.
        printed = openssl("x509", "-noout", "-serial",
                          input=rep["pem"].encode()).decode().strip().split("=")[1]
        colons = ":".join(printed[i:i + 2] for i in range(0, len(printed), 2))
        shown = json.loads(self.ctl("certs", "show", "--serial", printed, "--json").stdout)
        self.assertEqual(shown["status"], "CERTIFICATE_STATUS_VALID")
        serial = shown["serialHex"]
        self.assertEqual(serial, printed.lower())
        revoked = "scep_gateway_certificates_revoked_total"
        before = self.stack.scrape()
        out = self.ctl("certs", "revoke", "--serial", colons, "--reason", "superseded")
        self.assertEqual(out.stdout, f"revoked {serial}\n")
        # Again (a retry): OK, the revocation as it stands, nothing counted.
        out = self.ctl("certs", "revoke", "--serial", colons, "--reason", "superseded")
        self.assertTrue(out.stdout.startswith(f"already revoked {serial} at "), out.stdout)
        self.assertIn("(reason 4)", out.stdout)
        first = json.loads(self.ctl("certs", "show", "--serial", serial, "--json").stdout)
        # A compromise found out afterwards: the reason becomes keyCompromise,
        # the revocation date stays.
        out = self.ctl("certs", "revoke", "--serial", colons, "--reason", "keyCompromise",
                       "--json")
        answer = json.loads(out.stdout)
        self.assertEqual((answer["alreadyRevoked"], answer["reasonChanged"],
                          answer["revocationReason"]), (True, True, 1), answer)
        self.assertEqual(answer["revokedUnix"], first["revokedUnix"])
        after = self.stack.scrape()
        self.assertEqual(metric(after, revoked) - metric(before, revoked), 1)
        self.assertEqual(metric(after, revoked, reason="superseded")
                         - metric(before, revoked, reason="superseded"), 1)
        listed = self.ctl("certs", "list", "--status", "revoked", "--all").stdout
        self.assertIn(serial, listed)
        crl_path = os.path.join(self.stack.dir, "admin.crl")
        self.ctl("crl", "--out", crl_path)
        text = openssl("crl", "-inform", "DER", "-in", crl_path, "-noout", "-text").decode()
        self.assertIn(serial.upper(), text.replace(":", "").upper())
        self.assertIn("Key Compromise", text)
        verify = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", crl_path,
                                 "-CAfile", self.stack.ca_pem, "-noout"],
                                capture_output=True, text=True)
        self.assertEqual(verify.returncode, 0, verify.stderr)

    def test_enroll_with_a_request_id_issues_once(self):
        d = os.path.join(self.stack.dir, "admin-enroll")
        os.makedirs(d, exist_ok=True)
        csrs = []
        for name in ("ci-runner-1", "ci-runner-2"):
            path = os.path.join(d, name + ".csr")
            openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", os.path.join(d, name + ".key"),
                    "-subj", "/CN=" + name, "-out", path)
            csrs.append(path)
        rid = "7b0e4c1e-5d2a-4f57-8a0b-3c1d9e2f6a40"
        first = json.loads(self.ctl("enroll", "--profile", "default", "--csr", csrs[0],
                                    "--request-id", rid, "--json").stdout)
        self.assertIs(first["repeatedRequest"], False)  # every field is there
        # The caller lost the answer and runs it again: the same certificate
        # (--request_id, the former spelling, names the same key).
        again = json.loads(self.ctl("enroll", "--profile", "default", "--csr", csrs[0],
                                    "--request_id", rid, "--json").stdout)
        self.assertTrue(again.get("repeatedRequest"), again)
        self.assertEqual(again["serialHex"], first["serialHex"])
        self.assertEqual(again["certificate"], first["certificate"])
        listed = self.ctl("certs", "list", "--all").stdout
        self.assertEqual(listed.count(first["serialHex"]), 1)
        # The same request_id with another CSR is refused.
        other = self.ctl("enroll", "--profile", "default", "--csr", csrs[1],
                         "--request-id", rid, ok=False)
        self.assertNotEqual(other.returncode, 0)
        self.assertIn("request_id was used for another CSR", other.stderr)
        # Without one, each run issues.
        a = json.loads(self.ctl("enroll", "--profile", "default", "--csr", csrs[1],
                                "--json").stdout)
        b = json.loads(self.ctl("enroll", "--profile", "default", "--csr", csrs[1],
                                "--json").stdout)
        self.assertNotEqual(a["serialHex"], b["serialHex"])

    def test_enroll_takes_a_der_request_and_names_a_file_that_is_none(self):
        d = os.path.join(self.stack.dir, "admin-enroll-der")
        os.makedirs(d, exist_ok=True)
        pem, der = os.path.join(d, "kiosk.csr"), os.path.join(d, "kiosk.der")
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", os.path.join(d, "kiosk.key"), "-subj", "/CN=kiosk",
                "-out", pem)
        openssl("req", "-in", pem, "-outform", "DER", "-out", der)
        issued = json.loads(self.ctl("enroll", "--profile", "default", "--csr", der,
                                     "--json").stdout)
        self.assertTrue(issued["serialHex"])
        # A certificate handed over as the request: refused before any call.
        wrong = self.ctl("enroll", "--profile", "default", "--csr", self.stack.ca_pem,
                         ok=False)
        self.assertNotEqual(wrong.returncode, 0)
        self.assertIn("not a valid PEM certificate request", wrong.stderr)

    def test_mobileconfig_is_a_plist_with_a_scep_payload(self):
        url = f"{self.stack.url}/onetime"
        out = self.ctl("mobileconfig", "--profile", "onetime", "--url", url)
        plist = plistlib.loads(out.stdout.encode())
        self.assertEqual(plist["PayloadType"], "Configuration")
        payload = plist["PayloadContent"][0]
        self.assertEqual(payload["PayloadType"], "com.apple.security.scep")
        scep = payload["PayloadContent"]
        self.assertEqual(scep["URL"], url)
        self.assertEqual(scep["Name"], "onetime")
        self.assertEqual(scep["Key Type"], "RSA")
        self.assertGreaterEqual(scep["Keysize"], 2048)
        self.assertEqual(scep["Key Usage"], 5)
        self.assertEqual(scep["Subject"], [[["CN", "$CN"]], [["O", "Example Fleet"]]])
        ca_der = openssl("x509", "-in", self.stack.ca_pem, "-outform", "DER")
        self.assertEqual(scep["CAFingerprint"], hashlib.sha256(ca_der).digest())


    def test_strongswan_polls_until_approved(self):
        """pki --scep gets PENDING, keeps polling (CertPoll) and receives the
        certificate once an operator approves; under a subject template, so
        its polls name CN=ss-approval and the certificate is O=...,CN=...
        (before session 25 such polls were refused badCertId)."""
        import subprocess, time
        require_tool(self, "pki")
        d = os.path.join(self.stack.dir, "ss-approval")
        os.makedirs(d)
        key = os.path.join(d, "key.der")
        with open(key, "wb") as f:
            f.write(subprocess.run(["pki", "--gen", "--type", "rsa", "--size", "2048"],
                                   capture_output=True, check=True).stdout)
        ca, ra = os.path.join(d, "ca.der"), os.path.join(d, "ra.der")
        openssl("x509", "-in", self.stack.ca_pem, "-outform", "DER", "-out", ca)
        openssl("x509", "-in", self.stack.ra_pem, "-outform", "DER", "-out", ra)
        client = subprocess.Popen(
            ["pki", "--scep", "--url", f"{self.stack.url}/approval-o", "--in", key,
             "--dn", "CN=ss-approval", "--password", self.stack.challenge,
             "--cacert-enc", ra, "--cacert-sig", ra, "--cacert", ca, "--outform", "pem",
             "--interval", "1", "--maxpolltime", "60"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            tid = None
            for _ in range(100):
                listed = json.loads(self.ctl("--json", "requests", "list", "--profile",
                                             "approval-o", "--status", "REQUESTED").stdout)
                names = [r for r in listed.get("requests", []) if r["subject"] == "CN=ss-approval"]
                if names:
                    tid = base64.b64decode(names[0]["transactionId"]).decode()
                    break
                time.sleep(0.1)
            self.assertIsNotNone(tid, "request never listed")
            self.ctl("requests", "approve", "--profile", "approval-o", "--tid", tid)
            out, err = client.communicate(timeout=60)
        finally:
            if client.poll() is None:
                client.kill()
        self.assertEqual(client.returncode, 0, err.decode(errors="replace"))
        self.assertEqual(openssl("x509", "-noout", "-subject", "-nameopt", "RFC2253",
                                 input=out).decode().strip(),
                         "subject=O=Example Fleet,CN=ss-approval")
        self.assertIn("CertPoll", self.stack.log("gateway"))


class RelyingPartyTest(unittest.TestCase):
    """Relying parties (RADIUS, VPN, web servers checking client
    certificates) find the CRL and the CA certificate through the URIs a
    profile puts into issued certificates, served by the gateway itself;
    `openssl verify -crl_download` follows them like one."""

    @classmethod
    def setUpClass(cls):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        profiles = {"profiles": [
            {"name": "default", "challenge": STATIC,
             "crl_distribution_points": [base + "/crl/default.crl"],
             "ca_issuers": [base + "/ca/default.crt"],
             "ocsp_urls": [base + "/ocsp"]},
            {"name": "plain", "challenge": STATIC}]}
        cls.base = base
        cls.stack = Stack(legacy=False, admin_token=TOKEN, profiles=profiles,
                          http_port=port).start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def enroll(self, profile, name):
        body = self.stack.probe_request(name, "tid-" + name, os.urandom(16).hex(),
                                        challenge=self.stack.challenge)
        status, _, reply = http("POST", f"{self.stack.url}/{profile}{PKI_OP}", body)
        self.assertEqual(status, 200, reply)
        rep = self.stack.probe_open(name, reply)
        self.assertEqual(rep["pkiStatus"], SUCCESS, rep)
        path = os.path.join(self.stack.dir, name + ".pem")
        with open(path, "w") as f:
            f.write(rep["pem"])
        return path

    def verify(self, cert):
        return subprocess.run(["openssl", "verify", "-crl_check", "-crl_download",
                               "-CAfile", self.stack.ca_pem, cert],
                              capture_output=True, text=True, timeout=60)

    def test_crl_and_ca_certificate_are_found_from_the_certificate(self):
        cert = self.enroll("default", "relying-party")
        text = openssl("x509", "-in", cert, "-noout", "-text").decode()
        self.assertIn("X509v3 CRL Distribution Points", text)
        self.assertIn(f"URI:{self.base}/crl/default.crl", text)
        self.assertIn(f"CA Issuers - URI:{self.base}/ca/default.crt", text)
        self.assertIn(f"OCSP - URI:{self.base}/ocsp", text)
        plain = openssl("x509", "-in", self.enroll("plain", "no-cdp"), "-noout",
                        "-text").decode()
        self.assertNotIn("CRL Distribution Points", plain)
        self.assertNotIn("Authority Information Access", plain)
        shown = self.stack.scepctl("profiles", "show", "--profile", "default", "--json")
        self.assertEqual(shown.returncode, 0, shown.stderr)
        profile = json.loads(shown.stdout)["profiles"][0]
        self.assertEqual(profile["crlDistributionPoints"], [self.base + "/crl/default.crl"])
        self.assertEqual(profile["caIssuers"], [self.base + "/ca/default.crt"])
        self.assertEqual(profile["ocspUrls"], [self.base + "/ocsp"])
        self.assertEqual(profile["rootSha256"], "", "a self-signed CA has no other root")

        status, headers, body = http("GET", self.base + "/ca/default.crt")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("Content-Type"), "application/pkix-cert")
        self.assertEqual(openssl("x509", "-inform", "DER", "-noout", "-fingerprint", "-sha256",
                                 input=body),
                         openssl("x509", "-in", self.stack.ca_pem, "-noout", "-fingerprint",
                                 "-sha256"))

        ok = self.verify(cert)
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        self.assertIn(": OK", ok.stdout)

        serial = openssl("x509", "-noout", "-serial", "-in", cert).decode().strip()
        serial = serial.split("=")[1].lower().lstrip("0")
        out = self.stack.scepctl("certs", "revoke", "--serial", serial, "--reason",
                                 "keyCompromise")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        revoked = self.verify(cert)
        self.assertNotEqual(revoked.returncode, 0, revoked.stdout)
        self.assertIn("certificate revoked", revoked.stdout + revoked.stderr)

        status, headers, body = http("GET", self.base + "/crl/default.crl")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("Content-Type"), "application/pkix-crl")
        checked = subprocess.run(["openssl", "crl", "-inform", "DER", "-CAfile",
                                  self.stack.ca_pem, "-noout"], input=body,
                                 capture_output=True)
        self.assertEqual(checked.returncode, 0, checked.stderr)
        self.assertEqual(http("GET", f"http://127.0.0.1:{self.stack.http_port}/crl/x.crl")[0],
                         404)
        self.assertEqual(http("POST", self.base + "/crl/default.crl", b"x")[0], 405)

    def ocsp(self, cert, *extra):
        """`openssl ocsp` as a relying party runs it, at the certificate's
        own OCSP URI (authorityInfoAccess)."""
        url = openssl("x509", "-in", cert, "-noout", "-ocsp_uri").decode().strip()
        self.assertEqual(url, self.base + "/ocsp")
        return subprocess.run(["openssl", "ocsp", "-issuer", self.stack.ca_pem, "-cert", cert,
                               "-CAfile", self.stack.ca_pem, "-url", url, *extra],
                              capture_output=True, text=True, timeout=60)

    def test_ocsp_answers_good_then_revoked(self):
        cert = self.enroll("default", "ocsp-device")
        good = self.ocsp(cert)
        self.assertEqual(good.returncode, 0, good.stdout + good.stderr)
        self.assertIn("Response verify OK", good.stderr)  # signed by the CA key
        self.assertIn(f"{cert}: good", good.stdout)
        self.assertIn(f"{cert}: good", self.ocsp(cert, "-no_nonce").stdout)  # reused answer

        serial = openssl("x509", "-noout", "-serial", "-in", cert).decode().strip()
        serial = serial.split("=")[1].lower().lstrip("0")
        out = self.stack.scepctl("certs", "revoke", "--serial", serial, "--reason",
                                 "keyCompromise")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        revoked = self.ocsp(cert)  # at once: a revocation makes reused answers stale
        self.assertEqual(revoked.returncode, 0, revoked.stdout + revoked.stderr)
        self.assertIn(f"{cert}: revoked", revoked.stdout)
        self.assertIn("Reason: keyCompromise", revoked.stdout)

        # The GET form (RFC 6960 A.1), cacheable.
        request = os.path.join(self.stack.dir, "ocsp-req.der")
        openssl("ocsp", "-issuer", self.stack.ca_pem, "-cert", cert, "-no_nonce",
                "-reqout", request)
        with open(request, "rb") as f:
            encoded = urllib.parse.quote(base64.b64encode(f.read()).decode(), safe="")
        status, headers, body = http("GET", f"{self.base}/ocsp/{encoded}")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("Content-Type"), "application/ocsp-response")
        self.assertRegex(headers.get("Cache-Control", ""), r"^max-age=\d+, public")
        response = os.path.join(self.stack.dir, "ocsp-resp.der")
        with open(response, "wb") as f:
            f.write(body)
        parsed = subprocess.run(["openssl", "ocsp", "-respin", response, "-issuer",
                                 self.stack.ca_pem, "-cert", cert, "-CAfile", self.stack.ca_pem],
                                capture_output=True, text=True, timeout=60)
        self.assertIn(f"{cert}: revoked", parsed.stdout, parsed.stderr)

        # Another CA's certificate: not ours to answer; garbage: HTTP 400.
        other = os.path.join(self.stack.dir, "other-ca.pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", other + ".key", "-out", other, "-subj", "/CN=Other CA", "-days", "2")
        foreign = subprocess.run(["openssl", "ocsp", "-issuer", other, "-serial", "0x1234",
                                  "-url", self.base + "/ocsp"],
                                 capture_output=True, text=True, timeout=60)
        self.assertIn("unauthorized", foreign.stdout + foreign.stderr)
        status, _, _ = http("POST", self.base + "/ocsp", b"not an OCSP request")
        self.assertEqual(status, 400)
        requests = metric(self.stack.scrape(), "scep_gateway_requests_total", operation="OCSP")
        self.assertGreaterEqual(requests, 6)


if __name__ == "__main__":
    unittest.main()


class AdminMutualTlsTest(unittest.TestCase):
    """The admin API with mutual TLS instead of a bearer token: only a
    client certificate from the configured CA gets in."""

    @classmethod
    def setUpClass(cls):
        import tempfile
        from harness import free_port
        from test_operability import make_pki
        cls.pki_dir = tempfile.mkdtemp(prefix="admin-mtls-")
        cls.pki = make_pki(cls.pki_dir)
        port = free_port()
        p = cls.pki
        cls.stack = Stack(legacy=False, profiles=PROFILES, gateway_args=[
            f"--admin_port={port}", f"--admin_tls_cert={p['signer']}.pem",
            f"--admin_tls_key={p['signer']}.key",
            f"--admin_tls_client_ca={p['grpc-ca']}.pem"])
        cls.stack.admin_port = port
        cls.stack.start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        import shutil
        shutil.rmtree(cls.pki_dir, ignore_errors=True)

    def ctl(self, client, *args, token=None):
        tls = ["--tls-ca", self.pki["grpc-ca"] + ".pem"]
        if client:
            tls += ["--tls-cert", self.pki[client] + ".pem",
                    "--tls-key", self.pki[client] + ".key"]
        return self.stack.scepctl(*tls, *args, token=token)

    def test_a_stale_token_in_the_environment_does_not_shut_out_a_certificate(self):
        # No token is configured: SCEP_ADMIN_TOKEN left over from another
        # cluster is sent, and ignored.
        out = self.ctl("gateway", "profiles", "list", token="stale-token")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("onetime", out.stdout)
        out = self.ctl("rogue", "profiles", "list", token="stale-token")
        self.assertNotEqual(out.returncode, 0)
        self.assertEqual(out.stdout, "")

    def test_client_certificate_from_the_configured_ca_gets_in(self):
        out = self.ctl("gateway", "profiles", "list", "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("onetime", out.stdout)
        challenge = self.ctl("gateway", "challenge", "create", "--profile", "onetime")
        self.assertEqual(challenge.returncode, 0, challenge.stderr)
        self.assertGreaterEqual(len(challenge.stdout.strip()), 16)

    def test_no_or_foreign_client_certificate_is_refused(self):
        for client in (None, "rogue"):
            out = self.ctl(client, "profiles", "list")
            self.assertNotEqual(out.returncode, 0, (client, out.stdout))
            self.assertEqual(out.stdout, "", client)
            self.assertIn("UNAVAILABLE", out.stderr, (client, out.stderr))
        # Plaintext to the TLS port gets nowhere either.
        plain = self.stack.scepctl("profiles", "list", token=None)
        self.assertNotEqual(plain.returncode, 0)


class AdminClientCaAboveDevicesTest(unittest.TestCase):
    """The admin client CA set to the SCEP CA itself (as a root above the
    issuing CA would be): a device's certificate still gets nowhere, an
    operator with the token gets in without a certificate of their own."""

    @classmethod
    def setUpClass(cls):
        import tempfile
        from test_operability import make_pki
        cls.pki_dir = tempfile.mkdtemp(prefix="admin-devca-")
        cls.pki = make_pki(cls.pki_dir)
        p = cls.pki
        cls.stack = Stack(legacy=False, admin_token="admin-devca-token")
        cls.stack.gateway_args += [
            f"--admin_tls_cert={p['signer']}.pem", f"--admin_tls_key={p['signer']}.key",
            f"--admin_tls_client_ca={os.path.join(cls.stack.dir, 'pki', 'ca.pem')}"]
        cls.stack.start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        import shutil
        shutil.rmtree(cls.pki_dir, ignore_errors=True)

    def test_device_certificate_is_refused_and_the_token_alone_gets_in(self):
        from test_operability import pki_post
        stack = self.stack
        status, _, body = pki_post(stack, stack.probe_request("dev-admin", "tid-devadm", "ab" * 16))
        self.assertEqual(status, 200)
        issued = stack.probe_open("dev-admin", body)
        self.assertEqual(issued["pkiStatus"], 0)
        d = os.path.join(stack.dir, "dev-dev-admin")
        cert = os.path.join(d, "issued-admin.pem")
        with open(cert, "w") as f:
            f.write(issued["pem"])
        tls = ["--tls-ca", self.pki["grpc-ca"] + ".pem"]
        device = stack.scepctl(*tls, "--tls-cert", cert, "--tls-key", os.path.join(d, "key.pem"),
                               "profiles", "list", token=None)
        self.assertNotEqual(device.returncode, 0, device.stdout)
        self.assertEqual(device.stdout, "")
        self.assertIn("PERMISSION_DENIED", device.stderr)
        # Either credential: the token over TLS, without a client certificate.
        token_only = stack.scepctl(*tls, "profiles", "list")
        self.assertEqual(token_only.returncode, 0, token_only.stderr)
        self.assertIn("default", token_only.stdout)
        # Neither: refused, nothing printed.
        neither = stack.scepctl(*tls, "profiles", "list", token=None)
        self.assertNotEqual(neither.returncode, 0)
        self.assertEqual(neither.stdout, "")
