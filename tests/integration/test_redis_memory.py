"""A Redis that may evict keys loses enrollment state without an error
(nonces, transactions, certificate index entries all carry TTLs, so even
the volatile-* policies managed Redis defaults to take them). The gateway
reads Redis's limit, policy and evicted-key count (--redis_memory_check_seconds)
and reports them as metrics and log lines an operator can alert on. Real
redis-server, signer and gateway; the test changes Redis's settings live."""

import json
import time
import unittest

from harness import Stack, metric, require_tool


class RedisMemoryReportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(gateway_args=["--redis_memory_check_seconds=1"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def setUp(self):
        require_tool(self, "redis-cli")

    def redis(self, *args):
        return self.stack.redis_cli(*args)

    def wait_for_metric(self, name, want, timeout=15):
        deadline = time.time() + timeout
        value = None
        while time.time() < deadline:
            value = metric(self.stack.scrape(), name)
            if want(value):
                return value
            time.sleep(0.2)
        self.fail(f"{name} = {value}")

    def events(self, event):
        lines = [json.loads(line) for line in self.stack.log("gateway").splitlines()
                 if line.startswith("{")]
        return [line for line in lines if line.get("event") == event]

    def test_eviction_policy_and_evictions_are_reported(self):
        # The harness's Redis: no limit, nothing can be evicted.
        self.wait_for_metric("scep_gateway_redis_memory_used_bytes", lambda v: v and v > 0)
        self.assertEqual(metric(self.stack.scrape(), "scep_gateway_redis_can_evict"), 0)
        self.assertEqual(metric(self.stack.scrape(), "scep_gateway_redis_memory_max_bytes"), 0)
        self.assertEqual(self.events("redis_eviction_policy"), [])

        # As a managed Redis ships: a limit and volatile-lru.
        self.redis("CONFIG", "SET", "maxmemory", "64mb")
        self.redis("CONFIG", "SET", "maxmemory-policy", "volatile-lru")
        self.wait_for_metric("scep_gateway_redis_can_evict", lambda v: v == 1)
        self.assertEqual(metric(self.stack.scrape(), "scep_gateway_redis_memory_max_bytes"),
                         64 << 20)
        warned = self.events("redis_eviction_policy")
        self.assertEqual(len(warned), 1, warned)
        self.assertEqual(warned[0]["level"], "warning")
        self.assertEqual(warned[0]["policy"], "volatile-lru")
        self.assertIn("noeviction", warned[0]["note"])

        # Full: keys with a TTL (as every key of the gateway has) go.
        used = int(self.redis("INFO", "memory").split("used_memory:")[1].split()[0])
        self.redis("CONFIG", "SET", "maxmemory", str(used + 256 * 1024))
        filler = "x" * 1024
        script = ("for i = 1, 2000 do redis.call('SET', 'scep-test:filler:' .. i, ARGV[1], "
                  "'EX', 3600) end return 1")
        self.redis("EVAL", script, "0", filler)
        evicted = self.wait_for_metric("scep_gateway_redis_evicted_keys", lambda v: v and v > 0)
        self.wait_for_metric("scep_gateway_redis_evicted_keys", lambda v: v == evicted)
        reported = self.events("redis_keys_evicted")
        self.assertGreaterEqual(len(reported), 1)
        self.assertEqual(reported[0]["level"], "error")
        self.assertEqual(sum(r["evicted"] for r in reported), evicted)

        # Fixed as the warning says.
        self.redis("CONFIG", "SET", "maxmemory-policy", "noeviction")
        self.redis("CONFIG", "SET", "maxmemory", "0")
        self.wait_for_metric("scep_gateway_redis_can_evict", lambda v: v == 0)
        ok = self.events("redis_eviction_policy_ok")
        self.assertEqual([o["policy"] for o in ok], ["noeviction"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
