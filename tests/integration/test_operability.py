"""Operability of the real stack (issue 5): Prometheus metrics counted after
real enrollments, /healthz and /readyz following Redis and the signer,
JSON logs without secrets, SIGTERM draining, and mutual TLS between the
gateway and the signer."""

import json
import os
import signal
import subprocess
import threading
import time
import unittest

from harness import Stack, free_port, http, metric, openssl, require_tool

REQ = "scep_gateway_requests_total"


def pki_post(stack, der, timeout=30):
    return http("POST", stack.url + "?operation=PKIOperation", der, timeout=timeout)


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack().start()
        cls.stack.wait_readyz(200)

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def enroll(self, name, tid, nonce_hex):
        status, _, body = pki_post(self.stack, self.stack.probe_request(name, tid, nonce_hex))
        self.assertEqual(status, 200)
        rep = self.stack.probe_open(name, body)
        self.assertEqual(rep["pkiStatus"], 0, rep)

    def test_success_counter_counts_each_enrollment_once(self):
        success = dict(operation="PKIOperation", profile="default",
                       message_type="PKCSReq", pki_status="SUCCESS",
                       fail_info="", http_status="200")
        before, signer_before = self.stack.scrape(), self.stack.scrape("signer")
        for i in range(3):
            self.enroll("metrics", f"tid-metrics-{i}", f"{i + 1:02x}" * 16)
        after, signer_after = self.stack.scrape(), self.stack.scrape("signer")
        self.assertEqual(metric(after, REQ, **success) - metric(before, REQ, **success), 3)
        issued = "scep_gateway_certificates_issued_total"
        self.assertEqual(metric(after, issued) - metric(before, issued), 3)
        # Latency histograms: the request and each signer stage observed.
        count = "scep_gateway_request_duration_seconds_count"
        self.assertEqual(metric(after, count, operation="PKIOperation")
                         - metric(before, count, operation="PKIOperation"), 3)
        stage = "scep_gateway_signer_rpc_duration_seconds_count"
        for method in ("DecryptEnvelope", "IssueCertificate", "SignCertRep"):
            self.assertEqual(metric(after, stage, method=method)
                             - metric(before, stage, method=method), 3, method)
        redis = "scep_gateway_redis_op_duration_seconds_count"
        self.assertEqual(metric(after, redis, op="RecordNonce")
                         - metric(before, redis, op="RecordNonce"), 3)
        # The signer: RPCs by code, PKCS#11 operations by key and operation.
        rpc = "scep_signer_rpc_total"
        self.assertEqual(metric(signer_after, rpc, method="IssueCertificate", code="OK")
                         - metric(signer_before, rpc, method="IssueCertificate",
                                  code="OK"), 3)
        ops = "scep_signer_pkcs11_operations_total"
        self.assertEqual(
            metric(signer_after, ops, key="ca", operation="sign_certificate", result="ok")
            - metric(signer_before, ops, key="ca", operation="sign_certificate",
                     result="ok"), 3)
        self.assertEqual(
            metric(signer_after, ops, key="ra", operation="decrypt", result="ok")
            - metric(signer_before, ops, key="ra", operation="decrypt", result="ok"), 3)
        self.assertEqual(metric(signer_after, "scep_signer_queue_depth"), 0)
        signer_issued = "scep_signer_certificates_issued_total"
        self.assertEqual(metric(signer_after, signer_issued)
                         - metric(signer_before, signer_issued), 3)

    def test_wrong_challenge_counted_as_bad_request(self):
        labels = dict(operation="PKIOperation", pki_status="FAILURE",
                      fail_info="badRequest", http_status="200")
        before = self.stack.scrape()
        req = self.stack.probe_request("metrics-bad", "tid-metrics-bad", "aa" * 16,
                                       challenge="not-the-challenge")
        status, _, body = pki_post(self.stack, req)
        self.assertEqual(status, 200)
        self.assertEqual(self.stack.probe_open("metrics-bad", body)["failInfo"], 2)
        after = self.stack.scrape()
        self.assertEqual(metric(after, REQ, **labels) - metric(before, REQ, **labels), 1)

    def test_replay_refused_is_counted(self):
        replays = "scep_gateway_replays_refused_total"
        req = self.stack.probe_request("metrics-replay", "tid-metrics-replay", "bb" * 16)
        self.assertEqual(pki_post(self.stack, req)[0], 200)
        before = self.stack.scrape()
        status, _, body = pki_post(self.stack, req)
        self.assertEqual(status, 200)
        self.assertEqual(self.stack.probe_open("metrics-replay", body)["pkiStatus"], 2)
        after = self.stack.scrape()
        self.assertEqual(metric(after, replays, profile="default")
                         - metric(before, replays, profile="default"), 1)

    def test_http_errors_are_counted_with_bounded_labels(self):
        before = self.stack.scrape()
        http("GET", self.stack.url + "?operation=Bogus-" + "x" * 40)
        http("GET", f"http://127.0.0.1:{self.stack.http_port}/elsewhere")
        after = self.stack.scrape()
        self.assertEqual(metric(after, REQ, operation="invalid", http_status="400")
                         - metric(before, REQ, operation="invalid", http_status="400"), 1)
        self.assertEqual(metric(after, REQ, profile="unknown", http_status="404")
                         - metric(before, REQ, profile="unknown", http_status="404"), 1)
        for (name, labels) in after:
            for _, value in labels:
                self.assertNotIn("Bogus", value)

    def test_health_endpoints(self):
        for which in ("gateway", "signer"):
            status, _, body = http("GET", self.stack.metrics_url(which) + "/healthz")
            self.assertEqual((status, body), (200, b"ok\n"), which)
            self.assertEqual(self.stack.readyz(which), (200, "ready\n"), which)

    def test_json_logs_without_secrets(self):
        self.enroll("metrics-log", "tid-metrics-log", "cc" * 16)
        lines = []
        for line in self.stack.log("gateway").splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))  # every JSON line parses
        requests = [l for l in lines if l.get("event") == "request"
                    and l.get("transaction_id") == "tid-metrics-log"]
        self.assertEqual(len(requests), 1, lines[-5:])
        r = requests[0]
        self.assertEqual(r["level"], "info")
        self.assertEqual((r["operation"], r["profile"], r["message_type"],
                          r["outcome"], r["http_status"]),
                         ("PKIOperation", "default", "PKCSReq", "SUCCESS", 200))
        self.assertGreater(r["latency_ms"], 0)
        self.assertTrue(r["client"].startswith("127.0.0.1:"), r)
        self.assertRegex(r["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        start = [l for l in lines if l.get("event") == "start"]
        self.assertEqual(len(start), 1)
        self.assertEqual(start[0]["insecure_plaintext"], "true")
        for name in ("gateway", "signer"):
            log = self.stack.log(name)
            self.assertNotIn(self.stack.challenge, log, name)
            self.assertNotIn(Stack.PIN, log, name)
        for which in ("gateway", "signer"):
            text = http("GET", self.stack.metrics_url(which) + "/metrics")[2].decode()
            self.assertNotIn(self.stack.challenge, text)
            self.assertNotIn("tid-metrics", text)


class ReadinessTest(unittest.TestCase):
    def test_readyz_follows_redis_and_signer(self):
        stack = Stack().start()
        try:
            self.assertEqual(stack.wait_readyz(200)[0], 200)
            self.assertEqual(stack.wait_readyz(200, "signer")[0], 200)

            stack.stop_process("redis")
            status, body = stack.wait_readyz(503)
            self.assertEqual(status, 503)
            self.assertIn("redis:", body)
            self.assertEqual(http("GET", stack.metrics_url() + "/healthz")[0], 200)
            stack.restart_redis()
            self.assertEqual(stack.wait_readyz(200), (200, "ready\n"))

            stack.stop_process("signer")
            status, body = stack.wait_readyz(503)
            self.assertEqual(status, 503)
            self.assertIn("signer:", body)
            self.assertNotIn("redis:", body)
            stack.start_signer()
            self.assertEqual(stack.wait_readyz(200, timeout=30), (200, "ready\n"))
            self.assertEqual(stack.wait_readyz(200, "signer")[0], 200)
            events = [json.loads(l)["event"] for l in stack.log("gateway").splitlines()
                      if l.startswith("{")]
            self.assertGreaterEqual(events.count("not_ready"), 2)
            self.assertGreaterEqual(events.count("ready"), 3)
        finally:
            stack.stop()


class ShutdownTest(unittest.TestCase):
    def test_sigterm_completes_every_accepted_request(self):
        stack = Stack(gateway_args=["--drain_delay_seconds=1",
                                    "--shutdown_grace_seconds=20"]).start()
        try:
            stack.wait_readyz(200)
            reqs = [stack.probe_request("drain", f"tid-drain-{i}", f"{i + 16:02x}" * 16)
                    for i in range(40)]
            results, errors, lock = [], [], threading.Lock()
            stop = threading.Event()

            def worker(mine):
                for der in mine:
                    if stop.is_set():
                        return
                    try:
                        status, _, body = pki_post(stack, der)
                    except OSError as e:  # refused once the listener closed
                        with lock:
                            errors.append(repr(e))
                        return
                    with lock:
                        results.append((status, body))

            threads = [threading.Thread(target=worker, args=(reqs[i::4],))
                       for i in range(4)]
            for t in threads:
                t.start()
            in_flight = 0
            deadline = time.time() + 20
            while in_flight == 0 and time.time() < deadline:
                in_flight = stack.scrape()[("scep_gateway_requests_in_flight",
                                            frozenset())]
            self.assertGreater(in_flight, 0, "no request was ever in flight")
            gateway = stack.procs["gateway"]
            gateway.send_signal(signal.SIGTERM)
            # Draining: not ready at once, while the listener still serves.
            status, body = stack.wait_readyz(503, timeout=1)
            self.assertEqual((status, body), (503, "draining: shutting down\n"))
            self.assertEqual(gateway.wait(30), 0, stack.log("gateway"))
            stop.set()
            for t in threads:
                t.join(60)
            self.assertGreater(len(results), 0)
            for status, body in results:
                # Every answer is complete: a CertRep the device can open.
                self.assertEqual(status, 200, body[:200])
                self.assertEqual(stack.probe_open("drain", body)["pkiStatus"], 0)
            events = [json.loads(l)["event"] for l in stack.log("gateway").splitlines()
                      if l.startswith("{")]
            self.assertIn("draining", events)
            self.assertEqual(events[-1], "stopped")
        finally:
            stack.stop()


def make_pki(d):
    """A test CA with a signer server certificate and a gateway client
    certificate, plus a rogue CA with its own client certificate."""
    def run(*args):
        openssl(*args)

    def ca(name):
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.pem",
            "-days", "2", "-subj", f"/CN={name}")

    def leaf(name, issuer, ext):
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr",
            "-subj", f"/CN={name}")
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(ext)
        run("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/{issuer}.pem",
            "-CAkey", f"{d}/{issuer}.key", "-CAcreateserial", "-days", "2",
            "-extfile", f"{d}/{name}.ext", "-out", f"{d}/{name}.pem")

    ca("grpc-ca")
    ca("rogue-ca")
    leaf("signer", "grpc-ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
         "extendedKeyUsage=serverAuth\n")
    leaf("gateway", "grpc-ca", "extendedKeyUsage=clientAuth\n")
    leaf("rogue", "rogue-ca", "extendedKeyUsage=clientAuth\n")
    return {n: f"{d}/{n}" for n in ("grpc-ca", "rogue-ca", "signer", "gateway", "rogue")}


class MutualTlsTest(unittest.TestCase):
    def setUp(self):
        require_tool(self, "openssl")

    def test_mtls_enrolls_and_refuses_clients_without_valid_certificate(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="scep-mtls-")
        p = make_pki(d)
        stack = Stack(
            signer_tls=dict(cert=p["signer"] + ".pem", key=p["signer"] + ".key",
                            client_ca=p["grpc-ca"] + ".pem"),
            gateway_tls=dict(ca=p["grpc-ca"] + ".pem", cert=p["gateway"] + ".pem",
                             key=p["gateway"] + ".key"))
        try:
            stack.start()
            self.assertEqual(stack.wait_readyz(200)[0], 200)
            req = stack.probe_request("mtls", "tid-mtls", "dd" * 16)
            status, _, body = pki_post(stack, req)
            self.assertEqual(status, 200)
            self.assertEqual(stack.probe_open("mtls", body)["pkiStatus"], 0)

            intruders = {
                "rogue-cert": dict(ca=p["grpc-ca"] + ".pem", cert=p["rogue"] + ".pem",
                                   key=p["rogue"] + ".key"),
                "no-cert": dict(ca=p["grpc-ca"] + ".pem"),
                "plaintext": None,
            }
            for name, tls in intruders.items():
                http_port, metrics_port = free_port(), free_port()
                stack.start_gateway(name, http_port, metrics_port, tls)
                # Alive, but never ready: the signer refuses the handshake.
                deadline = time.time() + 10
                while time.time() < deadline:
                    status, _ = stack.readyz(port=metrics_port)
                    if status:
                        break
                    time.sleep(0.1)
                time.sleep(2)
                status, text = stack.readyz(port=metrics_port)
                self.assertEqual(status, 503, name)
                self.assertIn("signer:", text, name)
                url = f"http://127.0.0.1:{http_port}/scep"
                other = stack.probe_request("mtls", f"tid-mtls-{name}", "ee" * 16)
                self.assertEqual(http("GET", url + "?operation=GetCACert")[0], 503, name)
                self.assertEqual(http("POST", url + "?operation=PKIOperation",
                                      other)[0], 503, name)
                stack.stop_process(name)
            # The legitimate gateway still works.
            self.assertEqual(stack.readyz()[0], 200)
        finally:
            stack.stop()

    def test_services_refuse_to_start_without_tls_or_explicit_plaintext(self):
        from harness import binary
        out = subprocess.run(
            [binary("scep-gateway"), "--http_port=0", "--metrics_port=0"],
            env=dict(os.environ, SCEP_CHALLENGE="x"), capture_output=True,
            text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("start_failed", out.stderr)
        self.assertIn("plaintext explicitly", out.stderr)
        out = subprocess.run(
            [binary("scep-signer"), "--metrics_port=0", "--listen=127.0.0.1:0"],
            env=dict(os.environ, SCEP_HSM_PIN="1234"), capture_output=True,
            text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("--insecure_plaintext", out.stderr)
        self.assertNotIn("1234", out.stderr)


if __name__ == "__main__":
    unittest.main()
