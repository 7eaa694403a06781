package chartstest

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/sigv4-sidecar/sigv4-sidecar/route"
)

// gatewayRoutesValues is the worked example of docs/kubernetes.md: one gateway, two apps, two roles, TLS
// from cert-manager, mutual TLS and bearer tokens.
const gatewayRoutesValues = examplesDir + "/gateway-routes.yaml"

// renderGateway lints and renders the chart with args and decodes the manifests strictly.
func renderGateway(t *testing.T, args ...string) manifests {
	t.Helper()
	if _, err := helm(t, append([]string{"lint", "--strict", "--kube-version", kubeVersion, chartDir}, args...)...); err != nil {
		t.Fatal(err)
	}
	out, err := helm(t, append([]string{"template", "r", chartDir, "--namespace", "ns", "--kube-version", kubeVersion}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := decodeStrict(out)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestGatewayConfigFileTLSAndClientAuth: the config file, the TLS Secret (issued by cert-manager) and the
// client-authentication Secrets reach the proxy as the files its options name, each mounted as a whole
// directory (a subPath mount never sees a ConfigMap's or Secret's update, and the proxy re-reads them), and
// the config file holds exactly the values' options and routes.
func TestGatewayConfigFileTLSAndClientAuth(t *testing.T) {
	ms := renderGateway(t, "-f", gatewayRoutesValues)
	checkGateway(t, ms, "r-sigv4-sidecar")
	d := only[appsv1.Deployment](t, ms, "r-sigv4-sidecar")
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	env := envOf(t, c)

	// Each file option names a file inside a read-only whole-directory mount of the right volume.
	for _, tc := range []struct{ env, volume, configMap, secret string }{
		{env: "SIGV4_CONFIG", volume: "sigv4-sidecar-config", configMap: "r-sigv4-sidecar-config"},
		{env: "SIGV4_TLS_CERT_FILE", volume: "sigv4-sidecar-tls", secret: "r-sigv4-sidecar-tls"},
		{env: "SIGV4_TLS_KEY_FILE", volume: "sigv4-sidecar-tls", secret: "r-sigv4-sidecar-tls"},
		{env: "SIGV4_CLIENT_CA_FILE", volume: "sigv4-sidecar-client-ca", secret: "gateway-client-ca"},
		{env: "SIGV4_CLIENT_TOKENS_FILE", volume: "sigv4-sidecar-client-tokens", secret: "gateway-client-tokens"},
	} {
		path := env[tc.env]
		var mount *corev1.VolumeMount
		for i := range c.VolumeMounts {
			if m := &c.VolumeMounts[i]; m.Name == tc.volume {
				mount = m
			}
		}
		if mount == nil {
			t.Errorf("%s = %q but volume %s is not mounted: %+v", tc.env, path, tc.volume, c.VolumeMounts)
			continue
		}
		if !strings.HasPrefix(path, mount.MountPath+"/") || strings.Contains(strings.TrimPrefix(path, mount.MountPath+"/"), "/") {
			t.Errorf("%s = %q, not a file directly in %s's mount %s", tc.env, path, tc.volume, mount.MountPath)
		}
		if !mount.ReadOnly || mount.SubPath != "" {
			t.Errorf("%s mount = %+v, want read-only and no subPath", tc.volume, mount)
		}
		v := volume(pod, tc.volume)
		switch {
		case v == nil:
			t.Errorf("no volume %s", tc.volume)
		case tc.configMap != "" && (v.ConfigMap == nil || v.ConfigMap.Name != tc.configMap):
			t.Errorf("volume %s = %+v, want ConfigMap %s", tc.volume, v.VolumeSource, tc.configMap)
		case tc.secret != "" && (v.Secret == nil || v.Secret.SecretName != tc.secret):
			t.Errorf("volume %s = %+v, want Secret %s", tc.volume, v.VolumeSource, tc.secret)
		}
	}

	// The config file is the values' configFile: options at the top, routes in order.
	cm := only[corev1.ConfigMap](t, ms, "r-sigv4-sidecar-config")
	name := strings.TrimPrefix(env["SIGV4_CONFIG"], "/etc/sigv4-sidecar/config/")
	var got, values struct {
		ConfigFile map[string]any `json:"configFile"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data[name]), &got.ConfigFile); err != nil {
		t.Fatalf("ConfigMap key %s: %v\n%s", name, err, cm.Data[name])
	}
	readYAML(t, gatewayRoutesValues, &values)
	want := map[string]any{}
	for k, v := range values.ConfigFile["options"].(map[string]any) {
		want[k] = v
	}
	want["routes"] = values.ConfigFile["routes"]
	if !reflect.DeepEqual(got.ConfigFile, want) {
		t.Errorf("config file =\n%s\nwant the values' options and routes: %v", cm.Data[name], want)
	}
	if routes := got.ConfigFile["routes"].([]any); len(routes) != 2 || routes[0].(map[string]any)["name"] != "orders" {
		t.Errorf("routes out of order: %v", routes)
	}

	// cert-manager writes the Secret the listener mounts, for the Service's names.
	cert := only[certificate](t, ms, "r-sigv4-sidecar")
	if tls := volume(pod, "sigv4-sidecar-tls"); tls == nil || tls.Secret == nil || cert.Spec.SecretName != tls.Secret.SecretName {
		t.Errorf("Certificate writes Secret %q, the listener mounts %+v", cert.Spec.SecretName, tls)
	}
	svc := only[corev1.Service](t, ms, "")
	for _, n := range []string{svc.Name, svc.Name + ".ns.svc", svc.Name + ".ns.svc.cluster.local"} {
		if !slices.Contains(cert.Spec.DNSNames, n) {
			t.Errorf("Certificate dnsNames %v lack %s, a name clients use for the Service", cert.Spec.DNSNames, n)
		}
	}
	if cert.Spec.IssuerRef.Name != "cluster-ca" || cert.Spec.IssuerRef.Kind != "ClusterIssuer" || !slices.Equal(cert.Spec.Usages, []string{"server auth"}) {
		t.Errorf("Certificate spec = %+v", cert.Spec)
	}
}

// TestGatewayWithoutConfigFileRendersNone: the defaults render no ConfigMap, no Certificate and none of the
// options, so existing installations are unchanged.
func TestGatewayWithoutConfigFileRendersNone(t *testing.T) {
	ms := renderGateway(t)
	if n := len(all[corev1.ConfigMap](ms)) + len(all[certificate](ms)); n != 0 {
		t.Errorf("defaults render %d ConfigMaps/Certificates: %s", n, ms)
	}
	env := envOf(t, only[appsv1.Deployment](t, ms, "").Spec.Template.Spec.Containers[0])
	for _, name := range []string{"SIGV4_CONFIG", "SIGV4_TLS_CERT_FILE", "SIGV4_TLS_KEY_FILE", "SIGV4_CLIENT_CA_FILE", "SIGV4_CLIENT_TOKENS_FILE"} {
		if v, ok := env[name]; ok {
			t.Errorf("%s = %q with default values", name, v)
		}
	}
}

// TestGatewayRejectsBadConfigValues: a config-file, TLS or client-authentication value that cannot work
// stops helm with a message that names it.
func TestGatewayRejectsBadConfigValues(t *testing.T) {
	for _, tc := range []struct {
		app  bool
		args []string
		want string
	}{
		{args: []string{"--set", "clientAuth.caSecretName=ca"}, want: "clientAuth.caSecretName (mutual TLS) needs TLS on the listener"},
		{args: []string{"--set", "tls.certManager.enabled=true"}, want: "tls.certManager.enabled needs tls.certManager.issuerRef.name"},
		{args: []string{"--set", "tls.certManager.issuerRef.kind=Vault"}, want: "/tls/certManager/issuerRef/kind"},
		{args: []string{"--set", "tls.secretName=Bad_Name"}, want: "/tls/secretName"},
		{args: []string{"--set", "configFile.options.listen=0.0.0.0:9000"}, want: "configFile.options.listen is also set as SIGV4_LISTEN"},
		{args: []string{"--set", "config.region=eu-west-1", "--set", "configFile.options.region=us-east-1"}, want: "configFile.options.region is also set as SIGV4_REGION"},
		{args: []string{"--set", "configFile.options.Region=x"}, want: "'Region' does not match pattern"},
		{args: []string{"--set", "configFile.options.routes=x"}, want: "/configFile/options"},
		{args: []string{"--set", "configFile.routes[0].match.hosts[0]=x"}, want: "missing property 'name'"},
		{args: []string{"--set", "configFile.routes[0].name=a,configFile.routes[0].payload=fast"}, want: "/configFile/routes/0/payload"},
		{args: []string{"--set", "configFile.routes[0].name=a,configFile.routes[0].hosts[0]=x"}, want: "additional properties 'hosts' not allowed"},
		{args: []string{"--set", "configFile.routes[0].name=a,configFile.routes[0].credentials.role-arn=team-a"}, want: "/configFile/routes/0/credentials/role-arn"},
		{app: true, args: []string{"--set", "sigv4-sidecar.tls.secretName=x"}, want: "configFile, tls and clientAuth are for the gateway"},
	} {
		chart := chartDir
		if tc.app {
			chart = appChart(t)
		}
		_, err := helm(t, append([]string{"template", "r", chart, "--kube-version", kubeVersion}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("helm %v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

// TestSchemaRouteFieldsAreTheFiles: the values schema of configFile.routes knows exactly the fields the
// proxy reads in a route (a route, its match, its credentials), so a field the proxy gains is not refused by
// helm and a field it lacks is refused by helm, before the proxy would refuse the file.
func TestSchemaRouteFieldsAreTheFiles(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	type object struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	var schema struct {
		Properties struct {
			ConfigFile struct {
				Properties struct {
					Routes struct {
						Items object `json:"items"`
					} `json:"routes"`
				} `json:"properties"`
			} `json:"configFile"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	routeProps := schema.Properties.ConfigFile.Properties.Routes.Items.Properties
	sub := func(name string) map[string]json.RawMessage {
		var o object
		if err := json.Unmarshal(routeProps[name], &o); err != nil {
			t.Fatalf("schema of a route's %s: %v", name, err)
		}
		return o.Properties
	}
	for _, tc := range []struct {
		what   string
		schema map[string]json.RawMessage
		typ    reflect.Type
	}{
		{"a route", routeProps, reflect.TypeFor[route.Spec]()},
		{"a route's match", sub("match"), reflect.TypeFor[route.MatchSpec]()},
		{"a route's credentials", sub("credentials"), reflect.TypeFor[route.CredentialsSpec]()},
	} {
		var fields []string
		for f := range tc.typ.Fields() {
			if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
				fields = append(fields, name)
			}
		}
		slices.Sort(fields)
		keys := slices.Sorted(maps.Keys(tc.schema))
		if !slices.Equal(fields, keys) {
			t.Errorf("%s: the schema knows %v, the proxy reads %v", tc.what, keys, fields)
		}
	}
}
