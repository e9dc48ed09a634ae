"""The gateway's outgoing hooks over HTTPS through the real stack: the
external challenge verifier and the issuance-notice receiver as one TLS
server run by the test (Python's ssl, a CA made here with openssl), which
requires a client certificate. The gateway verifies the receiver's chain and
name, shows its own certificate, keeps its connections alive, and refuses
receivers it cannot trust: nothing goes to them, and the log says why."""

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import base64
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (Stack, binary, free_port, http, metric, openssl, require_tool,
                     tls_ca, tls_leaf, wait_for)

PKI_OP = "?operation=PKIOperation"
SUCCESS, FAILURE = 0, 2
BAD_REQUEST = 2
ALLOW = "tls-allow-Xy7"  # the challenge the verifier allows


class Hook(BaseHTTPRequestHandler):
    """POST /verify: {"allow": challenge == ALLOW}. POST /notices: 200.
    Each request is kept with the path, the client certificate's CN and
    the client's port (one per connection)."""
    protocol_version = "HTTP/1.1"  # keep-alive
    lock = threading.Lock()
    requests = []  # (path, body, client CN, client port)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cert = self.connection.getpeercert() or {}
        cn = dict(x[0] for x in cert.get("subject", ())).get("commonName")
        with Hook.lock:
            Hook.requests.append((self.path, body, cn, self.client_address[1]))
        answer = b""
        if self.path == "/verify":
            answer = json.dumps({"allow": body["challenge"] == ALLOW}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


class HooksTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="scep-hooks-tls-")
        d = cls.dir
        tls_ca(d, "hooks-ca")
        tls_ca(d, "rogue-ca")
        tls_leaf(d, "receiver", "hooks-ca",
                 "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        tls_leaf(d, "scep-gateway", "hooks-ca", "extendedKeyUsage=clientAuth\n")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(f"{d}/receiver.pem", f"{d}/receiver.key")
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(f"{d}/hooks-ca.pem")
        cls.port = free_port()
        cls.server = ThreadingHTTPServer(("127.0.0.1", cls.port), Hook)
        cls.server.socket = ctx.wrap_socket(cls.server.socket, server_side=True)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()

        mutual = {"ca_file": f"{d}/hooks-ca.pem", "cert_file": f"{d}/scep-gateway.pem",
                  "key_file": f"{d}/scep-gateway.key"}
        static = {"mode": "static", "secret_env": "SCEP_CHALLENGE"}
        at = f"127.0.0.1:{cls.port}"
        cls.stack = Stack(gateway_args=["--notice_retry_seconds=1"], profiles={"profiles": [
            {"name": "default", "challenge": static},
            # Intune-style: the verifier and the notices on the connector,
            # by IP address and by name.
            {"name": "intune",
             "challenge": {"mode": "external", "verifier_url": f"https://{at}/verify",
                           "verifier_timeout_ms": 3000, "verifier_tls": mutual},
             "notify": {"url": f"https://localhost:{cls.port}/notices", "tls": mutual}},
            # A bundle that does not hold the receiver's CA.
            {"name": "rogue", "challenge": static,
             "notify": {"url": f"https://{at}/notices",
                        "tls": dict(mutual, ca_file=f"{d}/rogue-ca.pem")}},
            # No client certificate for a receiver that requires one.
            {"name": "nocert", "challenge": static,
             "notify": {"url": f"https://{at}/notices", "tls": {"ca_file": f"{d}/hooks-ca.pem"}}},
            {"name": "badverifier",
             "challenge": {"mode": "external", "verifier_url": f"https://{at}/verify",
                           "verifier_tls": dict(mutual, ca_file=f"{d}/rogue-ca.pem")}},
        ]}).start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        cls.server.shutdown()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def enroll(self, profile, name, challenge=None):
        body = self.stack.probe_request(name, "tid-" + name, os.urandom(16).hex(),
                                        challenge=challenge)
        status, _, reply = http("POST", f"{self.stack.url}/{profile}{PKI_OP}", body)
        return status, (self.stack.probe_open(name, reply) if status == 200 else reply)

    @staticmethod
    def seen(path, tid):
        with Hook.lock:
            return [r for r in Hook.requests
                    if r[0] == path and r[1].get("transaction_id") == tid]

    def log_lines(self, event, tid):
        lines = []
        for line in self.stack.log("gateway").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("event") == event and rec.get("transaction_id") == tid:
                lines.append(rec)
        return lines

    def test_verifier_and_notices_over_mutual_tls_on_kept_connections(self):
        names = [f"tls-dev-{i}" for i in range(4)]
        for name in names:
            status, rep = self.enroll("intune", name, challenge=ALLOW)
            self.assertEqual(status, 200, rep)
            self.assertEqual(rep["pkiStatus"], SUCCESS, rep)
        status, rep = self.enroll("intune", "tls-denied", challenge="not-the-one")
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (FAILURE, BAD_REQUEST), rep)
        verifies = [self.seen("/verify", "tid-" + n) for n in names + ["tls-denied"]]
        self.assertTrue(all(len(v) == 1 for v in verifies), verifies)
        # Every request came with the gateway's client certificate, and the
        # five verifications (one after the other) on one kept connection.
        self.assertEqual({v[0][2] for v in verifies}, {"scep-gateway"})
        # The device's CSR as it sent it: a PKCS#10 request for its subject.
        csr = base64.b64decode(verifies[0][0][1]["csr"])
        self.assertIn("CN = tls-dev-0", openssl("req", "-inform", "DER", "-noout", "-subject",
                                                input=csr).decode())
        self.assertEqual(len({v[0][3] for v in verifies}), 1, verifies)
        # The notices, by name (localhost) over TLS too: four issued, one failed.
        for n in names:
            notice = wait_for(lambda: self.seen("/notices", "tid-" + n), 20, f"notice of {n}")
            self.assertEqual(notice[0][1]["event"], "issued")
            self.assertEqual(notice[0][2], "scep-gateway")
        failed = wait_for(lambda: self.seen("/notices", "tid-tls-denied"), 20, "failed notice")
        self.assertEqual((failed[0][1]["event"], failed[0][1]["fail_info"]),
                         ("failed", "badRequest"))
        self.assertNotIn(ALLOW, self.stack.log("gateway"))

    def test_a_receiver_the_bundle_does_not_vouch_for_gets_nothing(self):
        status, rep = self.enroll("rogue", "tls-rogue")
        self.assertEqual(rep["pkiStatus"], SUCCESS, rep)  # the device is not held up
        failures = wait_for(lambda: self.log_lines("notice_delivery_failed", "tid-tls-rogue"),
                            20, "a failed delivery")
        self.assertIn("notice receiver TLS handshake failed: certificate verify failed",
                      failures[0]["reason"])
        time.sleep(1.5)  # past a retry period: still nothing got through
        self.assertEqual(self.seen("/notices", "tid-tls-rogue"), [])
        samples = self.stack.scrape()
        self.assertGreaterEqual(metric(samples, "scep_gateway_notices_total", profile="rogue",
                                       event="issued", result="retry"), 1)

    def test_a_receiver_requiring_a_client_certificate_gets_nothing_without_one(self):
        status, rep = self.enroll("nocert", "tls-nocert")
        self.assertEqual(rep["pkiStatus"], SUCCESS, rep)
        failures = wait_for(lambda: self.log_lines("notice_delivery_failed", "tid-tls-nocert"),
                            20, "a failed delivery")
        self.assertTrue(failures[0]["reason"].startswith("notice receiver "), failures)
        self.assertEqual(self.seen("/notices", "tid-tls-nocert"), [])

    def test_a_verifier_the_bundle_does_not_vouch_for_fails_closed(self):
        status, reply = self.enroll("badverifier", "tls-badverifier", challenge=ALLOW)
        self.assertEqual(status, 503, reply)  # nothing issued; the device retries later
        self.assertEqual(self.seen("/verify", "tid-tls-badverifier"), [])  # challenge not sent
        lines = self.log_lines("verifier_unavailable", "tid-tls-badverifier")
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("verifier TLS handshake failed: certificate verify failed",
                      lines[0]["reason"])
        self.assertNotIn(ALLOW, self.stack.log("gateway"))


class HooksTlsStartupTest(unittest.TestCase):
    def setUp(self):
        require_tool(self, "openssl")

    def test_a_tls_file_that_does_not_load_stops_the_gateway_at_start(self):
        d = tempfile.mkdtemp(prefix="scep-hooks-tls-start-")
        self.addCleanup(shutil.rmtree, d, True)
        profiles = os.path.join(d, "profiles.json")
        with open(profiles, "w") as f:
            json.dump({"profiles": [{
                "name": "default", "challenge": {"mode": "one-time"},
                "notify": {"url": "https://connector.example/notices",
                           "tls": {"ca_file": f"{d}/missing-ca.pem"}}}]}, f)
        out = subprocess.run(
            [binary("scep-gateway"), f"--profiles_file={profiles}", "--insecure_plaintext",
             f"--http_port={free_port()}", f"--metrics_port={free_port()}",
             "--signer=dns:///127.0.0.1:1", "--redis_port=1"],
            capture_output=True, text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn(f"profile 'default': notify.tls.ca_file: no CA certificate loads from "
                      f"{d}/missing-ca.pem", out.stdout + out.stderr)


if __name__ == "__main__":
    unittest.main()
