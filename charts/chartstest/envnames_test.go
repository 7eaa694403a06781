package chartstest

import (
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"unicode"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar"
)

// optionNames returns every environment variable the binary reads: the env tags of sidecar.Config,
// nested structs included (creds.Config, resilience.Config, ...), with sidecar.EnvPrefix.
func optionNames() map[string]bool {
	names := map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			if env, ok := f.Tag.Lookup("env"); ok && env != "" {
				names[prefix+strings.Split(env, ",")[0]] = true
				continue
			}
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				walk(ft, prefix+f.Tag.Get("envPrefix"))
			}
		}
	}
	walk(reflect.TypeFor[sidecar.Config](), sidecar.EnvPrefix)
	return names
}

// TestChartEnvNamesAreOptions: every SIGV4_* variable the chart and deploy/ render is one the binary reads
// (a misspelt name would be ignored silently), and every first-class option under values.yaml's config
// renders the variable its name says, with its value.
func TestChartEnvNamesAreOptions(t *testing.T) {
	options := optionNames()
	if len(options) < 20 || !options["SIGV4_UPSTREAM"] || !options["SIGV4_ROLE_ARN"] {
		t.Fatalf("reflection over sidecar.Config found %d names (%v): the walk is broken", len(options), options)
	}

	var containers []corev1.Container
	render := func(chart string, args ...string) {
		out, err := helm(t, append([]string{"template", "r", chart, "--kube-version", kubeVersion}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := decodeStrict(out)
		if err != nil {
			t.Fatal(err)
		}
		containers = append(containers, podContainers(ms)...)
	}
	render(chartDir, "-f", examplesDir+"/upstream.yaml")
	render(appChart(t))
	render(appChart(t), "--set", "sigv4-sidecar.sidecar.native=false", "--set", "sigv4-sidecar.sidecar.exposeAdmin=true")
	for _, dir := range []string{"base", "overlays/gateway", "overlays/app"} {
		containers = append(containers, podContainers(kustomize(t, dir))...)
	}
	seen := 0
	for _, c := range containers {
		for _, e := range c.Env {
			if strings.HasPrefix(e.Name, sidecar.EnvPrefix) {
				seen++
				if !options[e.Name] {
					t.Errorf("container %s sets %s, which sigv4-sidecar does not read (known: %s)", c.Name, e.Name, sortedKeys(options))
				}
			}
		}
	}
	if seen == 0 {
		t.Fatal("no SIGV4_ variable rendered at all")
	}

	// Each key of config in values.yaml, set in examples/upstream.yaml, renders as SIGV4_<KEY>.
	var defaults, scenario struct {
		Config map[string]any `json:"config"`
	}
	readYAML(t, chartDir+"/values.yaml", &defaults)
	readYAML(t, examplesDir+"/upstream.yaml", &scenario)
	gateway := containers[0]
	env := envOf(t, gateway)
	for key := range defaults.Config {
		name := sidecar.EnvPrefix + envName(key)
		if !options[name] {
			t.Errorf("values config.%s maps to %s, which sigv4-sidecar does not read", key, name)
		}
		want, ok := scenario.Config[key]
		if !ok && key != "credentialsFile" && key != "logFormat" {
			t.Errorf(examplesDir+"/upstream.yaml does not set config.%s: the scenario must cover every option", key)
			continue
		}
		if _, set := env[name]; !set {
			t.Errorf("config.%s did not render %s", key, name)
		} else if ok && name != "SIGV4_MAX_BODY" && !strings.Contains(env[name], firstString(want)) {
			t.Errorf("config.%s = %v rendered %s=%q", key, want, name, env[name])
		}
	}
}

func TestEnvName(t *testing.T) {
	for key, want := range map[string]string{
		"upstream": "UPSTREAM", "allowHosts": "ALLOW_HOSTS", "upstreamCAFile": "UPSTREAM_CA_FILE",
		"roleArn": "ROLE_ARN", "externalId": "EXTERNAL_ID", "maxBody": "MAX_BODY",
	} {
		if got := envName(key); got != want {
			t.Errorf("envName(%q) = %q, want %q", key, got, want)
		}
	}
}

// envName turns a values key into its option name: upstreamCAFile -> UPSTREAM_CA_FILE.
func envName(key string) string {
	r := []rune(key)
	var b strings.Builder
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) && (unicode.IsLower(r[i-1]) || i+1 < len(r) && unicode.IsLower(r[i+1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(c))
	}
	return b.String()
}

func podContainers(ms manifests) []corev1.Container {
	var out []corev1.Container
	for _, d := range all[appsv1.Deployment](ms) {
		out = append(out, d.Spec.Template.Spec.Containers...)
		out = append(out, d.Spec.Template.Spec.InitContainers...)
	}
	return out
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func firstString(v any) string {
	if l, ok := v.([]any); ok && len(l) > 0 {
		v = l[0]
	}
	s, _ := v.(string)
	return s
}

func sortedKeys(m map[string]bool) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, " ")
}

// TestChartCarriesEveryOption: each option the binary reads, present and future, can be set from values
// (through env) and reaches the container under its own name.
func TestChartCarriesEveryOption(t *testing.T) {
	options := optionNames()
	env := map[string]string{}
	for name := range options {
		env[strings.TrimPrefix(name, sidecar.EnvPrefix)] = "value-of-" + name
	}
	raw, err := yaml.Marshal(map[string]any{"env": env})
	if err != nil {
		t.Fatal(err)
	}
	values := t.TempDir() + "/every-option.yaml"
	if err := os.WriteFile(values, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := helm(t, "template", "r", chartDir, "--kube-version", kubeVersion, "-f", values)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := decodeStrict(out)
	if err != nil {
		t.Fatal(err)
	}
	got := envOf(t, only[appsv1.Deployment](t, ms, "").Spec.Template.Spec.Containers[0])
	for name := range options {
		if got[name] != "value-of-"+name {
			t.Errorf("env.%s rendered %s=%q", strings.TrimPrefix(name, sidecar.EnvPrefix), name, got[name])
		}
	}
}
