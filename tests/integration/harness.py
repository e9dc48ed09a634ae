"""Starts the real stack for integration tests: a SoftHSMv2 token in a
temporary directory, redis-server on a free loopback port, scep-signer and
scep-gateway from the build tree. Nothing is faked."""

import atexit
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

BUILD_DIR = os.environ.get("SCEP_BUILD_DIR", os.path.join(
    os.path.dirname(__file__), "..", "..", "build"))
SOFTHSM_MODULE = os.environ.get("SCEP_PKCS11_MODULE",
                                "/usr/lib/softhsm/libsofthsm2.so")
IN_CI = os.environ.get("CI") == "true"


# `scripts/test --sanitize` runs these tests with SCEP_BUILD_DIR pointing
# at the ASan build and SCEP_UNSANITIZED_BUILD_DIR at the normal one: the
# gateway (and everything that loads no PKCS#11 module) runs under
# ASan+UBSan, while the signer and scep-provision, which load libp11 and
# SoftHSMv2 (not built with ASan), come from the normal build.
UNSANITIZED_DIR = os.environ.get("SCEP_UNSANITIZED_BUILD_DIR")
NEEDS_PKCS11 = ("scep-signer", "scep-provision")


def binary(name):
    root = UNSANITIZED_DIR if UNSANITIZED_DIR and name in NEEDS_PKCS11 else BUILD_DIR
    for sub in ("services/signer", "services/gateway", "services/provision",
                "tests/tools"):
        path = os.path.join(root, sub, name)
        if os.path.exists(path):
            return os.path.abspath(path)
    raise FileNotFoundError(f"{name} not built under {root}")


def require_tool(testcase, tool):
    """A missing tool fails under CI=true (CI installs it) and skips elsewhere."""
    if shutil.which(tool):
        return
    if IN_CI:
        testcase.fail(f"{tool} is not installed (scripts/install-deps installs it)")
    testcase.skipTest(f"{tool} not installed")


# Ports for the servers a test starts. bind(0) hands out a port from the
# kernel's ephemeral range, where the outgoing connections of the tests
# running in parallel take theirs too: between free_port() and the server's
# own bind another test's connect() could take it ("Unable to configure
# socket"). So ports come from below that range, and each is reserved
# machine-wide by a file naming the reserving process until it exits.
_PORT_DIR = os.path.join(tempfile.gettempdir(), "scep-test-ports")
_PORT_LOW = 20000
_reserved = []


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reserve(port):
    path = os.path.join(_PORT_DIR, str(port))
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                with open(path) as f:
                    owner = int(f.read().strip() or "0")
            except (OSError, ValueError):
                owner = 0
            # An empty file is a reservation being written right now.
            if owner == 0 or _alive(owner):
                return False
            try:
                os.unlink(path)  # left by a test that has exited
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        _reserved.append(path)
        return True
    return False


def _bindable(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _release_reserved():
    for path in _reserved:
        try:
            os.unlink(path)
        except OSError:
            pass


atexit.register(_release_reserved)


def free_port():
    """A loopback port nothing listens on, outside the ephemeral range and
    reserved for this process (see above)."""
    high = _ephemeral_low()
    if high - _PORT_LOW >= 1000:
        os.makedirs(_PORT_DIR, exist_ok=True)
        for _ in range(500):
            port = random.randrange(_PORT_LOW, high)
            if _reserve(port):
                if _bindable(port):
                    return port
    with socket.socket() as s:  # an unusual port range: the kernel's choice
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, timeout=30):
    """(status, headers, body) without raising on HTTP errors."""
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/x-pki-message")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class Stack:
    PIN = "4711-test-pin"
    RA_PIN = "2342-ra-token-pin"
    SO_PIN = "0815-test-so-pin"

    def __init__(self, challenge="Integration-Secret", legacy=True,
                 ca_key="rsa:2048", signer_tls=None, gateway_tls=None,
                 gateway_args=(), signer_args=(), admin_token=None,
                 profiles=None, issuing_cas=(), ra_key_file=False, ra_token=None,
                 ra_other_module=False, provision_args=(), http_port=None,
                 redis_sentinel=False, redis_tls=False):
        """signer_tls: dict(cert, key[, client_ca]) for the signer's gRPC
        TLS; gateway_tls: dict(ca[, cert, key]) for the gateway's side.
        Without them both run plaintext, which must be asked for
        explicitly (--insecure_plaintext). ra_key_file: the RA keys as PEM
        files beside their certificates (ra-key.pem), not in the token.
        ra_token: the RA keys in this other token (its own PIN, RA_PIN);
        ra_other_module: reached through a copy of the SoftHSMv2 module, as
        another HSM's library would be. redis_sentinel: a Redis Sentinel
        ("sentinel") monitors the stack's Redis as "scep", and the gateway
        finds Redis through it (--redis_sentinels) instead of its port.
        redis_tls: Redis listens for TLS only (no plain port) and asks for
        a client certificate (tls-auth-clients yes); a CA made here
        ({dir}/redis-tls/redis-ca.pem) issued its certificate and the
        gateway's (gateway.pem, .key), which the gateway is given with
        --redis_tls*; redis_cli() goes over TLS too."""
        self.redis_sentinel = redis_sentinel
        self.redis_tls = redis_tls
        self.challenge = challenge
        self.legacy = legacy
        self.ca_key = ca_key
        self.signer_tls = signer_tls
        self.gateway_tls = gateway_tls
        self.gateway_args = list(gateway_args)
        self.signer_args = list(signer_args)
        # Further issuing CAs (scep-signer --issuing_cas): provisioned into
        # the same token; their certificates in self.cas[name].
        self.issuing_cas = list(issuing_cas)
        self.cas = {}
        self.ra_key_file = ra_key_file
        self.ra_token = ra_token
        self.ra_other_module = ra_other_module
        self.provision_args = list(provision_args)  # the default CA's
        # Known before start when profiles must name the gateway's own URLs.
        self.http_port = http_port
        self.dir = tempfile.mkdtemp(prefix="scep-it-")
        self.procs = {}
        self.logs = {}
        # Admin API (issue 4): with admin_token the gateway serves it on
        # self.admin_port; profiles (a dict in the profiles-file schema) is
        # written to a file and passed with --profiles_file.
        self.admin_token = admin_token
        self.admin_port = None
        if admin_token:
            self.admin_port = free_port()
            self.admin_token_file = os.path.join(self.dir, "admin-token")
            with open(self.admin_token_file, "w") as f:
                f.write(admin_token + "\n")
            self.gateway_args += [f"--admin_port={self.admin_port}",
                                  f"--admin_token_file={self.admin_token_file}"]
        if profiles is not None:
            import json
            self.profiles_file = os.path.join(self.dir, "profiles.json")
            with open(self.profiles_file, "w") as f:
                json.dump(profiles, f)
            self.gateway_args.append(f"--profiles_file={self.profiles_file}")

    # -- set-up -----------------------------------------------------------
    def start(self):
        tokens = os.path.join(self.dir, "tokens")
        os.makedirs(tokens)
        self.softhsm_conf = os.path.join(self.dir, "softhsm2.conf")
        with open(self.softhsm_conf, "w") as f:
            f.write(f"directories.tokendir = {tokens}\n"
                    "objectstore.backend = file\nlog.level = ERROR\n")
        self.pin_file = os.path.join(self.dir, "pin")
        with open(self.pin_file, "w") as f:
            f.write(self.PIN + "\n")
        self.pki = os.path.join(self.dir, "pki")
        env = self.env(SCEP_HSM_PIN=self.PIN, SCEP_HSM_SO_PIN=self.SO_PIN)
        self.ra_key_pem = os.path.join(self.pki, "ra-key.pem") if self.ra_key_file else None
        ra_key_args = ["--ra-key-file", self.ra_key_pem] if self.ra_key_file else []
        if self.ra_token:
            self.ra_pin_file = os.path.join(self.dir, "ra-pin")
            with open(self.ra_pin_file, "w") as f:
                f.write(self.RA_PIN + "\n")
            ra_key_args = ["--ra-token-label", self.ra_token, "--ra-pin-file", self.ra_pin_file]
            if self.ra_other_module:
                self.ra_module_copy = os.path.join(self.dir, "other-hsm", "libsofthsm2-copy.so")
                os.makedirs(os.path.dirname(self.ra_module_copy))
                shutil.copy(SOFTHSM_MODULE, self.ra_module_copy)
                ra_key_args += ["--ra-module", self.ra_module_copy]
        out = subprocess.run(
            [binary("scep-provision"), "--module", SOFTHSM_MODULE,
             "--token-label", "scep-it", "--ca-key", self.ca_key,
             "--out-dir", self.pki] + ra_key_args + self.provision_args,
            env=env, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError("provisioning failed: " + out.stdout + out.stderr)
        self.provision_output = out.stdout + out.stderr
        for name in self.issuing_cas:
            ca_dir = os.path.join(self.pki, name)
            out = subprocess.run(
                [binary("scep-provision"), "--module", SOFTHSM_MODULE,
                 "--token-label", "scep-it", "--ca-label", "scep-ca-" + name,
                 "--ra-label", "scep-ra-" + name,
                 "--ca-subject", f"CN=SCEP {name} CA", "--ra-subject", f"CN=SCEP {name} RA",
                 "--out-dir", ca_dir, "--if-missing"]
                + (["--ra-key-file", os.path.join(ca_dir, "ra-key.pem")]
                   if self.ra_key_file else [])
                + (["--ra-token-label", self.ra_token, "--ra-pin-file", self.ra_pin_file]
                   if self.ra_token else [])
                + (["--ra-module", self.ra_module_copy] if self.ra_other_module else []),
                env=env, capture_output=True, text=True, timeout=120)
            if out.returncode != 0:
                raise RuntimeError(f"provisioning CA {name} failed: " + out.stdout + out.stderr)
            self.cas[name] = {"ca": os.path.join(ca_dir, "ca.pem"),
                              "ra": os.path.join(ca_dir, "ra.pem")}
        self.ca_pem = os.path.join(self.pki, "ca.pem")
        self.ra_pem = os.path.join(self.pki, "ra.pem")
        if self.redis_tls:
            self.make_redis_tls()
        self.start_redis()
        if self.redis_sentinel:
            self.start_sentinel()
        self.signer_port = free_port()
        self.signer_metrics_port = free_port()
        self.start_signer()
        self.http_port = self.http_port or free_port()
        self.metrics_port = free_port()
        self.start_gateway()
        self.wait_ready()
        return self

    def env(self, **extra):
        env = dict(os.environ)
        env["SOFTHSM2_CONF"] = self.softhsm_conf
        env.update(extra)
        return env

    def spawn(self, name, argv, env=None):
        path = os.path.join(self.dir, name + ".log")
        self.logs[name] = path
        with open(path, "ab") as log:  # the child keeps its own descriptor
            self.procs[name] = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env or self.env())

    def restart_redis(self):
        """Starts Redis again on the port it had (state is gone)."""
        self.start_redis(self.redis_port)

    def make_redis_tls(self):
        d = self.redis_tls_dir = os.path.join(self.dir, "redis-tls")
        os.makedirs(d)
        tls_ca(d, "redis-ca")
        tls_leaf(d, "redis", "redis-ca", "subjectAltName=IP:127.0.0.1,DNS:redis.test\n"
                 "extendedKeyUsage=serverAuth,clientAuth\n")
        tls_leaf(d, "gateway", "redis-ca", "extendedKeyUsage=clientAuth\n")
        self.gateway_args += ["--redis_tls", f"--redis_tls_ca_file={d}/redis-ca.pem",
                              f"--redis_tls_cert_file={d}/gateway.pem",
                              f"--redis_tls_key_file={d}/gateway.key"]

    def redis_tls_args(self):
        """redis-cli's options for the stack's TLS Redis ([] without)."""
        if not self.redis_tls:
            return []
        d = self.redis_tls_dir
        return ["--tls", "--cacert", f"{d}/redis-ca.pem", "--cert", f"{d}/gateway.pem",
                "--key", f"{d}/gateway.key"]

    def redis_listen_args(self):
        """redis-server's options for listening on self.redis_port: plain
        text, or with redis_tls TLS only, client certificates required."""
        if not self.redis_tls:
            return ["--port", str(self.redis_port)]
        d = self.redis_tls_dir
        return ["--port", "0", "--tls-port", str(self.redis_port),
                "--tls-cert-file", f"{d}/redis.pem", "--tls-key-file", f"{d}/redis.key",
                "--tls-ca-cert-file", f"{d}/redis-ca.pem", "--tls-auth-clients", "yes"]

    def redis_ssl_context(self):
        """A Python ssl context for the stack's TLS Redis (None without)."""
        if not self.redis_tls:
            return None
        import ssl
        d = self.redis_tls_dir
        ctx = ssl.create_default_context(cafile=f"{d}/redis-ca.pem")
        ctx.load_cert_chain(f"{d}/gateway.pem", f"{d}/gateway.key")
        return ctx

    def start_redis(self, port=None):
        self.redis_port = port or free_port()
        self.spawn("redis", ["redis-server", *self.redis_listen_args(),
                             "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", self.dir])
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.redis_port), 0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def start_sentinel(self):
        self.sentinel_port = free_port()
        conf = os.path.join(self.dir, "sentinel.conf")
        with open(conf, "w") as f:
            listen = f"port {self.sentinel_port}\n"
            if self.redis_tls:
                # TLS only, to its clients and to the primary it watches
                # (tls-replication), with Redis's certificate as its own.
                d = self.redis_tls_dir
                listen = (f"port 0\ntls-port {self.sentinel_port}\n"
                          f"tls-cert-file {d}/redis.pem\ntls-key-file {d}/redis.key\n"
                          f"tls-ca-cert-file {d}/redis-ca.pem\ntls-auth-clients yes\n"
                          "tls-replication yes\n")
            f.write(f"{listen}bind 127.0.0.1\ndir {self.dir}\n"
                    f"sentinel monitor scep 127.0.0.1 {self.redis_port} 1\n")
        self.spawn("sentinel", ["redis-server", conf, "--sentinel"])
        wait_for(lambda: subprocess.run(
            ["redis-cli", "-p", str(self.sentinel_port), *self.redis_tls_args(), "SENTINEL",
             "GET-MASTER-ADDR-BY-NAME", "scep"], capture_output=True, text=True,
            timeout=5).stdout.split() == ["127.0.0.1", str(self.redis_port)],
            timeout=10, what="the Sentinel")
        self.gateway_args += [f"--redis_sentinels=127.0.0.1:{self.sentinel_port}",
                              "--redis_sentinel_master=scep"]

    def start_signer(self):
        self.spawn("signer", self.signer_argv() + self.signer_args)

    def signer_argv(self):
        """The signer's command line as start_signer runs it (without
        signer_args)."""
        argv = [
            binary("scep-signer"), f"--listen=127.0.0.1:{self.signer_port}",
            f"--pkcs11_module={SOFTHSM_MODULE}", "--token_label=scep-it",
            f"--pin_file={self.pin_file}", f"--ca_cert={self.ca_pem}",
            f"--ra_cert={self.ra_pem}",
            f"--metrics_port={self.signer_metrics_port}",
            "--readiness_interval_ms=200"]
        if self.issuing_cas:
            argv.append("--issuing_cas=" + ",".join(self.issuing_cas))
        if self.ra_key_file:
            argv.append(f"--ra_key_file={self.ra_key_pem}")
        if self.ra_token:
            argv += [f"--ra_token_label={self.ra_token}", f"--ra_pin_file={self.ra_pin_file}"]
            if self.ra_other_module:
                argv.append(f"--ra_pkcs11_module={self.ra_module_copy}")
        if self.signer_tls:
            argv += [f"--tls_cert={self.signer_tls['cert']}",
                     f"--tls_key={self.signer_tls['key']}"]
            if self.signer_tls.get("client_ca"):
                argv.append(f"--tls_client_ca={self.signer_tls['client_ca']}")
        else:
            argv.append("--insecure_plaintext")
        return argv

    def gateway_argv(self, http_port, metrics_port, tls, extra=()):
        argv = [binary("scep-gateway"), f"--http_port={http_port}",
                f"--signer=dns:///127.0.0.1:{self.signer_port}",
                f"--redis_port={self.redis_port}", "--signer_deadline_ms=3000",
                f"--metrics_port={metrics_port}", "--readiness_interval_ms=200"]
        if tls:
            argv.append(f"--signer_tls_ca={tls['ca']}")
            if tls.get("cert"):
                argv += [f"--signer_tls_cert={tls['cert']}",
                         f"--signer_tls_key={tls['key']}"]
        else:
            argv.append("--insecure_plaintext")
        if self.legacy:
            argv.append("--allow_legacy")
        return argv + list(extra)

    def start_gateway(self, name="gateway", http_port=None, metrics_port=None,
                      tls="default", extra=None):
        """The stack's gateway by default; with a name and ports, another
        one against the same signer and Redis (e.g. with other TLS files)."""
        argv = self.gateway_argv(
            http_port or self.http_port, metrics_port or self.metrics_port,
            self.gateway_tls if tls == "default" else tls,
            self.gateway_args if extra is None else extra)
        self.spawn(name, argv, self.env(SCEP_CHALLENGE=self.challenge))

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited: " + self.log(name))
            try:
                status, _, _ = http("GET", self.url + "?operation=GetCACert", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("stack not ready: " + self.log("gateway"))

    @property
    def url(self):
        return f"http://127.0.0.1:{self.http_port}/scep"

    def log(self, name):
        with open(self.logs[name], errors="replace") as f:
            return f.read()

    def stop_process(self, name):
        p = self.procs.pop(name, None)
        if p and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def metrics_url(self, which="gateway"):
        port = self.metrics_port if which == "gateway" else self.signer_metrics_port
        return f"http://127.0.0.1:{port}"

    def scrape(self, which="gateway"):
        """Parsed /metrics of the gateway or the signer."""
        status, _, body = http("GET", self.metrics_url(which) + "/metrics", timeout=10)
        if status != 200:
            raise RuntimeError(f"/metrics of {which} answered {status}")
        return parse_exposition(body.decode())

    def readyz(self, which="gateway", port=None):
        """(status, body) of /readyz; (0, error) when nothing listens."""
        url = (f"http://127.0.0.1:{port}" if port else self.metrics_url(which))
        try:
            status, _, body = http("GET", url + "/readyz", timeout=5)
            return status, body.decode(errors="replace")
        except OSError as e:
            return 0, str(e)

    def wait_readyz(self, want, which="gateway", port=None, timeout=20):
        """Polls /readyz until it answers `want`; returns the last answer."""
        deadline = time.time() + timeout
        last = (None, "")
        while time.time() < deadline:
            last = self.readyz(which, port)
            if last[0] == want:
                return last
            time.sleep(0.1)
        return last

    def redis_cli(self, *args, timeout=60):
        """redis-cli against the stack's Redis; its output, stripped.
        Raises AssertionError when redis-cli fails."""
        out = subprocess.run(["redis-cli", "-p", str(self.redis_port), *self.redis_tls_args(),
                              *args],
                             capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise AssertionError(f"redis-cli {args[:1]} failed: {out.stderr}")
        return out.stdout.strip()

    def stop(self):
        for name in list(self.procs):
            if name not in ("signer", "redis"):
                self.stop_process(name)
        for name in ("signer", "redis"):
            self.stop_process(name)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- device side ------------------------------------------------------
    def probe_request(self, name, tid, nonce_hex, challenge=None, ra=None, **extra):
        """Builds a PKCSReq with scep-probe; the device key is reused per name.
        ra: the RA certificate to encrypt to (default: the default CA's)."""
        d = os.path.join(self.dir, "dev-" + name)
        os.makedirs(d, exist_ok=True)
        out = os.path.join(d, f"req-{tid}-{nonce_hex}.der")
        argv = [binary("scep-probe"), "build", "--ra", ra or self.ra_pem,
                "--key", os.path.join(d, "key.pem"),
                "--cert", os.path.join(d, "cert.pem"), "--cn", name,
                "--san", name + ".devices.example",
                "--challenge", self.challenge if challenge is None else challenge,
                "--tid", tid, "--nonce", nonce_hex, "--out", out]
        for k, v in extra.items():
            argv += ["--" + k, v]
        subprocess.run(argv, check=True, timeout=60)
        with open(out, "rb") as f:
            return f.read()

    def scepctl(self, *args, token="default", timeout=60, input=None):
        """Runs scepctl against this stack's admin API; token=None sends
        none; input: its standard input (text). Returns the
        CompletedProcess (text)."""
        path = os.path.join(BUILD_DIR, "services", "scepctl", "scepctl")
        argv = [os.path.abspath(path), "--server", f"127.0.0.1:{self.admin_port}"]
        env = dict(os.environ)
        env.pop("SCEP_ADMIN_TOKEN", None)
        if token == "default":
            argv += ["--token-file", self.admin_token_file]
        elif token is not None:
            env["SCEP_ADMIN_TOKEN"] = token
        return subprocess.run(argv + list(args), capture_output=True, text=True,
                              timeout=timeout, env=env, input=input)

    def probe_open(self, name, reply, cert=None):
        """Opens a CertRep for device `name`; cert: the certificate the
        request was signed with (a renewal's), default its self-signed one."""
        import json
        d = os.path.join(self.dir, "dev-" + name)
        rep = os.path.join(d, "reply.der")
        certs = os.path.join(d, "issued.pem")
        with open(rep, "wb") as f:
            f.write(reply)
        out = subprocess.run(
            [binary("scep-probe"), "open", "--key", os.path.join(d, "key.pem"),
             "--cert", cert or os.path.join(d, "cert.pem"), "--in", rep,
             "--certs-out", certs],
            check=True, capture_output=True, text=True, timeout=60)
        result = json.loads(out.stdout)
        result["pem"] = ""
        if os.path.exists(certs):
            with open(certs) as f:
                result["pem"] = f.read()
        return result


def parse_exposition(text):
    """Prometheus text exposition 0.0.4 -> {(name, frozenset(labels)): value}.
    Label values are unescaped (backslash, quote, newline)."""
    import re
    samples = {}
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$')
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = line_re.match(line)
        if not m:
            raise ValueError("bad exposition line: " + line)
        labels = {}
        if m.group(3):
            for k, v in label_re.findall(m.group(3)):
                labels[k] = (v.replace("\\n", "\n").replace('\\"', '"')
                             .replace("\\\\", "\\"))
        samples[(m.group(1), frozenset(labels.items()))] = float(m.group(4))
    return samples


def metric(samples, name, **labels):
    """Sum of the samples named `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def post_until_served(stack, make_request, timeout=20):
    """POSTs make_request() (a fresh pkiMessage each time: nonces are single
    use) to PKIOperation until the answer is not 503. Right after a signer
    restart the gateway's channel may still be reconnecting, and 503 with
    Retry-After is what a device retries. Returns (status, headers, body)."""
    deadline = time.time() + timeout
    while True:
        reply = http("POST", stack.url + "?operation=PKIOperation", make_request())
        if reply[0] != 503 or time.time() > deadline:
            return reply
        time.sleep(0.2)


def pkcs11_private_keys(testcase, stack, token, pin):
    """pkcs11-tool's listing of the private keys of `token` (logged in with
    `pin`). pkcs11-tool picks the first token whose label *starts* with the
    one given: tests keep their token labels prefix-free."""
    require_tool(testcase, "pkcs11-tool")
    out = subprocess.run(
        ["pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", token,
         "--login", "--pin", pin, "--list-objects", "--type", "privkey"],
        env=stack.env(), capture_output=True, text=True, timeout=60)
    testcase.assertEqual(out.returncode, 0, out.stderr)
    return out.stdout


def wait_for(predicate, timeout=20, what="condition"):
    """predicate()'s first true value, polled every 0.1 s; AssertionError
    naming `what` after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def openssl(*args, input=None):
    return subprocess.run(["openssl", *args], input=input, capture_output=True,
                          check=True, timeout=60).stdout


def tls_ca(d, name):
    """A P-256 test CA: {d}/{name}.pem and .key."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.pem",
            "-days", "2", "-subj", f"/CN={name}")


def tls_leaf(d, name, issuer, ext):
    """A P-256 certificate for CN={name} issued by the test CA `issuer`,
    with `ext` (openssl x509 -extfile lines): {d}/{name}.pem and .key."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr", "-subj", f"/CN={name}")
    with open(f"{d}/{name}.ext", "w") as f:
        f.write(ext)
    openssl("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/{issuer}.pem",
            "-CAkey", f"{d}/{issuer}.key", "-CAcreateserial", "-days", "2",
            "-extfile", f"{d}/{name}.ext", "-out", f"{d}/{name}.pem")
