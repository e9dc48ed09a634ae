#!/usr/bin/env python3
"""A stand-in for the two helm commands tests/deploy/check_chart.py runs,
where no helm binary exists (Debian 12 packages none):

  helm_standin.py template NAME CHART [--namespace NS] [-f FILE]... [--set A=V]...
                  [--lookup OBJECTS.yaml]
  helm_standin.py lint [--strict] CHART [-f FILE]...

Like helm, it merges the values (chart-render --values-json), validates
them against the chart's values.schema.json (JSON Schema draft 7, as helm
does) and renders the templates (chart-render: Go's text/template with
sprig, the engine and functions helm uses). `lint` renders with
missingkey=error under --strict, as helm lint --strict does, and checks
that every document parses and names its apiVersion, kind and
metadata.name. --lookup (not a helm option) hands chart-render a file of
objects that `lookup` finds, as a cluster would under `helm install`. It
is not helm: where helm is on PATH, check_chart.py runs helm itself.

The renderer is $SCEP_CHART_RENDER, else
$SCEP_BUILD_DIR/tests/deploy/chart_render/chart-render.
"""
import json
import os
import subprocess
import sys


def renderer():
    path = os.environ.get("SCEP_CHART_RENDER")
    if not path and os.environ.get("SCEP_BUILD_DIR"):
        path = os.path.join(os.environ["SCEP_BUILD_DIR"], "tests", "deploy", "chart_render",
                            "chart-render")
    return path if path and os.access(path, os.X_OK) else None


def fail(message):
    print(f"Error: {message}", file=sys.stderr)
    sys.exit(1)


def parse(argv):
    """(command, chart, release, render args) from helm-style arguments."""
    if not argv or argv[0] not in ("template", "lint"):
        fail("usage: helm_standin.py template NAME CHART ... | lint [--strict] CHART ...")
    command, rest = argv[0], argv[1:]
    release = "release-name"
    if command == "template":
        if not rest:
            fail("template needs a release name")
        release, rest = rest[0], rest[1:]
    chart, args, i = None, ["--release", release], 0
    while i < len(rest):
        a = rest[i]
        if a in ("--namespace", "-n", "-f", "--values", "--set", "--lookup"):
            if i + 1 >= len(rest):
                fail(f"{a} needs a value")
            args += [a, rest[i + 1]]
            i += 2
        elif a == "--strict":
            args.append(a)
            i += 1
        elif a.startswith("-") or chart:
            fail(f"unknown argument {a!r}")
        else:
            chart = a
            i += 1
    if not chart:
        fail("no chart given")
    return command, chart, args


def run(render, chart, args, values_only=False):
    argv = [render, *args, *(["--values-json"] if values_only else []), chart]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        sys.exit(1)
    return result.stdout


def main(argv):
    import jsonschema  # here: check_chart.py imports renderer() alone
    import yaml
    render = renderer()
    if not render:
        fail("chart-render not built (set SCEP_CHART_RENDER or SCEP_BUILD_DIR)")
    command, chart, args = parse(argv)
    values = json.loads(run(render, chart, [a for a in args if a != "--strict"],
                            values_only=True))
    schema_path = os.path.join(chart, "values.schema.json")
    if os.path.exists(schema_path):
        with open(schema_path) as f:
            schema = json.load(f)
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(values),
                        key=lambda e: list(map(str, e.absolute_path)))
        if errors:
            fail("values don't meet the specifications of the schema(s) in the following "
                 "chart(s):\n" + "\n".join(
                     f"- {'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                     for e in errors))
    rendered = run(render, chart, args)
    if command == "template":
        sys.stdout.write(rendered)
        return
    for doc in yaml.safe_load_all(rendered):
        if doc is None:
            continue
        missing = [k for k in ("apiVersion", "kind") if not doc.get(k)]
        if not (doc.get("metadata") or {}).get("name"):
            missing.append("metadata.name")
        if missing:
            fail(f"a rendered {doc.get('kind', 'document')} lacks {', '.join(missing)}")
    print("1 chart(s) linted, 0 chart(s) failed")


if __name__ == "__main__":
    main(sys.argv[1:])
