"""Fault: the signer's PKCS#11 sessions become invalid under load. The
SoftHSMv2 token directory is moved away (the token disappears: key
handles, sessions and login fail) and later moved back. The signer must
turn not-ready, the gateway answer 503 + Retry-After, and both recover
without a restart (the signer reloads the module and logs in again)."""

import os
import unittest

import faults
from harness import Stack, http, post_until_served, wait_for


class TokenRemovedAndRestored(faults.FaultTest):
    def test_token_removed_and_restored_under_load(self):
        stack = self.stack
        tokens = os.path.join(stack.dir, "tokens")
        (token_dir,) = os.listdir(tokens)  # SoftHSMv2: one directory per token
        here = os.path.join(tokens, token_dir)
        away = os.path.join(stack.dir, "token-away")
        signer_pid = stack.procs["signer"].pid
        signer_before = self.signer_issued()

        def inject():
            os.rename(here, away)

        def restore():
            # The token really failed: the signer's own check saw it.
            status, body = stack.readyz("signer")
            self.assertEqual(status, 503, body)
            self.assertIn("token", body)
            os.rename(away, here)
            status, body = stack.wait_readyz(200, which="signer", timeout=30)
            self.assertEqual(status, 200, body)

        figures, _ = self.run_with_fault("token", inject, restore)
        self.assertEqual(stack.procs["signer"].pid, signer_pid)  # no restart
        self.assertEqual(self.signer_issued() - signer_before,
                         figures["n"] + 1 + self.probes_issued)


class TokenLostWhileIdle(unittest.TestCase):
    def test_signer_recovers_its_token_without_any_request(self):
        # An HSM outage in quiet hours: no enrollment comes in (and none
        # would: gateways drop a signer that is not ready). The readiness
        # check itself must reconnect (before: only a signing call did, so
        # the signer stayed not ready for good).
        stack = Stack().start()
        try:
            self.assertEqual(stack.wait_readyz(200, which="signer", timeout=30)[0], 200)
            tokens = os.path.join(stack.dir, "tokens")
            (token_dir,) = os.listdir(tokens)
            away = os.path.join(stack.dir, "token-away")
            pid = stack.procs["signer"].pid
            os.rename(os.path.join(tokens, token_dir), away)
            status, body = stack.wait_readyz(503, which="signer", timeout=30)
            self.assertEqual(status, 503, body)
            os.rename(away, os.path.join(tokens, token_dir))
            status, body = stack.wait_readyz(200, which="signer", timeout=90)
            self.assertEqual(status, 200, body + stack.log("signer")[-2000:])
            self.assertEqual(stack.procs["signer"].pid, pid)
            self.assertNotIn(Stack.PIN, stack.log("signer"))
        finally:
            stack.stop()


class TokenAbsentAtStart(unittest.TestCase):
    def test_signer_waits_for_its_token_and_serves_when_it_appears(self):
        # A network HSM down when the signer (re)starts: it stays up,
        # healthy but not ready, and serves once the token is there, with
        # no restart (before: exit 1, then Kubernetes' restart back-off).
        stack = Stack().start()
        try:
            tokens = os.path.join(stack.dir, "tokens")
            (token_dir,) = os.listdir(tokens)
            away = os.path.join(stack.dir, "token-away")
            stack.stop_process("signer")
            os.rename(os.path.join(tokens, token_dir), away)
            stack.start_signer()
            pid = stack.procs["signer"].pid
            wait_for(lambda: '"token_unavailable"' in stack.log("signer"), timeout=20,
                     what="token_unavailable in the signer's log")
            self.assertEqual(http("GET", stack.metrics_url("signer") + "/healthz")[0], 200)
            self.assertEqual(stack.readyz("signer")[0], 503)
            self.assertIsNone(stack.procs["signer"].poll())
            self.assertNotIn(Stack.PIN, stack.log("signer"))
            os.rename(away, os.path.join(tokens, token_dir))
            status, body = stack.wait_readyz(200, which="signer", timeout=45)
            self.assertEqual(status, 200, body + stack.log("signer")[-2000:])
            self.assertEqual(stack.procs["signer"].pid, pid)
            self.assertEqual(stack.wait_readyz(200, timeout=30)[0], 200)
            reply = post_until_served(stack, lambda: stack.probe_request(
                "after-wait", "tid-after-wait", os.urandom(16).hex()))
            self.assertEqual(reply[0], 200)
            self.assertEqual(stack.probe_open("after-wait", reply[2])["pkiStatus"], 0)
        finally:
            stack.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
