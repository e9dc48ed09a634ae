"""Fault: scep-gateway killed (kill -9) mid-request under load and started
again on the same port, as Kubernetes restarts a pod that was OOM-killed or
lost its node. Requests in flight at the kill lose their connection; some
of them had recorded their senderNonce or claimed their transaction, and a
few had the certificate signed. The devices' retries (the identical bytes,
then a fresh senderNonce for the same transactionID and CSR) must all end
with a certificate once the dead request's claim has expired
(--pending_ttl_seconds), nothing may stay half-written in Redis, and no
transaction may hand out two certificates."""

import json
import os
import time
import unittest

import faults
import harness

PENDING_TTL_SECONDS = 6  # > signer deadline (1 s) + 2 x Redis timeout (1 s)


class GatewayKilledAndRestarted(faults.FaultTest):
    stack_kwargs = {"gateway_args": [f"--pending_ttl_seconds={PENDING_TTL_SECONDS}"]}

    def start_bench(self, n=faults.N, concurrency=faults.CONCURRENCY):
        # Devices told PENDING poll (CertPoll), as RFC 8894 clients do: the
        # request a dead gateway held must be finished by the poll.
        return super().start_bench(n, concurrency, extra=["--retry_poll_pending"])

    def transaction_states(self):
        """{state: count} over every transaction key in Redis."""
        states, cursor = {}, b"0"
        while True:
            cursor, keys = self.stack.redis("SCAN", cursor, "MATCH", "scep:*:txn:*",
                                            "COUNT", "1000")
            for key in keys:
                state = (self.stack.redis("HGET", key, "state") or b"?").decode()
                states[state] = states.get(state, 0) + 1
            if cursor in (b"0", 0, "0"):
                return states

    def test_gateway_kill9_mid_request_and_restart_under_load(self):
        stack = self.stack
        n, c = faults.N, faults.CONCURRENCY
        signer_before = self.signer_issued()
        certs_before = stack.redis("ZCARD", "scep:certs")
        bench = self.start_bench()
        try:
            self.wait_for_load(bench, self.issued_total())
            old_pid = stack.procs["gateway"].pid
            stack.kill9("gateway")
            t_kill = time.monotonic()
            time.sleep(1.0)  # devices meet a closed port meanwhile
            stack.start_gateway()
            stack.wait_ready()
            t_ready = time.monotonic()
            self.assertNotEqual(stack.procs["gateway"].pid, old_pid)
            out, err = bench.communicate(timeout=150)
            t_done = time.monotonic()
        finally:
            if bench.poll() is None:
                bench.kill()
                bench.wait()
        report = json.loads(out) if out.strip() else {}
        with open(self.results_path) as f:
            results = [json.loads(line) for line in f]

        # Every transaction ended with its certificate: none lost, none gave up.
        self.assertEqual(len(results), n)
        bad = [r for r in results if r["outcome"] != "ok"]
        self.assertEqual(bad, [], f"transactions without a certificate\n{err}")
        statuses = {}
        for r in results:
            for s, k in r["statuses"].items():
                statuses[s] = statuses.get(s, 0) + k
        self.assertEqual(set(statuses) - {"200", "503", "io"}, set(), statuses)
        # The kill cut requests off (otherwise this test proves nothing).
        self.assertGreater(statuses.get("io", 0), 0, statuses)

        # One certificate per transaction: a retransmission with a fresh
        # senderNonce gets the very certificate first received.
        mismatch = [r for r in results if r["confirm_outcome"] != "ok"
                    or r["confirm_serial"] != r["serial"]]
        self.assertEqual(mismatch, [], "a retransmission got another answer")
        serials = [r["serial"] for r in results]
        self.assertEqual(len(set(serials)), n, "a serial handed out twice")
        self.assertEqual(len({r["transaction_id"] for r in results}), n)
        # Each handed-out certificate is in the certificate index (GetCert,
        # the CRL and revocation find it).
        missing = [s for s in serials
                   if not stack.redis("HEXISTS", f"scep:cert:{s}", "der")]
        self.assertEqual(missing, [], "issued but not indexed")

        # What the dead process had signed but never answered: at most one
        # signature per request it had in flight, never more.
        signed = self.signer_issued() - signer_before
        indexed = stack.redis("ZCARD", "scep:certs") - certs_before
        self.assertGreaterEqual(indexed, n)
        self.assertGreaterEqual(signed, indexed)
        self.assertLessEqual(signed, n + c, "more signatures than requests in flight")

        # Nothing half-written: no transaction is left pending (the dead
        # request's claim expired and its retry completed the transaction).
        states = self.transaction_states()
        self.assertEqual(set(states) - {"issued"}, set(), states)
        self.assertGreaterEqual(states.get("issued", 0), n)

        # Some killed request had claimed its transaction: its resend was
        # told PENDING and the device's polls finished it (with the claim
        # alone they would have met "no such transaction" once it expired).
        self.assertGreater(sum(r["pending"] for r in results), 0, statuses)
        self.assertGreater(sum(r["polls"] for r in results), 0)

        self.assert_no_secret_in_logs()
        retried = [r for r in results if r["attempts"] > 1]
        figures = {
            "scenario": "gateway", "n": n, "concurrency": c,
            "io_errors": statuses.get("io", 0),
            "retried_transactions": len(retried),
            "fresh_nonce_resends": sum(r["fresh_nonce_resends"] for r in results),
            "replay_refusals": sum(r.get("replay_refusals", 0) for r in results),
            "pending_answers": sum(r.get("pending", 0) for r in results),
            "polls": sum(r.get("polls", 0) for r in results),
            "signed_not_handed_out": signed - n,
            "restart_seconds": round(t_ready - t_kill, 2),
            "last_done_after_kill_seconds": round(t_done - t_kill, 2),
            "bench_wall_seconds": report.get("wall_seconds"),
        }
        print("FAULT-FIGURES " + json.dumps(figures), file=os.sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
