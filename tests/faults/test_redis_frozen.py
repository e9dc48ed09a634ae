"""Fault: Redis stops answering (SIGSTOP) for longer than the gateway's
Redis command timeout (1 s), then continues (SIGCONT) and executes every
command that queued meanwhile. The gateway must give up on each command at
the timeout and answer 503 + Retry-After (no hang, no 500), recover by
itself, and no transaction may be lost or issued twice, although writes
whose replies the gateway never read land in Redis late."""

import signal
import unittest

import faults


class RedisFrozen(faults.FaultTest):
    def test_redis_stalled_past_the_command_timeout_under_load(self):
        stack = self.stack
        redis = stack.procs["redis"]
        signer_before = self.signer_issued()
        figures, _ = self.run_with_fault(
            "redis-frozen", inject=lambda: redis.send_signal(signal.SIGSTOP),
            restore=lambda: redis.send_signal(signal.SIGCONT))
        # Every certificate the CA signed is one a transaction holds.
        self.assertEqual(self.signer_issued() - signer_before,
                         figures["n"] + 1 + self.probes_issued)


if __name__ == "__main__":
    unittest.main(verbosity=2)
