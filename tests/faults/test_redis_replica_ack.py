"""Fault: Redis's replica stops acknowledging while the gateway asks for
replication (--redis_wait_replicas=1). An unplanned failover loses what the
primary acknowledged but had not yet replicated; with WAIT after each
transaction's completion (the last write before the device gets its
certificate, after the index entry), a certificate leaves the gateway
once a replica has its records, and one that left without (the replica
stopped or lagging past --redis_wait_timeout_ms) is counted and logged, so
the operator knows what a failover at that moment could lose. Real
primary and replica redis-servers, signer, gateway and scep-bench."""

import signal
import time
import unittest

import faults
from faults import harness
from test_redis_failover import FailoverStack

WAIT_MS = 500  # generous: CI runs tests side by side on two cores


class RedisReplicaAcknowledgement(faults.FaultTest):
    stack_class = FailoverStack
    stack_kwargs = {"gateway_args": ["--redis_wait_replicas=1",
                                     f"--redis_wait_timeout_ms={WAIT_MS}"]}

    def unreplicated(self):
        return harness.metric(self.stack.scrape(), "scep_gateway_redis_unreplicated_writes_total")

    def enroll(self, n, concurrency):
        bench = self.start_bench(n=n, concurrency=concurrency)
        report, err = self.finish_bench(bench)
        self.assertEqual(report.get("failed"), 0, err)
        self.assertEqual(report.get("succeeded"), n, err)
        return report

    def test_a_silent_replica_is_counted_and_nothing_fails(self):
        stack = self.stack
        self.enroll(60, 8)
        self.assertEqual(self.unreplicated(), 0)
        stats = stack.redis("INFO", "commandstats").decode()
        self.assertIn("cmdstat_wait:", stats)  # the gateway asked
        # Every certificate's records are on the replica already.
        certs = stack.redis("ZCARD", "scep:certs")
        on_replica = faults.resp_command(stack.replica_port, "ZCARD", "scep:certs")
        self.assertEqual(on_replica, certs)

        replica = stack.procs["redis-replica"]
        replica.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            self.enroll(10, 2)
            took = time.monotonic() - started
        finally:
            replica.send_signal(signal.SIGCONT)
        # Each completion waited out the timeout, then the answer went out.
        self.assertGreaterEqual(took, 10 / 2 * WAIT_MS / 1000 * 0.9)
        self.assertGreaterEqual(self.unreplicated(), 10)
        self.assertEqual(harness.metric(stack.scrape(),
                                        "scep_gateway_redis_unreplicated_writes_total",
                                        operation="CompleteTransaction"), self.unreplicated())
        log = stack.log("gateway")
        self.assertIn('"event":"redis_write_unreplicated"', log)
        self.assertIn('"replicas_wanted":1', log)

        # The replica back: acknowledged again, nothing more counted.
        FailoverStack.wait_for(lambda: b"master_link_status:up" in faults.resp_command(
            stack.replica_port, "INFO", "replication"), "the replica to resync")
        counted = self.unreplicated()
        self.enroll(20, 4)
        self.assertEqual(self.unreplicated(), counted)


if __name__ == "__main__":
    unittest.main(verbosity=2)
