"""Checks of the Helm chart (helm/scep) that run without a cluster.

- every YAML file of the chart parses (PyYAML), every JSON file parses;
- values.yaml, and each examples/*.yaml merged over it, validate against
  values.schema.json (jsonschema), and the schema refuses typos;
- values.yaml documents every field;
- every template balances its {{ }} actions and its if/range/with/define
  ... end blocks; every include names a defined template;
- every .Values path a template uses exists in values.yaml, and every
  value in values.yaml is used by some template;
- the Grafana dashboard uses only metric-name variables it defines;
- static render checks (no template engine: they read the template text,
  ignoring conditions): every key a template mounts from a Secret or
  ConfigMap that the chart itself creates (or cert-manager writes) is
  defined there; every /secrets/... path a container's arguments name is
  projected into its secrets volume, which is mounted whole (no subPath:
  rotated Secrets, e.g. the Redis TLS files, reach the pods); every
  NetworkPolicy, Service and workload selects pods by the component labels
  a workload's pod template sets, the signer admits only gateways and the
  bundled Redis only gateways; the admin API has its own ClusterIP Service,
  stays off the device-facing Service and the Ingress, and its
  NetworkPolicy rule exists only with a non-empty `adminFrom`;
- plain manifests (examples/prerequisites.yaml) pass `kubectl apply
  --dry-run=client` against a loopback fake API server (when kubectl is
  on PATH);
- rendered, by `helm` where it is on PATH, else by the stand-in
  (helm_standin.py over chart-render, tests/deploy/chart_render: Go's
  text/template with sprig and helm's own functions, the engine helm uses,
  and the values schema checked as helm does; built with the project when
  Go is installed, which scripts/install-deps does): lint, template with the defaults, with
  every optional feature on (examples/all-features.yaml), with each example
  and with an external Redis ACL user, Redis Sentinel and Redis over TLS
  (private CA, client certificate, server name; and the system trust
  store), then kubectl dry-run and the same selector / mounted-key /
  admin-exposure checks on the rendered objects and the gateway's Redis
  flags and files; helm template refuses the combinations the schema
  cannot express;
- rendered behaviour an install depends on: the gateway's idle timeout
  above the proxies' (60 s), the Ingress routing /cgi-bin/pkiclient.exe,
  the bundled Redis's --maxmemory below its memory limit, each example's
  hook URLs admitted by its egress rules, signer.pki.revision rolling the
  signer, one audit file per signer pod ($(POD_NAME) defined in env),
  generated secrets drawn once per render; with the stand-in, `lookup`
  fed a cluster's objects (--lookup): a Secret in the cluster kept, a
  ReadWriteOnce audit claim shared by several signers refused.

PyYAML and jsonschema are Debian packages (python3-yaml,
python3-jsonschema; scripts/install-deps installs them): missing, they skip
the checks that need them, except under CI=true, where they fail.
"""

import copy
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
CHART = os.path.join(REPO, "helm", "scep")
TEMPLATES = os.path.join(CHART, "templates")
EXAMPLES = os.path.join(CHART, "examples")
IN_CI = os.environ.get("CI") == "true"

sys.path.insert(0, HERE)
from fake_apiserver import FakeApiServer  # noqa: E402

try:
    import yaml
except ImportError:  # handled per test
    yaml = None
try:
    import jsonschema
except ImportError:
    jsonschema = None


def need(test, module, package):
    if module is None:
        message = f"{package} is not installed (scripts/install-deps installs it)"
        if IN_CI:
            test.fail(message)
        test.skipTest(message)


def load_yaml_file(path):
    with open(path) as f:
        return list(yaml.safe_load_all(f))


def deep_merge(base, override):
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# ---- Go template scanning -------------------------------------------------

ACTION_END = re.compile(r"\s*-?}}")


def template_actions(text, path):
    """Yields (line, action body) for each {{ }} action; raises on imbalance."""
    i = 0
    while True:
        start = text.find("{{", i)
        close = text.find("}}", i)
        if start < 0:
            if close >= 0:
                raise AssertionError(
                    f"{path}:{text.count(chr(10), 0, close) + 1}: '}}}}' without '{{{{'")
            return
        if 0 <= close < start:
            raise AssertionError(
                f"{path}:{text.count(chr(10), 0, close) + 1}: '}}}}' without '{{{{'")
        line = text.count("\n", 0, start) + 1
        j = start + 2
        if text.startswith("-", j):
            j += 1
        body_start = j
        # Scan to the closing }}, skipping string and char literals and
        # comments, the way text/template's lexer does.
        while True:
            if j >= len(text):
                raise AssertionError(f"{path}:{line}: '{{{{' never closed")
            c = text[j]
            if text.startswith("/*", j):
                k = text.find("*/", j + 2)
                if k < 0:
                    raise AssertionError(f"{path}:{line}: comment never closed")
                j = k + 2
                continue
            if c in "\"'`":
                k = j + 1
                while k < len(text) and text[k] != c:
                    if c != "`" and text[k] == "\\":
                        k += 1
                    if c != "`" and text[k] == "\n":
                        raise AssertionError(f"{path}:{line}: unterminated string")
                    k += 1
                j = k + 1
                continue
            if text.startswith("}}", j):
                body = text[body_start:j]
                if body.endswith("-") and body[:-1].endswith((" ", "\t", "\n")):
                    body = body[:-1]
                yield line, body.strip()
                i = j + 2
                break
            if text.startswith("{{", j):
                raise AssertionError(f"{path}:{line}: '{{{{' inside an action")
            j += 1


def strip_strings(body):
    return re.sub(r'"(\\.|[^"\\])*"|`[^`]*`', '""', body)


def check_blocks(path):
    """Returns (defines, includes) after checking the block structure."""
    with open(path) as f:
        text = f.read()
    stack = []
    defines, includes = [], []
    for line, body in template_actions(text, path):
        if body.startswith("/*"):
            if not body.endswith("*/"):
                raise AssertionError(f"{path}:{line}: a comment must fill its action")
            continue
        words = body.split()
        if not words:
            raise AssertionError(f"{path}:{line}: empty action")
        keyword = words[0]
        if keyword in ("if", "range", "with", "define", "block"):
            stack.append((keyword, line))
            if keyword in ("define", "block"):
                name = re.match(r'\w+\s+"([^"]+)"', body)
                if not name:
                    raise AssertionError(f"{path}:{line}: {keyword} without a quoted name")
                defines.append(name.group(1))
        elif keyword == "else":
            if not stack or stack[-1][0] not in ("if", "with", "range"):
                raise AssertionError(f"{path}:{line}: else outside if/with/range")
        elif keyword == "end":
            if len(words) != 1:
                raise AssertionError(f"{path}:{line}: 'end' takes no argument")
            if not stack:
                raise AssertionError(f"{path}:{line}: 'end' without an open block")
            stack.pop()
        for name in re.findall(r'\b(?:include|template)\s+"([^"]+)"', body):
            includes.append((line, name))
        if strip_strings(body).count("(") != strip_strings(body).count(")"):
            raise AssertionError(f"{path}:{line}: unbalanced parentheses in '{body}'")
    if stack:
        keyword, line = stack[-1]
        raise AssertionError(f"{path}:{line}: '{keyword}' never closed by 'end'")
    return defines, includes


VALUES_REF = re.compile(r"\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
ALIAS = re.compile(r"(\$[A-Za-z_][A-Za-z0-9_]*)\s*:?=\s*\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*$")
ALIAS_USE = re.compile(r"(\$[A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def values_references(path):
    """Every .Values path a template uses: literal, or through an alias
    `$x := .Values.a.b` later used as `$x.c`. Returns [(line, dotted)]."""
    with open(path) as f:
        text = f.read()
    aliases, refs = {}, []
    for line, body in template_actions(text, path):
        if body.startswith("/*"):
            continue
        code = strip_strings(body)
        alias = ALIAS.search(code)
        for match in VALUES_REF.finditer(code):
            refs.append((line, match.group(1)[1:]))
        for name, rest in ALIAS_USE.findall(code):
            if name in aliases and not (alias and alias.group(1) == name):
                prefix = aliases[name]
                refs.append((line, (prefix + rest) if prefix else rest[1:]))
        if alias:
            aliases[alias.group(1)] = alias.group(2)[1:]
    return refs


def resolve(values, dotted):
    node = values
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, dict) and not node:
            return True  # a free-form map (e.g. podAnnotations: {})
        else:
            return False
    return True


def leaf_paths(values, prefix=""):
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from leaf_paths(value, path + ".")
        else:
            yield path


# ---- the checks -----------------------------------------------------------

class ChartFiles(unittest.TestCase):
    def yaml_files(self):
        files = [p for p in glob.glob(os.path.join(CHART, "**", "*.y*ml"), recursive=True)
                 if not p.startswith(TEMPLATES + os.sep)]
        self.assertTrue(files)
        return files

    def test_yaml_files_parse(self):
        need(self, yaml, "python3-yaml")
        for path in self.yaml_files():
            with self.subTest(path=os.path.relpath(path, REPO)):
                docs = load_yaml_file(path)
                self.assertTrue(any(d is not None for d in docs), "empty YAML file")

    def test_json_files_parse(self):
        files = glob.glob(os.path.join(CHART, "**", "*.json"), recursive=True)
        self.assertGreaterEqual(len(files), 2)
        for path in files:
            with self.subTest(path=os.path.relpath(path, REPO)):
                with open(path) as f:
                    json.load(f)

    def test_chart_metadata(self):
        need(self, yaml, "python3-yaml")
        chart = load_yaml_file(os.path.join(CHART, "Chart.yaml"))[0]
        self.assertEqual(chart["apiVersion"], "v2")
        self.assertEqual(chart["name"], "scep")
        self.assertRegex(str(chart["version"]), r"^\d+\.\d+\.\d+")
        for required in ("NOTES.txt", "_helpers.tpl"):
            self.assertTrue(os.path.exists(os.path.join(TEMPLATES, required)), required)
        self.assertTrue(os.path.exists(os.path.join(CHART, "README.md")))

    def test_values_document_every_field(self):
        """Every key of values.yaml has a comment right above it, or sits in
        a block whose key is documented with `# --` as a whole."""
        with open(os.path.join(CHART, "values.yaml")) as f:
            lines = f.read().splitlines()
        undocumented = []
        parents = []  # (indent, documented_as_whole)
        previous = ""
        block_whole = False  # the comment block above starts with "# --"
        for number, line in enumerate(lines, 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#") or stripped.startswith("- "):
                if stripped.startswith("#"):
                    if not previous.startswith("#"):
                        block_whole = False
                    block_whole = block_whole or stripped.startswith("# --")
                if stripped:
                    previous = stripped
                else:
                    previous, block_whole = "", False
                continue
            match = re.match(r"^(\s*)([A-Za-z0-9_.-]+):(.*)$", line)
            if not match:
                previous = stripped
                continue
            indent = len(match.group(1))
            while parents and parents[-1][0] >= indent:
                parents.pop()
            documented = previous.startswith("#")
            whole = documented and block_whole
            inherited = any(p[1] for p in parents)
            is_leaf = match.group(3).strip() != ""
            if is_leaf and not documented and not inherited:
                undocumented.append(f"values.yaml:{number}: {stripped}")
            parents.append((indent, whole and not is_leaf))
            previous, block_whole = stripped, False
        self.assertEqual(undocumented, [], "fields without a comment")


class ValuesSchema(unittest.TestCase):
    def setUp(self):
        need(self, yaml, "python3-yaml")
        need(self, jsonschema, "python3-jsonschema")
        with open(os.path.join(CHART, "values.schema.json")) as f:
            self.schema = json.load(f)
        self.values = load_yaml_file(os.path.join(CHART, "values.yaml"))[0]
        validator_class = jsonschema.validators.validator_for(self.schema)
        validator_class.check_schema(self.schema)
        self.validator = validator_class(self.schema)

    def errors(self, values):
        return [f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
                for e in self.validator.iter_errors(values)]

    def test_defaults_validate(self):
        self.assertEqual(self.errors(self.values), [])

    def test_examples_validate(self):
        examples = [p for p in glob.glob(os.path.join(EXAMPLES, "*.yaml"))
                    if os.path.basename(p) != "prerequisites.yaml"]
        self.assertGreaterEqual(len(examples), 3)
        for path in examples:
            with self.subTest(example=os.path.basename(path)):
                merged = deep_merge(self.values, load_yaml_file(path)[0])
                self.assertEqual(self.errors(merged), [])

    def test_schema_refuses_mistakes(self):
        bad = {
            "unknown top-level key": {"gatway": {}},
            "typo in a nested key": {"gateway": {"replicas": 3}},
            "legacy digest": {"gateway": {"certDigest": "md5"}},
            "port out of range": {"signer": {"grpcPort": 70000}},
            "CA refresh of zero seconds": {"gateway": {"caRefreshSeconds": 0}},
            "relative module path": {"signer": {"pkcs11": {"module": "libpkcs11.so"}}},
            "unknown signer kind": {"signer": {"kind": "DaemonSet"}},
            "string for a boolean": {"tls": {"enabled": "yes"}},
            "string for renewalReindex": {"gateway": {"renewalReindex": "true"}},
            "token label over 32 bytes": {"signer": {"pkcs11": {"tokenLabel": "x" * 33}}},
            "admin without a credential": {"admin": {"enabled": True,
                                                     "token": {"enabled": False}}},
            "admin client CA without TLS": {"admin": {"tls": {"clientCA": {"enabled": True}}}},
            "admin Service type": {"admin": {"service": {"type": "LoadBalancer"}}},
            "adminFrom ipBlock": {"networkPolicy": {"adminFrom": [
                {"ipBlock": {"cidr": "0.0.0.0/0"}}]}},
            "adminFrom empty peer": {"networkPolicy": {"adminFrom": [{}]}},
            "Redis password key empty": {"redis": {"auth": {"key": ""}}},
            "Redis username with spaces": {"redis": {"auth": {"username": "a b"}}},
            "WAIT timeout of the Redis timeout": {"redis": {"waitTimeoutMs": 1000}},
            "more WAIT replicas than the gateway takes": {"redis": {"waitReplicas": 17}},
            "two Sentinels in one item": {"redis": {"sentinel": {"hosts": ["s1:26379,s2"]}}},
            "IPv6 Sentinel without brackets": {"redis": {"sentinel": {"hosts": ["fd00::7"]}}},
            "Sentinel master name empty": {"redis": {"sentinel": {"masterName": ""}}},
            "gateway.profile in upper case": {"gateway": {"profile": "Wifi"}},
            "gateway.profile with a dot": {"gateway": {"profile": "wifi.corp"}},
            "gateway.profile over 64": {"gateway": {"profile": "p" * 65}},
            "gateway.profile empty": {"gateway": {"profile": ""}},
            "typo in sentinel": {"redis": {"sentinel": {"host": ["s1"]}}},
            "string for redis.tls.enabled": {"redis": {"tls": {"enabled": "true"}}},
            "Redis TLS CA without TLS": {"redis": {"tls": {"ca": {"existingSecret": "redis-ca"}}}},
            "Redis client certificate without TLS": {"redis": {"tls": {"clientCertificate": {
                "existingSecret": "scep-redis-client"}}}},
            "Redis TLS server name without TLS": {"redis": {"tls": {"serverName": "redis.test"}}},
            "Redis TLS server name with spaces": {"redis": {"tls": {"enabled": True,
                                                                    "serverName": "a b"}}},
            "Redis TLS CA key empty": {"redis": {"tls": {"enabled": True, "ca": {"key": ""}}}},
            "Redis TLS CA Secret name invalid": {"redis": {"tls": {"enabled": True, "ca": {
                "existingSecret": "Redis_CA"}}}},
            "key of the client certificate": {"redis": {"tls": {"enabled": True,
                                                                "clientCertificate": {
                                                                    "existingSecret": "c",
                                                                    "key": "cert.pem"}}}},
            "typo in redis.tls": {"redis": {"tls": {"enabled": True, "caSecret": "redis-ca"}}},
            "RA key Secret key empty": {"signer": {"raKeyFile": {"existingSecret": "k",
                                                                 "key": ""}}},
            "typo in raKeyFile": {"signer": {"raKeyFile": {"secret": "k"}}},
            "RA token label over 32 bytes": {"signer": {"pkcs11": {"raTokenLabel": "r" * 33}}},
            "relative RA module path": {"signer": {"pkcs11": {"raModule": "libra.so"}}},
            "no Redis maxmemory (0)": {"redis": {"bundled": {"maxMemory": "0"}}},
            "Redis maxmemory in Kubernetes units": {"redis": {"bundled": {"maxMemory": "192Mi"}}},
        }
        for name, override in bad.items():
            with self.subTest(mistake=name):
                self.assertNotEqual(self.errors(deep_merge(self.values, override)), [])

    def test_schema_takes_the_profile_names_the_gateway_takes(self):
        # services/gateway/profile.cc: 1..64 of [a-z0-9-_] (a URL path).
        for name in ("default", "wi-fi_2", "p" * 64):
            with self.subTest(profile=name):
                self.assertEqual(self.errors(deep_merge(self.values,
                                                        {"gateway": {"profile": name}})), [])

    def test_schema_accepts_redis_tls(self):
        good = {
            "system trust store": {"enabled": True},
            "every setting": {"enabled": True, "serverName": "redis.pki-redis.svc",
                              "ca": {"existingSecret": "redis-ca", "key": "ca.pem"},
                              "clientCertificate": {"existingSecret": "scep-redis-client"}},
            "server name an address": {"enabled": True, "serverName": "fd00::7"},
        }
        for name, tls in good.items():
            with self.subTest(values=name):
                self.assertEqual(self.errors(deep_merge(self.values, {"redis": {"tls": tls}})),
                                 [])


class ValuesDefaults(unittest.TestCase):
    """Defaults that must agree with what runs around the chart."""

    def setUp(self):
        need(self, yaml, "python3-yaml")
        self.values = load_yaml_file(os.path.join(CHART, "values.yaml"))[0]

    def test_gateway_idle_timeout_outlasts_the_load_balancers(self):
        # The proxy in front must close an idle pooled connection before
        # the gateway does, or a POST sent on it as the gateway closes it
        # is a 502: ingress-nginx's upstream keepalive and AWS ALB's idle
        # timeout are 60 s (GCLB's 600 s is documented as 620).
        self.assertGreater(self.values["gateway"]["httpIdleTimeoutSeconds"], 60)
        with open(os.path.join(CHART, "values.yaml")) as f:
            self.assertRegex(f.read(), r"Google Cloud\s+#?\s*Load Balancing[^:]*set 620")


class IssuanceRateDocs(unittest.TestCase):
    """signer.maxIssuancePerMinute is a bucket per client certificate CN at
    each signer pod (services/signer/caller_rate_limit.cc), and the
    chart's gateway pods share one certificate: its documentation must say
    it limits the whole gateway fleet, not one gateway pod."""

    def test_documented_as_fleet_wide(self):
        certificates = read_template("certificates.yaml")
        gateway = [d for d in documents(certificates)
                   if 'name: {{ include "scep.gateway.tlsSecret" . }}' in d]
        self.assertEqual(len(gateway), 1)
        self.assertIn('commonName: {{ include "scep.gateway.fullname" . }}', gateway[0],
                      "gateway pods no longer share one CN: revise the docs checked here")
        with open(os.path.join(CHART, "values.yaml")) as f:
            values = f.read()
        comment = values[:values.index("  maxIssuancePerMinute:")]
        comment = comment[comment.rindex("  # -- "):]
        self.assertRegex(comment, r"WHOLE gateway fleet")
        self.assertRegex(comment, r"signer\.replicaCount - 1")
        with open(os.path.join(CHART, "README.md")) as f:
            readme = f.read()
        self.assertNotIn("per gateway and signer pod", readme)
        self.assertRegex(readme, r"maxIssuancePerMinute: \d+ +# per signer pod, all gateway "
                                 r"pods together")
        self.assertRegex(readme, r"limits the whole gateway fleet at each signer pod")


class Templates(unittest.TestCase):
    def template_files(self):
        files = sorted(glob.glob(os.path.join(TEMPLATES, "*")))
        self.assertGreater(len(files), 10)
        return files

    def test_actions_and_blocks_balance(self):
        defines, includes = [], []
        for path in self.template_files():
            with self.subTest(template=os.path.basename(path)):
                d, i = check_blocks(path)
                defines += d
                includes += [(os.path.basename(path), line, name) for line, name in i]
        duplicates = {d for d in defines if defines.count(d) > 1}
        self.assertEqual(duplicates, set(), "templates defined twice")
        unknown = [f"{f}:{line}: {name}" for f, line, name in includes
                   if name not in defines]
        self.assertEqual(unknown, [], "include of an undefined template")

    def test_balance_checker_catches_mistakes(self):
        cases = {
            "unclosed if": "{{ if .Values.a }}x",
            "stray end": "x{{ end }}",
            "unclosed action": "{{ .Values.a ",
            "stray close": "a }} b",
            "else outside": "{{ else }}",
            "parens": "{{ include \"x\" (dict \"a\" 1 }}",
        }
        for name, text in cases.items():
            with self.subTest(case=name), tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
                f.write(text)
                f.flush()
                with self.assertRaises(AssertionError):
                    check_blocks(f.name)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write('{{- if .Values.a -}}{{ "}}" }}{{/* {{ */}}{{ end }}'
                    "x: '{.data.{{ .Values.b }}}'")
            f.flush()
            check_blocks(f.name)

    def test_values_references_exist(self):
        need(self, yaml, "python3-yaml")
        values = load_yaml_file(os.path.join(CHART, "values.yaml"))[0]
        missing, used = [], set()
        for path in self.template_files():
            for line, dotted in values_references(path):
                used.add(dotted)
                if not resolve(values, dotted):
                    missing.append(f"{os.path.basename(path)}:{line}: .Values.{dotted}")
        self.assertEqual(missing, [], "values used by templates but absent from values.yaml")
        unused = [leaf for leaf in leaf_paths(values)
                  if not any(leaf == u or leaf.startswith(u + ".") or u.startswith(leaf + ".")
                             for u in used)]
        self.assertEqual(unused, [], "values.yaml fields no template uses")

    def test_reference_finder_sees_aliases(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write("{{- $g := .Values.gateway -}}{{ $g.service.port }}"
                    "{{ $.Values.tls.enabled }}{{ include \"x\" (dict \"v\" .Values.redis.port) }}")
            f.flush()
            refs = [r for _, r in values_references(f.name)]
        self.assertEqual(sorted(refs), ["gateway", "gateway.service.port", "redis.port",
                                        "tls.enabled"])


class Dashboard(unittest.TestCase):
    def test_metric_variables(self):
        with open(os.path.join(CHART, "dashboards", "scep.json")) as f:
            dashboard = json.load(f)
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        constants = {n: v["query"] for n, v in variables.items() if v["type"] == "constant"}
        self.assertTrue(constants)
        for name, metric in constants.items():
            self.assertRegex(metric, r"^scep_(gateway|signer)_[a-z0-9_]+$", name)
        exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        self.assertGreater(len(exprs), 10)
        for expr in exprs:
            with self.subTest(expr=expr):
                self.assertNotRegex(expr, r"scep_(gateway|signer)_",
                                    "metric names belong in the m_* variables only")
                for used in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", expr):
                    self.assertTrue(used in variables or used.startswith("__"), used)
        unused = [n for n in constants if not any("${" + n + "}" in e for e in exprs)]
        self.assertEqual(unused, [], "metric variables no panel uses")
        # Reconciliation with issue 5: report names the C++ sources do not
        # contain yet (informational; the operability work defines them).
        sources = []
        for root in ("common", "services"):
            for path in glob.glob(os.path.join(REPO, root, "**", "*.cc"), recursive=True) + \
                    glob.glob(os.path.join(REPO, root, "**", "*.h"), recursive=True):
                with open(path, errors="replace") as f:
                    sources.append(f.read())
        text = "\n".join(sources)
        absent = sorted(m for m in constants.values() if m not in text)
        if absent:
            print(f"\nnote: dashboard metrics not (yet) in the C++ sources: {', '.join(absent)}",
                  file=sys.stderr)


# ---- static render checks (template text, no engine) ----------------------

INCLUDE = re.compile(r'\{\{-?\s*include\s+"([^"]+)"[^}]*?-?\}\}')
SELECTOR = re.compile(
    r'include\s+"scep\.selectorLabels"\s+\(dict\s+"root"\s+\$\s+"component"\s+"([a-z]+)"\)')


def read_template(name):
    with open(os.path.join(TEMPLATES, name)) as f:
        return f.read()


def template_aliases(text):
    """`$x := .Values.a.b` -> {"$x": "a.b"} and `$x := include "H" ...`
    -> {"$x": "<H>"}; later assignments win (good enough per document)."""
    aliases = {}
    for match in re.finditer(r'(\$[A-Za-z_]\w*)\s*:?=\s*\$?\.Values((?:\.\w+)*)\s*-?\}\}', text):
        aliases[match.group(1)] = match.group(2)[1:]
    for match in re.finditer(r'(\$[A-Za-z_]\w*)\s*:?=\s*include\s+"([^"]+)"[^}]*\}\}', text):
        aliases[match.group(1)] = f"<{match.group(2)}>"
    return aliases


def normalize(expr, aliases):
    """A name or key as written in a template, in a comparable form:
    includes become <helper>, `.Values.a.b` and aliases `$x.b` become
    Values.a.b, literals stay."""
    expr = expr.strip().strip('"')

    def action(match):
        body = match.group(1).strip()
        inc = re.match(r'include\s+"([^"]+)"', body)
        if inc:
            return f"<{inc.group(1)}>"
        val = re.match(r'\$?\.Values((?:\.\w+)+)$', body)
        if val:
            return "Values" + val.group(1)
        var = re.match(r'(\$[A-Za-z_]\w*)((?:\.\w+)*)$', body)
        if var and var.group(1) in aliases:
            target = aliases[var.group(1)]
            if target.startswith("<"):
                return target + var.group(2)
            return "Values." + ".".join(p for p in (target + var.group(2)).split(".") if p)
        return "{{" + body + "}}"
    return re.sub(r'\{\{-?\s*(.*?)\s*-?\}\}', action, expr)


def documents(text):
    return re.split(r'(?m)^---\s*$', text)


def indent_of(line):
    return len(line) - len(line.lstrip(" "))


def block_after(lines, index):
    """Lines indented deeper than lines[index] (list-item dash counted as
    indentation), stopping at the first that is not."""
    base = indent_of(lines[index])
    out = []
    for line in lines[index + 1:]:
        if not line.strip() or line.strip().startswith("{{"):
            out.append(line)
            continue
        if indent_of(line) <= base:
            break
        out.append(line)
    return out


def mounted_keys(text):
    """[(kind, name, key)] for `secret:`/`configMap:` volume sources with
    items and for `secretKeyRef:`/`configMapKeyRef:` env sources."""
    aliases = template_aliases(text)
    lines = text.splitlines()
    found = []
    for i, line in enumerate(lines):
        m = re.match(r'^\s*(?:- )?(secret|configMap|secretKeyRef|configMapKeyRef):\s*$', line)
        if not m:
            continue
        kind = "Secret" if m.group(1).startswith("secret") else "ConfigMap"
        block = block_after(lines, i)
        names = [re.match(r'^\s*name:\s*(.+)$', b).group(1) for b in block
                 if re.match(r'^\s*name:\s*(.+)$', b)]
        keys = [re.match(r'^\s*(?:- )?key:\s*(.+)$', b).group(1) for b in block
                if re.match(r'^\s*(?:- )?key:\s*(.+)$', b)]
        if names:
            for key in keys:
                found.append((kind, normalize(names[0], aliases), normalize(key, aliases)))
    return found


def defined_objects():
    """{(kind, name): {keys}} for the Secrets and ConfigMaps the chart
    creates, plus the Secrets cert-manager writes for its Certificates."""
    objects = {}
    for path in sorted(glob.glob(os.path.join(TEMPLATES, "*.yaml"))):
        text = read_template(os.path.basename(path))
        before = ""
        for doc in documents(text):
            kind = re.search(r'(?m)^kind:\s*(\S+)\s*$', doc)
            # `$name := include ...` sits just before the `---` of its object,
            # and the next object's may follow it in the same chunk.
            aliases = template_aliases(before + (doc[:kind.start()] if kind else doc))
            before += doc
            if not kind:
                continue
            kind = kind.group(1)
            lines = doc.splitlines()
            if kind == "Certificate":
                name = re.search(r'(?m)^\s+secretName:\s*(.+)$', doc)
                if name:
                    objects.setdefault(("Secret", normalize(name.group(1), aliases)), set()).update(
                        {"tls.crt", "tls.key", "ca.crt"})
                continue
            if kind not in ("Secret", "ConfigMap"):
                continue
            meta = [i for i, line in enumerate(lines) if line.startswith("metadata:")]
            name = None
            if meta:
                for line in block_after(lines, meta[0]):
                    m = re.match(r'^  name:\s*(.+)$', line)
                    if m:
                        name = normalize(m.group(1), aliases)
                        break
            keys = set()
            for i, line in enumerate(lines):
                if re.match(r'^(data|stringData):\s*$', line):
                    for b in block_after(lines, i):
                        # A key may be templated in part, e.g. `{{ .name }}-ca.pem`
                        # inside a range over values.
                        m = re.match(r'^  ((?:\{\{[^}]*\}\}|[-._A-Za-z0-9])+):', b)
                        if m:
                            keys.add(normalize(m.group(1), aliases))
            if name:
                objects.setdefault((kind, name), set()).update(keys)
    return objects


def workload_components():
    """{component: template} from the pod templates of Deployments and
    StatefulSets; raises when a workload's selector and pod labels differ."""
    components = {}
    for path in sorted(glob.glob(os.path.join(TEMPLATES, "*.yaml"))):
        for doc in documents(read_template(os.path.basename(path))):
            if not re.search(r'(?m)^kind:\s*(Deployment|StatefulSet|\{\{.*signer\.kind|\{\{ \$kind)',
                             doc):
                continue
            pod = re.search(r'(?m)^  template:\s*\n\s+metadata:\s*\n\s+labels:\s*\n\s*\{\{-?\s*'
                            + SELECTOR.pattern, doc)
            own = re.search(r'(?m)^  selector:\s*\n\s+matchLabels:\s*\n\s*\{\{-?\s*'
                            + SELECTOR.pattern, doc)
            if not pod or not own:
                raise AssertionError(f"{os.path.basename(path)}: workload without "
                                     "scep.selectorLabels on its selector and pod template")
            if pod.group(1) != own.group(1):
                raise AssertionError(f"{os.path.basename(path)}: selector component "
                                     f"{own.group(1)} != pod label component {pod.group(1)}")
            components[pod.group(1)] = os.path.basename(path)
    return components


def network_policies(text):
    """[(policy pod component, [(ports, [peer components or 'values:<path>'])])]
    for networkpolicy.yaml; `from` of a rule from a values list shows as
    values:<path>, a missing `from` as 'everyone'."""
    selector_vars = {m.group(1): m.group(2) for m in re.finditer(
        r'(\$\w+)\s*:=\s*' + SELECTOR.pattern, text)}
    aliases = template_aliases(text)
    policies = []
    for doc in documents(text):
        if not re.search(r'(?m)^kind:\s*NetworkPolicy\s*$', doc):
            continue
        target = re.search(r'(?m)^  podSelector:\s*\n\s+matchLabels:\s*\n\s*\{\{-?\s*(\$\w+)', doc)
        if not target or target.group(1) not in selector_vars:
            raise AssertionError("NetworkPolicy without a scep.selectorLabels podSelector")
        ingress = re.search(r'(?ms)^  ingress:\s*\n(.*?)(?=^  \S|\Z)', doc)
        rules = []
        if ingress:
            for rule in re.split(r'(?m)^    - ', ingress.group(1))[1:]:
                ports = re.findall(r'port:\s*(\S+)', rule)
                peers = []
                optional = re.search(r'\{\{-?\s*with\s+(\$?[\w.$]+)\s*\}\}\s*\n\s*from:', rule)
                if "from:" not in rule or optional:
                    peers.append("everyone")  # no `from`: every source
                if optional:
                    peers.append("values:" + normalize("{{ " + optional.group(1) + " }}", aliases))
                for var in re.findall(r'matchLabels:\s*\n\s*\{\{-?\s*(\$\w+)', rule):
                    peers.append(selector_vars.get(var, var))
                for val in re.findall(r'toYaml\s+(\$[\w.$]+|\.Values[\w.]+)', rule):
                    peers.append("values:" + normalize("{{ " + val + " }}", aliases))
                rules.append((ports, peers))
        policies.append((selector_vars[target.group(1)], rules))
    return policies


def object_templates(kind):
    """{name expression: template file} for the objects of `kind` the
    chart's templates create (the expression as written after `name:`)."""
    found = {}
    for path in sorted(glob.glob(os.path.join(TEMPLATES, "*.yaml"))):
        name = os.path.basename(path)
        for doc in documents(read_template(name)):
            if re.search(r'(?m)^kind:\s*' + kind + r'\s*$', doc):
                m = re.search(r'(?m)^  name:\s*(.+?)\s*$', doc)
                if m:
                    found[m.group(1)] = name
    return found


def unrolled_configmaps(text, configmaps):
    """The chart's own ConfigMaps a workload template mounts without a
    checksum annotation over the template that makes them: a values change
    would update the mounted file but not restart the pods, which read it
    at start."""
    rolled = set(re.findall(r'checksum/[\w.-]+:\s*\{\{\s*include \(print '
                            r'\$\.Template\.BasePath "/([\w.-]+)"\)', text))
    mounted = re.findall(r'(?m)^\s*(?:- )?configMap:\s*\n\s+name:\s*(.+?)\s*$', text)
    return sorted({f"{m} ({configmaps[m]})" for m in mounted
                   if m in configmaps and configmaps[m] not in rolled})


class StaticRender(unittest.TestCase):
    """What a renderer would show, read off the template text."""

    def test_mounted_keys_are_defined(self):
        objects = defined_objects()
        checked, undefined = 0, []
        for path in sorted(glob.glob(os.path.join(TEMPLATES, "*.yaml"))):
            for kind, name, key in mounted_keys(read_template(os.path.basename(path))):
                if (kind, name) not in objects:
                    continue  # given by the operator (existing Secret, TLS Secret)
                checked += 1
                if key not in objects[(kind, name)]:
                    undefined.append(f"{os.path.basename(path)}: {kind} {name} key {key} "
                                     f"(defined: {sorted(objects[(kind, name)])})")
        self.assertEqual(undefined, [], "mounted keys the chart's own objects lack")
        # challenge, PIN (and SO PIN), gateway and signer TLS, PKI, profiles,
        # Redis password (volume and bundled env), admin token
        self.assertGreaterEqual(checked, 12)

    def test_alerts_name_metrics_the_services_export(self):
        rules = read_template("prometheusrule.yaml")
        named = set(re.findall(r"\bscep_(?:gateway|signer)_[a-z0-9_]+", rules))
        self.assertIn("scep_gateway_redis_can_evict", named)
        sources = []
        for root in ("common", "services"):
            for path in glob.glob(os.path.join(REPO, root, "**", "*.cc"), recursive=True):
                with open(path, errors="replace") as f:
                    sources.append(f.read())
        text = "\n".join(sources)
        # Histograms and counters are exported under derived names.
        missing = sorted(m for m in named
                         if re.sub(r"_(bucket|count|sum)$", "", m) not in text)
        self.assertEqual(missing, [], "alerts on metrics no service exports")
        # Label values the gateway writes (RFC 8894 names, spelled as
        # common/codec/scep_types.cc spells them: badCertID, not badCertId).
        with open(os.path.join(REPO, "common", "codec", "scep_types.cc")) as f:
            spelled = set(re.findall(r'return "([A-Za-z]+)";', f.read()))
        for label in ("message_type", "fail_info", "pki_status"):
            for value in re.findall(label + r'="([^"]+)"', rules):
                self.assertIn(value, spelled, f"alert matches {label}={value!r}")

    def test_config_changes_roll_the_pods(self):
        configmaps = object_templates("ConfigMap")
        self.assertGreaterEqual(len(configmaps), 3)  # profiles, PKI, issuance policy
        templates = sorted(set(workload_components().values()))
        self.assertIn("gateway-deployment.yaml", templates)
        for name in templates:
            with self.subTest(template=name):
                self.assertEqual(unrolled_configmaps(read_template(name), configmaps), [])

    def test_roll_checker_catches_mistakes(self):
        configmaps = {'{{ include "x.fullname" . }}-profiles': "profiles-configmap.yaml"}
        pod = ('      volumes:\n        - name: profiles\n          configMap:\n'
               '            name: {{ include "x.fullname" . }}-profiles\n')
        annotation = ('        checksum/profiles: {{ include (print $.Template.BasePath '
                      '"/profiles-configmap.yaml") . | sha256sum }}\n')
        self.assertEqual(unrolled_configmaps(pod, configmaps),
                         ['{{ include "x.fullname" . }}-profiles (profiles-configmap.yaml)'])
        self.assertEqual(unrolled_configmaps(annotation + pod, configmaps), [])

    def test_mounted_key_checker_catches_mistakes(self):
        text = ('{{- $a := .Values.admin -}}\n'
                'volumes:\n  - name: s\n    projected:\n      sources:\n'
                '        - secret:\n            name: {{ include "scep.admin.tokenSecretName" . }}\n'
                '            items:\n              - key: {{ $a.token.key }}\n'
                '                path: admin/token\n')
        self.assertEqual(mounted_keys(text), [("Secret", "<scep.admin.tokenSecretName>",
                                               "Values.admin.token.key")])
        objects = defined_objects()
        self.assertIn("Values.admin.token.key",
                      objects[("Secret", "<scep.admin.tokenSecretName>")])
        self.assertNotIn("Values.admin.token.value",
                         objects[("Secret", "<scep.admin.tokenSecretName>")])

    def test_argument_paths_are_projected(self):
        for name in ("gateway-deployment.yaml", "signer.yaml"):
            text = read_template(name)
            with self.subTest(template=name):
                args = set(re.findall(r'(?m)^\s*- --[\w-]+=/secrets/([\w./-]+)\s*$', text))
                projected = set(re.findall(r'(?m)^\s*- key:.*\n\s+path:\s*(\S+)\s*$', text))
                self.assertTrue(args)
                self.assertEqual(sorted(args - projected), [],
                                 "arguments naming files no volume item provides")

    def test_redis_tls_files(self):
        """--redis_tls* name files projected from the Secrets the values
        name, under /secrets/redis-tls/, in the volume mounted whole at
        /secrets: a subPath mount never sees a Secret's update, and the
        gateway reloads these files when cert-manager renews them."""
        text = read_template("gateway-deployment.yaml")
        flags = text[text.index("{{- if $redisTls.enabled }}\n            - --redis_tls\n"):]
        flags = flags[:flags.index("- --profile=")]
        for arg in ("- --redis_tls_ca_file=/secrets/redis-tls/ca.crt",
                    "- --redis_tls_cert_file=/secrets/redis-tls/tls.crt",
                    "- --redis_tls_key_file=/secrets/redis-tls/tls.key",
                    "- --redis_tls_server_name={{ . }}"):
            self.assertIn(arg, flags)
        self.assertIn("{{- if $redisTls.ca.existingSecret }}\n"
                      "            - --redis_tls_ca_file=", flags)
        self.assertIn("{{- if $redisTls.clientCertificate.existingSecret }}\n"
                      "            - --redis_tls_cert_file=", flags)
        self.assertIn("{{- with $redisTls.serverName }}", flags)
        self.assertIn("{{- $redisTls := .Values.redis.tls -}}", text)
        self.assertRegex(text, r"\{\{- if and \$redisTls\.enabled "
                               r"\$redisTls\.ca\.existingSecret \}\}"
                               r"\n\s+- secret:\n\s+name: \{\{ \$redisTls\.ca\.existingSecret \}\}"
                               r"\n\s+items:\n\s+- key: \{\{ \$redisTls\.ca\.key \}\}"
                               r"\n\s+path: redis-tls/ca\.crt\n")
        self.assertRegex(text, r"\{\{- if and \$redisTls\.enabled "
                               r"\$redisTls\.clientCertificate\.existingSecret \}\}"
                               r"\n\s+- secret:\n\s+name: "
                               r"\{\{ \$redisTls\.clientCertificate\.existingSecret \}\}"
                               r"\n\s+items:\n\s+- key: tls\.crt\n\s+path: redis-tls/tls\.crt"
                               r"\n\s+- key: tls\.key\n\s+path: redis-tls/tls\.key\n")
        # Those sources belong to the `secrets` volume, mounted whole.
        volume = text[text.index("        - name: secrets\n          projected:"):]
        volume = volume[:volume.index("        - name: tmp\n")]
        self.assertIn("path: redis-tls/ca.crt", volume)
        self.assertIn("path: redis-tls/tls.key", volume)
        self.assertRegex(text, r"- name: secrets\n\s+mountPath: /secrets\n\s+readOnly: true\n")
        self.assertIsNone(re.search(r"(?m)^\s*subPath:", text), "a subPath mount never updates")
        helpers = read_template("_helpers.tpl")
        validate = helpers[helpers.index('{{- define "scep.validate" -}}'):]
        self.assertIn("{{- if and $r.tls.enabled $r.bundled.enabled -}}", validate)
        self.assertRegex(validate, r"\{\{- if and \(not \$r\.tls\.enabled\) \(or "
                                   r"\$r\.tls\.ca\.existingSecret "
                                   r"\$r\.tls\.clientCertificate\.existingSecret "
                                   r"\$r\.tls\.serverName\) -\}\}\n\{\{- fail ")

    def test_issuance_policy_is_mounted_where_the_flag_points(self):
        text = read_template("signer.yaml")
        self.assertIn("- --issuance_policy=/etc/scep/policy/issuance-policy.json", text)
        self.assertRegex(text, r"- name: issuance-policy\n\s+mountPath: /etc/scep/policy\n")
        self.assertRegex(text, r"- name: issuance-policy\n\s+configMap:\n\s+name: "
                               r"\{\{ include \"scep\.signer\.fullname\" \. \}\}-issuance-policy\n")
        configmap = read_template("signer-policy-configmap.yaml")
        self.assertIn('name: {{ include "scep.signer.fullname" . }}-issuance-policy', configmap)
        self.assertIn("  issuance-policy.json: |", configmap)
        # The audit trail's file lies in its mounted volume, one per pod.
        self.assertIn("- --audit_log={{ $audit.mountPath }}/$(POD_NAME)-{{ $audit.file }}", text)
        self.assertRegex(text, r"- name: audit-log\n\s+mountPath: \{\{ \$audit\.mountPath \}\}\n")

    def test_ra_key_file_sits_beside_the_certificates(self):
        # --ra_key_file and --issuing_cas look for DIR/ra-key.pem and
        # DIR/NAME/ra-key.pem, DIR being that of --ca_cert: the Secret's
        # items must land in the same projected volume as the certificates.
        text = read_template("signer.yaml")
        self.assertIn("- --ra_key_file={{ $pkiDir }}/ra-key.pem", text)
        self.assertIn("- --ca_cert={{ $pkiDir }}/ca.pem", text)
        pki = text[text.index("        - name: pki\n          projected:"):]
        pki = pki[:pki.index("\n        {{- if $s.pkcs11.volume }}")]
        self.assertIn("- configMap:", pki)
        self.assertRegex(pki, r"- secret:\n\s+name: \{\{ \$s\.raKeyFile\.existingSecret \}\}")
        self.assertRegex(pki, r"key: \{\{ \$s\.raKeyFile\.key \}\}\n\s+path: ra-key\.pem\n")
        self.assertRegex(pki, r"path: \{\{ \.name \}\}/ra-key\.pem\n")
        self.assertIn("defaultMode: 0440", pki)

    def test_gateway_readiness_ignores_shared_dependencies(self):
        # /readyz?local: a Redis or signer outage must not take every
        # gateway out of the Service at once (devices would get the
        # ingress's bare 503 without Retry-After, and GetCACert and CRLs
        # would go dark); the signer's probe keeps its token check.
        text = read_template("gateway-deployment.yaml")
        probe = text[text.index("readinessProbe:"):]
        self.assertRegex(probe, r"^readinessProbe:\n\s+httpGet:\n\s+path: /readyz\?local\n")
        self.assertNotIn("?local", read_template("signer.yaml"))

    def test_signer_ends_gateway_connections_so_gateways_resolve_again(self):
        # Without a connection age gateways never re-resolve the headless
        # signer Service: a scale-up is never used, drains narrow them.
        self.assertIn("- --max_connection_age_seconds={{ $s.maxConnectionAgeSeconds }}",
                      read_template("signer.yaml"))
        values = load_yaml_file(os.path.join(CHART, "values.yaml"))[0]
        self.assertGreater(values["signer"]["maxConnectionAgeSeconds"], 0)

    def test_previous_ra_files_are_optional_and_beside_the_current_ones(self):
        # The signer looks for ra-previous.pem beside --ra_cert and for
        # ra-key-previous.pem beside --ra_key_file (scep-provision
        # --renew-ra / --rollover-ra); both are optional projections, so a
        # chart without them still starts, and nothing else is optional.
        text = read_template("signer.yaml")
        pki = text[text.index("        - name: pki\n          projected:"):]
        pki = pki[:pki.index("\n        {{- if $s.pkcs11.volume }}")]
        self.assertRegex(pki, r"optional: true\n\s+items:\n\s+- key: ra-previous\.pem\n"
                              r"\s+path: ra-previous\.pem\n")
        self.assertRegex(pki, r"optional: true\n\s+items:\n\s+- key: \{\{ \$s\.raKeyFile"
                              r"\.previousKey \}\}\n\s+path: ra-key-previous\.pem\n")
        self.assertRegex(pki, r"path: \{\{ \.name \}\}/ra-previous\.pem\n")
        self.assertRegex(pki, r"- key: ca-chain\.pem\n\s+path: ca-chain\.pem\n")
        self.assertRegex(pki, r"path: \{\{ \.name \}\}/ca-chain\.pem\n")
        self.assertRegex(pki, r"- key: ca-previous\.pem\n\s+path: ca-previous\.pem\n")
        self.assertRegex(pki, r"path: \{\{ \.name \}\}/ca-previous\.pem\n")
        self.assertRegex(pki, r"path: \{\{ \.name \}\}/ra-key-previous\.pem\n")
        self.assertEqual(pki.count("optional: true"), 2)
        configmap = read_template("pki-configmap.yaml")
        self.assertIn("ra-previous.pem: |", configmap)
        self.assertIn("{{ .name }}-ra-previous.pem: |", configmap)
        self.assertIn("ca-chain.pem: |", configmap)
        self.assertIn("ca-previous.pem: |", configmap)
        self.assertIn("{{ .name }}-ca-previous.pem: |", configmap)

    def test_selectors_match_workloads(self):
        components = workload_components()
        self.assertEqual(set(components), {"gateway", "signer", "redis"})
        for path in sorted(glob.glob(os.path.join(TEMPLATES, "*.yaml"))):
            text = read_template(os.path.basename(path))
            for used in SELECTOR.findall(text):
                with self.subTest(template=os.path.basename(path), component=used):
                    self.assertIn(used, components, "selects pods no workload labels")
        for name in ("gateway-service.yaml", "gateway-admin-service.yaml",
                     "signer-service.yaml", "redis.yaml"):
            text = read_template(name)
            for doc in documents(text):
                if re.search(r'(?m)^kind:\s*Service\s*$', doc):
                    with self.subTest(service=name):
                        self.assertRegex(doc, r'(?m)^  selector:\s*\n\s*\{\{-?\s*' + SELECTOR.pattern)

    def test_network_policies(self):
        policies = dict(network_policies(read_template("networkpolicy.yaml")))
        self.assertEqual(set(policies), set(workload_components()),
                         "a NetworkPolicy for each workload, by its pod labels")
        by_port = {c: {p: peers for ports, peers in rules for p in ports}
                   for c, rules in policies.items()}
        self.assertEqual(by_port["signer"]["grpc"], ["gateway"], "signer gRPC: gateways only")
        self.assertEqual(by_port["redis"]["redis"], ["gateway"], "bundled Redis: gateways only")
        self.assertEqual(by_port["gateway"]["http"],
                         ["everyone", "values:Values.networkPolicy.gatewayFrom"],
                         "SCEP HTTP stays open to devices / the ingress (or gatewayFrom)")
        self.assertEqual(by_port["gateway"]["admin"], ["values:Values.networkPolicy.adminFrom"],
                         "admin port: only networkPolicy.adminFrom")
        self.assertEqual(by_port["gateway"]["metrics"],
                         ["values:Values.networkPolicy.metricsFrom"])
        # An empty `from` admits everyone: the admin rule exists only with peers.
        text = read_template("networkpolicy.yaml")
        guard = re.search(r'\{\{-?\s*if\s+and\s+\.Values\.admin\.enabled\s+\$np\.adminFrom\s*\}\}'
                          r'\s*\n\s*- ports:\s*\n\s*- port: admin', text)
        self.assertTrue(guard, "admin rule guarded by admin.enabled and a non-empty adminFrom")

    def test_admin_api_exposure(self):
        admin = read_template("gateway-admin-service.yaml")
        self.assertRegex(admin, r'(?m)^  type: ClusterIP\s*$')
        self.assertNotIn("scep.metrics/scrape", admin, "the ServiceMonitor must not scrape it")
        self.assertRegex(admin, r'name: admin\s*\n\s*port: \{\{ \$admin\.service\.port \}\}\s*\n'
                                r'\s*targetPort: admin')
        self.assertIn('include "scep.admin.fullname"', admin)
        device = read_template("gateway-service.yaml")
        self.assertNotIn("admin", device, "the device-facing Service carries no admin port")
        ingress = read_template("gateway-ingress.yaml")
        self.assertNotIn("admin", ingress)
        self.assertRegex(ingress, r'service:\s*\n\s*name: \{\{ include "scep\.gateway\.fullname" \$ \}\}'
                                  r'\s*\n\s*port:\s*\n\s*name: http')
        deployment = read_template("gateway-deployment.yaml")
        self.assertIn("- --admin_port=0", deployment, "disabled means --admin_port=0")
        self.assertIn('include "scep.validate"', deployment)


# ---- checks of rendered objects (helm template output) --------------------

def secret_items(pod, volume):
    """[(Secret, key, path)] of the projected volume named `volume`."""
    sources = [v for v in pod["volumes"] if v["name"] == volume][0]["projected"]["sources"]
    return [(s["secret"]["name"], i["key"], i["path"])
            for s in sources if "secret" in s for i in s["secret"]["items"]]


def pod_specs(docs):
    """{workload name: (pod labels, pod spec)} of Deployments/StatefulSets."""
    return {d["metadata"]["name"]: (d["spec"]["template"]["metadata"].get("labels", {}),
                                    d["spec"]["template"]["spec"])
            for d in docs if d.get("kind") in ("Deployment", "StatefulSet")}


def selects(match_labels, labels):
    return bool(match_labels) and all(labels.get(k) == v for k, v in match_labels.items())


def rendered_problems(docs):
    """What is wrong with a rendered release, as a list of messages."""
    problems = []
    pods = pod_specs(docs)
    objects = {(d["kind"], d["metadata"]["name"]): d for d in docs
               if d.get("kind") in ("Secret", "ConfigMap")}

    def selected(match_labels):
        return [name for name, (labels, _) in pods.items() if selects(match_labels, labels)]

    for d in docs:
        kind, name = d.get("kind"), d.get("metadata", {}).get("name")
        if kind in ("Deployment", "StatefulSet"):
            if not selects(d["spec"]["selector"]["matchLabels"], pods[name][0]):
                problems.append(f"{kind} {name}: selector does not match its pod labels")
        if kind == "Service":
            if not selected(d["spec"].get("selector", {})):
                problems.append(f"Service {name}: selects no workload's pods")
            admin_ports = [p for p in d["spec"]["ports"]
                           if p.get("targetPort") == "admin" or p.get("name") == "admin"]
            if admin_ports and not name.endswith("-gateway-admin"):
                problems.append(f"Service {name}: exposes the admin port")
            if name.endswith("-gateway-admin") and d["spec"].get("type", "ClusterIP") != "ClusterIP":
                problems.append(f"Service {name}: the admin Service must be ClusterIP")
        if kind == "Ingress":
            for rule in d["spec"].get("rules", []):
                for path in rule.get("http", {}).get("paths", []):
                    backend = path["backend"]["service"]["name"]
                    if backend.endswith("-admin"):
                        problems.append(f"Ingress {name}: routes to the admin Service")
        if kind == "NetworkPolicy":
            targets = selected(d["spec"]["podSelector"].get("matchLabels", {}))
            if not targets:
                problems.append(f"NetworkPolicy {name}: selects no workload's pods")
            for rule in d["spec"].get("ingress", []):
                if "from" in rule and not rule["from"]:
                    problems.append(f"NetworkPolicy {name}: empty `from` admits everyone")
                for peer in rule.get("from", []):
                    # A peer meant for this release's pods (by component label).
                    labels = peer.get("podSelector", {}).get("matchLabels", {})
                    if "namespaceSelector" not in peer and \
                            "app.kubernetes.io/component" in labels and not selected(labels):
                        problems.append(f"NetworkPolicy {name}: a peer selects no pods")
                ports = {str(p.get("port")) for p in rule.get("ports", [])}
                if "grpc" in ports or "redis" in ports:
                    peers = [selected(p.get("podSelector", {}).get("matchLabels", {}))
                             for p in rule.get("from", [])]
                    if not peers or any(not all(n.endswith("-gateway") for n in p) or not p
                                        for p in peers):
                        problems.append(f"NetworkPolicy {name}: {sorted(ports)} not gateways only")
    for workload, (_, spec) in pods.items():
        for volume in spec.get("volumes", []):
            sources = [volume] + volume.get("projected", {}).get("sources", [])
            for source in sources:
                for kind, field in (("Secret", "secret"), ("ConfigMap", "configMap")):
                    ref = source.get(field)
                    if not ref:
                        continue
                    ref_name = ref.get("name") or ref.get("secretName")
                    obj = objects.get((kind, ref_name))
                    if obj is None or ref.get("optional"):
                        continue  # the operator's (existing) object; keys that may be absent
                    keys = set(obj.get("data") or {}) | set(obj.get("stringData") or {})
                    for item in ref.get("items", []):
                        if item["key"] not in keys:
                            problems.append(f"{workload}: {kind} {ref_name} has no key {item['key']}")
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            # Kubernetes expands $(VAR) in command and args only for a VAR
            # of the container's env; anything else stays literal.
            defined = {e["name"] for e in container.get("env", []) or []}
            for arg in (container.get("command") or []) + (container.get("args") or []):
                for var in re.findall(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(arg)):
                    if var not in defined:
                        problems.append(f"{workload}: {container['name']} argument {arg!r} "
                                        f"names $({var}), which its env lacks")
            for env in container.get("env", []) or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ("Secret", ref["name"]) in objects:
                    obj = objects[("Secret", ref["name"])]
                    keys = set(obj.get("data") or {}) | set(obj.get("stringData") or {})
                    if ref["key"] not in keys:
                        problems.append(f"{workload}: Secret {ref['name']} has no key {ref['key']}")
    return problems


def hook_urls(values):
    """[(profile, url)] of the profiles' notice receivers (notify.url) and
    external challenge verifiers (challenge.verifier_url)."""
    urls = []
    for profile in values.get("gateway", {}).get("profiles") or []:
        if (profile.get("notify") or {}).get("url"):
            urls.append((profile["name"], profile["notify"]["url"]))
        if (profile.get("challenge") or {}).get("verifier_url"):
            urls.append((profile["name"], profile["challenge"]["verifier_url"]))
    return urls


def egress_admits(rules, url, namespace):
    """Whether some NetworkPolicy egress rule of pods in `namespace` lets
    them open a TCP connection to `url`'s port on its host: a rule without
    `to`, an ipBlock (addresses are not checked), or for a cluster name
    <service>.<ns>.svc[...] a peer in that namespace (podSelector alone:
    the policy's own namespace). Named ports cannot be told apart and
    count as a match."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}[parts.scheme]
    labels = (parts.hostname or "").split(".")
    host_ns = labels[1] if len(labels) >= 3 and labels[2] == "svc" else None
    for rule in rules:
        ports = rule.get("ports")
        if ports and not any(
                p.get("protocol", "TCP") == "TCP" and
                (isinstance(p.get("port"), str) or p.get("port") is None or
                 p["port"] <= port <= p.get("endPort", p["port"]))
                for p in ports):
            continue
        peers = rule.get("to")
        if not peers:
            return True
        for peer in peers:
            if "ipBlock" in peer:
                return True
            if host_ns is None:
                continue  # a name outside the cluster: only an ipBlock reaches it
            selector = peer.get("namespaceSelector")
            if selector is None:
                if host_ns == namespace:
                    return True
            elif not selector or (selector.get("matchLabels") or {}).get(
                    "kubernetes.io/metadata.name") == host_ns:
                return True
    return False


FIXTURE = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: r-scep-gateway}
spec:
  selector: {matchLabels: {app.kubernetes.io/component: gateway}}
  template:
    metadata: {labels: {app.kubernetes.io/component: gateway}}
    spec:
      containers: [{name: gateway, image: x}]
      volumes:
        - name: secrets
          projected:
            sources:
              - secret: {name: r-scep-admin-token, items: [{key: token, path: admin/token}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: r-scep-signer}
spec:
  selector: {matchLabels: {app.kubernetes.io/component: signer}}
  template:
    metadata: {labels: {app.kubernetes.io/component: signer}}
    spec: {containers: [{name: signer, image: x}]}
---
apiVersion: v1
kind: Secret
metadata: {name: r-scep-admin-token}
data: {token: eA==}
---
apiVersion: v1
kind: Service
metadata: {name: r-scep-gateway-admin}
spec:
  type: ClusterIP
  selector: {app.kubernetes.io/component: gateway}
  ports: [{name: admin, port: 9443, targetPort: admin}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: r-scep-signer}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/component: signer}}
  ingress:
    - from: [{podSelector: {matchLabels: {app.kubernetes.io/component: gateway}}}]
      ports: [{port: grpc}]
"""


def kubectl_dry_run(test, manifest_text):
    kubectl = shutil.which("kubectl")
    if not kubectl:
        test.skipTest("kubectl is not on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = os.path.join(tmp, "kubeconfig")
        manifest = os.path.join(tmp, "manifest.yaml")
        with open(manifest, "w") as f:
            f.write(manifest_text)
        with FakeApiServer(kubeconfig):
            env = dict(os.environ, KUBECONFIG=kubeconfig, HOME=tmp)
            result = subprocess.run(
                [kubectl, "apply", "--dry-run=client", "--validate=false", "-f", manifest],
                env=env, capture_output=True, text=True, timeout=120)
    test.assertEqual(result.returncode, 0, result.stderr + result.stdout)
    return result.stdout


class PlainManifests(unittest.TestCase):
    def test_prerequisites_dry_run(self):
        with open(os.path.join(EXAMPLES, "prerequisites.yaml")) as f:
            out = kubectl_dry_run(self, f.read())
        self.assertIn("created (dry run)", out)

    def test_dry_run_refuses_broken_manifest(self):
        """The fake API server path does catch errors (here YAML 1.1's `y`)."""
        kubectl = shutil.which("kubectl")
        if not kubectl:
            self.skipTest("kubectl is not on PATH")
        with self.assertRaises(AssertionError):
            kubectl_dry_run(self, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n")
        with self.assertRaises(AssertionError):
            kubectl_dry_run(self, "apiVersion: example.com/v1\nkind: Unknown\n"
                                  "metadata:\n  name: x\n")


class HookEgress(unittest.TestCase):
    """egress_admits, the check the examples' hook URLs go through."""

    RULES = [{"ports": [{"port": 53, "protocol": "UDP"}]},
             {"to": [{"namespaceSelector": {"matchLabels": {
                 "kubernetes.io/metadata.name": "mdm"}},
                 "podSelector": {"matchLabels": {"app": "connector"}}}],
              "ports": [{"port": 8443, "protocol": "TCP"}]}]

    def test_admitted(self):
        self.assertTrue(egress_admits(self.RULES, "https://connector.mdm.svc:8443/n", "pki"))
        self.assertTrue(egress_admits(
            self.RULES, "https://connector.mdm.svc.cluster.local:8443/n", "pki"))
        self.assertTrue(egress_admits([{"ports": [{"port": 443}]}], "https://hooks.example.com/x",
                                      "pki"))
        self.assertTrue(egress_admits([{"to": [{"podSelector": {}}], "ports": [{"port": 80}]}],
                                      "http://connector.pki.svc/n", "pki"))

    def test_refused(self):
        cases = {
            "other port": "https://connector.mdm.svc:8080/n",
            "default port": "https://connector.mdm.svc/n",
            "other namespace": "https://connector.pki.svc:8443/n",
            "outside the cluster": "https://connector.example.com:8443/n",
        }
        for name, url in cases.items():
            with self.subTest(case=name):
                self.assertFalse(egress_admits(self.RULES, url, "pki"))
        self.assertFalse(egress_admits([{"to": [{"podSelector": {}}], "ports": [{"port": 80}]}],
                                       "http://connector.mdm.svc/n", "pki"),
                         "a podSelector alone is the policy's own namespace")


class RenderedChecks(unittest.TestCase):
    """The checks Helm's output goes through, on a small fixture (so they
    run, and can fail, without helm too)."""

    def setUp(self):
        need(self, yaml, "python3-yaml")
        self.docs = [d for d in yaml.safe_load_all(FIXTURE) if d]

    def test_fixture_passes(self):
        self.assertEqual(rendered_problems(self.docs), [])

    def test_mistakes_are_caught(self):
        def mutated(change):
            docs = copy.deepcopy(self.docs)
            change({(d["kind"], d["metadata"]["name"]): d for d in docs})
            return rendered_problems(docs)
        cases = {
            "missing secret key": lambda o: o[("Secret", "r-scep-admin-token")].update(
                data={"other": "eA=="}),
            "policy selects nothing": lambda o: o[("NetworkPolicy", "r-scep-signer")]["spec"][
                "podSelector"]["matchLabels"].update({"app.kubernetes.io/component": "signr"}),
            "signer open to signer": lambda o: o[("NetworkPolicy", "r-scep-signer")]["spec"][
                "ingress"][0]["from"][0]["podSelector"]["matchLabels"].update(
                    {"app.kubernetes.io/component": "signer"}),
            "admin Service public": lambda o: o[("Service", "r-scep-gateway-admin")][
                "spec"].update(type="LoadBalancer"),
            "admin port on another Service": lambda o: o[("Service", "r-scep-gateway-admin")][
                "metadata"].update(name="r-scep-gateway"),
            "empty from": lambda o: o[("NetworkPolicy", "r-scep-signer")]["spec"][
                "ingress"][0].update({"from": []}),
            "argument names an undefined variable": lambda o: o[("Deployment", "r-scep-signer")][
                "spec"]["template"]["spec"]["containers"][0].update(
                    args=["--audit_log=/var/log/scep/$(POD_NAME)-audit.log"]),
        }
        for name, change in cases.items():
            with self.subTest(mistake=name):
                self.assertNotEqual(mutated(change), [])


# Every optional feature on, beyond examples/all-features.yaml (which needs
# the bundled Redis): an external Redis with an ACL user, admin over TLS
# with a token only.
EXTERNAL_REDIS_ACL = """
redis:
  host: redis-primary.pki-redis.svc
  auth:
    enabled: true
    username: scep-gateway
    existingSecret: scep-redis
admin:
  enabled: true
  token:
    existingSecret: scep-admin-token
  tls:
    enabled: true
networkPolicy:
  adminFrom:
    - podSelector:
        matchLabels:
          scep.example.com/admin-client: "true"
  egress:
    enabled: true
"""

SENTINEL_REDIS = """
redis:
  sentinel:
    enabled: true
    hosts: ["redis-node-0.redis-headless:26380", "redis-node-1.redis-headless",
            "[fd00::7]:26380"]
    masterName: scep-primary
    auth:
      enabled: true
      username: scep-gateway
  auth:
    enabled: true
    existingSecret: redis
    key: redis-password
networkPolicy:
  egress:
    enabled: true
"""

# Over SENTINEL_REDIS: TLS to Redis and the Sentinels with a private CA (its
# own key name), a client certificate (cert-manager's Secret) and a server
# name (the Sentinels announce addresses).
TLS_REDIS = """
redis:
  tls:
    enabled: true
    refreshSeconds: 30
    serverName: redis-headless.pki-redis.svc.cluster.local
    ca:
      existingSecret: redis-ca
      key: ca.pem
    clientCertificate:
      existingSecret: scep-redis-client
"""

# Azure Cache for Redis: TLS port 6380, public CA (the system trust store).
TLS_REDIS_SYSTEM_CA = """
redis:
  host: scep-cache.redis.cache.windows.net
  port: 6380
  tls:
    enabled: true
  auth:
    enabled: true
    existingSecret: scep-redis
networkPolicy:
  egress:
    enabled: true
"""


def helm_command():
    """helm itself when it is on PATH; else the stand-in (helm_standin.py
    over chart-render, built with the project) when it is built; else None."""
    helm = shutil.which("helm")
    if helm:
        return [helm]
    standin = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helm_standin.py")
    sys.path.insert(0, os.path.dirname(standin))
    try:
        import helm_standin
    finally:
        sys.path.pop(0)
    if helm_standin.renderer():
        return [sys.executable, standin]
    return None


class Helm(unittest.TestCase):
    """The chart rendered: by helm where it is on PATH, else by the stand-in
    (tests/deploy/helm_standin.py: helm's template engine and functions,
    values schema checked; Debian 12 has no helm). Under CI=true one of them
    must be there."""

    def setUp(self):
        self.helm = helm_command()
        if not self.helm:
            if os.environ.get("CI") == "true":
                self.fail("neither helm nor chart-render (built with Go: scripts/install-deps "
                          "installs golang-go) is there under CI=true")
            self.skipTest("neither helm nor chart-render")

    def run_helm(self, *args):
        result = subprocess.run([*self.helm, *args], capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr + result.stdout)
        return result.stdout

    def test_lint(self):
        # --strict renders with missingkey=error: a template reading a key
        # the values may lack (an issuingCas entry without raPreviousCert,
        # found this way) fails here.
        self.run_helm("lint", "--strict", CHART)
        for path in sorted(glob.glob(os.path.join(EXAMPLES, "*.yaml"))):
            if os.path.basename(path) != "prerequisites.yaml":
                with self.subTest(example=os.path.basename(path)):
                    self.run_helm("lint", "--strict", CHART, "-f", path)

    def test_a_template_error_fails_the_render(self):
        """Whichever renderer runs, a broken template fails it (so the
        passing renders above mean something)."""
        with tempfile.TemporaryDirectory() as tmp:
            chart = os.path.join(tmp, "scep")
            shutil.copytree(CHART, chart)
            with open(os.path.join(chart, "templates", "broken.yaml"), "w") as f:
                f.write("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n"
                        "data:\n  x: {{ .Values.redis.nothing.deeper }}\n")
            result = subprocess.run([*self.helm, "template", "scep", chart],
                                    capture_output=True, text=True, timeout=120)
            self.assertNotEqual(result.returncode, 0, result.stdout[-2000:])
            self.assertIn("deeper", result.stderr)
            os.remove(os.path.join(chart, "templates", "broken.yaml"))
            with open(os.path.join(chart, "templates", "unbalanced.yaml"), "w") as f:
                f.write("{{- if .Values.redis.tls.enabled }}\nkind: ConfigMap\n")
            result = subprocess.run([*self.helm, "template", "scep", chart],
                                    capture_output=True, text=True, timeout=120)
            self.assertNotEqual(result.returncode, 0, result.stdout[-2000:])

    def test_template_and_dry_run(self):
        variants = {"defaults": []}
        for path in sorted(glob.glob(os.path.join(EXAMPLES, "*.yaml"))):
            if os.path.basename(path) != "prerequisites.yaml":
                variants[os.path.basename(path)] = ["-f", path]
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as extra:
            extra.write(EXTERNAL_REDIS_ACL)
            extra.flush()
            variants["external Redis ACL + admin TLS"] = ["-f", extra.name]
            sentinel = tempfile.NamedTemporaryFile("w", suffix=".yaml")
            sentinel.write(SENTINEL_REDIS)
            sentinel.flush()
            # The Sentinel password comes from redis.auth's Secret under
            # redis.auth's key (Bitnami's redis-password), not set twice.
            variants["Redis Sentinel"] = ["-f", sentinel.name]
            tls = tempfile.NamedTemporaryFile("w", suffix=".yaml")
            tls.write(TLS_REDIS)
            tls.flush()
            variants["Redis TLS + Sentinel"] = ["-f", sentinel.name, "-f", tls.name, "--set",
                                                "redis.sentinel.auth.key=redis-password"]
            system_ca = tempfile.NamedTemporaryFile("w", suffix=".yaml")
            system_ca.write(TLS_REDIS_SYSTEM_CA)
            system_ca.flush()
            variants["Redis TLS, system trust store"] = ["-f", system_ca.name]
            for name, args in variants.items():
                with self.subTest(values=name):
                    rendered = self.run_helm("template", "scep", CHART, "--namespace",
                                             "scep-check", *args)
                    if yaml is not None:
                        docs = [d for d in yaml.safe_load_all(rendered) if d]
                        self.assertIn("Deployment", {d["kind"] for d in docs})
                        self.assertEqual(rendered_problems(docs), [])
                        self.check_admin_and_redis(name, docs)
                    kubectl_dry_run(self, rendered)
            # RA key placement: another token with its own PIN; a file.
            pod = self.signer_pod("--set", "signer.pkcs11.raTokenLabel=ra-partition",
                                  "--set", "signer.pin.existingSecret=hsm-pins",
                                  "--set", "signer.pin.raPinKey=ra-pin")
            if pod is not None:
                args = pod["containers"][0]["args"]
                self.assertIn("--ra_token_label=ra-partition", args)
                self.assertIn("--ra_pin_file=/secrets/ra-pin", args)
                self.assertIn(("hsm-pins", "ra-pin", "ra-pin"),
                              secret_items(pod, "secrets"))
            pod = self.signer_pod("--set", "signer.raKeyFile.existingSecret=scep-ra-key",
                                  "--set", "signer.issuingCas[0].name=wifi")
            if pod is not None:
                args = pod["containers"][0]["args"]
                self.assertIn("--ra_key_file=/etc/scep/pki/ra-key.pem", args)
                self.assertFalse([a for a in args if a.startswith("--ra_key_label")])
                self.assertEqual(secret_items(pod, "pki"),
                                 [("scep-ra-key", "ra-key.pem", "ra-key.pem"),
                                  ("scep-ra-key", "wifi-ra-key.pem", "wifi/ra-key.pem"),
                                  ("scep-ra-key", "ra-key-previous.pem", "ra-key-previous.pem"),
                                  ("scep-ra-key", "wifi-ra-key-previous.pem",
                                   "wifi/ra-key-previous.pem")])
                sources = [v for v in pod["volumes"] if v["name"] == "pki"][0]["projected"]
                optional = [s for s in sources["sources"]
                            if (s.get("secret") or s.get("configMap") or {}).get("optional")]
                self.assertEqual(
                    sorted(i["path"] for s in optional
                           for i in (s.get("secret") or s.get("configMap"))["items"]),
                    ["ca-chain.pem", "ca-previous.pem", "ra-key-previous.pem",
                     "ra-previous.pem", "wifi/ca-chain.pem", "wifi/ca-previous.pem",
                     "wifi/ra-key-previous.pem", "wifi/ra-previous.pem"],
                    "only the previous RA and CA files and CA chains are optional")

    def test_ipv6_listen_address(self):
        # IPv6-only clusters: listenAddress "::" reaches every listener;
        # gRPC's --listen needs the literal in brackets.
        pod = self.signer_pod("--set", "listenAddress=::")
        if pod is None:
            return
        args = pod["containers"][0]["args"]
        self.assertIn("--listen=[::]:9090", args)
        self.assertIn("--metrics_address=::", args)
        rendered = self.run_helm("template", "scep", CHART, "--namespace", "scep-check",
                                 "--set", "listenAddress=::", "--set", "admin.enabled=true")
        docs = [d for d in yaml.safe_load_all(rendered) if d]
        gateway = [d for d in docs if d["kind"] == "Deployment"
                   and d["metadata"]["name"].endswith("-gateway")][0]
        args = gateway["spec"]["template"]["spec"]["containers"][0]["args"]
        for flag in ("--http_address=::", "--metrics_address=::", "--admin_address=::"):
            self.assertIn(flag, args)
        self.assertIn("--listen=0.0.0.0:9090",
                      self.signer_pod()["containers"][0]["args"])  # the default

    def signer_pod(self, *args):
        """Renders the chart with `args`, checks it, and returns the signer's
        pod spec (None without python3-yaml)."""
        rendered = self.run_helm("template", "scep", CHART, "--namespace", "scep-check",
                                 *args)
        kubectl_dry_run(self, rendered)
        if yaml is None:
            return None
        docs = [d for d in yaml.safe_load_all(rendered) if d]
        self.assertEqual(rendered_problems(docs), [])
        signer = [d for d in docs if d["metadata"]["name"].endswith("-signer")
                  and d["kind"] in ("Deployment", "StatefulSet")][0]
        return signer["spec"]["template"]["spec"]

    def check_admin_and_redis(self, variant, docs):
        gateway = [d for d in docs if d["kind"] == "Deployment"
                   and d["metadata"]["name"].endswith("-gateway")][0]
        args = gateway["spec"]["template"]["spec"]["containers"][0]["args"]
        if variant in ("Redis Sentinel", "Redis TLS + Sentinel"):
            self.assertIn("--redis_sentinels=redis-node-0.redis-headless:26380,"
                          "redis-node-1.redis-headless,[fd00::7]:26380", args)
            self.assertIn("--redis_sentinel_master=scep-primary", args)
            self.assertIn("--redis_sentinel_password_file=/secrets/redis-sentinel/password", args)
            self.assertIn("--redis_sentinel_username=scep-gateway", args)
            self.assertFalse([a for a in args if a.startswith("--redis_host")])
            self.assertIn(("redis", "redis-password", "redis-sentinel/password"),
                          secret_items(gateway["spec"]["template"]["spec"], "secrets"))
            policy = [d for d in docs if d["kind"] == "NetworkPolicy"
                      and d["metadata"]["name"].endswith("-gateway")][0]
            ports = sorted(p["port"] for rule in policy["spec"]["egress"]
                           for p in rule.get("ports", []))
            self.assertIn(26379, ports)  # the Sentinel given without a port
            self.assertEqual(ports.count(26380), 1)
            self.assertIn(6379, ports)  # the primary, at the port the Sentinels announce
        else:
            self.assertFalse([a for a in args if a.startswith("--redis_sentinel")])
        self.check_redis_tls(variant, docs, gateway, args)
        services = {d["metadata"]["name"] for d in docs if d["kind"] == "Service"}
        if variant == "defaults":
            self.assertIn("--admin_port=0", args)
            self.assertFalse([s for s in services if s.endswith("-admin")])
            self.assertFalse([a for a in args if a.startswith("--redis_password_file")])
        if variant in ("all-features.yaml", "production.yaml",
                       "external Redis ACL + admin TLS"):
            self.assertIn("--admin_address=0.0.0.0", args)
            self.assertIn("--admin_tls_cert=/secrets/admin/tls.crt", args)
            if variant == "all-features.yaml":
                self.assertIn("--admin_tls_allowed_clients="
                              "scepctl-ops,spiffe://example.com/mdm-connector", args)
            self.assertIn("--redis_password_file=/secrets/redis/password", args)
            self.assertIn("scep-gateway-admin", services)
            for arg in args:
                self.assertNotRegex(arg, r"example-admin-token|password=[^/]",
                                    "no secret value on the command line")

    def check_redis_tls(self, variant, docs, gateway, args):
        pod = gateway["spec"]["template"]["spec"]
        tls_args = [a for a in args if a.startswith("--redis_tls")]
        tls_items = [i for i in secret_items(pod, "secrets") if i[2].startswith("redis-tls/")]
        if variant == "Redis TLS + Sentinel":
            self.assertEqual(tls_args, ["--redis_tls",
                                        "--redis_tls_ca_file=/secrets/redis-tls/ca.crt",
                                        "--redis_tls_cert_file=/secrets/redis-tls/tls.crt",
                                        "--redis_tls_key_file=/secrets/redis-tls/tls.key",
                                        "--redis_tls_server_name="
                                        "redis-headless.pki-redis.svc.cluster.local",
                                        "--redis_tls_refresh_seconds=30"])
            self.assertEqual(tls_items, [("redis-ca", "ca.pem", "redis-tls/ca.crt"),
                                         ("scep-redis-client", "tls.crt", "redis-tls/tls.crt"),
                                         ("scep-redis-client", "tls.key", "redis-tls/tls.key")])
        elif variant == "production.yaml":
            # One cert-manager Secret for both: its ca.crt and its key pair.
            self.assertEqual(tls_args, ["--redis_tls",
                                        "--redis_tls_ca_file=/secrets/redis-tls/ca.crt",
                                        "--redis_tls_cert_file=/secrets/redis-tls/tls.crt",
                                        "--redis_tls_key_file=/secrets/redis-tls/tls.key",
                                        "--redis_tls_refresh_seconds=10"])
            self.assertEqual(tls_items, [("scep-redis-client", "ca.crt", "redis-tls/ca.crt"),
                                         ("scep-redis-client", "tls.crt", "redis-tls/tls.crt"),
                                         ("scep-redis-client", "tls.key", "redis-tls/tls.key")])
        elif variant == "Redis TLS, system trust store":
            self.assertEqual(tls_args, ["--redis_tls", "--redis_tls_refresh_seconds=10"])
            self.assertEqual(tls_items, [])
            self.assertIn("--redis_host=scep-cache.redis.cache.windows.net", args)
            self.assertIn("--redis_port=6380", args)
            self.assertIn("--redis_password_file=/secrets/redis/password", args)
            policy = [d for d in docs if d["kind"] == "NetworkPolicy"
                      and d["metadata"]["name"].endswith("-gateway")][0]
            self.assertIn(6380, [p["port"] for rule in policy["spec"]["egress"]
                                 for p in rule.get("ports", [])])
        else:
            self.assertEqual(tls_args, [])
            self.assertEqual(tls_items, [])
        # Secret updates reach the files only through a whole-volume mount.
        mounts = pod["containers"][0]["volumeMounts"]
        self.assertIn({"name": "secrets", "mountPath": "/secrets", "readOnly": True}, mounts)
        self.assertFalse([m for m in mounts if m["name"] == "secrets" and "subPath" in m])

    def test_refused_combinations(self):
        cases = {
            "admin without a credential": ["--set", "admin.enabled=true",
                                           "--set", "admin.token.enabled=false"],
            "client CA without TLS": ["--set", "admin.enabled=true",
                                      "--set", "admin.tls.clientCA.enabled=true"],
            "ACL user on the bundled Redis": ["--set", "redis.bundled.enabled=true",
                                              "--set", "redis.auth.enabled=true",
                                              "--set", "redis.auth.username=scep"],
            "external Redis AUTH without a password": ["--set", "redis.auth.enabled=true"],
            "Sentinel with the bundled Redis": ["--set", "redis.bundled.enabled=true",
                                                "--set", "redis.sentinel.enabled=true",
                                                "--set", "redis.sentinel.hosts[0]=s:26379"],
            "Sentinel without its addresses": ["--set", "redis.sentinel.enabled=true"],
            "Sentinel AUTH from a redis.auth Secret the chart leaves out": [
                "--set", "redis.sentinel.enabled=true", "--set", "redis.sentinel.hosts[0]=s:26379",
                "--set", "redis.sentinel.auth.enabled=true"],
            "Sentinel ACL user without its password": [
                "--set", "redis.sentinel.enabled=true", "--set", "redis.sentinel.hosts[0]=s:26379",
                "--set", "redis.sentinel.auth.username=scep"],
            "Redis TLS with the bundled Redis": ["--set", "redis.bundled.enabled=true",
                                                 "--set", "redis.tls.enabled=true"],
            "Redis TLS CA without TLS": ["--set", "redis.tls.ca.existingSecret=redis-ca"],
            "Redis client certificate without TLS": [
                "--set", "redis.tls.clientCertificate.existingSecret=scep-redis-client"],
            "Redis TLS server name without TLS": ["--set", "redis.tls.serverName=redis.test"],
            "WAIT with the bundled Redis": ["--set", "redis.bundled.enabled=true",
                                            "--set", "redis.waitReplicas=1"],
            "RA key file with softhsm": ["--set", "signer.softhsm.enabled=true",
                                         "--set", "signer.raKeyFile.existingSecret=ra"],
            "RA token with softhsm": ["--set", "signer.softhsm.enabled=true",
                                      "--set", "signer.pkcs11.raTokenLabel=ra"],
            "RA key file and RA token": ["--set", "signer.raKeyFile.existingSecret=ra",
                                         "--set", "signer.pkcs11.raTokenLabel=ra"],
            "RA PIN key without an existing Secret": ["--set", "signer.pin.raPinKey=ra-pin"],
            # SIGKILL before the drain ends: requests in flight lost.
            "gateway grace period below drain + shutdown grace": [
                "--set", "gateway.drainDelaySeconds=30"],
            "signer grace period below its shutdown grace": [
                "--set", "signer.shutdownGraceSeconds=30"],
        }
        for name, args in cases.items():
            with self.subTest(case=name):
                result = subprocess.run([*self.helm, "template", "scep", CHART, *args],
                                        capture_output=True, text=True, timeout=120)
                self.assertNotEqual(result.returncode, 0, result.stdout[-2000:])
                if name.startswith("Redis "):  # the redis.tls cases
                    # The template's message, or the schema's (which names
                    # the path as redis.tls... or /redis/tls/...).
                    self.assertRegex(result.stderr, r"redis[./]tls")
                if name.startswith("Sentinel AUTH"):
                    self.assertIn("set redis.sentinel.auth.existingSecret", result.stderr)

    def test_sentinel_password_secret_and_key(self):
        """Its own Secret (key `password` unless given) without redis.auth;
        with redis.auth, that Secret under redis.auth.key."""
        sentinel = ["--set", "redis.sentinel.enabled=true",
                    "--set", "redis.sentinel.hosts[0]=s:26379",
                    "--set", "redis.sentinel.auth.enabled=true"]
        cases = [
            (["--set", "redis.sentinel.auth.existingSecret=sentinel-pw"],
             ("sentinel-pw", "password")),
            (["--set", "redis.sentinel.auth.existingSecret=sentinel-pw",
              "--set", "redis.sentinel.auth.key=pw"], ("sentinel-pw", "pw")),
            (["--set", "redis.auth.enabled=true", "--set", "redis.auth.existingSecret=redis",
              "--set", "redis.auth.key=redis-password"], ("redis", "redis-password")),
            (["--set", "redis.auth.enabled=true", "--set", "redis.auth.value=x"],
             ("scep-redis-auth", "password")),
        ]
        for args, (secret, key) in cases:
            with self.subTest(args=args):
                rendered = self.run_helm("template", "scep", CHART, *sentinel, *args)
                if yaml is None:
                    continue
                docs = [d for d in yaml.safe_load_all(rendered) if d]
                gateway = [d for d in docs if d["kind"] == "Deployment"
                           and d["metadata"]["name"].endswith("-gateway")][0]
                items = secret_items(gateway["spec"]["template"]["spec"], "secrets")
                self.assertIn((secret, key, "redis-sentinel/password"), items)
                self.assertEqual(rendered_problems(docs), [])

    def test_signer_drain_delay_fits_the_grace_period(self):
        """5 s by default; a release that set the grace period before the
        drain delay existed still renders, the delay shortened to fit."""
        for args, want in (((), 5),
                           (("--set", "signer.terminationGracePeriodSeconds=25"), 4),
                           (("--set", "signer.terminationGracePeriodSeconds=21"), 0)):
            with self.subTest(args=args):
                pod = self.signer_pod(*args)
                if pod is None:
                    return
                self.assertIn(f"--drain_delay_seconds={want}", pod["containers"][0]["args"])

    def test_bundled_redis_restarts_for_a_new_password(self):
        """Redis reads its password at start: a new one rolls it with the
        gateways (else every gateway, on the new password, fails AUTH)."""
        def redis_annotations(password):
            docs = self.render_docs("--set", "redis.bundled.enabled=true",
                                    "--set", "redis.auth.enabled=true",
                                    "--set", f"redis.auth.value={password}")
            if docs is None:
                return None
            redis = [d for d in docs if d["kind"] == "StatefulSet"
                     and d["metadata"]["name"].endswith("-redis")][0]
            return redis["spec"]["template"]["metadata"].get("annotations", {})
        first, second = redis_annotations("first-pw"), redis_annotations("second-pw")
        if first is None:
            return
        self.assertIn("checksum/redis-auth", first)
        self.assertNotEqual(first["checksum/redis-auth"], second["checksum/redis-auth"])
        self.assertEqual(first, redis_annotations("first-pw"))

    def test_values_files_of_older_charts_still_install(self):
        """signer.ocspMaxInFlight (replaced by ocspWorkers/ocspMaxQueue) is
        accepted and ignored: the schema refuses unknown keys."""
        out = self.run_helm("template", "scep", CHART, "--namespace", "scep-check",
                            "--set", "signer.ocspMaxInFlight=64")
        self.assertNotIn("ocsp_max_in_flight", out)

    def test_long_release_names_are_refused_at_render(self):
        """A name whose suffixed resources would pass 63 characters fails
        with a message naming the limit, not at the API server."""
        ok = self.run_helm("template", "s" * 40, CHART, "--namespace", "scep-check")
        self.assertIn("-signer-headless", ok)
        result = subprocess.run([*self.helm, "template", "s" * 48, CHART],
                                capture_output=True, text=True, timeout=120)
        self.assertNotEqual(result.returncode, 0, result.stdout[-500:])
        self.assertIn("release name", result.stderr)

    def render_docs(self, *args):
        """The objects `helm template` renders with `args` (None without
        python3-yaml)."""
        rendered = self.run_helm("template", "scep", CHART, "--namespace", "scep-check", *args)
        if yaml is None:
            return None
        return [d for d in yaml.safe_load_all(rendered) if d]

    def test_gateway_idle_timeout_reaches_the_gateway(self):
        docs = self.render_docs()
        if docs is None:
            return
        gateway = [d for d in docs if d["kind"] == "Deployment"
                   and d["metadata"]["name"].endswith("-gateway")][0]
        args = gateway["spec"]["template"]["spec"]["containers"][0]["args"]
        idle = [int(a.split("=", 1)[1]) for a in args
                if a.startswith("--http_idle_timeout_seconds=")]
        self.assertEqual(len(idle), 1)
        self.assertGreater(idle[0], 60, "above ingress-nginx's and ALB's 60 s")

    def test_ingress_routes_every_path_the_gateway_serves(self):
        """/scep (and so /scep/<profile>/pkiclient.exe), and IOS's
        /cgi-bin/pkiclient.exe for a path-less enrollment URL (the gateway
        serves it as /scep): with the default hosts and each example that
        enables the Ingress."""
        variants = {"defaults": ["--set", "gateway.ingress.enabled=true"]}
        for path in sorted(glob.glob(os.path.join(EXAMPLES, "*.yaml"))):
            if os.path.basename(path) != "prerequisites.yaml":
                variants[os.path.basename(path)] = ["-f", path]
        checked = 0
        for name, args in variants.items():
            with self.subTest(values=name):
                docs = self.render_docs(*args)
                if docs is None:
                    return
                for ingress in [d for d in docs if d["kind"] == "Ingress"]:
                    for rule in ingress["spec"]["rules"]:
                        paths = {p["path"]: p for p in rule["http"]["paths"]}
                        self.assertEqual(paths.get("/scep", {}).get("pathType"), "Prefix")
                        ios = paths.get("/cgi-bin/pkiclient.exe")
                        self.assertIsNotNone(ios, f"{rule['host']}: /cgi-bin/pkiclient.exe "
                                                  "not routed (Cisco IOS gets a 404)")
                        self.assertIn(ios["pathType"], ("Exact", "Prefix"))
                        self.assertEqual(ios["backend"]["service"],
                                         paths["/scep"]["backend"]["service"])
                        checked += 1
        self.assertGreaterEqual(checked, 3)  # defaults, all-features, production

    def test_bundled_redis_refuses_writes_before_its_oom_kill(self):
        """The bundled Redis runs with --maxmemory below its container's
        memory limit and noeviction: full, it refuses writes (503) instead
        of growing until the kernel kills it, and ScepRedisMemoryHigh
        (scep_gateway_redis_memory_max_bytes > 0) has a limit to watch."""
        units = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000 ** 2, "mb": 1024 ** 2,
                 "g": 1000 ** 3, "gb": 1024 ** 3}
        quantities = {"Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "k": 1000, "M": 1000 ** 2,
                      "G": 1000 ** 3, "": 1}
        for name, args in {"evaluation.yaml": ["-f", os.path.join(EXAMPLES, "evaluation.yaml")],
                           "all-features.yaml": ["-f", os.path.join(EXAMPLES,
                                                                    "all-features.yaml")]}.items():
            with self.subTest(values=name):
                docs = self.render_docs(*args)
                if docs is None:
                    return
                redis = [d for d in docs if d["kind"] == "StatefulSet"
                         and d["metadata"]["name"].endswith("-redis")][0]
                container = redis["spec"]["template"]["spec"]["containers"][0]
                args_ = container["args"]
                self.assertIn("--maxmemory", args_, "no maxmemory: noeviction never applies")
                number, unit = re.fullmatch(r"(\d+)([A-Za-z]*)",
                                            args_[args_.index("--maxmemory") + 1]).groups()
                max_bytes = int(number) * units[unit.lower()]
                self.assertGreater(max_bytes, 0)
                self.assertEqual(args_[args_.index("--maxmemory-policy") + 1], "noeviction")
                limit = container["resources"]["limits"]["memory"]
                number, unit = re.fullmatch(r"(\d+)([A-Za-z]*)", limit).groups()
                self.assertLessEqual(max_bytes, 0.8 * int(number) * quantities[unit],
                                     f"maxmemory {max_bytes} leaves Redis no room under {limit}")
        for maxmemory, limit in (("256mb", "256Mi"), ("300m", "300M"), ("1gb", "512Mi")):
            with self.subTest(maxMemory=maxmemory, limit=limit):
                result = subprocess.run(
                    [*self.helm, "template", "scep", CHART, "--set", "redis.bundled.enabled=true",
                     "--set", f"redis.bundled.maxMemory={maxmemory}",
                     "--set", f"redis.bundled.resources.limits.memory={limit}"],
                    capture_output=True, text=True, timeout=120)
                self.assertNotEqual(result.returncode, 0, result.stdout[-2000:])
                self.assertIn("redis.bundled.maxMemory", result.stderr)
        docs = self.render_docs("--set", "redis.bundled.enabled=true",
                                "--set", "redis.bundled.maxMemory=1gb",
                                "--set", "redis.bundled.resources.limits.memory=2Gi")
        if docs is not None:
            redis = [d for d in docs if d["kind"] == "StatefulSet"][-1]
            args_ = redis["spec"]["template"]["spec"]["containers"][0]["args"]
            self.assertEqual(args_[args_.index("--maxmemory") + 1], "1gb")

    def test_examples_open_egress_to_their_hooks(self):
        """With networkPolicy.egress on, the gateway's NetworkPolicy lets it
        reach each profile's notify.url and verifier_url (port, and the
        namespace a cluster name names): otherwise notices back up and
        external challenges fail closed (503) for every device."""
        checked = 0
        values = load_yaml_file(os.path.join(CHART, "values.yaml"))[0] if yaml else None
        for path in sorted(glob.glob(os.path.join(EXAMPLES, "*.yaml"))):
            if os.path.basename(path) == "prerequisites.yaml" or yaml is None:
                continue
            merged = deep_merge(values, load_yaml_file(path)[0])
            urls = hook_urls(merged)
            if not (merged["networkPolicy"]["enabled"] and
                    merged["networkPolicy"]["egress"]["enabled"] and urls):
                continue
            docs = self.render_docs("-f", path)
            policy = [d for d in docs if d["kind"] == "NetworkPolicy"
                      and d["metadata"]["name"].endswith("-gateway")][0]
            for profile, url in urls:
                with self.subTest(example=os.path.basename(path), profile=profile, url=url):
                    self.assertTrue(egress_admits(policy["spec"]["egress"], url, "scep-check"),
                                    "networkPolicy.egress.gatewayTo does not admit it")
                    checked += 1
        if yaml is not None:
            self.assertGreaterEqual(checked, 1)  # all-features.yaml's notice receiver

    def test_pki_revision_rolls_the_signer(self):
        """With pki.existingConfigMap (the production path) the chart sees
        none of the certificates: checksum/pki hashes nothing, so only
        signer.pki.revision, bumped by the operator, changes the signer's
        pod template and rolls it."""
        existing = ["--set", "signer.pki.existingConfigMap=scep-pki",
                    "--set", "signer.pin.existingSecret=scep-hsm-pin"]
        templates = {}
        for revision in ("", "2", "2024-06-renew-ra"):
            args = existing + (["--set", f"signer.pki.revision={revision}"] if revision else [])
            docs = self.render_docs(*args)
            if docs is None:
                return
            signer = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")
                      and d["metadata"]["name"].endswith("-signer")][0]
            templates[revision] = signer["spec"]["template"]
        annotations = {r: t["metadata"]["annotations"] for r, t in templates.items()}
        self.assertNotIn("scep/pki-revision", annotations[""])
        self.assertEqual(annotations["2"]["scep/pki-revision"], "2")
        self.assertEqual(annotations["2024-06-renew-ra"]["scep/pki-revision"],
                         "2024-06-renew-ra")
        self.assertNotEqual(templates["2"], templates["2024-06-renew-ra"],
                            "a new revision must change the pod template")
        self.assertEqual(templates[""]["spec"], templates["2"]["spec"])
        # The chart's own ConfigMap (certificates inline) still rolls by checksum.
        docs = self.render_docs("-f", os.path.join(EXAMPLES, "all-features.yaml"))
        if docs is not None:
            signer = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")
                      and d["metadata"]["name"].endswith("-signer")][0]
            self.assertIn("checksum/pki", signer["spec"]["template"]["metadata"]["annotations"])

    def test_audit_log_is_one_file_per_pod(self):
        """Every signer pod appends to its own file: <pod name>-<file>,
        $(POD_NAME) from the downward API; on a claim per pod
        (StatefulSet, volumeClaimTemplates) or on one shared volume."""
        def signer_of(docs):
            return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")
                    and d["metadata"]["name"].endswith("-signer")][0]

        def check_pod(signer):
            pod = signer["spec"]["template"]["spec"]
            container = pod["containers"][0]
            audit = [a for a in container["args"] if a.startswith("--audit_log=")]
            self.assertEqual(audit, ["--audit_log=/var/log/scep/$(POD_NAME)-issuance-audit.log"])
            self.assertIn({"name": "POD_NAME",
                           "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                          container["env"])
            self.assertIn({"name": "audit-log", "mountPath": "/var/log/scep"},
                          container["volumeMounts"])
            return pod

        docs = self.render_docs("-f", os.path.join(EXAMPLES, "all-features.yaml"))
        if docs is None:
            return
        signer = signer_of(docs)
        self.assertEqual(signer["kind"], "StatefulSet")
        pod = check_pod(signer)
        self.assertFalse([v for v in pod["volumes"] if v["name"] == "audit-log"],
                         "a claim per pod, not one volume for all")
        claims = {c["metadata"]["name"]: c["spec"] for c in signer["spec"]["volumeClaimTemplates"]}
        self.assertEqual(claims["audit-log"]["accessModes"], ["ReadWriteOnce"])
        self.assertEqual(claims["audit-log"]["resources"]["requests"]["storage"], "5Gi")

        shared = ["--set", "signer.auditLog.volume.persistentVolumeClaim.claimName=audit"]
        signer = signer_of(self.render_docs(*shared))
        self.assertEqual(signer["kind"], "Deployment")
        pod = check_pod(signer)
        self.assertIn({"name": "audit-log", "persistentVolumeClaim": {"claimName": "audit"}},
                      pod["volumes"])

        refused = {
            "claim per pod with a Deployment": ["--set", "signer.auditLog.persistence.enabled=true"],
            "claim per pod and a shared volume": [
                "--set", "signer.kind=StatefulSet", "--set",
                "signer.auditLog.persistence.enabled=true", *shared],
        }
        for name, args in refused.items():
            with self.subTest(refused=name):
                result = subprocess.run([*self.helm, "template", "scep", CHART, *args],
                                        capture_output=True, text=True, timeout=120)
                self.assertNotEqual(result.returncode, 0, result.stdout[-2000:])
                self.assertIn("signer.auditLog", result.stderr)

        if os.path.basename(self.helm[-1]) != "helm_standin.py":
            return  # only the stand-in can be handed the cluster's claims
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as cluster:
            for modes, replicas, ok in ((["ReadWriteOnce"], 2, False),
                                        (["ReadWriteOncePod"], 3, False),
                                        (["ReadWriteMany"], 2, True),
                                        (["ReadWriteOnce"], 1, True)):
                with self.subTest(claim=modes, replicas=replicas):
                    cluster.seek(0)
                    cluster.truncate()
                    yaml.safe_dump({"items": [{
                        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": {"name": "audit", "namespace": "scep-check"},
                        "spec": {"accessModes": modes}}]}, cluster)
                    cluster.flush()
                    result = subprocess.run(
                        [*self.helm, "template", "scep", CHART, "--namespace", "scep-check",
                         "--lookup", cluster.name, *shared,
                         "--set", f"signer.replicaCount={replicas}"],
                        capture_output=True, text=True, timeout=120)
                    if ok:
                        self.assertEqual(result.returncode, 0, result.stderr)
                    else:
                        self.assertNotEqual(result.returncode, 0, result.stdout[-2000:])
                        self.assertIn("Multi-Attach", result.stderr)

    def test_generated_secrets_agree_within_one_render(self):
        """A secret the chart generates (no existingSecret, no value) is
        drawn once per render: the gateway's and the signer's
        checksum/secrets include secrets.yaml again, and drew their own
        random values before, so the two annotations differed from each
        other and from the Secret. (Helm hands every template of a chart
        the same .Values map, as chart-render does, where the value is
        kept.)"""
        variants = {
            "challenge": [],
            "challenge, SoftHSM PINs, bundled Redis": [
                "-f", os.path.join(EXAMPLES, "evaluation.yaml"), "--set", "redis.auth.enabled=true",
                "--set", "admin.enabled=true"],
        }
        for name, args in variants.items():
            with self.subTest(generated=name):
                docs = self.render_docs(*args)
                if docs is None:
                    return
                sums = {d["metadata"]["name"]:
                        d["spec"]["template"]["metadata"]["annotations"]["checksum/secrets"]
                        for d in docs if d["kind"] in ("Deployment", "StatefulSet")
                        and "checksum/secrets" in d["spec"]["template"]["metadata"].get(
                            "annotations", {})}
                self.assertEqual(sorted(sums), ["scep-gateway", "scep-signer"])
                self.assertEqual(len(set(sums.values())), 1, sums)
        if os.path.basename(self.helm[-1]) != "helm_standin.py":
            return  # only the stand-in can be handed the cluster's Secret
        # What the cluster holds is kept, render after render.
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as cluster:
            yaml.safe_dump({"items": [{
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "scep-challenge", "namespace": "scep-check"},
                "data": {"challenge": "a2VwdC1jaGFsbGVuZ2U="}}]}, cluster)
            cluster.flush()
            seen = set()
            for _ in range(2):
                docs = self.render_docs("--lookup", cluster.name)
                secret = [d for d in docs if d["kind"] == "Secret"
                          and d["metadata"]["name"] == "scep-challenge"][0]
                self.assertEqual(secret["data"]["challenge"], "a2VwdC1jaGFsbGVuZ2U=")
                seen |= {d["spec"]["template"]["metadata"]["annotations"]["checksum/secrets"]
                         for d in docs if d["kind"] in ("Deployment", "StatefulSet")}
            self.assertEqual(len(seen), 1, "the same Secret, the same checksum, no roll")

    def test_generated_secrets_documented_for_gitops(self):
        with open(os.path.join(CHART, "README.md")) as f:
            readme = f.read()
        self.assertIn("### GitOps and `helm template`: give every secret", readme)
        with open(os.path.join(CHART, "values.yaml")) as f:
            values = f.read()
        challenge = values[values.index("challenge:\n"):values.index("  existingSecret:")]
        self.assertIn("CHANGES ON EVERY RENDER", challenge)

    def test_softhsm_refuses_replicas(self):
        result = subprocess.run(
            [*self.helm, "template", "scep", CHART, "--set", "signer.softhsm.enabled=true",
             "--set", "signer.replicaCount=2"], capture_output=True, text=True, timeout=120)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("replicaCount", result.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
