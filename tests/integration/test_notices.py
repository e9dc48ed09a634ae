"""Issuance notices through the real stack: a profile's notify.url receives
each enrollment's outcome as JSON (issued with the certificate, failed with
its failInfo), at least once. Real redis-server, signer and gateway; the
receiver is a small HTTP server run by the test that answers as each case
needs (200, 503 until released, 400)."""

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from harness import Stack, free_port, http, metric, openssl, wait_for

PKI_OP = "?operation=PKIOperation"
NOTICE_KEY = "notices-signing-key-0123456789abcdef"
SUCCESS, FAILURE, PENDING = 0, 2, 3
BAD_REQUEST = 2


class Receiver(BaseHTTPRequestHandler):
    """POST /ok: 200. /held: 503 while `held`, then 200. /refuse: 400.
    Every POST is kept as (path, status answered, body)."""
    lock = threading.Lock()
    posts = []
    signatures = {}  # notice_id -> (raw body, X-Scep-Signature-256)
    held = True
    refuse = True  # /refuse answers 400 while set

    def do_POST(self):
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        body = json.loads(raw)
        Receiver.signatures[body.get("notice_id")] = (
            raw, self.headers.get("X-Scep-Signature-256"))
        if self.path == "/ok":
            status = 200
        elif self.path == "/held":
            status = 503 if Receiver.held else 200
        else:
            status = 400 if Receiver.refuse else 200
        with Receiver.lock:
            Receiver.posts.append((self.path, status, body, self.headers.get("Content-Type")))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class NoticesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.server = ThreadingHTTPServer(("127.0.0.1", cls.port), Receiver)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{cls.port}"
        static = {"mode": "static", "secret_env": "SCEP_CHALLENGE"}
        cls.key_dir = tempfile.mkdtemp(prefix="scep-notice-key-")
        key_file = os.path.join(cls.key_dir, "notice-key")
        with open(key_file, "w") as f:
            f.write(NOTICE_KEY + "\n")
        cls.stack = Stack(admin_token="notices-admin", gateway_args=["--notice_retry_seconds=1"],
                          profiles={"profiles": [
                              {"name": "default", "challenge": static},
                              {"name": "notified", "challenge": static,
                               "notify": {"url": base + "/ok", "timeout_ms": 2000,
                                          "secret_file": key_file}},
                              {"name": "withcsr", "challenge": static,
                               "notify": {"url": base + "/ok", "csr": "include"}},
                              {"name": "issuedonly", "challenge": static,
                               "notify": {"url": base + "/ok", "events": ["issued"]}},
                              {"name": "held", "challenge": static,
                               "notify": {"url": base + "/held", "timeout_ms": 2000}},
                              {"name": "refused", "challenge": static,
                               "notify": {"url": base + "/refuse"}},
                              {"name": "approval", "challenge": static, "approval": "manual",
                               "notify": {"url": base + "/ok"}},
                              {"name": "onetime-ec", "challenge": {"mode": "one-time"},
                               "key_types": ["ec-p256"],
                               "notify": {"url": base + "/ok", "events": ["failed"]}},
                          ]}).start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        cls.server.shutdown()
        shutil.rmtree(cls.key_dir, ignore_errors=True)

    def enroll(self, profile, name, tid, challenge=None, **extra):
        body = self.stack.probe_request(name, tid, os.urandom(16).hex(),
                                        challenge=challenge, **extra)
        status, _, reply = http("POST", f"{self.stack.url}/{profile}{PKI_OP}", body)
        self.assertEqual(status, 200, reply)
        return self.stack.probe_open(name, reply)

    def ctl(self, *args):
        out = self.stack.scepctl(*args)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        return out

    @staticmethod
    def posts_for(tid, status=None):
        with Receiver.lock:
            return [p for p in Receiver.posts
                    if p[2].get("transaction_id") == tid and (status is None or p[1] == status)]

    def delivered(self, tid, timeout=20):
        """The body of the notice for `tid` that a receiver took (2xx)."""
        return wait_for(lambda: self.posts_for(tid, 200), timeout,
                        f"the notice of {tid}")[0][2]

    def test_issued_notice_carries_the_certificate(self):
        rep = self.enroll("notified", "nt-issued", "tid-nt-issued")
        self.assertEqual(rep["pkiStatus"], SUCCESS, rep)
        notice = self.delivered("tid-nt-issued")
        self.assertEqual((notice["event"], notice["profile"], notice["message_type"]),
                         ("issued", "notified", "PKCSReq"))
        with Receiver.lock:
            content_types = {p[3] for p in Receiver.posts if p[2] is notice}
        self.assertEqual(content_types, {"application/json"})
        # The certificate is the one the device received.
        der = base64.b64decode(notice["certificate"])
        received = openssl("x509", "-outform", "DER", input=rep["pem"].encode())
        self.assertEqual(der, received)
        self.assertEqual(notice["thumbprint_sha256"], hashlib.sha256(der).hexdigest().upper())
        self.assertEqual(notice["thumbprint_sha1"], hashlib.sha1(der).hexdigest().upper())
        serial = openssl("x509", "-inform", "DER", "-noout", "-serial",
                         input=der).decode().strip().split("=", 1)[1]
        self.assertEqual(notice["serial"].upper(), serial.upper())
        self.assertIn("CN=nt-issued", notice["subject"])
        self.assertIn("CN=", notice["issuer"])
        self.assertRegex(notice["not_after"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertTrue(notice["notice_id"])
        # Signed with the profile's key: HMAC-SHA256 of the exact body.
        raw, signature = Receiver.signatures[notice["notice_id"]]
        self.assertEqual(signature, "sha256=" + hmac.new(
            NOTICE_KEY.encode(), raw, hashlib.sha256).hexdigest())
        self.assertNotIn(NOTICE_KEY, self.stack.log("gateway"))
        # A static challenge's profile: no CSR (its challengePassword is the
        # shared secret), and nothing of the challenge anywhere.
        self.assertNotIn("csr", notice)
        self.assertNotIn(self.stack.challenge, json.dumps(notice))
        samples = wait_for(lambda: (lambda s: s if metric(
            s, "scep_gateway_notices_total", profile="notified", event="issued",
            result="delivered") else None)(self.stack.scrape()), 10, "the delivered count")
        self.assertGreaterEqual(metric(samples, "scep_gateway_notices_total", profile="notified",
                                       event="issued", result="delivered"), 1)

    def test_csr_when_the_profile_asks_for_it(self):
        rep = self.enroll("withcsr", "nt-csr", "tid-nt-csr")
        self.assertEqual(rep["pkiStatus"], SUCCESS, rep)
        notice = self.delivered("tid-nt-csr")
        # The device's CSR: its subject and key are the certificate's.
        csr = base64.b64decode(notice["csr"])
        der = base64.b64decode(notice["certificate"])
        self.assertEqual(openssl("req", "-inform", "DER", "-noout", "-pubkey", input=csr),
                         openssl("x509", "-inform", "DER", "-noout", "-pubkey", input=der))
        self.assertIn("nt-csr", openssl("req", "-inform", "DER", "-noout", "-subject",
                                        input=csr).decode())
        # A profile without a signing key: unsigned.
        self.assertIsNone(Receiver.signatures[notice["notice_id"]][1])

    def test_failed_notice_names_the_fail_info(self):
        rep = self.enroll("notified", "nt-wrong", "tid-nt-wrong", challenge="Not-The-Secret")
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (FAILURE, BAD_REQUEST), rep)
        notice = self.delivered("tid-nt-wrong")
        self.assertEqual((notice["event"], notice["fail_info"]), ("failed", "badRequest"))
        self.assertTrue(notice["fail_info_text"])
        self.assertNotIn("certificate", notice)
        self.assertNotIn("Not-The-Secret", json.dumps(notice))
        # A profile that asked for issued notices only gets no failed one.
        rep = self.enroll("issuedonly", "nt-only", "tid-nt-only", challenge="Not-The-Secret")
        self.assertEqual(rep["pkiStatus"], FAILURE, rep)
        rep = self.enroll("issuedonly", "nt-only2", "tid-nt-only2")
        self.assertEqual(rep["pkiStatus"], SUCCESS, rep)
        self.delivered("tid-nt-only2")
        self.assertEqual(self.posts_for("tid-nt-only"), [])

    def test_failed_notice_never_carries_a_live_one_time_challenge(self):
        # Refused for the profile's policy (an RSA key where EC is asked for)
        # before its challenge was looked at: the challenge is still good,
        # so the failed notice leaves the CSR, which carries it, out. Before
        # session 27 it was there, and the receiver could enroll with it.
        challenge = self.ctl("challenge", "create", "--profile", "onetime-ec").stdout.strip()
        rep = self.enroll("onetime-ec", "nt-ot-rsa", "tid-nt-ot-rsa", challenge=challenge)
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (FAILURE, BAD_REQUEST), rep)
        notice = self.delivered("tid-nt-ot-rsa")
        self.assertEqual(notice["event"], "failed")
        self.assertNotIn("csr", notice)
        self.assertNotIn(challenge, json.dumps(notice))
        # The device, given an EC key, enrolls with its challenge; a
        # refusal after the challenge was claimed carries the CSR, whose
        # challenge then admits nobody else.
        rep = self.enroll("onetime-ec", "nt-ot-ec", "tid-nt-ot-ec", challenge=challenge,
                          **{"key-type": "ec"})
        self.assertEqual(rep["pkiStatus"], SUCCESS, rep)
        rep = self.enroll("onetime-ec", "nt-ot-ec2", "tid-nt-ot-ec2", challenge=challenge,
                          **{"key-type": "ec"})
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (FAILURE, BAD_REQUEST), rep)
        notice = self.delivered("tid-nt-ot-ec2")
        self.assertIn("csr", notice)
        self.assertEqual(notice["fail_info_text"], "challenge unknown, expired or already used")

    def test_replayed_request_queues_no_second_notice(self):
        body = self.stack.probe_request("nt-replay", "tid-nt-replay", os.urandom(16).hex())
        for _ in range(2):
            status, _, reply = http("POST", f"{self.stack.url}/notified{PKI_OP}", body)
            self.assertEqual(status, 200)
        self.delivered("tid-nt-replay")
        time.sleep(1.5)  # a second notice would have been delivered by now
        self.assertEqual(len(self.posts_for("tid-nt-replay")), 1)

    def test_refused_request_sent_again_queues_no_second_notice(self):
        # The identical refused message again (a client or proxy retrying):
        # one failed notice, not one per arrival with a new notice_id.
        body = self.stack.probe_request("nt-wrong-again", "tid-nt-wrong-again",
                                        os.urandom(16).hex(), challenge="Not-The-Secret")
        for _ in range(3):
            status, _, reply = http("POST", f"{self.stack.url}/notified{PKI_OP}", body)
            self.assertEqual(status, 200)
            rep = self.stack.probe_open("nt-wrong-again", reply)
            self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (FAILURE, BAD_REQUEST), rep)
        self.assertEqual(self.delivered("tid-nt-wrong-again")["event"], "failed")
        time.sleep(1.5)  # a second notice would have been delivered by now
        self.assertEqual(len(self.posts_for("tid-nt-wrong-again")), 1)

    def test_refused_notice_is_given_up_not_retried(self):
        rep = self.enroll("refused", "nt-refused", "tid-nt-refused")
        self.assertEqual(rep["pkiStatus"], SUCCESS, rep)
        wait_for(lambda: self.posts_for("tid-nt-refused"), 20, "the refused POST")
        time.sleep(2.5)  # past two retry periods
        self.assertEqual(len(self.posts_for("tid-nt-refused")), 1)
        self.assertIn("notice_given_up", self.stack.log("gateway"))
        # Kept on the given-up list, with why; the operator fixes the
        # receiver and queues it again: delivered, once.
        listed = json.loads(self.ctl("notices", "list", "--profile", "refused",
                                     "--json").stdout)["notices"]
        mine = [n for n in listed
                if base64.b64decode(n["transactionId"]) == b"tid-nt-refused"]
        self.assertEqual(len(mine), 1, listed)
        self.assertEqual((mine[0]["event"], mine[0]["result"], mine[0]["reason"]),
                         ("issued", "refused", "receiver answered HTTP 400"))
        table = self.ctl("notices", "list").stdout
        self.assertIn(mine[0]["id"], table)
        Receiver.refuse = False
        try:
            out = self.ctl("notices", "requeue", "--id", mine[0]["id"])
            self.assertIn("requeued 1", out.stdout)
            notice = self.delivered("tid-nt-refused")
            self.assertEqual(notice["event"], "issued")
            # The notice_id it was refused with: receivers deduplicate by it.
            self.assertEqual(notice["notice_id"],
                             self.posts_for("tid-nt-refused", 400)[0][2]["notice_id"])
            self.assertEqual(len(self.posts_for("tid-nt-refused", 200)), 1)
            self.assertNotIn(mine[0]["id"], self.ctl("notices", "list").stdout)
            # Nothing left of that profile to queue again.
            out = self.ctl("notices", "requeue", "--profile", "refused")
            self.assertIn("requeued 0", out.stdout)
        finally:
            Receiver.refuse = True

    def test_manual_approval_notices(self):
        for name in ("nt-appr-ok", "nt-appr-no"):
            rep = self.enroll("approval", name, "tid-" + name)
            self.assertEqual(rep["pkiStatus"], PENDING, rep)
        time.sleep(1)
        # Pending is not an outcome: nothing yet.
        self.assertEqual(self.posts_for("tid-nt-appr-ok") + self.posts_for("tid-nt-appr-no"), [])
        self.ctl("requests", "approve", "--profile", "approval", "--tid", "tid-nt-appr-ok")
        notice = self.delivered("tid-nt-appr-ok")
        self.assertEqual((notice["event"], notice["profile"]), ("issued", "approval"))
        der = base64.b64decode(notice["certificate"])
        self.assertIn("nt-appr-ok", openssl("x509", "-inform", "DER", "-noout", "-subject",
                                            input=der).decode())
        self.ctl("requests", "reject", "--profile", "approval", "--tid", "tid-nt-appr-no",
                 "--reason", "unknown device")
        notice = self.delivered("tid-nt-appr-no")
        self.assertEqual((notice["event"], notice["fail_info"]), ("failed", "badRequest"))
        self.assertNotIn("unknown device", json.dumps(notice))  # operator's words stay in audit
        # The device asks again and is told it was rejected: the rejection
        # was noticed once, by the operator's reject.
        rep = self.enroll("approval", "nt-appr-no", "tid-nt-appr-no")
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (FAILURE, BAD_REQUEST), rep)
        time.sleep(1.5)
        self.assertEqual(len(self.posts_for("tid-nt-appr-no")), 1)

    def test_undelivered_notice_survives_the_gateway_dying(self):
        """The receiver answers 503; the gateway that took the notice is
        killed (SIGKILL, no shutdown); a new gateway delivers it once the
        receiver is back."""
        Receiver.held = True
        rep = self.enroll("held", "nt-held", "tid-nt-held")
        self.assertEqual(rep["pkiStatus"], SUCCESS, rep)
        wait_for(lambda: self.posts_for("tid-nt-held", 503), 20, "a refused delivery")
        gateway = self.stack.procs.pop("gateway")
        gateway.kill()
        gateway.wait()
        pending = self.stack.redis_cli("XPENDING", "scep:notify", "gateways")
        self.assertNotEqual(pending.splitlines()[0], "0", pending)
        Receiver.held = False
        self.stack.start_gateway()
        self.stack.wait_ready()
        notice = self.delivered("tid-nt-held", timeout=30)
        self.assertEqual(notice["event"], "issued")
        ids = {p[2]["notice_id"] for p in self.posts_for("tid-nt-held")}
        self.assertEqual(len(ids), 1, ids)  # retries of one notice, not new ones
        # Delivered: nothing is left in the queue for it.
        wait_for(lambda: self.stack.redis_cli("XLEN", "scep:notify") == "0" or None, 10,
                 "the queue to drain")


if __name__ == "__main__":
    unittest.main()
