"""Fault: two gateway pods behind a load balancer (tcp_balancer.Balancer,
as a Kubernetes Service), sharing the signer and Redis; one is killed
(kill -9) mid-request under load and stays dead. Its devices' connections
are reset, their retries reach the other pod, which must finish the dead
pod's transactions from what is in Redis alone (the gateways keep no state
of their own): claims it held end after --pending_ttl_seconds and the
devices' polls take them over. The kill comes at a moment the pod holds
claims (gateway_death.kill_gateway_holding_a_claim). See gateway_death.py
for what must hold."""

import unittest

import gateway_death
from faults import harness
from tcp_balancer import Balancer


class GatewayPodLostBehindABalancer(gateway_death.GatewayDeathTest):
    def test_one_of_two_gateways_killed_under_load(self):
        stack = self.stack
        port_b, metrics_b = self.start_second_gateway()
        balancer = Balancer([stack.http_port, port_b])
        try:
            signer_before = self.signer_issued()
            certs_before = stack.redis("ZCARD", "scep:certs")
            bench = self.start_bench(url=f"http://127.0.0.1:{balancer.port}/scep")
            self.wait_for_signatures(bench, signer_before)
            # Both pods were serving the load.
            self.assertGreater(balancer.connections[stack.http_port], 0)
            self.assertGreater(balancer.connections[port_b], 0)
            # Kill it holding claims their transactions' retries must then
            # get past on the other pod.
            t_kill = self.kill_gateway_holding_a_claim()
            figures = self.check_outcome("gateway_failover", bench, signer_before,
                                         certs_before, t_kill, metrics_b)
        finally:
            balancer.stop()
        # The surviving pod, never restarted, finished the work.
        self.assertIsNone(stack.procs["gateway-b"].poll(), "gateway-b died")
        issued_b = harness.metric(harness.parse_exposition(
            harness.http("GET", f"http://127.0.0.1:{metrics_b}/metrics")[2].decode()),
            "scep_gateway_certificates_issued_total")
        self.assertGreater(issued_b, 0, figures)


if __name__ == "__main__":
    unittest.main(verbosity=2)
