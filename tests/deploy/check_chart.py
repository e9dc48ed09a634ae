"""Checks of the Helm chart (helm/scep) that run without a cluster or helm.

- every YAML file of the chart parses (PyYAML), every JSON file parses;
- values.yaml, and each examples/*.yaml merged over it, validate against
  values.schema.json (jsonschema), and the schema refuses typos;
- values.yaml documents every field;
- every template balances its {{ }} actions and its if/range/with/define
  ... end blocks; every include names a defined template;
- every .Values path a template uses exists in values.yaml, and every
  value in values.yaml is used by some template;
- the Grafana dashboard uses only metric-name variables it defines;
- plain manifests (examples/prerequisites.yaml) pass `kubectl apply
  --dry-run=client` against a loopback fake API server (when kubectl is
  on PATH);
- with `helm` on PATH: helm lint, helm template with the defaults, with
  every optional feature on and with each example, then kubectl dry-run.

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
            "relative module path": {"signer": {"pkcs11": {"module": "libpkcs11.so"}}},
            "unknown signer kind": {"signer": {"kind": "DaemonSet"}},
            "string for a boolean": {"tls": {"enabled": "yes"}},
            "token label over 32 bytes": {"signer": {"pkcs11": {"tokenLabel": "x" * 33}}},
        }
        for name, override in bad.items():
            with self.subTest(mistake=name):
                self.assertNotEqual(self.errors(deep_merge(self.values, override)), [])


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


class Helm(unittest.TestCase):
    """Runs only where a helm binary is on PATH (none can be installed here)."""

    def setUp(self):
        self.helm = shutil.which("helm")
        if not self.helm:
            self.skipTest("helm is not on PATH")

    def run_helm(self, *args):
        result = subprocess.run([self.helm, *args], capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr + result.stdout)
        return result.stdout

    def test_lint(self):
        self.run_helm("lint", "--strict", CHART)
        self.run_helm("lint", "--strict", CHART, "-f", os.path.join(EXAMPLES, "all-features.yaml"))

    def test_template_and_dry_run(self):
        variants = {"defaults": []}
        for path in sorted(glob.glob(os.path.join(EXAMPLES, "*.yaml"))):
            if os.path.basename(path) != "prerequisites.yaml":
                variants[os.path.basename(path)] = ["-f", path]
        for name, args in variants.items():
            with self.subTest(values=name):
                rendered = self.run_helm("template", "scep", CHART, "--namespace", "scep-check",
                                         *args)
                if yaml is not None:
                    kinds = {d["kind"] for d in yaml.safe_load_all(rendered) if d}
                    self.assertIn("Deployment", kinds)
                kubectl_dry_run(self, rendered)

    def test_softhsm_refuses_replicas(self):
        result = subprocess.run(
            [self.helm, "template", "scep", CHART, "--set", "signer.softhsm.enabled=true",
             "--set", "signer.replicaCount=2"], capture_output=True, text=True, timeout=120)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("replicaCount", result.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
