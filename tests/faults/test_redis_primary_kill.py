"""Fault: the Redis primary dies (kill -9) under load, with writes it had
acknowledged but not yet replicated, and its replica is promoted: an
unplanned failover. The gateway asks for replication
(--redis_wait_replicas=1). To make the loss certain rather than a
sub-millisecond window, the replication link is partitioned for 0.3 s
first (below --redis_wait_timeout_ms, so no completion is answered
unreplicated): every request then completing waits in WAIT when the
primary dies, and what it wrote meanwhile exists on the dead primary only.

What must hold: every device ends with a certificate whose records the new
primary has (its transaction issued with that serial, the serial in the
certificate index: GetCert, the admin API and revocation find it), so a
retransmission gets that same certificate; no device was handed a
certificate the failover lost. Until session 18 the requests waiting in
WAIT were answered with their certificates anyway. Real primary and
replica redis-servers, signer, gateway and scep-bench."""

import os
import time
import unittest

import faults
from blackhole_proxy import BlackholeProxy
from test_redis_failover import FailoverStack

WAIT_MS = 1500  # the link's partition (0.3 s) stays well inside it, even under CI load
PENDING_TTL_SECONDS = 6  # > signer deadline + 2 x Redis timeout (5 s): the gateway refuses less


def txn_key(transaction_id):
    """The transaction's key (store_keys.cc: short IDs hex-encoded)."""
    assert len(transaction_id) <= 32
    return f"scep:default:txn:{transaction_id.encode().hex()}"


class PartitionableReplicationStack(FailoverStack):
    """FailoverStack whose replica replicates through a BlackholeProxy."""

    link = None

    def replication_port(self):
        self.link = BlackholeProxy(self.primary_port)
        return self.link.port

    def rejoin_old_primary(self):
        rejoined_dir = os.path.join(self.dir, "rejoined")
        os.makedirs(rejoined_dir)
        self.spawn("redis-rejoined", [
            "redis-server", "--port", str(self.primary_port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", rejoined_dir,
            "--replicaof", "127.0.0.1", str(self.replica_port)])
        self.wait_for(lambda: b"master_link_status:up" in faults.resp_command(
            self.primary_port, "INFO", "replication"), "the old primary to rejoin")

    def stop(self):
        if self.link is not None:
            self.link.stop()
        super().stop()


class RedisPrimaryKilled(faults.FaultTest):
    stack_class = PartitionableReplicationStack
    stack_kwargs = {"gateway_args": ["--redis_wait_replicas=1",
                                     f"--redis_wait_timeout_ms={WAIT_MS}",
                                     f"--redis_timeout_ms={WAIT_MS + 500}",
                                     f"--pending_ttl_seconds={PENDING_TTL_SECONDS}"]}

    def test_kill9_of_the_primary_loses_no_delivered_certificate(self):
        stack = self.stack
        signer_before = self.signer_issued()
        # Without the bench's confirming retransmission: it would record
        # again, from the signer's recent issuances, what Redis lost, while
        # a real device that has its certificate sends nothing more.
        bench = self.start_bench(extra=["--retry_poll_pending"], confirm=False)
        self.wait_for_load(bench, self.issued_total())

        stack.link.partition()
        time.sleep(0.3)
        stack.kill9("redis")  # the primary, with what the replica never got
        t_kill = time.monotonic()
        faults.resp_command(stack.replica_port, "REPLICAOF", "NO", "ONE")
        FailoverStack.wait_for(lambda: stack.role(stack.replica_port) == "master",
                               "the replica's promotion")
        stack.follow()
        # The old primary's node comes back as the new primary's replica (as
        # Sentinel or an operator would have it), so completions are
        # acknowledged again instead of each waiting out the WAIT timeout.
        faults.resp_command(stack.replica_port, "CONFIG", "SET", "repl-diskless-sync-delay", "0")
        stack.rejoin_old_primary()

        report, err = self.finish_bench(bench)
        t_done = time.monotonic()
        results = self.bench_results()
        n = faults.N
        self.assertEqual(len(results), n, err)
        bad = [r for r in results if r["outcome"] != "ok"]
        self.assertEqual(bad, [], f"transactions without a certificate\n{err}")

        # What devices hold is what the new primary records.
        serials = [r["serial"] for r in results]
        self.assertEqual(len(set(serials)), n)
        lost = [s for s in serials
                if not faults.resp_command(stack.replica_port, "HEXISTS", f"scep:cert:{s}", "der")]
        self.assertEqual(lost, [], "delivered certificates the failover lost from the index")
        issued = [s for r in results
                  for s in [faults.resp_command(stack.replica_port, "HGET",
                                                txn_key(r["transaction_id"]),
                                                "serial")]
                  if s is None or s.decode() != r["serial"]]
        self.assertEqual(issued, [], "transactions the new primary does not record as issued")

        statuses = faults.status_totals(results)
        self.assertGreater(statuses.get("503", 0), 0, statuses)  # the fault was felt
        # The requests caught in WAIT were withheld, not answered.
        log = stack.log("gateway")
        withheld = sum(1 for line in log.splitlines()
                       if '"certificate_withheld"' in line
                       and "Redis went away before replicas confirmed" in line)
        self.assertGreater(withheld, 0, "no request was waiting for the replica at the kill")
        # And their retries got those very certificates, now recorded on the
        # new primary: the signer answers a transaction's repeated request
        # from its recent issuances (10 minutes), so the failover cost no
        # second certificate.
        signed = self.signer_issued() - signer_before
        self.assertEqual(signed, n)
        self.assert_no_secret_in_logs()
        print(f"FAULT-FIGURES redis_primary_kill: n={n} withheld={withheld} "
              f"signed={signed} statuses={statuses} "
              f"last_done_after_kill_seconds={t_done - t_kill:.2f} "
              f"bench_wall_seconds={report.get('wall_seconds')}", flush=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
