"""OCSP must not starve enrollment: scep-signer signs OCSP answers on
workers of its own (--ocsp_workers) with a bounded queue
(--ocsp_max_queue); a flood of OCSP requests for distinct certificates
(each needs a fresh CA signature) beyond that is answered 503 +
Retry-After with OCSP `tryLater`, while enrollment keeps its workers. Real
SoftHSMv2, redis-server, signer and gateway."""

import os
import signal
import subprocess
import threading
import time
import unittest

from harness import Stack, http, metric, openssl

PKI_OP = "?operation=PKIOperation"


class OcspShareOfTheSignerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(
            signer_args=["--ocsp_workers=1", "--ocsp_max_queue=1"],
            # No per-client cap: one address floods here.
            gateway_args=["--ocsp_fresh_per_client_per_minute=0"]).start()
        cls.base = f"http://127.0.0.1:{cls.stack.http_port}"

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def ocsp_request(self, serial):
        path = os.path.join(self.stack.dir, f"ocsp-{serial}.der")
        openssl("ocsp", "-issuer", self.stack.ca_pem, "-serial", str(serial), "-no_nonce",
                "-reqout", path)
        with open(path, "rb") as f:
            return f.read()

    def test_an_ocsp_flood_is_shed_and_enrollment_goes_on(self):
        requests = [self.ocsp_request(1000 + i) for i in range(24)]
        answers = [None] * len(requests)

        def send(i):
            answers[i] = http("POST", self.base + "/ocsp", requests[i], timeout=30)

        signer = self.stack.procs["signer"]
        # The calls pile up while the signer is stopped and reach it at once.
        signer.send_signal(signal.SIGSTOP)
        try:
            threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
            for t in threads:
                t.start()
            time.sleep(0.5)
        finally:
            signer.send_signal(signal.SIGCONT)
        for t in threads:
            t.join(60)
        statuses = [a[0] for a in answers]
        self.assertEqual(set(statuses) - {200, 503}, set(), statuses)
        shed = [a for a in answers if a[0] == 503]
        self.assertGreater(len(shed), 0, statuses)
        self.assertGreater(statuses.count(200), 0, statuses)
        for status, headers, body in shed:
            self.assertIn("Retry-After", headers)
            self.assertEqual(headers.get("Content-Type"), "application/ocsp-response")
            parsed = subprocess.run(["openssl", "ocsp", "-respin", "/dev/stdin", "-resp_text",
                                     "-noverify"], input=body, capture_output=True)
            self.assertIn(b"trylater (3)", parsed.stdout + parsed.stderr)
        signer_metrics = self.stack.scrape("signer")
        self.assertEqual(metric(signer_metrics, "scep_signer_ocsp_shed_total"), len(shed))
        # Enrollment is not held back by OCSP's share.
        request = self.stack.probe_request("share", "tid-share", os.urandom(16).hex())
        status, _, body = http("POST", self.stack.url + PKI_OP, request)
        self.assertEqual(status, 200)
        self.assertEqual(self.stack.probe_open("share", body)["pkiStatus"], 0)
        # Once the flood is over, the same requests are answered.
        status, _, _ = http("POST", self.base + "/ocsp", requests[0])
        self.assertEqual(status, 200)


if __name__ == "__main__":
    unittest.main()
