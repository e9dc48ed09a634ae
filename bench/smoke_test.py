"""bench_smoke: proves the load generator works end to end (not a timed
test). Starts the real stack with tests/integration/harness.py, runs
scep-bench with N=20, C=4 (and tiny renewal and GetCACert/GetCACaps mixes)
and checks that every reply verified and the JSON report parses."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "integration"))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.environ.get("SCEP_BENCH") or os.path.join(
    harness.BUILD_DIR, "bench", "scep-bench")


class BenchSmoke(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack(challenge="Bench-Smoke-Secret", legacy=False)
        try:
            cls.stack.start()
        except Exception:
            cls.stack.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def test_tiny_run_verifies_every_enrollment(self):
        stack = self.stack
        out = subprocess.run(
            [BENCH, "--url", stack.url, "--challenge", stack.challenge,
             "--n", "20", "--concurrency", "4", "--keys", "4", "--json",
             "--progress=false"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        report = json.loads(out.stdout)
        self.assertEqual(report["sent"], 20, out.stderr)
        self.assertEqual(report["succeeded"], 20, out.stderr)
        self.assertEqual(report["failed"], 0, report["failures"])
        self.assertEqual(report["failures"], {})
        self.assertEqual(report["connections"], 4)  # keep-alive held
        self.assertGreater(report["throughput_per_s"], 0)
        self.assertLessEqual(report["latency_ms"]["p50"],
                             report["latency_ms"]["max"])

    def test_renewal_mix(self):
        out = subprocess.run(
            [BENCH, "--url", self.stack.url, "--challenge", self.stack.challenge,
             "--n", "8", "--concurrency", "4", "--keys", "2", "--mix", "renew",
             "--json", "--progress=false"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        report = json.loads(out.stdout)
        self.assertEqual((report["mix"], report["succeeded"], report["failed"]),
                         ("renew", 8, 0), out.stderr)

    def test_soak_mode(self):
        out = subprocess.run(
            [BENCH, "--url", self.stack.url, "--challenge", self.stack.challenge,
             "--soak", "--duration", "2", "--concurrency", "2", "--keys", "2",
             "--producers", "1", "--json", "--progress=false"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        report = json.loads(out.stdout)
        self.assertEqual(report["mix"], "soak")
        self.assertGreater(report["succeeded"], 0)
        self.assertEqual(report["failed"], 0, report["failures"])

    def test_soak_script_both_modes(self):
        # bench/soak.py on its own stack: memory samples and the Redis bytes
        # per enrollment for the on-the-fly and the pre-built generator.
        for mode in (["--duration", "2"], ["--prebuilt", "60", "--duration", "30"]):
            out_json = os.path.join(self.stack.dir, "soak.json")
            out = subprocess.run(
                [sys.executable, os.path.join(HERE, "soak.py"),
                 "--build-dir", harness.BUILD_DIR, "--concurrency", "2",
                 "--interval", "1", "--json-out", out_json] + mode,
                capture_output=True, text=True, timeout=300)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            with open(out_json) as f:
                result = json.load(f)
            report = result["report"]
            self.assertEqual(report["failed"], 0, report["failures"])
            self.assertGreater(report["succeeded"], 0)
            if "--prebuilt" in mode:
                self.assertEqual(report["succeeded"], 60)
            # A first and a final sample at least, Redis grown by the run.
            self.assertGreaterEqual(len(result["samples"]), 2)
            self.assertGreater(result["samples"][-1]["redis_used"],
                               result["samples"][0]["redis_used"])
            self.assertIn("bytes per enrollment", out.stdout)
            # CPU of every process in every sample (for CPU per enrollment
            # per interval), never going backwards.
            first, last = result["samples"][0], result["samples"][-1]
            self.assertEqual(set(last["cpu"]), {"redis", "signer", "gateway"})
            for name in last["cpu"]:
                self.assertGreaterEqual(last["cpu"][name], first["cpu"][name])
            self.assertGreater(last["cpu"]["signer"], first["cpu"]["signer"])
            # The signer's key operations: counted, and their CPU with them.
            self.assertGreater(last["key_ops"], first["key_ops"])
            self.assertGreater(last["key_cpu"], first["key_cpu"])
            self.assertIn("key op CPU us", out.stdout)
            if "--prebuilt" not in mode:
                # Counted from scep-bench's "N sent" progress lines.
                self.assertGreater(last["done"], 0)

    def test_caps_mix(self):
        out = subprocess.run(
            [BENCH, "--url", self.stack.url, "--n", "20", "--concurrency", "2",
             "--mix", "caps", "--json", "--progress=false"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["succeeded"], 20)

    def test_ocsp_mix(self):
        # Distinct serials (each answer signed afresh) and 3 repeated ones
        # (answers reused); every answer is checked against the CA.
        for distinct in ("0", "3"):
            out = subprocess.run(
                [BENCH, "--url", self.stack.url, "--n", "12", "--concurrency", "2",
                 "--mix", "ocsp", "--ocsp_distinct", distinct, "--json", "--progress=false"],
                capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(json.loads(out.stdout)["succeeded"], 12, distinct)

    def test_parse_micro_benchmark(self):
        # Runs every case briefly (each one checks its own result); no
        # timing is asserted.
        out = subprocess.run(
            [BENCH, "parse", "--threads", "1", "--seconds", "0.1", "--json"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        cases = json.loads(out.stdout)
        self.assertEqual(len(cases), 8, cases)
        for case in cases:
            self.assertGreater(case["calls"], 0, case)

    def test_restore_index_script(self):
        # bench/restore_index.py on its own stack: 30 certificates restored
        # from the audit trail after FLUSHALL, then found indexed.
        out = subprocess.run(
            [sys.executable, os.path.join(HERE, "restore_index.py"),
             "--build-dir", harness.BUILD_DIR, "--n", "30", "--concurrency", "2",
             "--rounds", "1"],
            capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("30 certificates in a", out.stdout)
        self.assertIn("round 1: restored 30 in", out.stdout)
        self.assertIn("nothing lost: 30 already indexed", out.stdout)

    def run_behind_receiver(self, receiver_args, profile):
        """scep-bench's 20 enrollments (C=4) on a stack whose one profile is
        `profile(port)`, with bench/notice_receiver.py on that port: its
        counts once every notice left the queue."""
        import time
        port = harness.free_port()
        receiver = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "notice_receiver.py"), "--port", str(port),
             *receiver_args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stack = harness.Stack(challenge="Bench-Smoke-Secret", legacy=False,
                              profiles={"profiles": [dict(profile(port), name="default")]})
        try:
            stack.start()
            run = subprocess.run(
                [BENCH, "--url", stack.url, "--challenge", stack.challenge,
                 "--n", "20", "--concurrency", "4", "--keys", "4", "--json",
                 "--progress=false"], capture_output=True, text=True, timeout=60)
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertEqual(json.loads(run.stdout)["succeeded"], 20)
            deadline = time.time() + 20
            while time.time() < deadline and stack.redis_cli("XLEN", "scep:notify") != "0":
                time.sleep(0.1)
        finally:
            receiver.terminate()
            stdout, stderr = receiver.communicate(timeout=10)
            stack.stop()
        counts = json.loads(stdout)
        self.assertIn("issued", counts, stderr)
        return counts

    def test_notice_receiver_counts_a_notifying_stack(self):
        # bench/notice_receiver.py behind a profile's notify.url: scep-bench's
        # 20 enrollments arrive as 20 issued notices, each once.
        out_path = os.path.join(self.stack.dir, "notices.json")
        counts = self.run_behind_receiver(["--out", out_path], lambda port: {
            "challenge": {"mode": "static", "secret_env": "SCEP_CHALLENGE"},
            "notify": {"url": f"http://127.0.0.1:{port}/notices"}})
        self.assertEqual(counts["issued"], 20, counts)
        self.assertEqual(counts["unique"], 20)
        self.assertEqual(counts["failed"], 0)
        with open(out_path) as f:
            self.assertEqual(json.load(f), counts)

    def test_receiver_as_https_verifier_and_notice_receiver(self):
        # The same receiver over HTTPS as a profile's external verifier and
        # notice receiver (what session 22 measured): every enrollment
        # verified once and noticed once, on kept connections (at most one
        # per concurrent request, and the notifier's).
        d = tempfile.mkdtemp(prefix="scep-bench-hooks-")
        self.addCleanup(shutil.rmtree, d, True)
        harness.tls_ca(d, "hooks-ca")
        harness.tls_leaf(d, "receiver", "hooks-ca",
                         "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        tls = {"ca_file": f"{d}/hooks-ca.pem"}
        counts = self.run_behind_receiver(
            ["--tls-cert", f"{d}/receiver.pem", "--tls-key", f"{d}/receiver.key"],
            lambda port: {
                "challenge": {"mode": "external", "verifier_tls": tls,
                              "verifier_url": f"https://127.0.0.1:{port}/verify"},
                "notify": {"url": f"https://127.0.0.1:{port}/notices", "tls": tls}})
        self.assertEqual(counts["verifies"], 20, counts)
        self.assertEqual(counts["issued"], 20, counts)
        self.assertLessEqual(counts["connections"], 5, counts)

    def test_instruction_counts(self):
        # bench/instructions.py on its own stack, gateway and signer under
        # callgrind for 10 enrollments; no figure is asserted beyond sanity.
        harness.require_tool(self, "valgrind")
        out_json = os.path.join(self.stack.dir, "instructions.json")
        out = subprocess.run(
            [sys.executable, os.path.join(HERE, "instructions.py"),
             "--build-dir", harness.BUILD_DIR, "--n", "10", "--concurrency", "2",
             "--warmup", "20",
             "--process", "gateway", "signer", "--json-out", out_json],
            capture_output=True, text=True, timeout=600)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        with open(out_json) as f:
            results = json.load(f)
        self.assertGreater(results["ours:gateway"]["ir_per_enrollment"], 1e5)
        signer = results["ours:signer"]
        # Three RSA-2048 private-key operations in the token per enrollment.
        self.assertGreater(signer["token_ir_per_enrollment"], 1e6)
        self.assertGreater(signer["outside_token_ir_per_enrollment"], 1e5)
        self.assertIn("instructions per enrollment", out.stdout)

    def token_command(self, command, *flags):
        stack = self.stack
        return subprocess.run(
            [BENCH, command, f"--pkcs11_module={harness.SOFTHSM_MODULE}",
             "--token_label=scep-it", f"--pin_file={stack.pin_file}", "--threads=2",
             "--json", *flags],
            env=stack.env(), capture_output=True, text=True, timeout=120)

    def test_hsm_bound(self):
        out = self.token_command("hsm-bound", "--seconds=0.3",
                                 "--hsm_ops=decrypt:scep-ra,sign:scep-ca,sign:scep-ra")
        self.assertEqual(out.returncode, 0, out.stderr)
        report = json.loads(out.stdout)
        self.assertGreater(report["sequences_per_s"], 0)
        self.assertAlmostEqual(report["ops_per_s"], 3 * report["sequences_per_s"],
                               delta=0.1)

    def test_pipeline_bound_verifies_every_reply(self):
        stack = self.stack
        certs = [f"--ca_cert={stack.ca_pem}", f"--ra_cert={stack.ra_pem}"]
        out = self.token_command("pipeline-bound", *certs, "--n=12", "--keys=3",
                                 f"--challenge={stack.challenge}")
        self.assertEqual(out.returncode, 0, out.stderr)
        report = json.loads(out.stdout)
        self.assertEqual(report["n"], 12)
        self.assertEqual(report["verified"], 12, out.stderr)
        self.assertEqual(report["failures"], {})
        self.assertGreater(report["enrollments_per_s"], 0)
        # Decrypt, certificate, CertRep: three private-key operations each,
        # whose CPU is part of the process's.
        self.assertEqual(report["key_operations"], 36)
        self.assertGreater(report["key_cpu_us_per_op"], 0)
        self.assertGreater(report["cpu_ms_per_enrollment"] * 1000,
                           3 * report["key_cpu_us_per_op"] * 0.5)
        # A wrong challenge is refused before anything is issued, and counted.
        out = self.token_command("pipeline-bound", *certs, "--n=3", "--keys=1",
                                 "--challenge=wrong",
                                 f"--server_challenge={stack.challenge}")
        self.assertEqual(out.returncode, 1, out.stderr)
        report = json.loads(out.stdout)
        self.assertEqual(report["verified"], 0)
        self.assertEqual(report["failures"], {"refused": 3})
        self.assertEqual(report["key_operations"], 3)  # the decryptions only
        self.assertIn("challenge password wrong", out.stderr)

    def test_wrong_challenge_is_counted_as_failure(self):
        stack = self.stack
        out = subprocess.run(
            [BENCH, "--url", stack.url, "--challenge", "wrong", "--n", "4",
             "--concurrency", "2", "--keys", "1", "--json", "--progress=false"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 1, out.stderr)
        report = json.loads(out.stdout)
        self.assertEqual(report["failures"], {"failInfo_badRequest": 4})


if __name__ == "__main__":
    unittest.main(verbosity=2)
