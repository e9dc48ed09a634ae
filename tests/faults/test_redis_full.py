"""Fault: Redis runs out of memory under load (`maxmemory` reached with the
`noeviction` policy the gateway needs: every write is refused with OOM,
reads still work), then gets room again (an operator raises `maxmemory`).
The gateway must answer 503 + Retry-After meanwhile (never 500), keep the
writes that record issued certificates until they fit, and lose or repeat
nothing. (With an evicting policy Redis would instead drop keys silently;
the gateway reports that policy, see test_redis_memory in integration.)"""

import unittest

import faults


class RedisOutOfMemory(faults.FaultTest):
    def test_redis_full_under_load(self):
        stack = self.stack
        self.assertEqual(stack.redis("CONFIG", "GET", "maxmemory-policy")[1], b"noeviction")
        signer_before = self.signer_issued()
        figures, _ = self.run_with_fault(
            "redis-full", inject=lambda: stack.redis("CONFIG", "SET", "maxmemory", "1"),
            restore=lambda: stack.redis("CONFIG", "SET", "maxmemory", "0"))
        # Every certificate the CA signed is one a transaction holds.
        self.assertEqual(self.signer_issued() - signer_before,
                         figures["n"] + 1 + self.probes_issued)


if __name__ == "__main__":
    unittest.main(verbosity=2)
