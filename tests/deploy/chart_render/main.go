// chart-render: renders a Helm chart the way `helm template` does, for
// checking helm/scep where no helm binary can be installed (Debian 12 has
// none). It is not Helm: it uses the same template engine (Go's
// text/template), the same function library (sprig, without env and
// expandenv) and the same values decoding (sigs.k8s.io/yaml: numbers as
// float64, --set integers as int64), and adds Helm's own functions
// (include, tpl, required, lookup, toYaml, fromYaml, toJson, fromJson).
// `lookup` finds nothing, as under `helm template`, unless --lookup names a
// YAML file `items: [object, ...]` standing in for a cluster's objects
// (what `helm install` would find). Schema validation is left to the
// caller (tests/deploy/helm_standin.py), which reads the merged values
// with --values-json.
//
//	chart-render [--strict] [--values-json] [--release NAME] [--namespace NS]
//	             [--lookup objects.yaml] [-f values.yaml]... [--set a.b[0].c=v,...]... CHART
//
// Output: every rendered template but NOTES.txt (rendered and checked too),
// each as "---\n# Source: <chart>/templates/<file>\n...", empty ones left
// out. A template that fails (fail, required, a bad expression; with
// --strict a missing key as well) exits 1 with helm's "Error: ..." line.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

type values = map[string]interface{}

func readValues(path string) (values, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v := values{}
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// merge: src over dst, maps merged key by key, anything else replaced
// (Helm's coalescing of -f files; a null deletes the key).
func merge(dst, src values) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sm, ok := v.(values); ok {
			if dm, ok := dst[k].(values); ok {
				merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

var indexed = regexp.MustCompile(`^([^\[\]]+)\[(\d+)\]$`)

// setValue applies one --set assignment: dotted keys, [n] list indexes,
// {a,b} lists; true/false, null and integers typed as Helm's strvals does.
func setValue(vals values, assignment string) error {
	key, raw, ok := strings.Cut(assignment, "=")
	if !ok {
		return fmt.Errorf("--set %q: no '='", assignment)
	}
	var val interface{} = raw
	switch {
	case raw == "true" || raw == "false":
		val = raw == "true"
	case raw == "null":
		val = nil
	case strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}"):
		list := []interface{}{}
		for _, item := range strings.Split(raw[1:len(raw)-1], ",") {
			list = append(list, item)
		}
		val = list
	default:
		// Integers as int64, but not "007" (a string to Helm too).
		if n, err := strconv.ParseInt(raw, 10, 64); err == nil && (raw == "0" || raw[0] != '0') {
			val = n
		}
	}
	node := vals
	parts := strings.Split(key, ".")
	for i, part := range parts {
		last := i == len(parts)-1
		if m := indexed.FindStringSubmatch(part); m != nil {
			n, _ := strconv.Atoi(m[2])
			list, _ := node[m[1]].([]interface{})
			for len(list) <= n {
				list = append(list, nil)
			}
			node[m[1]] = list
			if last {
				list[n] = val
				return nil
			}
			next, ok := list[n].(values)
			if !ok {
				next = values{}
				list[n] = next
			}
			node = next
			continue
		}
		if last {
			if val == nil {
				delete(node, part)
			} else {
				node[part] = val
			}
			return nil
		}
		next, ok := node[part].(values)
		if !ok {
			next = values{}
			node[part] = next
		}
		node = next
	}
	return nil
}

// splitSet splits one --set argument at the commas outside {}.
func splitSet(arg string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range arg {
		switch c {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, arg[start:i])
				start = i + 1
			}
		}
	}
	return append(out, arg[start:])
}

type files struct{ root string }

// Get: a file of the chart as a string ("" when missing, as in Helm).
func (f files) Get(name string) string {
	data, err := os.ReadFile(filepath.Join(f.root, name))
	if err != nil {
		return ""
	}
	return string(data)
}

func toYaml(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYaml(s string) values {
	v := values{}
	if err := yaml.Unmarshal([]byte(s), &v); err != nil {
		v["Error"] = err.Error()
	}
	return v
}

func toJson(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJson(s string) values {
	v := values{}
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		v["Error"] = err.Error()
	}
	return v
}

// lookupIn: Helm's lookup over a fixed list of objects: one object by
// name ({} when absent), or every object of the kind (a <Kind>List) when
// name is empty; namespace "" for cluster-scoped objects.
func lookupIn(objects []interface{}) func(string, string, string, string) (values, error) {
	return func(apiVersion, kind, namespace, name string) (values, error) {
		list := values{"apiVersion": apiVersion, "kind": kind + "List", "items": []interface{}{}}
		for _, o := range objects {
			obj, ok := o.(values)
			if !ok || obj["apiVersion"] != apiVersion || obj["kind"] != kind {
				continue
			}
			meta, _ := obj["metadata"].(values)
			ns, _ := meta["namespace"].(string)
			if ns != namespace {
				continue
			}
			if name == "" {
				list["items"] = append(list["items"].([]interface{}), obj)
			} else if meta["name"] == name {
				return obj, nil
			}
		}
		if name == "" {
			return list, nil
		}
		return values{}, nil
	}
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	release, namespace := "release-name", "default"
	strict, valuesOnly := false, false
	var chart, lookupFile string
	var layers []func(values) error
	for i := 0; i < len(args); i++ {
		arg := args[i]
		next := func() (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", arg)
			}
			i++
			return args[i], nil
		}
		switch arg {
		case "--strict":
			strict = true
		case "--values-json":
			valuesOnly = true
		case "--release", "--namespace", "-n", "-f", "--values", "--set", "--lookup":
			v, err := next()
			if err != nil {
				return err
			}
			switch arg {
			case "--release":
				release = v
			case "--namespace", "-n":
				namespace = v
			case "--lookup":
				lookupFile = v
			case "-f", "--values":
				layers = append(layers, func(vals values) error {
					file, err := readValues(v)
					if err == nil {
						merge(vals, file)
					}
					return err
				})
			default:
				layers = append(layers, func(vals values) error {
					for _, a := range splitSet(v) {
						if err := setValue(vals, a); err != nil {
							return err
						}
					}
					return nil
				})
			}
		default:
			if strings.HasPrefix(arg, "-") || chart != "" {
				return fmt.Errorf("unknown argument %q", arg)
			}
			chart = arg
		}
	}
	if chart == "" {
		return errors.New("no chart given")
	}
	vals, err := readValues(filepath.Join(chart, "values.yaml"))
	if err != nil {
		return err
	}
	for _, layer := range layers {
		if err := layer(vals); err != nil {
			return err
		}
	}
	if valuesOnly {
		out, err := json.Marshal(vals)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(out)
		return err
	}
	meta, err := readValues(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		return err
	}
	name, _ := meta["name"].(string)
	if name == "" {
		return errors.New("Chart.yaml has no name")
	}
	var objects []interface{}
	if lookupFile != "" {
		cluster, err := readValues(lookupFile)
		if err != nil {
			return err
		}
		objects, _ = cluster["items"].([]interface{})
	}
	return render(chart, name, meta, release, namespace, vals, strict, objects)
}

func render(chart, name string, meta values, release, namespace string, vals values,
	strict bool, objects []interface{}) error {
	root := template.New("chart")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["toYaml"] = toYaml
	funcs["fromYaml"] = fromYaml
	funcs["toJson"] = toJson
	funcs["fromJson"] = fromJson
	funcs["required"] = func(message string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return v, errors.New(message)
		}
		return v, nil
	}
	funcs["lookup"] = func(apiVersion, kind, namespace, name string) (values, error) {
		return values{}, nil // no cluster: found nothing
	}
	if objects != nil {
		funcs["lookup"] = lookupIn(objects)
	}
	includes := 0
	funcs["include"] = func(name string, data interface{}) (string, error) {
		if includes++; includes > 10000 {
			return "", errors.New("include nested too deep")
		}
		defer func() { includes-- }()
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		if t, err = t.New("tpl").Parse(text); err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return buf.String(), err
	}
	root.Funcs(funcs)
	if strict {
		root.Option("missingkey=error")
	} else {
		root.Option("missingkey=zero")
	}
	var names []string
	err := filepath.Walk(filepath.Join(chart, "templates"), func(path string, info os.FileInfo,
		err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(chart, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		full := name + "/" + filepath.ToSlash(rel)
		if _, err := root.New(full).Parse(string(data)); err != nil {
			return fmt.Errorf("parse error in %s: %w", full, err)
		}
		names = append(names, full)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	chartMeta := values{}
	for k, v := range meta {
		chartMeta[strings.ToUpper(k[:1])+k[1:]] = v
	}
	var out bytes.Buffer
	for _, full := range names {
		base := filepath.Base(full)
		if strings.HasPrefix(base, "_") {
			continue
		}
		top := values{
			"Values":  vals,
			"Chart":   chartMeta,
			"Files":   files{chart},
			"Release": values{"Name": release, "Namespace": namespace, "Service": "Helm",
				"IsInstall": true, "IsUpgrade": false, "Revision": 1},
			"Template": values{"Name": full, "BasePath": name + "/templates"},
			"Capabilities": values{"KubeVersion": values{"Version": "v1.28.0",
				"Major": "1", "Minor": "28", "GitVersion": "v1.28.0"}},
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, full, top); err != nil {
			return err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if base == "NOTES.txt" || strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", full, strings.TrimRight(text, "\n"))
	}
	_, err = os.Stdout.Write(out.Bytes())
	return err
}
