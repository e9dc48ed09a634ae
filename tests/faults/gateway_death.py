"""What every scenario in which a gateway process dies mid-request must
hold (test_gateway_restart, test_gateway_failover): the requests it had in
flight lose their connection, and the devices' retries (the identical
bytes, then a fresh senderNonce for the same transactionID and request, and
CertPoll when told PENDING) must all end with a certificate, nothing may
stay half-written in Redis, and no transaction may hand out two
certificates."""

import json
import signal
import sys
import time

import faults

# > signer deadline (1 s) + 2 x Redis timeout (1 s): the gateway refuses less.
PENDING_TTL_SECONDS = 6

PENDING_KEYS = """
local pending = {}
for _, key in ipairs(redis.call('KEYS', 'scep:*:txn:*')) do
  if redis.call('HGET', key, 'state') == 'pending' then table.insert(pending, key) end
end
return pending
"""


class GatewayDeathTest(faults.FaultTest):
    stack_kwargs = {"gateway_args": [f"--pending_ttl_seconds={PENDING_TTL_SECONDS}"]}
    concurrency = faults.CONCURRENCY

    def start_bench(self, n=faults.N, concurrency=None, extra=(), url=None):
        # Devices told PENDING poll (CertPoll), as RFC 8894 clients do: the
        # request a dead gateway held must be finished by the poll.
        return super().start_bench(n, concurrency or self.concurrency,
                                   extra=["--retry_poll_pending", *extra], url=url)

    def transactions(self):
        """(key, state) of every transaction key in Redis."""
        cursor = b"0"
        while True:
            cursor, keys = self.stack.redis("SCAN", cursor, "MATCH", "scep:*:txn:*",
                                            "COUNT", "1000")
            for key in keys:
                yield key, (self.stack.redis("HGET", key, "state") or b"?").decode()
            if cursor in (b"0", 0, "0"):
                return

    def pending_transactions(self):
        """The keys of the transactions pending now, read in one step."""
        return set(self.stack.redis("EVAL", PENDING_KEYS, "0"))

    def transaction_states(self):
        """{state: count} over every transaction key in Redis."""
        states = {}
        for _, state in self.transactions():
            states[state] = states.get(state, 0) + 1
        return states

    def start_second_gateway(self):
        """Starts pod "gateway-b" beside the stack's gateway, on the same
        signer and Redis; returns (its HTTP port, its metrics port)."""
        port_b, metrics_b = faults.harness.free_port(), faults.harness.free_port()
        self.stack.start_gateway(name="gateway-b", http_port=port_b, metrics_port=metrics_b)
        self.assertEqual(self.stack.wait_readyz(200, port=metrics_b)[0], 200)
        return port_b, metrics_b

    def kill_gateway_holding_a_claim(self, attempts=10):
        """kill -9 of the stack's gateway at a moment it holds a claim, so
        that some device's retry must get past that claim on the surviving
        or restarted gateway; returns the monotonic time of the kill.

        Redis is held for 0.3 s (below the gateway's 1 s timeout), so the
        requests that get past decryption meanwhile queue their claims in
        Redis's input. Then the gateway is stopped (SIGSTOP) and Redis
        resumes and applies them. The gateway is killed only when a
        transaction stays pending while it is stopped (another gateway's
        claims end within milliseconds, the stopped one's stay); otherwise
        it is resumed and caught again. (Killing at a moment chosen by time
        alone caught no claimed request in about one run in ten.)"""
        gateway, redis = self.stack.procs["gateway"], self.stack.procs["redis"]
        for _ in range(attempts):
            redis.send_signal(signal.SIGSTOP)
            time.sleep(0.3)
            gateway.send_signal(signal.SIGSTOP)
            redis.send_signal(signal.SIGCONT)
            time.sleep(0.1)
            first = self.pending_transactions()
            time.sleep(0.3)
            held = first & self.pending_transactions()
            if held:
                self.stack.kill9("gateway")
                return time.monotonic()
            gateway.send_signal(signal.SIGCONT)
            time.sleep(0.05)
        self.fail(f"the gateway held no claim in {attempts} tries")

    def wait_for_signatures(self, bench, signed_before):
        """wait_for_load counted by the signer: it outlives the gateways."""
        self.wait_for_load(bench, signed_before, counter=self.signer_issued)

    def check_outcome(self, name, bench, signer_before, certs_before, t_kill,
                      survivor_metrics_port, devices_see_resets=True):
        """Waits for the bench and checks what a gateway death must leave
        (`survivor_metrics_port`: the gateway that finished the work);
        returns the figures (also printed as FAULT-FIGURES). Without
        `devices_see_resets` (a retrying proxy in front) no device may see
        its connection cut."""
        stack = self.stack
        n, c = faults.N, self.concurrency
        report, err = self.finish_bench(bench)
        t_done = time.monotonic()
        results = self.bench_results()

        # Every transaction ended with its certificate: none lost, none gave up.
        self.assertEqual(len(results), n)
        bad = [r for r in results if r["outcome"] != "ok"]
        self.assertEqual(bad, [], f"{name}: transactions without a certificate\n{err}")
        statuses = faults.status_totals(results)
        self.assertEqual(set(statuses) - {"200", "503", "io"}, set(), statuses)
        if devices_see_resets:
            # The kill cut requests off (otherwise this test proves nothing).
            self.assertGreater(statuses.get("io", 0), 0, statuses)
        else:
            self.assertEqual(statuses.get("io", 0), 0, statuses)

        # One certificate per transaction: a retransmission with a fresh
        # senderNonce gets the very certificate first received.
        mismatch = [r for r in results if r["confirm_outcome"] != "ok"
                    or r["confirm_serial"] != r["serial"]]
        self.assertEqual(mismatch, [], f"{name}: a retransmission got another answer")
        serials = [r["serial"] for r in results]
        self.assertEqual(len(set(serials)), n, f"{name}: a serial handed out twice")
        self.assertEqual(len({r["transaction_id"] for r in results}), n)
        # Each handed-out certificate is in the certificate index (GetCert,
        # the CRL and revocation find it).
        missing = [s for s in serials
                   if not stack.redis("HEXISTS", f"scep:cert:{s}", "der")]
        self.assertEqual(missing, [], f"{name}: issued but not indexed")

        # What the dead process had signed but never answered: at most one
        # signature per request it had in flight, never more.
        signed = self.signer_issued() - signer_before
        indexed = stack.redis("ZCARD", "scep:certs") - certs_before
        self.assertGreaterEqual(indexed, n)
        self.assertGreaterEqual(signed, indexed)
        self.assertLessEqual(signed, n + c, f"{name}: more signatures than requests in flight")

        # Nothing half-written: no transaction is left pending (the dead
        # request's claim ended and its device completed the transaction).
        states = self.transaction_states()
        self.assertEqual(set(states) - {"issued"}, set(), states)
        self.assertGreaterEqual(states.get("issued", 0), n)

        # Some killed request had claimed its transaction: its resend was
        # told PENDING and the device's polls finished it (with the claim
        # alone they would have met "no such transaction" once it expired).
        self.assertGreater(sum(r["pending"] for r in results), 0, statuses)
        self.assertGreater(sum(r["polls"] for r in results), 0)
        # ... as the surviving gateway's metrics tell an operator.
        survivor = faults.harness.parse_exposition(faults.harness.http(
            "GET", f"http://127.0.0.1:{survivor_metrics_port}/metrics")[2].decode())
        parked = faults.harness.metric(survivor, "scep_gateway_claims_parked_total",
                                       profile="default")
        by_poll = faults.harness.metric(survivor, "scep_gateway_claims_taken_over_total",
                                        profile="default", by="poll")
        self.assertGreater(parked or 0, 0)
        self.assertGreater(by_poll or 0, 0)
        # A request cut off resends its identical bytes first (as HTTP
        # stacks and proxies retry): never refused as a replay, although the
        # dead request had recorded its senderNonce; the survivor counted
        # these as retransmissions.
        self.assertEqual(sum(r["replay_refusals"] for r in results), 0)
        resent = faults.harness.metric(survivor, "scep_gateway_retransmissions_total",
                                       profile="default")
        self.assertGreater(resent or 0, 0)

        self.assert_no_secret_in_logs()
        figures = {
            "scenario": name, "n": n, "concurrency": c,
            "io_errors": statuses.get("io", 0),
            "retried_transactions": sum(1 for r in results if r["attempts"] > 1),
            "fresh_nonce_resends": sum(r["fresh_nonce_resends"] for r in results),
            "replay_refusals": sum(r["replay_refusals"] for r in results),
            "pending_answers": sum(r["pending"] for r in results),
            "polls": sum(r["polls"] for r in results),
            "claims_parked": parked, "claims_taken_over_by_poll": by_poll,
            "retransmissions": resent,
            "signed_not_handed_out": signed - n,
            "last_done_after_kill_seconds": round(t_done - t_kill, 2),
            "bench_wall_seconds": report.get("wall_seconds"),
        }
        print("FAULT-FIGURES " + json.dumps(figures), file=sys.stderr)
        return figures
