"""Fault: the network between the gateway and Redis partitions under load
(a node or zone losing its network: no reset, no FIN, silence) and heals
3 s later. Unlike redis_frozen, where Redis runs the queued commands late
when it continues, what the gateway sent into the partition is never
delivered: a claim, an index entry or a completion is simply lost. The
gateway must answer 503 + Retry-After within its Redis timeout meanwhile
(its circuit breaker failing the rest fast), reach Redis again on new
connections once the network is back (the old ones stay silent until the
command timeout drops them), and lose or repeat nothing: every write it
could not confirm is journalled and replayed. Real redis-server, signer,
gateway and scep-bench; the gateway reaches Redis through a
BlackholeProxy."""

import unittest

import faults
from blackhole_proxy import BlackholeProxy


class PartitionedRedisStack(faults.FaultStack):
    """The stack's Redis reached through a BlackholeProxy (the stack's
    redis_port is the proxy's: the gateway and the test's own reads both
    cross it)."""

    path = None

    def start_redis(self, port=None):
        super().start_redis(port)
        if self.path is None:
            self.path = BlackholeProxy(self.redis_port)
            self.redis_port = self.path.port

    def stop(self):
        if self.path is not None:
            self.path.stop()
        super().stop()


class RedisPartitioned(faults.FaultTest):
    stack_class = PartitionedRedisStack

    def test_redis_partitioned_from_the_gateway_under_load(self):
        stack = self.stack
        signer_before = self.signer_issued()
        connections_at_heal = []

        def heal():
            connections_at_heal.append(stack.path.connections)
            stack.path.heal()

        figures, _ = self.run_with_fault(
            "redis-partition", inject=stack.path.partition, restore=heal)
        # Every certificate the CA signed is one a transaction holds: a
        # write lost in the partition was replayed, not issued again.
        self.assertEqual(self.signer_issued() - signer_before,
                         figures["n"] + 1 + self.probes_issued)
        # The gateway reached Redis on new connections after the heal.
        self.assertGreater(stack.path.connections, connections_at_heal[0])


if __name__ == "__main__":
    unittest.main(verbosity=2)
