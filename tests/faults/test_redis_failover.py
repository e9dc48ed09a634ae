"""Fault: Redis fails over under load. The gateway reaches Redis through a
TCP balancer (as a Kubernetes Service selecting the pod labelled primary,
or an HAProxy checking role:master); a replica takes over with FAILOVER
(writes paused until it has caught up, so nothing acknowledged is lost) and
the old primary turns replica. The balancer follows a few seconds later, as
an operator relabelling the Service would, but the gateway's open
connections stay with the old server, which now answers writes with
READONLY. The gateway must answer 503 + Retry-After meanwhile, move its
connections to the new primary by itself, and lose or repeat nothing."""

import os
import time
import unittest

import faults
from faults import harness
from tcp_balancer import Balancer


class FailoverStack(faults.FaultStack):
    """The primary (process "redis") with a replica ("redis-replica"),
    reached through a Balancer whose port is the stack's redis_port."""

    balancer = None

    def start_redis(self, port=None):
        super().start_redis(port)
        if self.balancer is not None:
            return
        self.start_replica()
        self.balancer = Balancer([self.primary_port])
        self.redis_port = self.balancer.port

    def start_replica(self):
        """The stack's Redis becomes primary_port; a replica of it (AOF,
        fsync always) replica_port, in sync when this returns."""
        self.primary_port = self.redis_port
        self.replica_port = harness.free_port()
        replica_dir = os.path.join(self.dir, "replica")
        os.makedirs(replica_dir)
        self.spawn("redis-replica", [
            "redis-server", "--port", str(self.replica_port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "yes", "--appendfsync", "always",
            "--dir", replica_dir,
            "--replicaof", "127.0.0.1", str(self.replication_port())])
        self.wait_for(lambda: b"master_link_status:up" in faults.resp_command(
            self.replica_port, "INFO", "replication"), "the replica to sync")

    def replication_port(self):
        """Where the replica reaches its primary (a subclass may put a
        proxy in between)."""
        return self.primary_port

    @staticmethod
    def wait_for(condition, what, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if condition():
                    return
            except (OSError, RuntimeError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def role(self, port):
        return faults.resp_command(port, "ROLE")[0].decode()

    def fail_over(self):
        """The replica becomes primary, the primary its replica."""
        faults.resp_command(self.primary_port, "FAILOVER", "TO", "127.0.0.1",
                            str(self.replica_port))
        self.wait_for(lambda: self.role(self.replica_port) == "master"
                      and self.role(self.primary_port) == "slave", "the failover")

    def follow(self):
        """The endpoint now leads to the new primary (new connections only)."""
        self.balancer.connections[self.replica_port] = 0
        self.balancer.backends = [self.replica_port]

    def stop(self):
        if self.balancer is not None:
            self.balancer.stop()
        super().stop()


class RedisPrimaryFailedOver(faults.FaultTest):
    stack_class = FailoverStack

    def test_redis_failover_under_load(self):
        stack = self.stack
        signer_before = self.signer_issued()
        figures, _ = self.run_with_fault(
            "redis-failover", inject=stack.fail_over, restore=stack.follow)
        # Every certificate the CA signed is one a transaction holds.
        self.assertEqual(self.signer_issued() - signer_before,
                         figures["n"] + 1 + self.probes_issued)
        # The gateway moved to the new primary: it opened connections there,
        # and the old one (a replica now) holds no client connection of it.
        self.assertGreater(stack.balancer.connections[stack.replica_port], 0)
        self.assertEqual(stack.role(stack.replica_port), "master")
        clients = faults.resp_command(stack.primary_port, "CLIENT", "LIST", "TYPE", "normal")
        self.assertEqual(clients.count(b"\n"), 1, clients)  # only this CLIENT LIST


if __name__ == "__main__":
    unittest.main(verbosity=2)
