"""Fault: two gateway pods behind a load balancer while Redis fails, and one
pod dies before Redis is back. Redis stops answering (SIGSTOP) for longer
than the gateways' command timeout (1 s): their requests answer 503, and
the undo of each one's senderNonce and transaction claim cannot reach Redis,
so it waits in the pod's write journal. The pod is killed (kill -9) with
its journal unflushed, then Redis continues. The claims and nonces it
could not undo stay in Redis: the devices' retries, through the balancer to
the surviving pod, must get past them (a resend of the identical bytes is a
retransmission, not a replay; a claim is told PENDING and parked, and the
device's polls finish it once its lease has ended). See gateway_death.py
for the other gateway-death scenarios."""

import signal
import time
import unittest

import faults
import gateway_death
from tcp_balancer import Balancer

# Past the gateways' Redis timeout (1 s): their commands in flight give up
# and their undos go to the journal.
FROZEN_SECONDS = 1.6


class GatewayDiesWhileRedisIsFrozen(gateway_death.GatewayDeathTest):
    def test_one_of_two_gateways_dies_with_its_writes_unflushed(self):
        stack = self.stack
        port_b, _ = self.start_second_gateway()
        balancer = Balancer([stack.http_port, port_b])
        redis = stack.procs["redis"]
        try:
            signer_before = self.signer_issued()
            # Without the bench's confirming retransmission, which would
            # itself record again what the dead pod never wrote: a device
            # that has its certificate sends nothing more.
            bench = super(gateway_death.GatewayDeathTest, self).start_bench(
                faults.N, self.concurrency, url=f"http://127.0.0.1:{balancer.port}/scep",
                extra=["--retry_poll_pending"], confirm=False)
            self.wait_for_signatures(bench, signer_before)
            self.assertGreater(balancer.connections[stack.http_port], 0)
            self.assertGreater(balancer.connections[port_b], 0)
            redis.send_signal(signal.SIGSTOP)
            try:
                time.sleep(FROZEN_SECONDS)
                stack.kill9("gateway")
                time.sleep(0.3)
            finally:
                redis.send_signal(signal.SIGCONT)
            report, err = self.finish_bench(bench)
        finally:
            balancer.stop()
        self.assertIsNone(stack.procs["gateway-b"].poll(), "gateway-b died")
        results = self.bench_results()
        self.assertEqual(len(results), faults.N)
        bad = [r for r in results if r["outcome"] != "ok"]
        self.assertEqual(bad, [], f"transactions without a certificate\n{err}")
        # The devices met Redis's failure (503 + Retry-After).
        self.assertGreater(sum(1 for r in results if r["attempts"] > 1), 0)
        serials = [r["serial"] for r in results]
        self.assertEqual(len(set(serials)), faults.N, "a serial handed out twice")
        # Every certificate a device holds is in the index (GetCert, the
        # admin API and revocation by serial find it) and recorded as its
        # transaction's, though the pod that signed it died before Redis
        # came back.
        missing = [s for s in serials if not stack.redis("HEXISTS", f"scep:cert:{s}", "der")]
        self.assertEqual(missing, [], "handed out but not indexed")
        states = self.transaction_states()
        self.assertEqual(set(states) - {"issued"}, set(), states)
        self.assertGreaterEqual(states.get("issued", 0), faults.N)
        self.assertEqual(sum(r["replay_refusals"] for r in results), 0)
        self.assertLessEqual(self.signer_issued() - signer_before, faults.N + self.concurrency)
        self.assert_no_secret_in_logs()


if __name__ == "__main__":
    unittest.main(verbosity=2)
