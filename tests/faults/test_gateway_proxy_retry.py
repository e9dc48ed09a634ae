"""Fault: two gateway pods behind a retrying HTTP proxy
(retrying_proxy.RetryingProxy, as ingress-nginx with `proxy-next-upstream:
error timeout non_idempotent`, the chart's production example); one pod is
killed (kill -9) mid-request under load and stays dead, at a moment some
of its requests have recorded their senderNonce and claimed their
transaction. The proxy sends each request cut off with
it, byte for byte, to the other pod. No device may see an error: the
survivor answers those identical messages as the first copy would have
been answered (a retransmission, never "replay"), PENDING while the dead
pod's claim lasts, and the devices' polls finish them. With the gateway of
before session 15 the devices got FAILURE "replay" ("transactions without
a certificate"). See gateway_death.py for what must hold besides."""

import time
import unittest

import gateway_death
from retrying_proxy import RetryingProxy


class GatewayPodLostBehindARetryingProxy(gateway_death.GatewayDeathTest):
    # Twice the other scenarios': the proxy (Python) holds fewer requests
    # inside each pod, and the kill must find some past their claim.
    concurrency = 2 * gateway_death.faults.CONCURRENCY

    def test_proxy_resends_what_the_dead_pod_had_in_flight(self):
        stack = self.stack
        port_b, metrics_b = self.start_second_gateway()
        proxy = RetryingProxy([stack.http_port, port_b])
        try:
            signer_before = self.signer_issued()
            certs_before = stack.redis("ZCARD", "scep:certs")
            bench = self.start_bench(url=f"http://127.0.0.1:{proxy.port}/scep")
            self.wait_for_signatures(bench, signer_before)
            # At full load (every device connection open and busy).
            deadline = time.monotonic() + 30
            while sum(proxy.requests.values()) < 120 and time.monotonic() < deadline:
                time.sleep(0.02)
            self.assertGreater(proxy.requests[stack.http_port], 0)
            self.assertGreater(proxy.requests[port_b], 0)
            # Killed holding claims: their transactions stay claimed by a
            # process that is gone, and the identical copies the proxy
            # resends must get past that.
            t_kill = self.kill_gateway_holding_a_claim()
            figures = self.check_outcome("gateway_proxy_retry", bench, signer_before,
                                         certs_before, t_kill, metrics_b,
                                         devices_see_resets=False)
        finally:
            proxy.stop()
        # The kill did cut requests off: the proxy sent them again.
        self.assertGreater(proxy.resent, 0, figures)
        self.assertIsNone(stack.procs["gateway-b"].poll(), "gateway-b died")
        print(f"proxy resent {proxy.resent} requests cut off, "
              f"{proxy.refused} connections refused", flush=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
