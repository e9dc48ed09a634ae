"""Shared parts of the fault-injection tests (ctest label `faults`, issue 8).

FaultStack is the integration harness's real stack (SoftHSMv2 token,
redis-server, scep-signer, scep-gateway) with what fault injection needs on
top: Redis with AOF persistence (as DESIGN.md requires for the certificate
index: a killed Redis must come back with its state), a short signer
deadline, kill -9 / restart helpers, and a tiny RESP client to count what
Redis holds. FaultTest runs scep-bench in its retrying mode while a fault
is injected and checks what every scenario must hold."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
import harness  # noqa: E402

BENCH = os.environ.get("SCEP_BENCH") or os.path.join(
    harness.BUILD_DIR, "bench", "scep-bench")
# Per scenario: small enough to keep the whole label within ~3 minutes on
# the shared 2-core machine, large enough that the fault hits mid-run.
N = int(os.environ.get("SCEP_FAULTS_N", "300"))
CONCURRENCY = int(os.environ.get("SCEP_FAULTS_CONCURRENCY", "12"))
SIGNER_DEADLINE_MS = 1000


def resp_command(port, *args, timeout=5, password=None, tls=None):
    """One Redis command over RESP; returns the decoded reply. password:
    AUTH first, on the same connection. tls: an ssl.SSLContext to speak
    TLS with (a TLS-only Redis)."""
    commands = ([("AUTH", password)] if password else []) + [args]
    out = b""
    for command in commands:
        out += b"*%d\r\n" % len(command)
        for a in command:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
    s = socket.create_connection(("127.0.0.1", port), timeout)
    try:
        if tls:
            s = tls.wrap_socket(s, server_hostname="127.0.0.1")
        s.sendall(out)
        with s.makefile("rb") as f:
            return [_read_reply(f) for _ in commands][-1]
    finally:
        s.close()


def _read_reply(f):
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError("Redis error: " + rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise RuntimeError("bad RESP reply: %r" % line)


def status_totals(results):
    """{HTTP status or "io": count} over every attempt of every transaction."""
    totals = {}
    for r in results:
        for status, count in r["statuses"].items():
            totals[status] = totals.get(status, 0) + count
    return totals


class FaultStack(harness.Stack):
    def __init__(self, **kwargs):
        gateway_args = [f"--signer_deadline_ms={SIGNER_DEADLINE_MS}",
                        "--retry_after_seconds=1"] + list(kwargs.pop("gateway_args", ()))
        super().__init__(challenge="Faults-Challenge-7f3a9c", legacy=False,
                         gateway_args=gateway_args, **kwargs)

    def start_redis(self, port=None):
        # AOF, fsync on every write: kill -9 must not lose the certificate
        # index or transaction state (DESIGN.md: run Redis with AOF).
        self.redis_port = port or harness.free_port()
        self.spawn("redis", ["redis-server", *self.redis_listen_args(),
                             "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "yes", "--appendfsync", "always",
                             "--dir", self.dir])
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if resp_command(self.redis_port, "PING", timeout=0.5,
                                tls=self.redis_ssl_context()) == "PONG":
                    return
            except (OSError, RuntimeError, ValueError):
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill9(self, name):
        p = self.procs[name]
        p.send_signal(signal.SIGKILL)
        p.wait(10)

    def redis(self, *args):
        return resp_command(self.redis_port, *args, tls=self.redis_ssl_context())

    def all_logs(self):
        return {name: self.log(name) for name in self.logs}


class FaultTest(unittest.TestCase):
    """Subclasses set up cls.stack (a started FaultStack) and call
    run_with_fault(inject, restore)."""

    stack_kwargs = {}
    stack_class = FaultStack

    @classmethod
    def setUpClass(cls):
        for tool in ("redis-server", "softhsm2-util"):
            if not shutil.which(tool):
                if harness.IN_CI:
                    raise AssertionError(f"{tool} is not installed")
                raise unittest.SkipTest(f"{tool} not installed")
        if not os.path.exists(BENCH):
            if harness.IN_CI:
                raise AssertionError(f"scep-bench not built: {BENCH}")
            raise unittest.SkipTest(f"scep-bench not built: {BENCH}")
        cls.stack = cls.stack_class(**cls.stack_kwargs)
        try:
            cls.stack.start()
        except Exception:
            cls.stack.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        keep = os.environ.get("SCEP_FAULTS_LOG_DIR")
        if keep:  # logs and bench results for a post-mortem
            dest = os.path.join(keep, cls.__name__)
            os.makedirs(dest, exist_ok=True)
            for name in os.listdir(cls.stack.dir):
                if name.endswith((".log", ".jsonl")):
                    shutil.copy(os.path.join(cls.stack.dir, name), dest)
        cls.stack.stop()

    # -- helpers ----------------------------------------------------------
    def issued_total(self):
        return harness.metric(self.stack.scrape(), "scep_gateway_certificates_issued_total")

    def signer_issued(self):
        return harness.metric(self.stack.scrape("signer"),
                              "scep_signer_certificates_issued_total")

    def start_bench(self, n=N, concurrency=CONCURRENCY, extra=(), url=None, confirm=True):
        """`confirm`: each device sends its request again once answered
        (--confirm_retransmission), which also re-records a transaction
        Redis lost; a scenario about what devices were handed turns it off."""
        self.results_path = os.path.join(self.stack.dir, "bench-results.jsonl")
        argv = [BENCH, "--url", url or self.stack.url, "--challenge", self.stack.challenge,
                "--n", str(n), "--concurrency", str(concurrency), "--keys", "8",
                "--retry_unavailable", "--retry_max_wait", "0.5", "--retry_give_up", "90",
                "--results_file", self.results_path, "--json", "--progress=false"]
        if confirm:
            argv.append("--confirm_retransmission")
        argv += list(extra)
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def finish_bench(self, bench):
        """Waits for the bench (killing it if it does not end): its JSON
        report ({} when it printed none) and its standard error."""
        try:
            out, err = bench.communicate(timeout=150)
        finally:
            if bench.poll() is None:
                bench.kill()
                bench.wait()
        return (json.loads(out) if out.strip() else {}), err

    def bench_results(self):
        """The bench's per-transaction results (--results_file)."""
        with open(self.results_path) as f:
            return [json.loads(line) for line in f]

    def wait_for_load(self, bench, issued_before, at_least=40, timeout=60,
                      counter=None):
        """Returns once the bench has had `at_least` certificates issued, as
        `counter` counts them (default: the gateway's issued_total): the
        fault must hit a running load, not the preparation."""
        counter = counter or self.issued_total
        deadline = time.time() + timeout
        while time.time() < deadline:
            if bench.poll() is not None:
                self.fail("scep-bench ended before the fault: " + bench.stderr.read())
            if counter() - issued_before >= at_least:
                return
            time.sleep(0.05)
        self.fail("load did not start")

    def probe_pair(self, tag):
        """A PKCSReq built by scep-probe (fresh device) for probing by hand."""
        tid = f"fault-{tag}-{os.getpid()}-{time.monotonic_ns()}"
        nonce = os.urandom(16).hex()
        return tid, self.stack.probe_request(f"probe-{tag}", tid, nonce)

    def post(self, der, timeout=15):
        start = time.monotonic()
        status, headers, body = harness.http(
            "POST", self.stack.url + "?operation=PKIOperation", der, timeout=timeout)
        return status, headers, body, time.monotonic() - start

    def assert_unavailable(self, der, what):
        """During an outage: a clear 503 with Retry-After, quickly (the
        signer deadline plus slack), never 500 or a hang."""
        status, headers, body, took = self.post(der)
        self.assertEqual(status, 503, f"{what}: {status} {body[:200]!r}")
        self.assertIn("Retry-After", headers, what)
        self.assertGreaterEqual(int(headers["Retry-After"]), 1)
        self.assertLess(took, SIGNER_DEADLINE_MS / 1000 * 5 + 3, what)
        return took

    def wait_until_unavailable(self, tag, timeout=20):
        """Sends probe requests until one is answered 503 (the fault has
        reached the gateway); returns that request's bytes."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            _, der = self.probe_pair(tag)
            status, _, body, _ = self.post(der)
            if status == 503:
                return der
            self.assertEqual(status, 200, body[:200])
            reply = self.stack.probe_open(f"probe-{tag}", body)
            self.assertEqual(reply["pkiStatus"], 0, reply)  # a certificate
            self.probes_issued += 1
            time.sleep(0.1)
        self.fail(f"{tag}: the gateway never answered 503 during the outage")

    def run_with_fault(self, name, inject, restore, outage_seconds=3.0):
        """Runs the bench, injects the fault under load, holds it, restores,
        and checks everything every scenario must hold. Returns figures."""
        stack = self.stack
        gateway_pid = stack.procs["gateway"].pid
        self.probes_issued = 0
        issued_before = self.issued_total()
        certs_before = stack.redis("ZCARD", "scep:certs")
        bench = self.start_bench()
        try:
            self.wait_for_load(bench, issued_before)
            t_fault = time.monotonic()
            inject()
            # During the outage: a request built by another client gets a
            # clear 503 + Retry-After, without hanging.
            held = self.wait_until_unavailable(name)
            self.assert_unavailable(held, f"{name}: outage probe")
            remaining = outage_seconds - (time.monotonic() - t_fault)
            if remaining > 0:
                time.sleep(remaining)
            self.assert_unavailable(held, f"{name}: outage probe, identical resend")
            restore()
            t_restored = time.monotonic()
            # Recovery without restarting the gateway: the identical bytes
            # of the held request get a certificate once the dependency is
            # back (each 503 undid the nonce, so this is no replay).
            recovery = None
            while time.monotonic() - t_restored < 60:
                status, _, body, _ = self.post(held, timeout=30)
                if status == 200:
                    recovery = time.monotonic() - t_restored
                    reply = stack.probe_open(f"probe-{name}", body)
                    self.assertEqual(reply["pkiStatus"], 0, reply)
                    break
                self.assertEqual(status, 503, f"{name}: after restore: {body[:200]!r}")
                time.sleep(0.1)
            self.assertIsNotNone(recovery, f"{name}: no recovery within 60 s")
        except BaseException:
            bench.kill()  # a failed check ends the run at once
            bench.wait()
            raise
        report, err = self.finish_bench(bench)
        results = self.bench_results()

        # Recovery without restarting the gateway: same process, still up,
        # and the identical bytes of the held request now get a certificate.
        self.assertIsNone(stack.procs["gateway"].poll(), "gateway died")
        self.assertEqual(stack.procs["gateway"].pid, gateway_pid)

        # Every accepted request got its certificate; none lost, none gave up.
        self.assertEqual(len(results), N)
        bad = [r for r in results if r["outcome"] != "ok"]
        self.assertEqual(bad, [], f"{name}: transactions without a certificate\n{err}")
        # Answers were 200 or 503 only: no 500, no other status.
        statuses = status_totals(results)
        self.assertEqual(set(statuses) - {"200", "503", "io"}, set(), statuses)
        # The gateway was never restarted, so it never reset a connection.
        self.assertNotIn("io", statuses, f"{name}: I/O errors {statuses}")
        self.assertEqual(sum(r["unavailable_without_retry_after"] for r in results), 0)
        # The fault bit the load (otherwise this test proves nothing).
        retried = [r for r in results if r["attempts"] > 1]
        self.assertGreater(statuses.get("503", 0), 0, f"{name}: no 503 under load")
        self.assertGreater(len(retried), 0)

        # No transaction got two certificates: the retransmission with a
        # fresh senderNonce returns the very certificate first received,
        # serials are unique, and the index grew by exactly N.
        mismatch = [r for r in results if r["confirm_outcome"] != "ok"
                    or r["confirm_serial"] != r["serial"]]
        self.assertEqual(mismatch, [], f"{name}: retransmission got another answer")
        serials = [r["serial"] for r in results]
        self.assertEqual(len(set(serials)), N, f"{name}: a serial issued twice")
        tids = {r["transaction_id"] for r in results}
        self.assertEqual(len(tids), N)
        # Plus the held probe request and the probes that came before the
        # fault had reached the gateway.
        certs_after = stack.redis("ZCARD", "scep:certs")
        self.assertEqual(certs_after - certs_before, N + 1 + self.probes_issued,
                         f"{name}: certificate index count")

        self.assert_no_secret_in_logs()
        figures = {
            "scenario": name, "n": N, "concurrency": CONCURRENCY,
            "retried_transactions": len(retried),
            "attempts": sum(r["attempts"] for r in results),
            "http_503": statuses.get("503", 0),
            "fresh_nonce_resends": sum(r["fresh_nonce_resends"] for r in results),
            "duplicates": N - len(set(serials)),
            "outage_seconds": round(t_restored - t_fault, 2),
            "recovery_seconds": round(recovery, 2),
            "bench_wall_seconds": report.get("wall_seconds"),
        }
        print("FAULT-FIGURES " + json.dumps(figures), file=sys.stderr)
        return figures, results

    probes_issued = 0

    def assert_no_secret_in_logs(self):
        secrets = {"challenge": self.stack.challenge, "PIN": harness.Stack.PIN,
                   "SO PIN": harness.Stack.SO_PIN}
        for name, text in self.stack.all_logs().items():
            for what, secret in secrets.items():
                self.assertNotIn(secret, text, f"{what} in the {name} log")
