"""The gateway's Redis over TLS, through the real stack: redis-server listens
for TLS only and requires a client certificate (its default,
tls-auth-clients yes), with a CA made here with openssl. Enrollment state
goes over TLS; a gateway that cannot verify Redis, or shows no client
certificate, is not ready and answers 503 with Retry-After, and its log
says why."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import Stack, free_port, http, openssl, require_tool, tls_ca, wait_for

PKI_OP = "?operation=PKIOperation"
SUCCESS = 0


class RedisTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(redis_tls=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def setUp(self):
        require_tool(self, "openssl")

    def enroll(self, name, http_port=None):
        """PKCSReq for device `name` to the stack's gateway (or the one on
        `http_port`): (status, headers, opened CertRep or the body)."""
        body = self.stack.probe_request(name, "tid-" + name, os.urandom(16).hex())
        port = http_port or self.stack.http_port
        status, headers, reply = http("POST", f"http://127.0.0.1:{port}/scep{PKI_OP}", body)
        return status, headers, (self.stack.probe_open(name, reply) if status == 200 else reply)

    def log_events(self, name, event):
        events = []
        for line in self.stack.log(name).splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == event:
                events.append(record)
        return events

    def test_enrollment_state_goes_over_tls(self):
        # Redis has no plain-text port: a client without TLS gets nowhere.
        plain = subprocess.run(["redis-cli", "-p", str(self.stack.redis_port), "PING"],
                               capture_output=True, text=True, timeout=10)
        self.assertNotIn("PONG", plain.stdout)

        status, _, rep = self.enroll("tls-redis-1")
        self.assertEqual(status, 200, rep)
        self.assertEqual(rep["pkiStatus"], SUCCESS, rep)
        path = os.path.join(self.stack.dir, "issued-tls-redis-1.pem")
        with open(path, "w") as f:
            f.write(rep["pem"])
        serial = openssl("x509", "-in", path, "-noout", "-serial").decode()
        serial = serial.strip().split("=")[1].lower()
        # Recorded in the certificate index, in this Redis, over TLS.
        self.assertEqual(self.stack.redis_cli("EXISTS", f"scep:cert:{serial}"), "1")
        tid = "tid-tls-redis-1".encode().hex()
        self.assertEqual(self.stack.redis_cli("HGET", f"scep:default:txn:{tid}", "state"),
                         "issued")

        listening = self.log_events("gateway", "listening")
        self.assertEqual(listening[-1]["redis"], f"tls:127.0.0.1:{self.stack.redis_port}")
        log = self.stack.log("gateway")
        with open(os.path.join(self.stack.redis_tls_dir, "gateway.key")) as f:
            key = f.read()
        self.assertNotIn(key.splitlines()[1], log)

    def second_gateway(self, name, tls_args):
        """Another gateway on the same signer and Redis with `tls_args`;
        (http port, metrics port)."""
        http_port, metrics_port = free_port(), free_port()
        extra = [a for a in self.stack.gateway_args if not a.startswith("--redis_tls")]
        self.stack.start_gateway(name, http_port, metrics_port, extra=extra + tls_args)
        self.addCleanup(self.stack.stop_process, name)
        return http_port, metrics_port

    def expect_unavailable(self, name, http_port, metrics_port, why):
        status, body = self.stack.wait_readyz(503, port=metrics_port)
        self.assertEqual(status, 503, body)
        self.assertIn(why, body)
        # GetCACaps needs no Redis; an enrollment does: 503 + Retry-After.
        wait_for(lambda: http("GET", f"http://127.0.0.1:{http_port}/scep?operation=GetCACaps",
                              timeout=5)[0] == 200, 20, "the second gateway")
        body = self.stack.probe_request(name, "tid-" + name, os.urandom(16).hex())
        status, headers, reply = http("POST", f"http://127.0.0.1:{http_port}/scep{PKI_OP}", body)
        self.assertEqual(status, 503, reply[:200])
        self.assertTrue(headers.get("Retry-After"), headers)
        self.assertEqual(self.stack.redis_cli("EXISTS", f"scep:default:txn:{('tid-' + name).encode().hex()}"),
                         "0")

    def test_a_redis_certificate_the_gateway_cannot_verify_is_refused(self):
        d = tempfile.mkdtemp(prefix="scep-redis-tls-rogue-")
        self.addCleanup(shutil.rmtree, d, True)
        tls_ca(d, "rogue-ca")
        t = self.stack.redis_tls_dir
        http_port, metrics_port = self.second_gateway("gw-rogue", [
            "--redis_tls", f"--redis_tls_ca_file={d}/rogue-ca.pem",
            f"--redis_tls_cert_file={t}/gateway.pem", f"--redis_tls_key_file={t}/gateway.key"])
        self.expect_unavailable("tls-rogue", http_port, metrics_port,
                                "certificate verify failed")

    def test_a_redis_that_asks_for_a_client_certificate_refuses_one_without(self):
        t = self.stack.redis_tls_dir
        http_port, metrics_port = self.second_gateway(
            "gw-nocert", ["--redis_tls", f"--redis_tls_ca_file={t}/redis-ca.pem"])
        self.expect_unavailable("tls-nocert", http_port, metrics_port,
                                "the server asked for a client certificate and none is configured")

    def test_a_ca_bundle_fixed_on_disk_is_picked_up_without_a_restart(self):
        """The CA file a gateway started with does not vouch for Redis (a
        bundle rotated too early, say); once the file holds the right CA
        the next connection verifies, and the gateway becomes ready on its
        own."""
        d = tempfile.mkdtemp(prefix="scep-redis-tls-rotate-")
        self.addCleanup(shutil.rmtree, d, True)
        tls_ca(d, "rogue-ca")
        t = self.stack.redis_tls_dir
        bundle = os.path.join(d, "bundle.pem")
        shutil.copy(f"{d}/rogue-ca.pem", bundle)
        http_port, metrics_port = self.second_gateway("gw-rotate", [
            "--redis_tls", f"--redis_tls_ca_file={bundle}", "--redis_tls_refresh_seconds=1",
            f"--redis_tls_cert_file={t}/gateway.pem", f"--redis_tls_key_file={t}/gateway.key"])
        status, body = self.stack.wait_readyz(503, port=metrics_port)
        self.assertIn("certificate verify failed", body)
        # Replaced as a ConfigMap update does: a new file renamed over the old.
        with open(f"{d}/rogue-ca.pem") as rogue, open(f"{t}/redis-ca.pem") as right, \
                open(bundle + ".new", "w") as f:
            f.write(rogue.read() + right.read())
        os.rename(bundle + ".new", bundle)
        status, body = self.stack.wait_readyz(200, port=metrics_port, timeout=20)
        self.assertEqual(status, 200, body)
        reloaded = self.log_events("gw-rotate", "redis_tls_reloaded")
        self.assertEqual(len(reloaded), 1, reloaded)
        self.assertEqual(reloaded[0]["setting"], "--redis_tls")
        status, _, rep = self.enroll("tls-rotated", http_port)
        self.assertEqual(status, 200, rep)
        self.assertEqual(rep["pkiStatus"], SUCCESS, rep)

    def test_the_name_checked_is_the_server_name_given(self):
        t = self.stack.redis_tls_dir
        http_port, metrics_port = self.second_gateway("gw-name", [
            "--redis_tls", f"--redis_tls_ca_file={t}/redis-ca.pem",
            f"--redis_tls_cert_file={t}/gateway.pem", f"--redis_tls_key_file={t}/gateway.key",
            "--redis_tls_server_name=not-redis.test"])
        self.expect_unavailable("tls-name", http_port, metrics_port, "hostname mismatch")


class RedisTlsSentinelTest(unittest.TestCase):
    """Redis and a Sentinel both TLS-only with client certificates: the
    gateway asks the Sentinel over TLS and reaches the primary it names
    over TLS, with the same files."""

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(redis_tls=True, redis_sentinel=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def test_enrollment_through_a_tls_sentinel(self):
        stack = self.stack
        body = stack.probe_request("tls-sentinel", "tid-tls-sentinel", os.urandom(16).hex())
        status, _, reply = http("POST", stack.url + PKI_OP, body)
        self.assertEqual(status, 200, reply[:200])
        self.assertEqual(stack.probe_open("tls-sentinel", reply)["pkiStatus"], SUCCESS)
        tid = "tid-tls-sentinel".encode().hex()
        self.assertEqual(stack.redis_cli("HGET", f"scep:default:txn:{tid}", "state"), "issued")
        records = [json.loads(line) for line in stack.log("gateway").splitlines()
                   if line.startswith("{")]
        listening = [r for r in records if r.get("event") == "listening"]
        self.assertEqual(listening[-1]["redis"],
                         f"tls:sentinel:scep@127.0.0.1:{stack.sentinel_port}")
        primary = [r for r in records if r.get("event") == "redis_primary"]
        self.assertEqual(primary[0]["primary"], f"127.0.0.1:{stack.redis_port}")


if __name__ == "__main__":
    unittest.main()
