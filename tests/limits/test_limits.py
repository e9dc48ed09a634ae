"""Input limits of the device-facing gateway against the real stack
(issue 8): body and header limits, slow clients, many connections,
malformed DER, wrong content types, oversized CSRs. Every case must get a
clear answer (an HTTP 4xx, or a signed CertRep FAILURE), and the gateway
must still be alive and serving afterwards.

Python 3 standard library only; the stack comes from
tests/integration/harness.py. Figures (cases tried, slowloris cut-off) are
printed at the end and quoted in SECURITY.md."""

import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness  # noqa: E402

TESTDATA = os.path.join(os.path.dirname(__file__), "..", "testdata")
MAX_BODY = 64 * 1024        # gateway default --max_body_bytes
# The gateway's request line and headers: room for a GET PKIOperation as
# large as a POST body (services/gateway/main.cc).
MAX_HEADER = 8 * 1024 + MAX_BODY * 3 // 2
READ_TIMEOUT = 15           # HttpServerOptions::read_timeout default; no flag

# DER of the SCEP signed attributes (RFC 8894 section 3.2.1): the OID,
# then SET { PrintableString "<digit>" }.
PKI_STATUS_OID = bytes.fromhex("060a6086480186f84501090" + "3")
FAIL_INFO_OID = bytes.fromhex("060a6086480186f84501090" + "4")

CASES = {"tried": 0}


def attribute_digit(der, oid):
    """The single-digit PrintableString value after `oid`, or None."""
    i = der.find(oid + b"\x31\x03\x13\x01")
    if i < 0:
        return None
    return chr(der[i + len(oid) + 4])


def raw_exchange(port, data, timeout=30, shut_write=True):
    """Sends raw bytes, returns everything read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
            if shut_write:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed early after answering (413, 431)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


def status_of(response):
    if not response.startswith(b"HTTP/1.1 "):
        return None
    return int(response[9:12])


class LimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack(legacy=True).start()
        cls.port = cls.stack.http_port
        cls.tmp = tempfile.mkdtemp(prefix="scep-limits-", dir=cls.stack.dir)

    @classmethod
    def tearDownClass(cls):
        print(f"\nlimits: {CASES['tried']} hostile inputs tried", file=sys.stderr)
        cls.stack.stop()

    def tearDown(self):
        self.assert_alive()

    # -- helpers ----------------------------------------------------------
    def assert_alive(self):
        gw = self.stack.procs["gateway"]
        self.assertIsNone(gw.poll(), "gateway died:\n" + self.stack.log("gateway")[-4000:])
        status, _, body = harness.http(
            "GET", self.stack.url + "?operation=GetCACaps", timeout=10)
        self.assertEqual(status, 200)
        self.assertIn(b"AES", body)

    def post(self, body, content_type="application/x-pki-message"):
        CASES["tried"] += 1
        head = (f"POST /scep?operation=PKIOperation HTTP/1.1\r\nHost: t\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n").encode()
        return raw_exchange(self.port, head + body)

    def assert_refused(self, body, what, content_type="application/x-pki-message"):
        """A clear refusal: 400, or a signed CertRep with pkiStatus FAILURE."""
        response = self.post(body, content_type)
        status = status_of(response)
        self.assertIsNotNone(status, f"{what}: no HTTP answer: {response[:80]!r}")
        if status == 400:
            return 400, None
        self.assertEqual(status, 200, f"{what}: {response[:200]!r}")
        payload = response.split(b"\r\n\r\n", 1)[1]
        self.assertEqual(attribute_digit(payload, PKI_STATUS_OID), "2",
                         f"{what}: CertRep is not a FAILURE")
        return 200, attribute_digit(payload, FAIL_INFO_OID)

    def wrap_csr(self, csr_der):
        """A valid, signed PKCSReq whose encrypted CSR is `csr_der`."""
        src = os.path.join(self.tmp, f"csr-{random.random()}.der")
        out = src + ".req"
        with open(src, "wb") as f:
            f.write(csr_der)
        tool = os.environ.get("SCEP_LIMITS_REQUEST") or os.path.join(
            harness.BUILD_DIR, "tests", "limits", "scep-limits-request")
        subprocess.run([tool, "--ra", self.stack.ra_pem, "--csr", src,
                        "--out", out], check=True, timeout=60)
        with open(out, "rb") as f:
            return f.read()

    def csr(self, sans=0, extra_cn=0, challenge=None):
        key = os.path.join(self.tmp, "dev.key")
        if not os.path.exists(key):
            harness.openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-out", key)
        conf = os.path.join(self.tmp, "req.cnf")
        cn = "limits-device" + "x" * extra_cn
        with open(conf, "w") as f:
            f.write("[req]\ndistinguished_name=dn\nattributes=at\nprompt=no\n"
                    "req_extensions=ext\n[dn]\nCN=" + cn[:64] + "\n")
            for i in range(extra_cn // 64):
                f.write(f"{i}.OU={'o' * 64}\n")
            f.write("[at]\nchallengePassword="
                    + (challenge or self.stack.challenge) + "\n[ext]\n")
            if sans:
                f.write("subjectAltName=@alt\n[alt]\n")
                for i in range(sans):
                    f.write(f"DNS.{i}=host{i}.limits.example\n")
            else:
                f.write("basicConstraints=CA:FALSE\n")
        return harness.openssl("req", "-new", "-config", conf, "-key", key,
                               "-outform", "DER")

    # -- HTTP limits ------------------------------------------------------
    def test_body_over_limit_is_413(self):
        for size in (MAX_BODY + 1, 4 * MAX_BODY, 1 << 24):
            CASES["tried"] += 1
            head = (f"POST /scep?operation=PKIOperation HTTP/1.1\r\nHost: t\r\n"
                    f"Content-Length: {size}\r\n\r\n").encode()
            # Only the header and a little of the body: the limit is
            # enforced on the declared length, before buffering.
            self.assertEqual(status_of(raw_exchange(self.port, head + b"0" * 1024)),
                             413, size)
        # Chunked: no length up front, the limit still holds.
        CASES["tried"] += 1
        chunk = b"0" * 8192
        body = b"".join(b"2000\r\n" + chunk + b"\r\n" for _ in range(10)) + b"0\r\n\r\n"
        head = (b"POST /scep?operation=PKIOperation HTTP/1.1\r\nHost: t\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        self.assertEqual(status_of(raw_exchange(self.port, head + body)), 413)

    def test_body_at_limit_is_parsed(self):
        status, _ = self.assert_refused(os.urandom(MAX_BODY), "64 KiB of noise")
        self.assertEqual(status, 400)

    def test_oversized_headers_are_431(self):
        cases = [
            b"GET /scep?operation=GetCACaps HTTP/1.1\r\nHost: t\r\nX-Big: "
            + b"a" * (MAX_HEADER + 1) + b"\r\n\r\n",
            b"GET /scep?operation=GetCACaps HTTP/1.1\r\nHost: t\r\n"
            + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 60)
                       for i in range(MAX_HEADER // 60 + 1)) + b"\r\n",
            b"GET /scep?operation=GetCACaps&pad=" + b"p" * (MAX_HEADER + 1)
            + b" HTTP/1.1\r\nHost: t\r\n\r\n",
        ]
        for data in cases:
            CASES["tried"] += 1
            self.assertEqual(status_of(raw_exchange(self.port, data)), 431)

    def test_garbage_http_is_400(self):
        for data in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),
                     b"GET / HTTP/9.9\r\n\r\n", b"GET\r\n\r\n",
                     b"POST /scep HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                     b"POST /scep HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                     b"POST /scep HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                     b"GET /scep%zz HTTP/1.1\r\nHost: t\r\n\r\n"):
            CASES["tried"] += 1
            self.assertEqual(status_of(raw_exchange(self.port, data)), 400, data[:40])

    def test_slow_clients_are_cut_off(self):
        """Slowloris: a client that sends part of a header and stops, and
        one that trickles a byte a second, are both closed once the read
        timeout (default 15 s: scep-gateway has no flag for it) runs out."""
        results = {}

        def stalled():
            start = time.monotonic()
            with socket.create_connection(("127.0.0.1", self.port), timeout=60) as s:
                s.sendall(b"POST /scep?operation=PKIOperation HTTP/1.1\r\nHost: t\r\n")
                data = s.recv(1024)
                results["stalled"] = (time.monotonic() - start, data)

        def trickle():
            start = time.monotonic()
            with socket.create_connection(("127.0.0.1", self.port), timeout=60) as s:
                s.settimeout(1.0)
                payload = b"POST /scep?operation=PKIOperation HTTP/1.1\r\nX-Slow: " + b"s" * 1000
                for b in payload:
                    try:
                        s.sendall(bytes([b]))
                        if s.recv(1024) == b"":
                            break
                    except socket.timeout:
                        continue
                    except (BrokenPipeError, ConnectionResetError):
                        break
                results["trickle"] = (time.monotonic() - start, b"")

        threads = [threading.Thread(target=stalled), threading.Thread(target=trickle)]
        for t in threads:
            t.start()
        # A normal client is served while both hold their connections.
        time.sleep(2)
        self.assert_alive()
        for t in threads:
            t.join(90)
        CASES["tried"] += 2
        for name in ("stalled", "trickle"):
            self.assertIn(name, results, f"{name} client never cut off")
            elapsed = results[name][0]
            print(f"\nlimits: {name} client closed after {elapsed:.1f} s",
                  file=sys.stderr)
            self.assertGreaterEqual(elapsed, READ_TIMEOUT - 1, name)
            self.assertLess(elapsed, READ_TIMEOUT + 10, name)

    def test_many_connections(self):
        """1000 idle connections at once: the gateway keeps serving."""
        socks = []
        try:
            for _ in range(1000):
                socks.append(socket.create_connection(("127.0.0.1", self.port), timeout=10))
            CASES["tried"] += len(socks)
            self.assert_alive()
            # Half of them send a request; each is answered.
            for s in socks[:100]:
                s.sendall(b"GET /scep?operation=GetCACaps HTTP/1.1\r\nHost: t\r\n\r\n")
            for s in socks[:100]:
                self.assertTrue(s.recv(65536).startswith(b"HTTP/1.1 200"))
        finally:
            for s in socks:
                s.close()

    # -- malformed DER ----------------------------------------------------
    def test_random_bytes(self):
        rng = random.Random(8)
        for _ in range(50):
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4096)))
            self.assertEqual(self.assert_refused(body, "random")[0], 400)
        # Random bytes behind a valid SEQUENCE / ContentInfo header.
        for _ in range(20):
            tail = bytes(rng.randrange(256) for _ in range(500))
            self.assertEqual(self.assert_refused(
                b"\x30\x82\x01\xf4" + tail, "sequence")[0], 400)

    def test_truncated_real_requests(self):
        with open(os.path.join(TESTDATA, "strongswan-pkcsreq-aes-sha256.der"), "rb") as f:
            der = f.read()
        for n in list(range(0, 64)) + list(range(64, len(der), 97)) + [len(der) - 1]:
            if n == 0:
                continue  # empty body: "empty pkiMessage", 400 as well
            self.assertEqual(self.assert_refused(der[:n], f"truncated {n}")[0], 400)

    def test_deep_nesting_and_huge_lengths(self):
        cases = {
            "indefinite nesting": b"\x30\x80" * 30000,
            "context nesting": b"\xa0\x80" * 30000,
            "huge sequence": b"\x30\x84\xff\xff\xff\xff" + b"\x00" * 100,
            "huge integer": b"\x30\x0a\x02\x84\x7f\xff\xff\xff" + b"\x01\x02",
            "8-byte length": b"\x30\x88\x7f\xff\xff\xff\xff\xff\xff\xff\x00",
            "integer of 60 KiB": b"\x02\x82\xea\x60" + b"\x7f" * 60000,
            "oid of 60 KiB": b"\x06\x82\xea\x60" + b"\x81" * 59999 + b"\x01",
        }
        for what, body in cases.items():
            self.assertEqual(self.assert_refused(body, what)[0], 400, what)

    def test_content_types(self):
        """The body decides, not the Content-Type (RFC 8894 section 4.3
        names application/x-pki-message, but clients vary): garbage is 400
        whatever it claims, a real request is answered whatever it claims."""
        for ct in ("text/html", "application/json", "multipart/form-data; boundary=x",
                   "application/x-www-form-urlencoded", "\x7f"):
            self.assertEqual(self.assert_refused(b"not der", ct, ct)[0], 400, ct)
        with open(os.path.join(TESTDATA, "strongswan-pkcsreq-aes-sha256.der"), "rb") as f:
            der = f.read()
        for ct in ("text/plain", "application/octet-stream"):
            response = self.post(der, ct)
            # A capture for another RA: a signed FAILURE, never a crash.
            self.assertEqual(status_of(response), 200, ct)
            self.assertEqual(attribute_digit(response.split(b"\r\n\r\n", 1)[1],
                                             PKI_STATUS_OID), "2")
        CASES["tried"] += 2

    # -- hostile content behind a valid envelope --------------------------
    def test_garbage_csr_in_valid_envelope(self):
        for what, csr in {"random": os.urandom(700),
                          "nesting": b"\x30\x80" * 5000,
                          "huge integer": b"\x30\x0a\x02\x84\x7f\xff\xff\xff\x01\x02",
                          "empty sequence": b"\x30\x00"}.items():
            status, fail = self.assert_refused(self.wrap_csr(csr), what)
            self.assertEqual((status, fail), (200, "1"), what)  # badMessageCheck

    def test_oversized_subject_is_refused(self):
        """A 40 KiB subject: refused by the profile's max_subject_bytes
        (default 1024) with a signed FAILURE badRequest, never issued."""
        req = self.wrap_csr(self.csr(extra_cn=40 * 1024))
        self.assertLess(len(req), MAX_BODY)
        status, fail = self.assert_refused(req, "40 KiB subject")
        self.assertEqual((status, fail), (200, "2"))  # badRequest

    def test_thousand_sans_never_crash(self):
        req = self.wrap_csr(self.csr(sans=1000))
        self.assertLess(len(req), MAX_BODY)
        CASES["tried"] += 1
        response = self.post(req)
        self.assertIn(status_of(response), (200, 400), response[:200])

    def test_thousand_sans_are_refused(self):
        """Oversized SAN lists are refused by profile policy (max_sans,
        default 20), not issued."""
        status, fail = self.assert_refused(self.wrap_csr(self.csr(sans=1000)),
                                           "1000 SANs")
        self.assertEqual((status, fail), (200, "2"))  # badRequest


if __name__ == "__main__":
    unittest.main()
