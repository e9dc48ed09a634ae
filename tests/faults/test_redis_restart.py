"""Fault: Redis killed (kill -9) under load and restarted on the same port
with its AOF file. The gateway must answer 503 + Retry-After while Redis is
gone and recover by itself; no transaction may be lost or issued twice."""

import unittest

import faults


class RedisKilledAndRestarted(faults.FaultTest):
    def test_redis_kill9_and_restart_under_load(self):
        stack = self.stack
        signer_before = self.signer_issued()
        figures, _ = self.run_with_fault(
            "redis", inject=lambda: stack.kill9("redis"),
            restore=stack.restart_redis)
        # Every certificate the CA signed is one a transaction holds: none
        # was signed and then forgotten because Redis went away mid-way.
        self.assertEqual(self.signer_issued() - signer_before,
                         figures["n"] + 1 + self.probes_issued)


class RedisOverTlsKilledAndRestarted(RedisKilledAndRestarted):
    """The same with the gateway's Redis over TLS (a TLS-only Redis that
    requires client certificates): every pooled TLS connection breaks at
    once, and new handshakes must follow the restart."""
    stack_kwargs = {"redis_tls": True}


if __name__ == "__main__":
    unittest.main(verbosity=2)
