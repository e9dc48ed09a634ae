"""Fault: scep-gateway killed (kill -9) mid-request under load and started
again on the same port, as Kubernetes restarts a pod that was OOM-killed or
lost its node. Requests in flight at the kill lose their connection; some
had recorded their senderNonce or claimed their transaction. See
gateway_death.py for what must hold."""

import time
import unittest

import gateway_death


class GatewayKilledAndRestarted(gateway_death.GatewayDeathTest):
    def test_gateway_kill9_mid_request_and_restart_under_load(self):
        stack = self.stack
        signer_before = self.signer_issued()
        certs_before = stack.redis("ZCARD", "scep:certs")
        bench = self.start_bench()
        self.wait_for_signatures(bench, signer_before)
        old_pid = stack.procs["gateway"].pid
        # Caught holding claims (a bare kill missed every claim in about one
        # CI run of ten: the PENDING check then failed).
        t_kill = self.kill_gateway_holding_a_claim()
        time.sleep(1.0)  # devices meet a closed port meanwhile
        stack.start_gateway()
        stack.wait_ready()
        self.assertNotEqual(stack.procs["gateway"].pid, old_pid)
        self.check_outcome("gateway_restart", bench, signer_before, certs_before, t_kill,
                           stack.metrics_port)


if __name__ == "__main__":
    unittest.main(verbosity=2)
