package deploy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"text/template"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite rulekeeper.yaml from the chart's default rendering")

const chartDir = "helm/rulekeeper"

// The chart is rendered here rather than with Helm's Go library: that
// library and its Kubernetes client dependencies are 3.4× the source that
// k8s.io/api alone brings (25.3 MB against 7.4 MB of Go, measured with `go
// list -deps`), too much for `make test`'s budget. render implements Helm's
// template semantics for the functions the chart uses (funcs below, with
// Sprig's and Helm's definitions); a template calling any other function
// fails to parse, so the chart cannot drift out of what is tested.
func render(t *testing.T, releaseName string, valueFiles ...string) string {
	t.Helper()
	out, err := renderChart(releaseName, valueFiles...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func renderChart(releaseName string, valueFiles ...string) (string, error) {
	var chart struct {
		Name, Version, AppVersion string
	}
	if err := readYAML(filepath.Join(chartDir, "Chart.yaml"), &chart); err != nil {
		return "", err
	}
	values := map[string]any{}
	for _, f := range append([]string{filepath.Join(chartDir, "values.yaml")}, valueFiles...) {
		var v map[string]any
		if err := readYAML(f, &v); err != nil {
			return "", err
		}
		values = mergeValues(values, v)
	}
	data := map[string]any{
		"Values":  values,
		"Chart":   map[string]any{"Name": chart.Name, "Version": chart.Version, "AppVersion": chart.AppVersion},
		"Release": map[string]any{"Name": releaseName, "Namespace": "default", "Service": "Helm"},
	}
	root := template.New("chart").Option("missingkey=zero")
	root.Funcs(funcs(root))
	files, err := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	if err != nil || len(files) == 0 {
		return "", fmt.Errorf("templates: %v", err)
	}
	slices.Sort(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		if _, err := root.New(filepath.Base(f)).Parse(string(b)); err != nil {
			return "", fmt.Errorf("parse %s: %w", f, err)
		}
	}
	var out strings.Builder
	for _, f := range files {
		name := filepath.Base(f)
		if strings.HasPrefix(name, "_") {
			continue
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", fmt.Errorf("render %s: %w", name, err)
		}
		doc := strings.TrimSpace(strings.ReplaceAll(buf.String(), "<no value>", ""))
		if doc == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: rulekeeper/templates/%s\n%s\n", name, doc)
	}
	return out.String(), nil
}

// funcs are the template functions the chart may use, as Helm defines them.
func funcs(root *template.Template) template.FuncMap {
	return template.FuncMap{
		"include": func(name string, data any) (string, error) {
			var buf bytes.Buffer
			err := root.ExecuteTemplate(&buf, name, data)
			return buf.String(), err
		},
		"required": func(msg string, v any) (any, error) {
			if v == nil || v == "" {
				return nil, errors.New(msg)
			}
			return v, nil
		},
		"toYaml": func(v any) string {
			b, err := yaml.Marshal(v)
			if err != nil {
				return ""
			}
			return strings.TrimSuffix(string(b), "\n")
		},
		"toJson": func(v any) string {
			b, _ := json.Marshal(v)
			return string(b)
		},
		"default": func(d any, given ...any) any {
			if len(given) == 0 || empty(given[0]) {
				return d
			}
			return given[0]
		},
		"quote": func(args ...any) string {
			var q []string
			for _, a := range args {
				if a != nil {
					q = append(q, fmt.Sprintf("%q", fmt.Sprint(a)))
				}
			}
			return strings.Join(q, " ")
		},
		"nindent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			return "\n" + pad + strings.ReplaceAll(s, "\n", "\n"+pad)
		},
		"trunc": func(n int, s string) string {
			if n >= 0 && len(s) > n {
				return s[:n]
			}
			return s
		},
		"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
		"contains":   func(sub, s string) bool { return strings.Contains(s, sub) },
		"join": func(sep string, v any) string {
			var parts []string
			if l, ok := v.([]any); ok {
				for _, e := range l {
					parts = append(parts, fmt.Sprint(e))
				}
			}
			return strings.Join(parts, sep)
		},
		"sha256sum": func(s string) string {
			h := sha256.Sum256([]byte(s))
			return hex.EncodeToString(h[:])
		},
	}
}

// empty is Sprig's notion of an empty value (for default).
func empty(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String, reflect.Slice, reflect.Map, reflect.Array:
		return rv.Len() == 0
	case reflect.Bool:
		return !rv.Bool()
	case reflect.Int, reflect.Int64, reflect.Float64:
		return rv.IsZero()
	}
	return false
}

// mergeValues overlays over onto base as Helm does with -f: maps merge
// key by key, anything else is replaced.
func mergeValues(base, over map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = mergeValues(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func readYAML(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// serviceMonitor is the part of the Prometheus operator's ServiceMonitor
// (monitoring.coreos.com/v1) that the chart writes; decoding is strict.
type serviceMonitor struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Metadata   map[string]any     `json:"metadata"`
	Spec       serviceMonitorSpec `json:"spec"`
}

type serviceMonitorSpec struct {
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	Endpoints []struct {
		Port     string `json:"port"`
		Path     string `json:"path"`
		Interval string `json:"interval"`
	} `json:"endpoints"`
}

// objects are the decoded objects of one rendering, by kind.
type objects struct {
	deployment *appsv1.Deployment
	service    *corev1.Service
	secret     *corev1.Secret
	pdb        *policyv1.PodDisruptionBudget
	netpol     *networkingv1.NetworkPolicy
	monitor    *serviceMonitor
}

// decode splits a rendering into documents and decodes each strictly into
// its Kubernetes type: an unknown or misspelt field is an error.
func decode(t *testing.T, rendered string) objects {
	t.Helper()
	var o objects
	for _, doc := range strings.Split(rendered, "\n---\n") {
		doc = strings.TrimPrefix(doc, "---\n")
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var head struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("document %q: %v", doc, err)
		}
		if head.APIVersion == "" && head.Kind == "" && commentsOnly(doc) {
			continue
		}
		var target any
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 Deployment":
			o.deployment = &appsv1.Deployment{}
			target = o.deployment
		case "v1 Service":
			o.service = &corev1.Service{}
			target = o.service
		case "v1 Secret":
			o.secret = &corev1.Secret{}
			target = o.secret
		case "policy/v1 PodDisruptionBudget":
			o.pdb = &policyv1.PodDisruptionBudget{}
			target = o.pdb
		case "networking.k8s.io/v1 NetworkPolicy":
			o.netpol = &networkingv1.NetworkPolicy{}
			target = o.netpol
		case "monitoring.coreos.com/v1 ServiceMonitor":
			o.monitor = &serviceMonitor{}
			target = o.monitor
		default:
			t.Fatalf("unexpected object %s %s", head.APIVersion, head.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), target); err != nil {
			t.Fatalf("%s does not decode strictly: %v\n%s", head.Kind, err, doc)
		}
	}
	return o
}

func TestChartRendersValidObjects(t *testing.T) {
	for _, tt := range []struct {
		name       string
		files      []string
		replicas   int32
		secret     bool // the chart makes the Secret
		monitor    bool
		envs       []string
		secretName string
		peers      int
		pdbMin     int
	}{
		{name: "default", replicas: 2, secret: true, secretName: "rulekeeper", peers: 1, pdbMin: 1,
			envs: []string{"RULEKEEPER_MONGO_URI", "RULEKEEPER_OIDC_ISSUER", "RULEKEEPER_LICENSE_PUBLIC_KEY"}},
		{name: "production", files: []string{filepath.Join(chartDir, "values-production.yaml")}, replicas: 3,
			monitor: true, secretName: "rulekeeper-secrets", peers: 3, pdbMin: 2,
			envs: []string{"RULEKEEPER_OIDC_AUDIENCE", "RULEKEEPER_OIDC_AUTHORIZED_PARTY", "RULEKEEPER_ROLE_MAP",
				"RULEKEEPER_BOOTSTRAP_ADMIN", "RULEKEEPER_CLAIM_ROLES", "RULEKEEPER_OIDC_INTROSPECTION_CLIENT_SECRET",
				"RULEKEEPER_DECISION_LOG", "RULEKEEPER_DECISION_LOG_SAMPLE", "RULEKEEPER_DECISION_LOG_MASK", "RULEKEEPER_DECISION_LOG_TTL"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := decode(t, render(t, "rulekeeper", tt.files...))
			d := o.deployment
			if d == nil || o.service == nil || o.pdb == nil || o.netpol == nil {
				t.Fatalf("missing objects: %+v", o)
			}
			if (o.secret != nil) != tt.secret || (o.monitor != nil) != tt.monitor {
				t.Fatalf("secret %v monitor %v", o.secret != nil, o.monitor != nil)
			}
			if d.Spec.Replicas == nil || *d.Spec.Replicas != tt.replicas {
				t.Errorf("replicas %v", d.Spec.Replicas)
			}
			pod := d.Spec.Template
			for k, v := range d.Spec.Selector.MatchLabels {
				if pod.Labels[k] != v || o.service.Spec.Selector[k] != v || o.pdb.Spec.Selector.MatchLabels[k] != v ||
					o.netpol.Spec.PodSelector.MatchLabels[k] != v {
					t.Errorf("selector label %s=%s not on the pods, Service, PDB and NetworkPolicy alike", k, v)
				}
			}
			c := pod.Spec.Containers[0]
			if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" ||
				c.StartupProbe.HTTPGet.Path != "/readyz" || c.Ports[0].ContainerPort != 8080 {
				t.Errorf("probes or port: %+v", c)
			}
			if sc := c.SecurityContext; sc == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation ||
				pod.Spec.SecurityContext.RunAsNonRoot == nil || !*pod.Spec.SecurityContext.RunAsNonRoot {
				t.Errorf("security context %+v", sc)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("resources %+v", c.Resources)
			}
			env := map[string]corev1.EnvVar{}
			for _, e := range c.Env {
				if _, dup := env[e.Name]; dup {
					t.Errorf("env %s twice", e.Name)
				}
				env[e.Name] = e
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef.Name != tt.secretName {
					t.Errorf("env %s from Secret %q, want %q", e.Name, e.ValueFrom.SecretKeyRef.Name, tt.secretName)
				}
			}
			for _, name := range tt.envs {
				if _, ok := env[name]; !ok {
					t.Errorf("env %s missing", name)
				}
			}
			if v := env["RULEKEEPER_DECISION_LOG"].Value; v != "off" && v != "stdout" && v != "mongo" {
				t.Errorf("decision log %q is not off, stdout or mongo", v)
			}
			if v := env["RULEKEEPER_BODY_LIMIT"].Value; strings.Trim(v, "0123456789") != "" || v == "" {
				t.Errorf("body limit %q is not a number of bytes", v)
			}
			if env["RULEKEEPER_MONGO_URI"].ValueFrom == nil {
				t.Error("the MongoDB URI is not taken from the Secret")
			}
			if o.secret != nil {
				for _, k := range []string{"mongo-uri", "license-public-key", "oidc-introspection-client-secret"} {
					if _, ok := o.secret.StringData[k]; !ok {
						t.Errorf("Secret lacks %s", k)
					}
				}
			}
			if o.service.Spec.Ports[0].TargetPort.StrVal != c.Ports[0].Name {
				t.Errorf("Service targets port %v, the container names %q", o.service.Spec.Ports[0].TargetPort, c.Ports[0].Name)
			}
			if o.pdb.Spec.MinAvailable.IntValue() != tt.pdbMin {
				t.Errorf("PDB minAvailable %v", o.pdb.Spec.MinAvailable)
			}
			if n := len(o.netpol.Spec.Ingress[0].From); n != tt.peers {
				t.Errorf("NetworkPolicy admits %d peers, want %d", n, tt.peers)
			}
			if o.monitor != nil && (o.monitor.Spec.Endpoints[0].Path != "/metrics" || o.monitor.Spec.Endpoints[0].Port != "http") {
				t.Errorf("ServiceMonitor %+v", o.monitor.Spec)
			}
		})
	}
}

// TestPlainManifestIsTheDefaultRendering: deploy/rulekeeper.yaml is the
// chart rendered with its defaults (go test ./deploy -update rewrites it).
func TestPlainManifestIsTheDefaultRendering(t *testing.T) {
	want := "# The Helm chart in deploy/helm/rulekeeper rendered with its default values\n" +
		"# (regenerate: go test ./deploy -run PlainManifest -update). Edit the chart, not this file.\n" +
		render(t, "rulekeeper")
	if *update {
		if err := os.WriteFile("rulekeeper.yaml", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("rulekeeper.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatal("deploy/rulekeeper.yaml is not the chart's default rendering: run go test ./deploy -run PlainManifest -update")
	}
	decode(t, string(got))
}

// TestChartRefusesMissingSettings: required values fail the rendering
// with a message naming them.
func TestChartRefusesMissingSettings(t *testing.T) {
	for _, tt := range []struct{ values, want string }{
		{"oidc:\n  issuer: \"\"\n", "oidc.issuer is required"},
		{"mongo:\n  uri: \"\"\n", "mongo.uri is required"},
	} {
		f := filepath.Join(t.TempDir(), "v.yaml")
		if err := os.WriteFile(f, []byte(tt.values), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := renderChart("rulekeeper", f); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.values, err, tt.want)
		}
	}
}

func commentsOnly(doc string) bool {
	for line := range strings.SplitSeq(doc, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}
