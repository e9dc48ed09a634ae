"""Operability of the real stack (issue 5): Prometheus metrics counted after
real enrollments, /healthz and /readyz following Redis and the signer,
JSON logs without secrets, SIGTERM draining, mutual TLS between the
gateway and the signer (certificate files reloaded on change), and
settings from a config file with environment overrides."""

import json
import os
import shutil
import signal
import ssl
import subprocess
import threading
import time
import unittest

from harness import (SOFTHSM_MODULE, Stack, binary, free_port, http, metric, openssl,
                     post_until_served, require_tool, tls_ca, tls_leaf, wait_for)

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
        # Two signer round trips per enrollment: decrypt, then issue + CertRep
        # in one call.
        for method, calls in (("DecryptEnvelope", 3), ("IssueCertRep", 3),
                              ("IssueCertificate", 0), ("SignCertRep", 0)):
            self.assertEqual(metric(after, stage, method=method)
                             - metric(before, stage, method=method), calls, method)
        redis = "scep_gateway_redis_op_duration_seconds_count"
        # Two Redis round trips of the store per enrollment: the senderNonce
        # with the transaction claim, then the completion.
        for op, calls in (("RecordNonceAndClaim", 3), ("RecordNonce", 0),
                          ("ClaimTransaction", 0), ("GetTransaction", 0),
                          ("CompleteTransaction", 3)):
            self.assertEqual(metric(after, redis, op=op)
                             - metric(before, redis, op=op), calls, op)
        # The signer: RPCs by code, PKCS#11 operations by key and operation.
        rpc = "scep_signer_rpc_total"
        self.assertEqual(metric(signer_after, rpc, method="IssueCertRep", code="OK")
                         - metric(signer_before, rpc, method="IssueCertRep",
                                  code="OK"), 3)
        ops = "scep_signer_pkcs11_operations_total"
        self.assertEqual(
            metric(signer_after, ops, key="ca", operation="sign_certificate", result="ok")
            - metric(signer_before, ops, key="ca", operation="sign_certificate",
                     result="ok"), 3)
        self.assertEqual(
            metric(signer_after, ops, key="ra", operation="decrypt", result="ok")
            - metric(signer_before, ops, key="ra", operation="decrypt", result="ok"), 3)
        self.assertEqual(
            metric(signer_after, ops, key="ra", operation="sign_certrep", result="ok")
            - metric(signer_before, ops, key="ra", operation="sign_certrep", result="ok"), 3)
        # By PKCS#11 mechanism: the CA and RA keys are RSA, the probe's
        # envelopes PKCS#1 v1.5.
        for key, operation in (("ca", "sign_certificate"), ("ra", "decrypt"),
                               ("ra", "sign_certrep")):
            labels = dict(key=key, operation=operation, mechanism="rsa-pkcs1",
                          result="ok")
            self.assertEqual(metric(signer_after, ops, **labels)
                             - metric(signer_before, ops, **labels), 3, labels)
        duration = "scep_signer_pkcs11_duration_seconds_count"
        self.assertEqual(
            metric(signer_after, duration, key="ra", operation="decrypt",
                   mechanism="rsa-pkcs1")
            - metric(signer_before, duration, key="ra", operation="decrypt",
                     mechanism="rsa-pkcs1"), 3)
        # CPU inside the token's operations: SoftHSMv2 does RSA-2048 in the
        # calling thread, tens of microseconds at the very least each.
        cpu = "scep_signer_pkcs11_cpu_seconds_total"
        for key, operation in (("ca", "sign_certificate"), ("ra", "decrypt"),
                               ("ra", "sign_certrep")):
            spent = (metric(signer_after, cpu, key=key, operation=operation)
                     - metric(signer_before, cpu, key=key, operation=operation))
            self.assertGreater(spent, 3 * 20e-6, (key, operation))
            self.assertLess(spent, 30, (key, operation))
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

    def test_replays_and_retransmissions_are_counted(self):
        replays = "scep_gateway_replays_refused_total"
        resends = "scep_gateway_retransmissions_total"
        req = self.stack.probe_request("metrics-replay", "tid-metrics-replay", "bb" * 16)
        self.assertEqual(pki_post(self.stack, req)[0], 200)
        before = self.stack.scrape()
        # The identical message again: answered, counted as a retransmission.
        status, _, body = pki_post(self.stack, req)
        self.assertEqual(status, 200)
        self.assertEqual(self.stack.probe_open("metrics-replay", body)["pkiStatus"], 0)
        # Another message with that senderNonce: refused, counted as a replay.
        other = self.stack.probe_request("metrics-replay", "tid-metrics-replay", "bb" * 16)
        status, _, body = pki_post(self.stack, other)
        self.assertEqual(status, 200)
        self.assertEqual(self.stack.probe_open("metrics-replay", body)["pkiStatus"], 2)
        after = self.stack.scrape()
        self.assertEqual(metric(after, replays, profile="default")
                         - metric(before, replays, profile="default"), 1)
        self.assertEqual((metric(after, resends, profile="default") or 0)
                         - (metric(before, resends, profile="default") or 0), 1)
        # The request log marks the retransmission, and only it.
        lines = [json.loads(l) for l in self.stack.log("gateway").splitlines()
                 if '"transaction_id":"tid-metrics-replay"' in l]
        self.assertEqual([l.get("retransmission", False) for l in lines],
                         [False, True, False], lines)

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
        self.assertEqual(r["client"], "127.0.0.1", r)  # address, no port
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


class CertificateExpiryTest(unittest.TestCase):
    """The signer publishes its certificates' notAfter and warns when one is
    near: an expired RA certificate stops every enrollment."""

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(provision_args=["--ra-days", "10"],
                          gateway_args=["--ca_refresh_seconds=1"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def not_after(self, pem):
        text = openssl("x509", "-in", pem, "-noout", "-enddate").decode().strip()
        return ssl.cert_time_to_seconds(text.split("=", 1)[1])

    def test_expiry_is_published_and_a_near_one_is_logged(self):
        samples = self.stack.scrape("signer")
        name = "scep_signer_certificate_expiry_timestamp_seconds"
        self.assertEqual(metric(samples, name, ca="default", role="ca"),
                         self.not_after(self.stack.ca_pem))
        ra = metric(samples, name, ca="default", role="ra")
        self.assertEqual(ra, self.not_after(self.stack.ra_pem))
        self.assertAlmostEqual((ra - time.time()) / 86400, 10, delta=0.1)
        self.assertEqual([k for k in samples if k[0] == name and ("role", "next_ca") in k[1]],
                         [], "no rollover configured")
        events = [json.loads(l) for l in self.stack.log("signer").splitlines()
                  if l.startswith("{")]
        soon = [e for e in events if e.get("event") == "certificate_expires_soon"]
        self.assertEqual([(e["ca"], e["role"], e["level"]) for e in soon],
                         [("default", "ra", "warning")], soon)
        self.assertAlmostEqual(soon[0]["days_left"], 10, delta=0.1)

    def test_renewed_ra_certificate_is_served_after_a_restart(self):
        with open(self.stack.ca_pem, "rb") as f:
            ca_before = f.read()
        old_serial = openssl("x509", "-in", self.stack.ra_pem, "-noout", "-serial")
        old_key = openssl("x509", "-in", self.stack.ra_pem, "-noout", "-pubkey")
        old_ra = os.path.join(self.stack.dir, "ra-before-renewal.pem")
        shutil.copy(self.stack.ra_pem, old_ra)
        out = subprocess.run(
            [binary("scep-provision"), "--module", SOFTHSM_MODULE, "--token-label", "scep-it",
             "--out-dir", self.stack.pki, "--renew-ra", "--ra-days", "400",
             "--pin-file", self.stack.pin_file],
            env=self.stack.env(), capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("unchanged", out.stdout)
        self.assertIn("ra-previous.pem", out.stdout)
        with open(old_ra, "rb") as f, \
                open(os.path.join(self.stack.pki, "ra-previous.pem"), "rb") as g:
            self.assertEqual(g.read(), f.read(), "the old RA certificate is kept")
        self.assertNotIn(Stack.PIN, out.stdout + out.stderr)
        with open(self.stack.ca_pem, "rb") as f:
            self.assertEqual(f.read(), ca_before, "the CA certificate stays")
        self.assertNotEqual(openssl("x509", "-in", self.stack.ra_pem, "-noout", "-serial"),
                            old_serial)
        self.assertEqual(openssl("x509", "-in", self.stack.ra_pem, "-noout", "-pubkey"),
                         old_key)
        self.assertIn("CN = SCEP Dev RA",
                      openssl("x509", "-in", self.stack.ra_pem, "-noout", "-subject").decode())
        verified = subprocess.run(["openssl", "verify", "-CAfile", self.stack.ca_pem,
                                   self.stack.ra_pem], capture_output=True, text=True)
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)

        self.stack.stop_process("signer")
        self.stack.start_signer()
        self.assertEqual(self.stack.wait_readyz(200, "signer")[0], 200)
        ra = metric(self.stack.scrape("signer"),
                    "scep_signer_certificate_expiry_timestamp_seconds", ca="default", role="ra")
        self.assertAlmostEqual((ra - time.time()) / 86400, 400, delta=0.1)
        accepted = [json.loads(l) for l in self.stack.log("signer").splitlines()
                    if l.startswith("{") and '"previous_ra_accepted"' in l]
        self.assertEqual([e["key"] for e in accepted], ["same"], accepted)
        # Devices that still hold the old RA certificate enroll (their
        # envelopes name its serial, which the new certificate does not
        # have), and so do those with the new one.
        before = metric(self.stack.scrape("signer"), "scep_signer_previous_ra_decryptions_total",
                        ca="default")
        for name, ra in (("renewed-ra-old", old_ra), ("renewed-ra-new", self.stack.ra_pem)):
            reply = post_until_served(self.stack, lambda: self.stack.probe_request(
                name, "tid-" + name, os.urandom(16).hex(), ra=ra))
            self.assertEqual(reply[0], 200)
            self.assertEqual(self.stack.probe_open(name, reply[2])["pkiStatus"], 0, name)
        self.assertEqual(metric(self.stack.scrape("signer"),
                                "scep_signer_previous_ra_decryptions_total", ca="default") - before,
                         1)
        # The gateway's next refresh (--ca_refresh_seconds, 1 here) publishes
        # the new one, and says so.
        new_serial = openssl("x509", "-in", self.stack.ra_pem, "-noout", "-serial").decode()
        new_serial = new_serial.split("=")[1].strip()
        deadline = time.time() + 15
        published = ""
        while time.time() < deadline and new_serial not in published:
            status, _, body = http("GET", self.stack.url + "?operation=GetCACert")
            self.assertEqual(status, 200)
            published = openssl("pkcs7", "-inform", "DER", "-print_certs", "-text",
                                input=body).decode().replace(":", "").upper()
            time.sleep(0.2)
        self.assertIn(new_serial, published)
        self.assertNotIn(old_serial.decode().split("=")[1].strip(), published)
        changed = [json.loads(l) for l in self.stack.log("gateway").splitlines()
                   if l.startswith("{") and '"ca_certificates_changed"' in l]
        self.assertEqual(len(changed), 1, changed)
        self.assertEqual(changed[0]["ra_serial"].upper().lstrip("0"), new_serial.lstrip("0"))


def core_limit(pid):
    """(soft, hard) of the process's "Max core file size"."""
    with open(f"/proc/{pid}/limits") as f:
        line = next(line for line in f if line.startswith("Max core file size"))
    return tuple(line.split()[4:6])


def environ(pid):
    """The process's environment block as the kernel shows it (root only
    once the process is not dumpable; the tests run as root)."""
    with open(f"/proc/{pid}/environ", "rb") as f:
        return f.read()


class SecretsInProcessTest(unittest.TestCase):
    """The signer and the gateway hold the PIN, challenge and passwords for
    their whole life: no core dump may carry them out of the pod, and a
    secret given in the environment is gone from /proc/PID/environ."""

    def test_no_core_dumps(self):
        stack = Stack().start()
        try:
            # Soft and hard: the process cannot raise it again.
            for name in ("signer", "gateway"):
                self.assertEqual(core_limit(stack.procs[name].pid), ("0", "0"), name)
        finally:
            stack.stop()

    def test_no_secret_left_in_the_environment(self):
        stack = Stack().start()
        try:
            # The harness gives the gateway its challenge as SCEP_CHALLENGE.
            block = environ(stack.procs["gateway"].pid)
            self.assertIn(b"SOFTHSM2_CONF=", block)  # the block that was read
            self.assertIn(b"SCEP_CHALLENGE=", block)  # unset, but the bytes stay
            self.assertNotIn(stack.challenge.encode(), block)

            stack.stop_process("signer")
            argv = [a for a in stack.signer_argv() + stack.signer_args
                    if not a.startswith("--pin_file=")]
            stack.spawn("signer", argv, stack.env(SCEP_HSM_PIN=stack.PIN))
            self.assertEqual(stack.wait_readyz(200, "signer")[0], 200, stack.log("signer"))
            block = environ(stack.procs["signer"].pid)
            self.assertIn(b"SCEP_HSM_PIN=", block)
            self.assertNotIn(stack.PIN.encode(), block)
        finally:
            stack.stop()


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
            # The chart's probe: a shared outage keeps every gateway in
            # rotation, answering 503 + Retry-After itself (not the
            # ingress's bare 503) and GetCACert from memory.
            status, _, local = http("GET", stack.metrics_url() + "/readyz?local")
            self.assertEqual((status, local.decode()), (200, body))
            status, _, _ = http("GET", stack.url + "?operation=GetCACert")
            self.assertEqual(status, 200)
            stack.restart_redis()
            self.assertEqual(stack.wait_readyz(200), (200, "ready\n"))

            stack.stop_process("signer")
            status, body = stack.wait_readyz(503)
            self.assertEqual(status, 503)
            self.assertIn("signer:", body)
            self.assertNotIn("redis:", body)
            self.assertEqual(http("GET", stack.metrics_url() + "/readyz?local")[0], 200)
            stack.start_signer()
            self.assertEqual(stack.wait_readyz(200, timeout=30), (200, "ready\n"))
            self.assertEqual(stack.wait_readyz(200, "signer")[0], 200)
            events = [json.loads(l)["event"] for l in stack.log("gateway").splitlines()
                      if l.startswith("{")]
            self.assertGreaterEqual(events.count("not_ready"), 2)
            self.assertGreaterEqual(events.count("ready"), 3)
        finally:
            stack.stop()


def established_ports(remote_port):
    """Local ports of the established TCP connections to `remote_port`
    on this host (from /proc/net/tcp and tcp6: no tool needed)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if state == "01" and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


class SignerConnectionAgeTest(unittest.TestCase):
    def test_gateway_connections_are_recycled_without_a_failure(self):
        # --max_connection_age_seconds: the signer ends each gateway
        # connection gracefully so that gateways resolve it again (signers
        # added or moved since); enrollments meanwhile all succeed.
        stack = Stack(signer_args=["--max_connection_age_seconds=1"]).start()
        try:
            self.assertEqual(stack.wait_readyz(200)[0], 200)
            first = established_ports(stack.signer_port)
            self.assertTrue(first, "the gateway holds no connection to the signer")
            outcomes = []
            deadline = time.time() + 5
            i = 0
            while time.time() < deadline:
                i += 1
                reply = stack.probe_request("aged", f"tid-aged-{i}", f"{i:032x}")
                status, _, body = http("POST", stack.url + "?operation=PKIOperation", reply)
                self.assertEqual(status, 200, body[:200])
                outcomes.append(stack.probe_open("aged", body)["pkiStatus"])
            self.assertGreater(len(outcomes), 3)
            self.assertEqual(set(outcomes), {0}, outcomes)
            later = established_ports(stack.signer_port)
            self.assertTrue(later)
            self.assertFalse(first & later, "the first connections were never closed")
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
            # SIGHUP (the signer's audit-log reopen, sent to every scep
            # process by a logrotate script) neither stops nor drains it.
            gateway.send_signal(signal.SIGHUP)
            wait_for(lambda: '"signal_ignored"' in stack.log("gateway"),
                     what="signal_ignored logged")
            self.assertIsNone(gateway.poll())
            self.assertEqual(stack.readyz()[0], 200)
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


class SignerStderrGoneTest(unittest.TestCase):
    def test_signer_whose_log_reader_went_away_still_drains_and_exits_0(self):
        """A log line to a stderr nobody reads any more (a logging sidecar
        or `| tee` gone) is not a kill by SIGPIPE: the drain still runs."""
        stack = Stack().start()
        try:
            argv = [a for a in stack.signer_argv()
                    if not a.startswith(("--listen=", "--metrics_port="))]
            metrics_port = free_port()
            argv += [f"--listen=127.0.0.1:{free_port()}", f"--metrics_port={metrics_port}"]
            signer = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, env=stack.env())
            try:
                status, body = stack.wait_readyz(200, port=metrics_port, timeout=60)
                self.assertEqual(status, 200, body)
                signer.stderr.close()  # the reader goes away
                signer.send_signal(signal.SIGTERM)  # "draining" goes to stderr
                self.assertEqual(signer.wait(30), 0)
            finally:
                if signer.poll() is None:
                    signer.kill()
                    signer.wait()
        finally:
            stack.stop()


def make_pki(d):
    """A test CA with a signer server certificate and a gateway client
    certificate, plus a rogue CA with its own client certificate."""
    tls_ca(d, "grpc-ca")
    tls_ca(d, "rogue-ca")
    tls_leaf(d, "signer", "grpc-ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
             "extendedKeyUsage=serverAuth\n")
    tls_leaf(d, "gateway", "grpc-ca", "extendedKeyUsage=clientAuth\n")
    tls_leaf(d, "rogue", "rogue-ca", "extendedKeyUsage=clientAuth\n")
    return {n: f"{d}/{n}" for n in ("grpc-ca", "rogue-ca", "signer", "gateway", "rogue")}


class MutualTlsTest(unittest.TestCase):
    def setUp(self):
        require_tool(self, "openssl")

    def test_mtls_enrolls_and_refuses_clients_without_valid_certificate(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="scep-mtls-")
        self.addCleanup(shutil.rmtree, d, True)
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
            # The signer's audit trail (stderr by default) names the gateway
            # by its client certificate.
            audited = [json.loads(line) for line in stack.log("signer").splitlines()
                       if '"event":"certificate_issued"' in line]
            self.assertEqual([(a["caller"], a["transaction_id"]) for a in audited],
                             [("gateway", "tid-mtls")])

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

    def test_gateway_refuses_bad_redis_timeouts(self):
        from harness import binary
        for bad in ("--redis_timeout_ms=0", "--redis_failure_cooldown_ms=-1"):
            out = subprocess.run(
                [binary("scep-gateway"), "--http_port=0", "--metrics_port=0",
                 "--insecure_plaintext", bad],
                env=dict(os.environ, SCEP_CHALLENGE="x"), capture_output=True,
                text=True, timeout=30)
            self.assertEqual(out.returncode, 1, bad)
            self.assertIn("--redis_failure_cooldown_ms >= 0", out.stderr, bad)

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


class StartupFlagsTest(unittest.TestCase):
    """Flags refused, or not, before the services touch Redis, the signer
    or the token."""

    def gateway(self, *flags):
        return subprocess.run(
            [binary("scep-gateway"), "--http_port=0", "--metrics_port=0",
             "--insecure_plaintext", *flags],
            env=dict(os.environ, SCEP_CHALLENGE="x"), capture_output=True,
            text=True, timeout=30)

    def test_port_flags_out_of_range_stop_start_up(self):
        # Narrowed to 16 bits, --http_port=65536 listened on a random port.
        for flag, message in (("--http_port=65536", "--http_port must be 0 to 65535"),
                              ("--metrics_port=70000", "--metrics_port must be 0 to 65535"),
                              ("--admin_port=-1", "--admin_port must be 0 to 65535"),
                              ("--redis_port=65536", "--redis_port must be 1 to 65535")):
            out = self.gateway(flag)
            self.assertEqual(out.returncode, 1, (flag, out.stderr[-2000:]))
            self.assertIn("start_failed", out.stderr)
            self.assertIn(message, out.stderr)
        for flags, message in ((["--listen=127.0.0.1:0", "--metrics_port=65536"],
                                "--metrics_port must be 0 to 65535"),
                               (["--listen=127.0.0.1:70000", "--metrics_port=0"],
                                "--listen: port 70000 is not 0 to 65535")):
            out = subprocess.run(
                [binary("scep-signer"), "--insecure_plaintext", *flags],
                env=dict(os.environ, SCEP_HSM_PIN="1234"), capture_output=True,
                text=True, timeout=30)
            self.assertEqual(out.returncode, 1, out.stderr[-2000:])
            self.assertIn(message, out.stderr)
            self.assertNotIn("1234", out.stderr)

    def test_wait_timeout_checked_only_with_replicas(self):
        # No WAIT without replicas, so --redis_timeout_ms=100 alone is fine:
        # start-up goes on to the next check (failed on purpose, so the
        # gateway stops there).
        out = self.gateway("--redis_timeout_ms=100", "--ca_refresh_seconds=0")
        self.assertEqual(out.returncode, 1, out.stderr[-2000:])
        self.assertIn("--ca_refresh_seconds must be >= 1", out.stderr)
        self.assertNotIn("--redis_wait_timeout_ms", out.stderr)
        out = self.gateway("--redis_timeout_ms=100", "--redis_wait_replicas=1")
        self.assertEqual(out.returncode, 1, out.stderr[-2000:])
        self.assertIn("--redis_wait_timeout_ms must be >= 1 and below --redis_timeout_ms",
                      out.stderr)


ADMIN_TOKEN = "Operability-Admin-Token"
STATIC = {"mode": "static", "secret_env": "SCEP_CHALLENGE"}
LIFECYCLE_PROFILES = {"profiles": [
    {"name": "default", "challenge": STATIC},
    {"name": "approval", "challenge": STATIC, "approval": "manual"},
    {"name": "limited", "challenge": STATIC,
     "rate_limits": {"per_client_per_minute": 1}},
    {"name": "onceaday", "challenge": STATIC,
     "rate_limits": {"per_subject_per_day": 1}},
]}


class LifecycleMetricsTest(unittest.TestCase):
    """Counters of the certificate lifecycle after real enrollments:
    renewed, revoked (admin API), pending (manual approval), rate-limited
    by scope, and the signer's PKCS#11 mechanism for OAEP envelopes."""

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(admin_token=ADMIN_TOKEN, profiles=LIFECYCLE_PROFILES).start()
        cls.stack.wait_readyz(200)

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def post(self, profile, der):
        status, _, body = http("POST", f"{self.stack.url}/{profile}?operation=PKIOperation",
                               der)
        return status, body

    def enroll(self, profile, name, tid, **extra):
        status, body = self.post(profile, self.stack.probe_request(
            name, tid, os.urandom(16).hex(), **extra))
        self.assertEqual(status, 200, body[:200])
        return self.stack.probe_open(name, body)

    def issued_pem(self, name, rep):
        self.assertEqual(rep["pkiStatus"], 0, rep)
        path = os.path.join(self.stack.dir, f"dev-{name}", "issued-first.pem")
        with open(path, "w") as f:
            f.write(rep["pem"])
        return path

    def test_renewal_counted_once_per_new_certificate(self):
        cert = self.issued_pem("renewer", self.enroll("default", "renewer", "tid-ren-1"))
        renewed, issued = "scep_gateway_certificates_renewed_total", \
            "scep_gateway_certificates_issued_total"
        before = self.stack.scrape()
        renewal = dict(type="renewal", cert=cert)
        for _ in range(2):  # the second is a retransmission: same certificate
            status, _ = self.post("default", self.stack.probe_request(
                "renewer", "tid-ren-2", os.urandom(16).hex(), **renewal))
            self.assertEqual(status, 200)
        after = self.stack.scrape()
        self.assertEqual(metric(after, renewed, profile="default")
                         - metric(before, renewed, profile="default"), 1,
                         self.stack.log("gateway")[-2000:])
        self.assertEqual(metric(after, issued) - metric(before, issued), 1)
        labels = dict(operation="PKIOperation", message_type="RenewalReq",
                      pki_status="SUCCESS")
        self.assertEqual(metric(after, REQ, **labels) - metric(before, REQ, **labels), 2)

    def test_admin_revocation_counted_by_reason(self):
        rep = self.enroll("default", "revokee", "tid-revokee")
        self.assertEqual(rep["pkiStatus"], 0, rep)
        serial = openssl("x509", "-noout", "-serial", input=rep["pem"].encode()
                         ).decode().strip().split("=")[1].lower().lstrip("0")
        revoked = "scep_gateway_certificates_revoked_total"
        index_op = "scep_gateway_redis_op_duration_seconds_count"
        before = self.stack.scrape()
        out = self.stack.scepctl("certs", "revoke", "--serial", serial,
                                 "--reason", "keyCompromise")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        after = self.stack.scrape()
        self.assertEqual(metric(after, revoked, reason="keyCompromise")
                         - metric(before, revoked, reason="keyCompromise"), 1)
        self.assertEqual(metric(after, revoked) - metric(before, revoked), 1)
        # The certificate index is timed like the other Redis stages.
        self.assertGreaterEqual(metric(after, index_op, op="IndexRevoke")
                                - metric(before, index_op, op="IndexRevoke"), 1)
        self.assertGreaterEqual(metric(after, index_op, op="IndexPut"), 1)
        for (name, labels) in after:
            for _, value in labels:
                self.assertNotIn(serial, value)

    def test_pending_counted_when_a_request_enters_pending(self):
        pending = "scep_gateway_pending_requests_total"
        before = self.stack.scrape()
        for _ in range(2):  # the retransmission stays the same request
            rep = self.enroll("approval", "awaiting", "tid-awaiting")
            self.assertEqual(rep["pkiStatus"], 3, rep)  # PENDING
        after = self.stack.scrape()
        self.assertEqual(metric(after, pending, profile="approval")
                         - metric(before, pending, profile="approval"), 1)

    def test_rate_limited_counted_by_scope(self):
        limited = "scep_gateway_rate_limited_total"
        before = self.stack.scrape()
        statuses = [self.post("limited", self.stack.probe_request(
            f"limited-{i}", f"tid-limited-{i}", os.urandom(16).hex()))[0]
            for i in range(2)]
        self.assertEqual(statuses, [200, 429])
        # Counted once the request is authenticated, and once per request:
        # a wrong challenge for the subject and a retransmission are not.
        rep = self.enroll("onceaday", "daily", "tid-daily-0", challenge="wrong")
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (2, 2), rep)
        first = self.enroll("onceaday", "daily", "tid-daily-1")
        again = self.enroll("onceaday", "daily", "tid-daily-1")
        self.assertEqual((first["pkiStatus"], again["pkiStatus"]), (0, 0), again)
        self.assertEqual(again["pem"], first["pem"])
        rep = self.enroll("onceaday", "daily", "tid-daily-2")
        self.assertEqual((rep["pkiStatus"], rep["failInfo"]), (2, 2), rep)
        after = self.stack.scrape()
        for profile, scope in (("limited", "client"), ("onceaday", "subject")):
            self.assertEqual(metric(after, limited, profile=profile, scope=scope)
                             - metric(before, limited, profile=profile, scope=scope),
                             1, (profile, scope))
        self.assertEqual(metric(after, limited) - metric(before, limited), 2)

    def test_oaep_envelope_counted_under_its_mechanism(self):
        ops = "scep_signer_pkcs11_operations_total"
        labels = dict(key="ra", operation="decrypt", mechanism="rsa-oaep", result="ok")
        before = self.stack.scrape("signer")
        self.assertEqual(self.enroll("default", "oaep", "tid-oaep", oaep="1")["pkiStatus"], 0)
        after = self.stack.scrape("signer")
        self.assertEqual(metric(after, ops, **labels) - metric(before, ops, **labels), 1)


class ConfigFileTest(unittest.TestCase):
    """Settings from --config, overridden by SCEP_GATEWAY_* variables,
    overridden by command-line flags; the start-up log shows each value
    and where it came from."""

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack().start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def write(self, name, text):
        path = os.path.join(self.stack.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_gateway(self, argv, env):
        return subprocess.run([binary("scep-gateway")] + argv, capture_output=True,
                              text=True, timeout=30,
                              env=dict(self.stack.env(SCEP_CHALLENGE="x"), **env))

    def test_file_then_environment_then_flags(self):
        http_port, file_metrics, env_metrics = free_port(), free_port(), free_port()
        config = self.write("gateway.conf", f"""# scep-gateway settings
http_port = {http_port}
signer = dns:///127.0.0.1:{self.stack.signer_port}
redis_port = {self.stack.redis_port}
insecure_plaintext = true
allow_legacy = true
metrics_port = {file_metrics}
readiness_interval_ms = 500
workers = 4
""")
        argv = [binary("scep-gateway"), f"--config={config}",
                "--readiness_interval_ms=200"]
        env = self.stack.env(SCEP_CHALLENGE=self.stack.challenge,
                             SCEP_GATEWAY_METRICS_PORT=str(env_metrics),
                             SCEP_GATEWAY_WORKERS="6")
        self.stack.spawn("configured", argv, env)
        try:
            self.assertEqual(self.stack.wait_readyz(200, port=env_metrics)[0], 200,
                             self.stack.log("configured"))
            self.assertEqual(self.stack.readyz(port=file_metrics)[0], 0)
            # It enrolls on the port from the file, with signer and Redis
            # from the file.
            req = self.stack.probe_request("configured", "tid-configured", "ab" * 16)
            status, _, body = http("POST", f"http://127.0.0.1:{http_port}/scep"
                                   "?operation=PKIOperation", req)
            self.assertEqual(status, 200)
            self.assertEqual(self.stack.probe_open("configured", body)["pkiStatus"], 0)
            start = [json.loads(l) for l in self.stack.log("configured").splitlines()
                     if l.startswith("{") and '"start"' in l]
            self.assertEqual(len(start), 1)
            start = start[0]
            self.assertEqual(start["http_port"], str(http_port))
            self.assertEqual(start["metrics_port"], str(env_metrics))
            self.assertEqual(start["workers"], "6")
            self.assertEqual(start["readiness_interval_ms"], "200")
            self.assertEqual(start["max_body_bytes"], "65536")
            self.assertEqual(start["config_file"], config)
            sources = dict(kv.split("=") for kv in start["config_sources"].split(","))
            self.assertEqual(sources["http_port"], "file")
            self.assertEqual(sources["allow_legacy"], "file")
            self.assertEqual(sources["metrics_port"], "env")
            self.assertEqual(sources["workers"], "env")
            self.assertEqual(sources["readiness_interval_ms"], "flag")
            self.assertNotIn("max_body_bytes", sources)
            self.assertNotIn(self.stack.challenge, self.stack.log("configured"))
        finally:
            self.stack.stop_process("configured")

    def test_config_file_named_by_environment(self):
        config = self.write("by-env.conf", "workers = 2\nbogus = 1\n")
        out = self.run_gateway([], {"SCEP_GATEWAY_CONFIG": config})
        self.assertEqual(out.returncode, 1)
        self.assertIn(f"{config}:2: unknown setting 'bogus'", out.stderr)
        out = self.run_gateway([], {"SCEP_GATEWAY_CONFIG": config + ".missing"})
        self.assertEqual(out.returncode, 1)
        self.assertIn("cannot read settings file " + config + ".missing", out.stderr)

    def test_bad_settings_stop_start_up_with_a_clear_error(self):
        config = self.write("bad.conf", "http_port = 8080\nhttp_prot = 1\n")
        out = self.run_gateway([f"--config={config}"], {})
        self.assertEqual(out.returncode, 1)
        self.assertIn(f"scep-gateway: {config}:2: unknown setting 'http_prot'",
                      out.stderr)
        config = self.write("bad-value.conf", "\nworkers = many\n")
        out = self.run_gateway([f"--config={config}"], {})
        self.assertEqual(out.returncode, 1)
        self.assertIn(f"{config}:2: bad value for --workers", out.stderr)
        out = self.run_gateway([], {"SCEP_GATEWAY_HTTP_PORT": "eighty"})
        self.assertEqual(out.returncode, 1)
        self.assertIn("environment SCEP_GATEWAY_HTTP_PORT: bad value for --http_port",
                      out.stderr)
        # The signer follows the same scheme with its own prefix.
        out = subprocess.run([binary("scep-signer")], capture_output=True, text=True,
                             timeout=30,
                             env=dict(os.environ, SCEP_SIGNER_WORKERS="-x",
                                      SCEP_HSM_PIN="1234"))
        self.assertEqual(out.returncode, 1)
        self.assertIn("scep-signer: environment SCEP_SIGNER_WORKERS: bad value for "
                      "--workers", out.stderr)
        self.assertNotIn("1234", out.stderr)


def signer_certificate_serial(port, p, client="gateway"):
    """Serial (hex) of the certificate the signer presents on a new TLS
    connection, or None when the handshake fails."""
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-alpn", "h2",
         "-servername", "localhost", "-CAfile", p["grpc-ca"] + ".pem",
         "-cert", p[client] + ".pem", "-key", p[client] + ".key"],
        input=b"", capture_output=True, timeout=30)
    text = out.stdout.decode(errors="replace")
    begin = text.find("-----BEGIN CERTIFICATE-----")
    if begin < 0:
        return None
    end = text.index("-----END CERTIFICATE-----", begin) + len("-----END CERTIFICATE-----")
    return certificate_serial(text[begin:end].encode())


def certificate_serial(pem):
    return openssl("x509", "-noout", "-serial", input=pem).decode().strip().split("=")[1]


def certificate_file_serial(path):
    with open(path, "rb") as f:
        return certificate_serial(f.read())


class MutualTlsReloadTest(unittest.TestCase):
    def setUp(self):
        require_tool(self, "openssl")

    def test_signer_certificate_replaced_on_disk_is_served_without_restart(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="scep-mtls-reload-")
        self.addCleanup(shutil.rmtree, d, True)
        p = make_pki(d)
        # The files the signer watches, apart from make_pki's originals.
        live = {"cert": os.path.join(d, "live-signer.pem"),
                "key": os.path.join(d, "live-signer.key")}
        shutil.copy(p["signer"] + ".pem", live["cert"])
        shutil.copy(p["signer"] + ".key", live["key"])
        stack = Stack(
            signer_tls=dict(cert=live["cert"], key=live["key"],
                            client_ca=p["grpc-ca"] + ".pem"),
            gateway_tls=dict(ca=p["grpc-ca"] + ".pem", cert=p["gateway"] + ".pem",
                             key=p["gateway"] + ".key"),
            signer_args=["--tls_refresh_seconds=1"],
            gateway_args=["--signer_tls_refresh_seconds=1"])
        try:
            stack.start()
            self.assertEqual(stack.wait_readyz(200)[0], 200)
            old_serial = certificate_file_serial(p["signer"] + ".pem")
            self.assertEqual(signer_certificate_serial(stack.signer_port, p), old_serial)

            # A new server certificate from the same CA (another serial and
            # key), swapped in with renames so no half-written file is read.
            run = lambda *a: openssl(*a)
            run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{d}/signer2.key", "-out", f"{d}/signer2.csr",
                "-subj", "/CN=signer2")
            with open(f"{d}/signer2.ext", "w") as f:
                f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                        "extendedKeyUsage=serverAuth\n")
            run("x509", "-req", "-in", f"{d}/signer2.csr", "-CA", p["grpc-ca"] + ".pem",
                "-CAkey", p["grpc-ca"] + ".key", "-CAcreateserial", "-days", "2",
                "-extfile", f"{d}/signer2.ext", "-out", f"{d}/signer2.pem")
            new_serial = certificate_file_serial(f"{d}/signer2.pem")
            self.assertNotEqual(new_serial, old_serial)
            shutil.copy(f"{d}/signer2.key", live["key"] + ".tmp")
            shutil.copy(f"{d}/signer2.pem", live["cert"] + ".tmp")
            os.replace(live["key"] + ".tmp", live["key"])
            os.replace(live["cert"] + ".tmp", live["cert"])

            deadline = time.time() + 15
            seen = old_serial
            while time.time() < deadline and seen != new_serial:
                time.sleep(0.5)
                seen = signer_certificate_serial(stack.signer_port, p)
            self.assertEqual(seen, new_serial, stack.log("signer")[-2000:])

            # Enrollments still work: through the running gateway, and
            # through a gateway started after the rotation.
            req = stack.probe_request("reload", "tid-reload-1", "d1" * 16)
            status, _, body = pki_post(stack, req)
            self.assertEqual(status, 200)
            self.assertEqual(stack.probe_open("reload", body)["pkiStatus"], 0)
            stack.stop_process("gateway")
            stack.start_gateway()
            self.assertEqual(stack.wait_readyz(200)[0], 200, stack.log("gateway")[-2000:])
            req = stack.probe_request("reload", "tid-reload-2", "d2" * 16)
            status, _, body = pki_post(stack, req)
            self.assertEqual(status, 200)
            self.assertEqual(stack.probe_open("reload", body)["pkiStatus"], 0)

            # A client certificate from another CA is still refused.
            http_port, metrics_port = free_port(), free_port()
            stack.start_gateway("rogue", http_port, metrics_port,
                                dict(ca=p["grpc-ca"] + ".pem", cert=p["rogue"] + ".pem",
                                     key=p["rogue"] + ".key"))
            deadline = time.time() + 10
            while time.time() < deadline and stack.readyz(port=metrics_port)[0] == 0:
                time.sleep(0.1)
            time.sleep(2)
            status, text = stack.readyz(port=metrics_port)
            self.assertEqual(status, 503, text)
            self.assertIn("signer:", text)
            self.assertEqual(http("GET", f"http://127.0.0.1:{http_port}/scep"
                                  "?operation=GetCACert")[0], 503)
        finally:
            stack.stop()
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
