"""Fault: one of two paths to the signer goes silent under load, as a
signer pod on a node that lost its network or its power: no reset, no
FIN, the gateway's HTTP/2 connection to it simply stops answering. The
gateway spreads calls round-robin over both (`--signer=ipv4:A,B`, as over
a headless Service's pod addresses). Calls sent down the dead path end at
the signer deadline (503 + Retry-After); the gateway's keepalive
(`--signer_keepalive_ms`, an HTTP/2 PING that gets no answer within
`--signer_keepalive_timeout_ms`) must find the connection dead and stop
using it, so devices are served by the live path within seconds, not after
TCP gives up (15 minutes). Nothing may be lost or issued twice. Before
the load, the idle gateway's PINGs must not make the signer drop the
connections ("too_many_pings")."""

import time
import unittest

import faults
from blackhole_proxy import BlackholeProxy

KEEPALIVE_MS = 1000
KEEPALIVE_TIMEOUT_MS = 1000
# The signer's own PINGs (its side of a gateway that went silent).
SIGNER_KEEPALIVE_MS = 1000
SIGNER_KEEPALIVE_TIMEOUT_MS = 1000


class PartitionStack(faults.FaultStack):
    paths = ()

    def gateway_argv(self, http_port, metrics_port, tls, extra=()):
        if not self.paths:
            self.paths = (BlackholeProxy(self.signer_port), BlackholeProxy(self.signer_port))
        argv = super().gateway_argv(http_port, metrics_port, tls, extra)
        target = "ipv4:" + ",".join(f"127.0.0.1:{p.port}" for p in self.paths)
        argv = [a if not a.startswith("--signer=") else f"--signer={target}" for a in argv]
        return argv + [f"--signer_keepalive_ms={KEEPALIVE_MS}",
                       f"--signer_keepalive_timeout_ms={KEEPALIVE_TIMEOUT_MS}"]

    def stop(self):
        super().stop()
        for p in self.paths:
            p.stop()


class SignerPathPartitioned(faults.FaultTest):
    stack_class = PartitionStack
    # No readiness calls: while idle, only the keepalive PINGs cross the
    # signer connections.
    stack_kwargs = {"gateway_args": ["--readiness_interval_ms=60000"],
                    "signer_args": [f"--keepalive_ms={SIGNER_KEEPALIVE_MS}",
                                    f"--keepalive_timeout_ms={SIGNER_KEEPALIVE_TIMEOUT_MS}"]}

    def test_signer_path_goes_silent_under_load(self):
        stack = self.stack
        dead, live = stack.paths
        # Idle PINGs every second are welcome at the signer: gRPC's default
        # answers the third with GOAWAY "too_many_pings" and the gateway
        # would reconnect.
        time.sleep(6 * KEEPALIVE_MS / 1000)
        self.assertEqual((dead.connections, live.connections), (1, 1))
        self.assertNotIn("too_many_pings", stack.log("gateway"))
        signer_before = self.signer_issued()
        certs_before = stack.redis("ZCARD", "scep:certs")
        issued_before = self.issued_total()
        bench = self.start_bench()
        try:
            self.wait_for_load(bench, issued_before)
            self.assertGreater(dead.connections, 0)
            self.assertGreater(live.connections, 0)
            dead.partition()
            t_partition = time.monotonic()
        except BaseException:
            bench.kill()
            bench.wait()
            raise
        report, err = self.finish_bench(bench)
        results = self.bench_results()

        # Every transaction got its certificate, once; answers were 200 or
        # 503 with Retry-After (calls lost in the silence end at the signer
        # deadline), never a hang past the bench's patience or a 500.
        self.assertEqual(len(results), faults.N)
        bad = [r for r in results if r["outcome"] != "ok"]
        self.assertEqual(bad, [], f"transactions without a certificate\n{err}")
        statuses = faults.status_totals(results)
        self.assertEqual(set(statuses) - {"200", "503"}, set(), statuses)
        self.assertEqual(sum(r["unavailable_without_retry_after"] for r in results), 0)
        self.assertGreater(statuses.get("503", 0), 0, "the partition never bit")
        mismatch = [r for r in results if r["confirm_outcome"] != "ok"
                    or r["confirm_serial"] != r["serial"]]
        self.assertEqual(mismatch, [], "a retransmission got another answer")
        self.assertEqual(len({r["serial"] for r in results}), faults.N)
        self.assertEqual(stack.redis("ZCARD", "scep:certs") - certs_before, faults.N)

        # The dead path is out of use: a run of requests one after another
        # is served at once, every one (each would otherwise have an even
        # chance of waiting out the deadline down the dead path).
        detected_by = t_partition + (KEEPALIVE_MS + KEEPALIVE_TIMEOUT_MS) / 1000 + 2
        time.sleep(max(0.0, detected_by - time.monotonic()))
        probes = []
        for i in range(20):
            _, der = self.probe_pair(f"after-{i}")
            status, _, body, took = self.post(der)
            probes.append((status, round(took, 2)))
        self.assertEqual([s for s, _ in probes if s != 200], [], probes)
        self.assertEqual(self.signer_issued() - signer_before, faults.N + 20)
        # The signer closed its end of the silent connection itself (its
        # PING went unanswered); without that it held it until TCP gave up.
        self.assertEqual(dead.backend_still_connected(), 0)
        self.assertGreater(live.backend_still_connected(), 0)
        self.assert_no_secret_in_logs()
        print("FAULT-FIGURES " + faults.json.dumps({
            "scenario": "signer-partition", "n": faults.N,
            "http_503": statuses.get("503", 0),
            "retried_transactions": sum(1 for r in results if r["attempts"] > 1),
            "bench_wall_seconds": report.get("wall_seconds"),
            "slowest_probe_after_seconds": max(t for _, t in probes)}), file=faults.sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
