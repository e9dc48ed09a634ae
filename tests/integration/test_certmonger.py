"""Interop with certmonger (Debian package certmonger), the enrollment
daemon of RHEL/FreeIPA-style Linux fleets, through the real stack: its
SCEP helper asks GetCACaps and GetCACert, its daemon builds the PKCSReq,
and `getcert` drives it. Enrollment with a DNS SAN, a wrong challenge
refused (and never logged), renewal with the same key (certmonger derives
the transactionID from the key and signs with the certificate it holds: a
new certificate in the same transaction, not the old one again), rekey (a
new key, a new certificate), and manual approval (PENDING, approved with
scepctl, collected by `getcert resubmit`).

The daemon runs unprivileged in the test's directory: its own listening
socket instead of D-Bus (certmonger -L -P, getcert via
CERTMONGER_PVT_ADDRESS) and its state under the test's directory
(CERTMONGER_*_DIR), so nothing under /var/lib/certmonger is touched."""

import json
import os
import re
import shutil
import subprocess
import time
import unittest

from harness import IN_CI, Stack, metric, openssl

TOKEN = "Admin-Token-For-Certmonger-Tests"
STATIC = {"mode": "static", "secret_env": "SCEP_CHALLENGE"}
PROFILES = {"profiles": [
    {"name": "default", "challenge": STATIC},
    {"name": "approval", "challenge": STATIC, "approval": "manual"},
]}
# Where getcert -w stops waiting; anything else is still in progress.
SETTLED = {"MONITORING", "CA_REJECTED", "CA_WORKING", "CA_UNREACHABLE",
           "CA_UNCONFIGURED", "NEED_GUIDANCE", "NEED_CA", "NEED_TO_SUBMIT"}


def tool(name):
    """certmonger lives in /usr/sbin, which a non-root PATH may lack."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


class Certmonger:
    """One certmonger daemon with its state in `workdir`."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "certmonger")
        state = {}
        for sub in ("requests", "cas", "local"):
            path = os.path.join(self.dir, sub)
            os.makedirs(path)
            state["CERTMONGER_%s_DIR" % ("LOCAL_CA" if sub == "local" else sub.upper())] = path
        home = os.path.join(self.dir, "home")
        os.makedirs(home)
        sock = os.path.join(self.dir, "sock")
        # Its own lock too: a system certmonger on the machine holds
        # /var/lib/certmonger/lock.
        state["CERTMONGER_SYSTEM_LOCK_FILE"] = os.path.join(self.dir, "lock")
        self.env = dict(os.environ, HOME=home,
                        CERTMONGER_PVT_ADDRESS="unix:path=" + sock, **state)
        self.log_path = os.path.join(self.dir, "certmonger.log")
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [tool("certmonger"), "-L", "-P", sock, "-n", "-d", "2"],
            env=self.env, stdout=self.log_file, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if os.path.exists(sock) and self.getcert("list-cas", check=False).returncode == 0:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("certmonger did not start: " + self.log())

    def stop(self):
        if self.log_file.closed:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log_file.close()

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]

    def getcert(self, *args, check=True, timeout=120):
        out = subprocess.run([tool("getcert"), *args], capture_output=True, text=True,
                             env=self.env, timeout=timeout)
        if check and out.returncode != 0:
            raise AssertionError(f"getcert {args[0]}: {out.stdout}{out.stderr}\n{self.log()}")
        return out

    def info(self, cert):
        """`getcert list -f cert` as a dict (request id, status, ca-error...)."""
        text = self.getcert("list", "-f", cert).stdout
        fields = {}
        m = re.search(r"Request ID '([^']+)'", text)
        if m:
            fields["id"] = m.group(1)
        for line in text.splitlines():
            key, sep, value = line.strip().partition(": ")
            if sep and key not in fields:
                fields[key] = value
        return fields

    def wait(self, cert, timeout=90):
        deadline = time.time() + timeout
        while True:
            fields = self.info(cert)
            if fields.get("status") in SETTLED or time.time() > deadline:
                return fields
            time.sleep(0.3)


class CertmongerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(challenge="Certmonger-Secret-42", legacy=False,
                          admin_token=TOKEN, profiles=PROFILES).start()
        cls.cm = None
        if not (tool("certmonger") and tool("getcert")):
            return  # setUp fails (CI) or skips each test
        try:
            cls.cm = Certmonger(cls.stack.dir)
            # -R: the CA certificate certmonger pins for the SCEP CA.
            cls.cm.getcert("add-scep-ca", "-c", "ours", "-u", cls.stack.url,
                           "-R", cls.stack.ca_pem)
            cls.cm.getcert("add-scep-ca", "-c", "ours-approval", "-u",
                           cls.stack.url + "/approval", "-R", cls.stack.ca_pem)
        except BaseException:
            # tearDownClass does not run after a failed setUpClass.
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.cm:
            cls.cm.stop()
        cls.stack.stop()

    def setUp(self):
        for name in ("certmonger", "getcert"):
            if not tool(name):
                if IN_CI:
                    self.fail(f"{name} is not installed (scripts/install-deps installs it)")
                self.skipTest(f"{name} not installed")
        self.assertIsNotNone(self.cm)

    # -- helpers ------------------------------------------------------------
    def paths(self, name):
        d = os.path.join(self.cm.dir, "dev-" + name)
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")

    def request(self, ca, name, challenge, *extra):
        key, cert = self.paths(name)
        # -w exits non-zero unless a certificate was issued: the status
        # tells what happened.
        self.cm.getcert("request", "-c", ca, "-k", key, "-f", cert,
                        "-N", "CN=" + name, "-L", challenge, "-w", *extra, check=False)
        return key, cert, self.cm.wait(cert)

    def operations(self):
        """The gateway's PKIOperation access-log records, oldest first."""
        records = []
        for line in self.stack.log("gateway").splitlines():
            if line.startswith("{") and '"PKIOperation"' in line:
                records.append(json.loads(line))
        return records

    def assert_issued(self, key, cert, name, fields):
        self.assertEqual(fields.get("status"), "MONITORING",
                         f"{fields}\n{self.cm.log()}\n{self.stack.log('gateway')[-3000:]}")
        verify = subprocess.run(["openssl", "verify", "-CAfile", self.stack.ca_pem, cert],
                                capture_output=True, text=True)
        self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)
        subject = openssl("x509", "-in", cert, "-noout", "-subject").decode()
        self.assertIn("CN = " + name, subject)
        # The certificate is for the key certmonger generated and keeps.
        self.assertEqual(openssl("pkey", "-in", key, "-pubout"),
                         openssl("x509", "-in", cert, "-noout", "-pubkey"))

    def serial(self, cert):
        return openssl("x509", "-in", cert, "-noout", "-serial").decode().strip()

    # -- tests --------------------------------------------------------------
    def resubmit_until_renewed(self, cert, fields, attempts=3):
        """`getcert resubmit` until the certificate's serial changes (what
        certmonger's automatic renewal does: the same key, so the same
        transactionID, signed with the current certificate); the settled
        tracking fields afterwards.
        Once seen in CI under load: a resubmit answered with the old
        certificate, so it is asked again (which did not help). The likely
        cause, found in session 19: a same-key renewal within 10 minutes of
        the first issuance whose CSR is byte-identical to the first was
        answered by the signer's recent-issuance cache for retries (keyed by
        transaction, CSR and policy, not by who signed the request) with the
        old certificate; why certmonger's request matched only in some runs
        was not pinned down. The sender's certificate is now part of that
        key (test_conformance's
        test_same_key_renewal_in_the_transaction_gets_a_new_certificate
        fails without it)."""
        old_serial = self.serial(cert)
        for _ in range(attempts):
            self.cm.getcert("resubmit", "-i", fields["id"], "-w", check=False)
            deadline = time.time() + 20
            while self.serial(cert) == old_serial and time.time() < deadline:
                time.sleep(0.3)
            fields = self.cm.wait(cert)
            if self.serial(cert) != old_serial:
                break
        return fields

    def test_enrolls_with_a_dns_san(self):
        key, cert, fields = self.request("ours", "cm-device-1", self.stack.challenge,
                                         "-D", "cm-device-1.fleet.example")
        self.assert_issued(key, cert, "cm-device-1", fields)
        san = openssl("x509", "-in", cert, "-noout", "-ext", "subjectAltName").decode()
        self.assertIn("DNS:cm-device-1.fleet.example", san)
        ops = [r for r in self.operations() if r["message_type"] == "PKCSReq"]
        self.assertTrue(ops and ops[-1]["outcome"] == "SUCCESS", ops[-1:])
        # certmonger's helper asked for the capabilities and the CA chain.
        log = self.stack.log("gateway")
        self.assertIn('"operation":"GetCACaps"', log)
        self.assertIn('"operation":"GetCACert"', log)

    def test_wrong_challenge_is_refused_and_never_logged(self):
        wrong = self.stack.challenge.swapcase()  # the challenge is case-sensitive
        _, cert, fields = self.request("ours", "cm-wrong", wrong)
        self.assertEqual(fields.get("status"), "CA_REJECTED", fields)
        # certmonger's wording of failInfo badRequest (RFC 8894: 2).
        self.assertIn("not permitted", fields.get("ca-error", ""), fields)
        self.assertFalse(os.path.exists(cert))
        self.assertEqual(self.operations()[-1]["outcome"], "FAILURE badRequest")
        for process in ("gateway", "signer"):
            log = self.stack.log(process)
            self.assertNotIn(wrong, log)
            self.assertNotIn(self.stack.challenge, log)

    def test_renewal_with_the_same_key_then_rekey(self):
        key, cert, fields = self.request("ours", "cm-device-2", self.stack.challenge)
        self.assert_issued(key, cert, "cm-device-2", fields)
        first_serial = self.serial(cert)
        first_key = openssl("pkey", "-in", key, "-pubout")
        first_tid = self.operations()[-1]["transaction_id"]

        # Resubmit: the same key, hence the same transactionID, but signed
        # with the certificate that transaction issued: not a
        # retransmission, a new certificate for the same key.
        before = len(self.operations())
        metrics_before = self.stack.scrape()
        fields = self.resubmit_until_renewed(cert, fields)
        self.assert_issued(key, cert, "cm-device-2", fields)
        ops = self.operations()[before:]
        self.assertTrue(ops and all((r["transaction_id"], r["outcome"]) == (first_tid, "SUCCESS")
                                    for r in ops), ops)
        self.assertNotEqual(self.serial(cert), first_serial)
        self.assertEqual(openssl("pkey", "-in", key, "-pubout"), first_key)
        first_serial = self.serial(cert)
        metrics_after = self.stack.scrape()
        for name, value in (("scep_gateway_certificates_renewed_total", 1),
                            ("scep_gateway_certificates_issued_total", 1)):
            self.assertEqual(metric(metrics_after, name) - metric(metrics_before, name),
                             value, name)

        # Rekey: a new key, a new transaction, a new certificate.
        before = len(self.operations())
        self.cm.getcert("rekey", "-i", fields["id"], "-w")
        deadline = time.time() + 90
        while self.serial(cert) == first_serial and time.time() < deadline:
            time.sleep(0.3)
        fields = self.cm.wait(cert)
        self.assert_issued(key, cert, "cm-device-2", fields)
        self.assertNotEqual(self.serial(cert), first_serial)
        self.assertNotEqual(openssl("pkey", "-in", key, "-pubout"), first_key)
        ops = self.operations()[before:]
        self.assertEqual(len(ops), 1, ops)
        self.assertNotEqual(ops[0]["transaction_id"], first_tid)
        self.assertEqual(ops[0]["outcome"], "SUCCESS")

    def test_manual_approval_pending_then_collected(self):
        before = len(self.operations())
        key, cert, fields = self.request("ours-approval", "cm-approve", self.stack.challenge)
        self.assertEqual(fields.get("status"), "CA_WORKING", fields)
        self.assertFalse(os.path.exists(cert))
        ops = self.operations()[before:]
        self.assertEqual([r["outcome"] for r in ops], ["PENDING"], ops)
        tid = ops[0]["transaction_id"]

        out = self.stack.scepctl("requests", "approve", "--profile", "approval", "--tid", tid)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("issued serial", out.stdout)
        # certmonger looks at a pending request again only after days (SCEP
        # gives no retry hint); `getcert resubmit` collects it now.
        self.cm.getcert("resubmit", "-i", fields["id"], "-w")
        fields = self.cm.wait(cert)
        self.assert_issued(key, cert, "cm-approve", fields)
        serial = out.stdout.strip().rsplit(" ", 1)[-1]
        self.assertEqual(self.serial(cert).split("=")[1].lower().lstrip("0"),
                         serial.lower().lstrip("0"))

        # Its renewal with the same key (signed with the approved
        # certificate) is issued without a second approval, as a RenewalReq.
        approved = self.serial(cert)
        fields = self.resubmit_until_renewed(cert, fields)
        self.assert_issued(key, cert, "cm-approve", fields)
        self.assertNotEqual(self.serial(cert), approved)
        outcomes = [r["outcome"] for r in self.operations()[before:]]
        # PENDING, the collection, then the renewal (after a retransmission
        # answered with the approved certificate, if certmonger sent one).
        self.assertEqual(outcomes[0], "PENDING", outcomes)
        self.assertGreaterEqual(len(outcomes), 3, outcomes)
        self.assertEqual(set(outcomes[1:]), {"SUCCESS"}, outcomes)
        listed = self.stack.scepctl("requests", "list", "--profile", "approval",
                                    "--status", "requested")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertNotIn(tid, listed.stdout)


if __name__ == "__main__":
    unittest.main()
