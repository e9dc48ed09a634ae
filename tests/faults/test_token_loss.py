"""Fault: the signer's PKCS#11 sessions become invalid under load. The
SoftHSMv2 token directory is moved away (the token disappears: key
handles, sessions and login fail) and later moved back. The signer must
turn not-ready, the gateway answer 503 + Retry-After, and both recover
without a restart (the signer reloads the module and logs in again)."""

import os
import unittest

import faults


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


if __name__ == "__main__":
    unittest.main(verbosity=2)
