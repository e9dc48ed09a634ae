"""Fault: the Redis primary dies (kill -9) under load and Redis Sentinel
promotes its replica. The gateway knows Redis only through the Sentinel
(--redis_sentinels, nothing in between: no Service, no proxy), asks for
replication (--redis_wait_replicas=1), and must answer 503 + Retry-After
until the Sentinel names the new primary, then find it by itself and lose
or repeat nothing. Real primary, replica and Sentinel (redis-server
--sentinel, with its own password), signer, gateway and scep-bench."""

import os
import unittest

import faults
from faults import harness
from test_redis_failover import FailoverStack

MASTER = "scep-primary"
SENTINEL_PASSWORD = "Sentinel-Secret-4c1e"


class SentinelStack(FailoverStack):
    """The primary ("redis"), its replica ("redis-replica") and a Sentinel
    watching them ("sentinel"); the gateway is given only the Sentinel (no
    balancer)."""

    sentinel_port = None

    def start_redis(self, port=None):
        faults.FaultStack.start_redis(self, port)
        if self.sentinel_port is not None:
            return
        self.start_replica()

        self.sentinel_port = harness.free_port()
        sentinel_dir = os.path.join(self.dir, "sentinel")
        os.makedirs(sentinel_dir)
        conf = os.path.join(sentinel_dir, "sentinel.conf")
        with open(conf, "w") as f:
            f.write(f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {sentinel_dir}\n"
                    f"requirepass {SENTINEL_PASSWORD}\n"
                    f"sentinel monitor {MASTER} 127.0.0.1 {self.primary_port} 1\n"
                    f"sentinel down-after-milliseconds {MASTER} 1000\n"
                    f"sentinel failover-timeout {MASTER} 10000\n")
        self.spawn("sentinel", ["redis-server", conf, "--sentinel"])
        # It learns of the replica from the primary's INFO; without that it
        # has no one to promote.
        self.wait_for(
            lambda: str(self.replica_port).encode() in b" ".join(
                field for replica in self.sentinel("SENTINEL", "REPLICAS", MASTER)
                for field in replica),
            "the Sentinel to know the replica")
        self.sentinel_password_file = os.path.join(self.dir, "sentinel-password")
        with open(self.sentinel_password_file, "w") as f:
            f.write(SENTINEL_PASSWORD + "\n")
        self.gateway_args += [f"--redis_sentinels=127.0.0.1:1,127.0.0.1:{self.sentinel_port}",
                              f"--redis_sentinel_master={MASTER}",
                              f"--redis_sentinel_password_file={self.sentinel_password_file}"]

    def sentinel(self, *args):
        return faults.resp_command(self.sentinel_port, *args, password=SENTINEL_PASSWORD)

    def named_primary(self):
        _, port = self.sentinel("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)
        return int(port)


class RedisSentinelFailover(faults.FaultTest):
    stack_class = SentinelStack
    # The claims of the requests in flight at the kill reached the replica
    # and end with their lease: a short one keeps the run short (see
    # test_redis_primary_kill.py).
    stack_kwargs = {"gateway_args": ["--redis_wait_replicas=1", "--pending_ttl_seconds=6"]}

    def test_sentinel_failover_under_load(self):
        stack = self.stack
        log_before = len(stack.log("gateway"))
        self.assertIn(f"sentinel:{MASTER}@", stack.log("gateway"))
        signer_before = self.signer_issued()

        def promoted():
            stack.wait_for(lambda: stack.named_primary() == stack.replica_port,
                           "the Sentinel to promote the replica", timeout=30)
            stack.wait_for(lambda: stack.role(stack.replica_port) == "master",
                           "the replica to be primary")
            stack.redis_port = stack.replica_port  # where the checks count now

        figures, _ = self.run_with_fault(
            "redis-sentinel-failover", inject=lambda: stack.kill9("redis"), restore=promoted,
            outage_seconds=0)  # the Sentinel ends the outage, ~1-3 s after the kill
        # Every certificate the CA signed is one a transaction on the new
        # primary holds.
        self.assertEqual(self.signer_issued() - signer_before,
                         figures["n"] + 1 + self.probes_issued)
        # Its readiness said why (Redis, and the error behind the breaker),
        # and came back.
        lines = stack.log("gateway")[log_before:].splitlines()
        not_ready = [line for line in lines
                     if '"event":"not_ready"' in line and '"reason":"redis: Redis' in line]
        self.assertTrue(not_ready, [line for line in lines if "ready" in line][:5])
        self.assertRegex(not_ready[0], r"(Connection|connection|closed)")
        # The failover, logged once for all the gateway's Redis pools, and counted.
        self.assertIn(f'"event":"redis_primary","primary":"127.0.0.1:{stack.primary_port}"',
                      stack.log("gateway")[:log_before])
        changed = [line for line in lines if '"event":"redis_primary_changed"' in line]
        self.assertEqual(len(changed), 1, changed)
        self.assertIn(f'"from":"127.0.0.1:{stack.primary_port}",'
                      f'"to":"127.0.0.1:{stack.replica_port}"', changed[0])
        self.assertEqual(harness.metric(stack.scrape(), "scep_gateway_redis_primary_changes_total"),
                         1)
        self.assertIn('"event":"ready"', "\n".join(lines[lines.index(not_ready[-1]):]))
        for text in stack.all_logs().values():
            self.assertNotIn(SENTINEL_PASSWORD, text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
