package chartstest

import (
	"cmp"
	"fmt"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// scenario is one way of installing the chart: helm lint --strict and helm template must pass for it, and
// its manifests must decode strictly and pass check.
type scenario struct {
	name  string
	app   bool     // render examples/app (a chart including the sidecar) instead of the chart itself
	args  []string // values files and --set flags
	check func(t *testing.T, ms manifests)
}

var scenarios = []scenario{
	{name: "gateway defaults", check: func(t *testing.T, ms manifests) {
		checkGateway(t, ms, "r-sigv4-sidecar")
		if d := only[appsv1.Deployment](t, ms, ""); d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
			t.Errorf("replicas = %v, want 2", d.Spec.Replicas)
		}
		if n := len(all[autoscalingv2.HorizontalPodAutoscaler](ms)) + len(all[serviceMonitor](ms)); n != 0 {
			t.Errorf("HPA and ServiceMonitor are opt-in, rendered %d", n)
		}
		np := only[networkingv1.NetworkPolicy](t, ms, "")
		if ns := np.Spec.Ingress[0].From[0].NamespaceSelector; ns != nil {
			t.Errorf("default clients come from the release namespace only, got namespaceSelector %v", ns)
		}
		sa := only[corev1.ServiceAccount](t, ms, "")
		if len(sa.Annotations) != 0 {
			t.Errorf("service account annotations without IRSA: %v", sa.Annotations)
		}
	}},
	{name: "gateway with HPA, ServiceMonitor, metrics peers", args: []string{"-f", examplesDir + "/gateway.yaml"}, check: func(t *testing.T, ms manifests) {
		checkGateway(t, ms, "r-sigv4-sidecar")
		d := only[appsv1.Deployment](t, ms, "")
		if d.Spec.Replicas != nil {
			t.Errorf("replicas = %d with an HPA: the HPA owns the count", *d.Spec.Replicas)
		}
		hpa := only[autoscalingv2.HorizontalPodAutoscaler](t, ms, "")
		if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != d.Name {
			t.Errorf("HPA targets %v, want Deployment %s", hpa.Spec.ScaleTargetRef, d.Name)
		}
		sm := only[serviceMonitor](t, ms, "")
		svc := only[corev1.Service](t, ms, "")
		if !selects(t, &sm.Spec.Selector, svc.Labels) || len(sm.Spec.Endpoints) != 1 ||
			sm.Spec.Endpoints[0].Port != "admin" || sm.Spec.Endpoints[0].Path != "/metrics" || sm.Labels["release"] != "prometheus" {
			t.Errorf("ServiceMonitor does not scrape /metrics on the Service's admin port: %+v", sm)
		}
		np := only[networkingv1.NetworkPolicy](t, ms, "")
		if len(np.Spec.Ingress) != 2 {
			t.Fatalf("want a client rule and a metrics rule, got %+v", np.Spec.Ingress)
		}
		if ns := np.Spec.Ingress[0].From[0].NamespaceSelector; ns == nil || ns.MatchLabels["kubernetes.io/metadata.name"] != "apps" {
			t.Errorf("client namespaceSelector = %v", ns)
		}
		metrics := np.Spec.Ingress[1]
		if len(metrics.Ports) != 1 || metrics.Ports[0].Port.StrVal != "admin" ||
			metrics.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "monitoring" {
			t.Errorf("metrics rule = %+v, want monitoring namespace to the admin port", metrics)
		}
	}},
	{name: "IRSA", args: []string{"-f", examplesDir + "/irsa.yaml"}, check: func(t *testing.T, ms manifests) {
		checkGateway(t, ms, "r-sigv4-sidecar")
		sa := only[corev1.ServiceAccount](t, ms, "")
		want := map[string]string{
			"eks.amazonaws.com/role-arn":               "arn:aws:iam::111122223333:role/sigv4-gateway",
			"eks.amazonaws.com/sts-regional-endpoints": "true",
		}
		if !reflect.DeepEqual(sa.Annotations, want) {
			t.Errorf("service account annotations = %v, want %v", sa.Annotations, want)
		}
		if pod := only[appsv1.Deployment](t, ms, "").Spec.Template.Spec; pod.ServiceAccountName != sa.Name {
			t.Errorf("pod runs as service account %q, want %q", pod.ServiceAccountName, sa.Name)
		}
	}},
	{name: "custom upstream", args: []string{"-f", examplesDir + "/upstream.yaml"}, check: func(t *testing.T, ms manifests) {
		d := only[appsv1.Deployment](t, ms, "")
		checkGateway(t, ms, d.Name)
		c := d.Spec.Template.Spec.Containers[0]
		env := envOf(t, c)
		for name, want := range map[string]string{
			"SIGV4_UPSTREAM":            "https://vpce-0123-abcd.execute-api.eu-west-1.vpce.amazonaws.com/prod",
			"SIGV4_SIGN_HOST":           "abc123.execute-api.eu-west-1.amazonaws.com",
			"SIGV4_SERVICE":             "execute-api",
			"SIGV4_REGION":              "eu-west-1",
			"SIGV4_ALLOW_HOSTS":         "*.execute-api.eu-west-1.amazonaws.com,*.vpce.amazonaws.com",
			"SIGV4_CONNECT_TO":          "abc123.execute-api.eu-west-1.amazonaws.com:443=10.0.0.10:443,*.s3.amazonaws.com:=http://minio.storage:9000",
			"SIGV4_UNSIGNED_HEADERS":    "X-Request-Id",
			"SIGV4_STRIP_HEADERS":       "Cookie",
			"SIGV4_PAYLOAD":             "signed",
			"SIGV4_BODY_MEMORY":         "4MiB",
			"SIGV4_BODY_MEMORY_TOTAL":   "32MiB",
			"SIGV4_MAX_BODY":            "209715200", // env wins over config, and a number stays a whole number
			"SIGV4_READ_HEADER_TIMEOUT": "5s",
			"SIGV4_SHUTDOWN_TIMEOUT":    "20s",
			"SIGV4_LOG_LEVEL":           "debug",
			"SIGV4_ROLE_ARN":            "arn:aws:iam::444455556666:role/api-caller",
			"SIGV4_ROLE_SESSION_NAME":   "gateway",
			"SIGV4_EXTERNAL_ID":         "ext-1",
			"SIGV4_ROLE_DURATION":       "30m",
			"SIGV4_PROFILE":             "api",
			"SIGV4_CREDENTIALS_FILE":    "/etc/sigv4-sidecar/credentials/credentials",
			"SIGV4_UPSTREAM_CA_FILE":    "/etc/corp-ca/ca.pem",
			"AWS_REGION":                "eu-west-1",
		} {
			if env[name] != want {
				t.Errorf("%s = %q, want %q", name, env[name], want)
			}
		}
		if ca := mountAt(c, "/etc/corp-ca"); ca == nil || volume(d.Spec.Template.Spec, ca.Name) == nil {
			t.Errorf("extraVolumes/extraVolumeMounts did not mount the CA bundle: %+v", c.VolumeMounts)
		}
		mount := mountAt(c, "/etc/sigv4-sidecar/credentials")
		if mount == nil || !mount.ReadOnly {
			t.Fatalf("credentials Secret not mounted read-only at /etc/sigv4-sidecar/credentials: %+v", c.VolumeMounts)
		}
		if v := volume(d.Spec.Template.Spec, mount.Name); v == nil || v.Secret == nil || v.Secret.SecretName != "sigv4-keys" {
			t.Errorf("volume %s = %+v, want Secret sigv4-keys", mount.Name, v)
		}
	}},
	{name: "sidecar native", app: true, check: func(t *testing.T, ms manifests) {
		if n := len(ms); n != 1 {
			t.Errorf("gateway.enabled=false in the app chart must render only the app's Deployment, got %s", ms)
		}
		pod := only[appsv1.Deployment](t, ms, "r-app").Spec.Template.Spec
		if len(pod.InitContainers) != 1 || len(pod.Containers) != 1 || pod.Containers[0].Name != "app" {
			t.Fatalf("want the proxy as the only init container and the app as the only container: %v / %v", names(pod.InitContainers), names(pod.Containers))
		}
		c := pod.InitContainers[0]
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Errorf("native sidecar restartPolicy = %s, want Always", ptrString(c.RestartPolicy))
		}
		if d, ok := envOf(t, c)["SIGV4_SHUTDOWN_DELAY"]; ok {
			t.Errorf("SIGV4_SHUTDOWN_DELAY = %q on a native sidecar: it stops after the app, so nothing needs the delay", d)
		}
		if c.StartupProbe == nil || !slices.Equal(c.StartupProbe.Exec.Command, []string{"sigv4-sidecar", "healthcheck", "--ready"}) {
			t.Errorf("startup probe = %+v: the app must wait until the proxy can sign", c.StartupProbe)
		}
		checkSidecar(t, pod, c)
		if env := envOf(t, c); env["SIGV4_UPSTREAM"] != "https://bedrock-runtime.us-east-1.amazonaws.com" {
			t.Errorf("SIGV4_UPSTREAM = %q: the including chart's values do not reach the sidecar", env["SIGV4_UPSTREAM"])
		}
	}},
	{name: "sidecar fallback", app: true, args: []string{"--set", "sigv4-sidecar.sidecar.native=false"}, check: func(t *testing.T, ms manifests) {
		pod := only[appsv1.Deployment](t, ms, "r-app").Spec.Template.Spec
		if len(pod.InitContainers) != 0 || len(pod.Containers) != 2 || pod.Containers[1].Name != "sigv4-sidecar" {
			t.Fatalf("want the proxy as a regular container next to the app: %v / %v", names(pod.InitContainers), names(pod.Containers))
		}
		c := pod.Containers[1]
		if c.RestartPolicy != nil {
			t.Errorf("regular container with restartPolicy %v", *c.RestartPolicy)
		}
		if c.Lifecycle != nil {
			t.Errorf("lifecycle = %+v, want none by default: the preStop sleep action needs Kubernetes 1.30+", c.Lifecycle)
		}
		if env := envOf(t, c); env["SIGV4_SHUTDOWN_DELAY"] != "5s" {
			t.Errorf("SIGV4_SHUTDOWN_DELAY = %q, want 5s: the fallback gets SIGTERM with the app and must keep serving while it drains", env["SIGV4_SHUTDOWN_DELAY"])
		}
		checkSidecar(t, pod, c)
		checkGracePeriod(t, pod, c)
		if env := envOf(t, c); env["SIGV4_SHUTDOWN_TIMEOUT"] != "25s" {
			t.Errorf("SIGV4_SHUTDOWN_TIMEOUT = %q: the fallback relies on it to finish in-flight calls", env["SIGV4_SHUTDOWN_TIMEOUT"])
		}
	}},
}

func TestChartScenarios(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			chart := chartDir
			if sc.app {
				chart = appChart(t)
			}
			if _, err := helm(t, append([]string{"lint", "--strict", "--kube-version", kubeVersion, chart}, sc.args...)...); err != nil {
				t.Fatal(err)
			}
			out, err := helm(t, append([]string{"template", "r", chart, "--namespace", "ns", "--kube-version", kubeVersion}, sc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			ms, err := decodeStrict(out)
			if err != nil {
				t.Fatal(err)
			}
			sc.check(t, ms)
		})
	}
}

// TestChartRejectsBadValues: a wrong value stops helm with a message that names it.
func TestChartRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		app  bool
		args []string
		want string
	}{
		{args: []string{"--set", "gateway.replicas=3"}, want: "additional properties 'replicas' not allowed"},
		{args: []string{"--set", "config.payload=fast"}, want: "/config/payload"},
		{args: []string{"--set", "config.upstream=ftp://x"}, want: "/config/upstream"},
		{args: []string{"--set", "config.shutdownTimeout=soon"}, want: "/config/shutdownTimeout"},
		{args: []string{"--set", "config.maxProcs=many"}, want: "/config/maxProcs"},
		{args: []string{"--set", "ports.proxy=0"}, want: "/ports/proxy"},
		{args: []string{"--set", "config.connectTo[0]=10.0.0.10:443"}, want: "/config/connectTo/0"},
		{args: []string{"--set", "irsa.roleArn=my-role"}, want: "/irsa/roleArn"},
		{args: []string{"--set", "env.lower=x"}, want: "'lower' does not match pattern"},
		{args: []string{"--set", "sidecar.native=yes"}, want: "got string, want boolean"},
		{args: []string{"--set", "extraEnv[0].name=SIGV4_LOG_LEVEL,extraEnv[0].value=debug"}, want: "extraEnv sets SIGV4_LOG_LEVEL, which config or env already set"},
		{args: []string{"--set", "networkPolicy.clientLabels=null"}, want: "networkPolicy.clientLabels is empty"},
		{args: []string{"--kube-version", "1.29.0", "--set", "gateway.preStopSleepSeconds=5"}, want: "gateway.preStopSleepSeconds uses the preStop sleep action, Kubernetes 1.30+"},
		{args: []string{"--set", "gateway.shutdownDelaySeconds=-1"}, want: "/gateway/shutdownDelaySeconds"},
		{args: []string{"--set", "gateway.terminationGracePeriodSeconds=-1"}, want: "/gateway/terminationGracePeriodSeconds"},
		{app: true, args: []string{"--kube-version", "1.28.0"}, want: "sidecar.native needs Kubernetes 1.29+"},
		{app: true, args: []string{"--kube-version", "1.29.0", "--set", "sigv4-sidecar.sidecar.native=false", "--set", "sigv4-sidecar.sidecar.preStopSleepSeconds=5"}, want: "preStop sleep action, Kubernetes 1.30+"},
		{app: true, args: []string{"--set", "sigv4-sidecar.config.payload=fast"}, want: "/config/payload"},
	} {
		chart := chartDir
		if tc.app {
			chart = appChart(t)
		}
		args := append([]string{"template", "r", chart}, tc.args...)
		if !slices.Contains(tc.args, "--kube-version") {
			args = append(args, "--kube-version", kubeVersion)
		}
		_, err := helm(t, args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("helm %v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

// TestDefaultsRenderOnAnyKubeVersion is the regression test for `helm template` of the default values
// failing with "gateway.preStopSleepSeconds uses the preStop sleep action, Kubernetes 1.30+": helm's
// offline default version is old (1.20 for a helm built with go install). The defaults drain in the
// process (SIGV4_SHUTDOWN_DELAY) with no preStop hook, so they render for helm's default version, for 1.29
// and for 1.30; the preStop sleep stays an opt-in that renders on 1.30.
func TestDefaultsRenderOnAnyKubeVersion(t *testing.T) {
	for _, tc := range []struct {
		name  string
		app   bool
		args  []string
		sleep int64  // the preStop sleep wanted, 0: no lifecycle at all
		delay string // SIGV4_SHUTDOWN_DELAY wanted; empty: the default, 5s
	}{
		{name: "gateway, helm's default version"},
		{name: "gateway, 1.29", args: []string{"--kube-version", "1.29.0"}},
		{name: "gateway, 1.30", args: []string{"--kube-version", "1.30.0"}},
		{name: "gateway, 1.30, opt-in preStop sleep", args: []string{"--kube-version", "1.30.0", "--set", "gateway.preStopSleepSeconds=5", "--set", "gateway.shutdownDelaySeconds=0"}, sleep: 5, delay: "0s"},
		{name: "fallback sidecar, helm's default version", app: true, args: []string{"--set", "sigv4-sidecar.sidecar.native=false"}},
		{name: "fallback sidecar, 1.30, opt-in preStop sleep", app: true, args: []string{"--kube-version", "1.30.0", "--set", "sigv4-sidecar.sidecar.native=false", "--set", "sigv4-sidecar.sidecar.preStopSleepSeconds=5", "--set", "sigv4-sidecar.sidecar.shutdownDelaySeconds=0"}, sleep: 5, delay: "0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chart := chartDir
			if tc.app {
				chart = appChart(t)
			}
			out, err := helm(t, append([]string{"template", "r", chart, "--namespace", "ns"}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			ms, err := decodeStrict(out)
			if err != nil {
				t.Fatal(err)
			}
			pod := only[appsv1.Deployment](t, ms, "").Spec.Template.Spec
			c := pod.Containers[len(pod.Containers)-1]
			if c.Name != "sigv4-sidecar" {
				t.Fatalf("last container is %s, want the proxy", c.Name)
			}
			want := cmp.Or(tc.delay, "5s")
			if delay := envOf(t, c)["SIGV4_SHUTDOWN_DELAY"]; delay != want {
				t.Errorf("SIGV4_SHUTDOWN_DELAY = %q, want %s", delay, want)
			}
			switch {
			case tc.sleep == 0 && c.Lifecycle != nil:
				t.Errorf("lifecycle = %+v, want none by default", c.Lifecycle)
			case tc.sleep > 0 && (c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds != tc.sleep):
				t.Errorf("lifecycle = %+v, want a %d s preStop sleep action", c.Lifecycle, tc.sleep)
			}
			checkGracePeriod(t, pod, c)
		})
	}
}

// TestDefaultTagIsAppVersion: the tag used when image.tag is empty is spelled out in _helpers.tpl (in
// sidecar mode .Chart is the including chart's); it must follow Chart.yaml's appVersion.
func TestDefaultTagIsAppVersion(t *testing.T) {
	appVersion := chartAppVersion(t)
	out, err := helm(t, "template", "r", appChart(t), "--kube-version", kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := decodeStrict(out)
	if err != nil {
		t.Fatal(err)
	}
	image := only[appsv1.Deployment](t, ms, "").Spec.Template.Spec.InitContainers[0].Image
	if want := "ghcr.io/sigv4-sidecar/sigv4-sidecar:" + appVersion; image != want {
		t.Errorf("sidecar image = %s, want %s (Chart.yaml appVersion)", image, want)
	}
}

// checkGateway checks the gateway's Deployment, Service, PDB and NetworkPolicy fit together.
func checkGateway(t *testing.T, ms manifests, name string) {
	t.Helper()
	d := only[appsv1.Deployment](t, ms, name)
	pod := d.Spec.Template
	if !selects(t, d.Spec.Selector, pod.Labels) {
		t.Errorf("Deployment selector %v does not select its pods %v", d.Spec.Selector, pod.Labels)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("gateway pod containers: %v", names(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	checkRestricted(t, pod.Spec, c)
	checkTmp(t, pod.Spec, c)
	env := envOf(t, c)
	proxy, admin := listenPort(t, env, "SIGV4_LISTEN", "0.0.0.0"), listenPort(t, env, "SIGV4_ADMIN_LISTEN", "0.0.0.0")
	if p := containerPort(c, "proxy"); p != proxy {
		t.Errorf("containerPort proxy = %d, SIGV4_LISTEN port %d", p, proxy)
	}
	if p := containerPort(c, "admin"); p != admin {
		t.Errorf("containerPort admin = %d, SIGV4_ADMIN_LISTEN port %d", p, admin)
	}
	for probe, want := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz", c.StartupProbe: "/readyz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port.StrVal != "admin" {
			t.Errorf("probe %+v, want GET %s on the admin port", probe, want)
		}
	}
	if delay, err := time.ParseDuration(env["SIGV4_SHUTDOWN_DELAY"]); err != nil || delay <= 0 {
		t.Errorf("SIGV4_SHUTDOWN_DELAY = %q, want a delay: the gateway must keep serving while the Service stops routing to the pod", env["SIGV4_SHUTDOWN_DELAY"])
	}
	checkGracePeriod(t, pod.Spec, c)
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		t.Error("the gateway never calls the API server: automountServiceAccountToken must be false")
	}
	if len(pod.Spec.TopologySpreadConstraints) == 0 {
		t.Error("no topology spread constraints")
	}
	for _, tsc := range pod.Spec.TopologySpreadConstraints {
		if !selects(t, tsc.LabelSelector, pod.Labels) {
			t.Errorf("topology spread %s does not select the gateway pods", tsc.TopologyKey)
		}
	}

	svc := only[corev1.Service](t, ms, name)
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
		t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, pod.Labels)
	}
	for _, p := range svc.Spec.Ports {
		if containerPort(c, p.TargetPort.StrVal) == 0 {
			t.Errorf("Service port %s targets %q, not a container port", p.Name, p.TargetPort.String())
		}
	}

	pdb := only[policyv1.PodDisruptionBudget](t, ms, name)
	if !selects(t, pdb.Spec.Selector, pod.Labels) {
		t.Errorf("PDB selector %v does not select the pods", pdb.Spec.Selector)
	}
	checkNetworkPolicy(t, only[networkingv1.NetworkPolicy](t, ms, name), pod.Labels, c)
}

// checkNetworkPolicy: the policy isolates the gateway pods for ingress and lets in, on the proxy port,
// only pods carrying the client label.
func checkNetworkPolicy(t *testing.T, np *networkingv1.NetworkPolicy, podLabels map[string]string, c corev1.Container) {
	t.Helper()
	if !selects(t, &np.Spec.PodSelector, podLabels) {
		t.Errorf("NetworkPolicy podSelector %v does not select the gateway pods %v", np.Spec.PodSelector, podLabels)
	}
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Errorf("policyTypes %v: ingress is not isolated", np.Spec.PolicyTypes)
	}
	if len(np.Spec.Ingress) == 0 {
		t.Fatal("no ingress rule: nobody can reach the gateway")
	}
	for i, rule := range np.Spec.Ingress {
		if len(rule.From) == 0 || len(rule.Ports) == 0 {
			t.Errorf("ingress rule %d admits every source or every port: %+v", i, rule)
		}
		for _, p := range rule.Ports {
			if p.Port == nil || containerPort(c, p.Port.StrVal) == 0 {
				t.Errorf("ingress rule %d names port %v, not a container port", i, p.Port)
			}
		}
	}
	client := np.Spec.Ingress[0]
	want := map[string]string{"sigv4-sidecar/client": "true"}
	if sel := client.From[0].PodSelector; sel == nil || !reflect.DeepEqual(sel.MatchLabels, want) || len(sel.MatchExpressions) != 0 {
		t.Errorf("client rule selects %v, want exactly the pods labelled %v", sel, want)
	}
	if len(client.Ports) != 1 || client.Ports[0].Port.StrVal != "proxy" {
		t.Errorf("client rule ports %v, want only the proxy port", client.Ports)
	}
}

// checkSidecar checks the proxy container inside an app pod: loopback listeners, exec probes against its
// admin listener, restricted security context, /tmp from the pod's volumes.
func checkSidecar(t *testing.T, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	env := envOf(t, c)
	if got := listenPort(t, env, "SIGV4_LISTEN", "127.0.0.1"); got != 8080 {
		t.Errorf("sidecar proxy port %d, want 8080 (what the app calls)", got)
	}
	listenPort(t, env, "SIGV4_ADMIN_LISTEN", "127.0.0.1")
	for probe, want := range map[*corev1.Probe][]string{
		c.LivenessProbe:  {"sigv4-sidecar", "healthcheck"},
		c.ReadinessProbe: {"sigv4-sidecar", "healthcheck", "--ready"},
	} {
		// healthcheck reads SIGV4_ADMIN_LISTEN from the container's environment, so it probes the admin port.
		if probe == nil || probe.Exec == nil || !slices.Equal(probe.Exec.Command, want) {
			t.Errorf("probe %+v, want exec %v", probe, want)
		}
	}
	checkRestricted(t, corev1.PodSpec{}, c) // the including pod's own context is its business
	checkTmp(t, pod, c)
}

// checkGracePeriod: the kubelet kills the container terminationGracePeriodSeconds after it starts the
// preStop hook, so the hook's sleep plus the proxy's shutdown delay (SIGV4_SHUTDOWN_DELAY) plus its drain
// (SIGV4_SHUTDOWN_TIMEOUT) must fit in it.
func checkGracePeriod(t *testing.T, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if pod.TerminationGracePeriodSeconds != nil {
		grace = *pod.TerminationGracePeriodSeconds
	}
	var sleep time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		sleep = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	env := envOf(t, c)
	var delay time.Duration
	if v, ok := env["SIGV4_SHUTDOWN_DELAY"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SIGV4_SHUTDOWN_DELAY: %v", err)
		}
		delay = d
	}
	drain, err := time.ParseDuration(env["SIGV4_SHUTDOWN_TIMEOUT"])
	if err != nil {
		t.Fatalf("SIGV4_SHUTDOWN_TIMEOUT: %v (set it explicitly: the binary's default is not the chart's to assume)", err)
	}
	if sleep+delay+drain > time.Duration(grace)*time.Second {
		t.Errorf("preStop sleep %s + shutdown delay %s + shutdown timeout %s exceed terminationGracePeriodSeconds %d: in-flight calls get killed", sleep, delay, drain, grace)
	}
}

// checkRestricted: the container satisfies the restricted Pod Security Standard by itself, whatever the
// pod sets; if the pod sets a context, it is restricted too.
func checkRestricted(t *testing.T, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil {
		t.Fatalf("container %s has no securityContext", c.Name)
	}
	switch {
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		t.Errorf("%s: runAsNonRoot not true", c.Name)
	case sc.RunAsUser == nil || *sc.RunAsUser == 0:
		t.Errorf("%s: runAsUser %v, want the image's non-root uid", c.Name, sc.RunAsUser)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Errorf("%s: readOnlyRootFilesystem not true", c.Name)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("%s: allowPrivilegeEscalation not false", c.Name)
	case sc.Privileged != nil && *sc.Privileged:
		t.Errorf("%s: privileged", c.Name)
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0:
		t.Errorf("%s: capabilities %+v, want drop [ALL] and nothing added", c.Name, sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("%s: seccompProfile %+v, want RuntimeDefault", c.Name, sc.SeccompProfile)
	}
	if psc := pod.SecurityContext; psc != nil {
		if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("pod securityContext %+v, want runAsNonRoot and seccomp RuntimeDefault", psc)
		}
	}
}

// checkTmp: with a read-only root, the directory bodies spool to must be a writable emptyDir.
func checkTmp(t *testing.T, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	m := mountAt(c, "/tmp")
	if m == nil {
		t.Fatalf("%s: nothing mounted at /tmp, where bodies spool (the root filesystem is read-only)", c.Name)
	}
	if v := volume(pod, m.Name); v == nil || v.EmptyDir == nil {
		t.Errorf("%s: /tmp volume %q is not an emptyDir of the pod: %+v", c.Name, m.Name, v)
	}
}

// envOf returns the container's literal env values (valueFrom entries map to ""), failing on a name
// given twice: with server-side apply a duplicate is an error, elsewhere the last one silently wins.
func envOf(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("%s: env %s set twice", c.Name, e.Name)
		}
		env[e.Name] = e.Value
	}
	return env
}

// listenPort parses the HOST:PORT option name and checks its host.
func listenPort(t *testing.T, env map[string]string, name, wantHost string) int32 {
	t.Helper()
	host, port, err := net.SplitHostPort(env[name])
	if err != nil {
		t.Errorf("%s = %q: %v", name, env[name], err)
		return 0
	}
	if host != wantHost {
		t.Errorf("%s = %q, want host %s", name, env[name], wantHost)
	}
	n, err := strconv.ParseInt(port, 10, 32)
	if err != nil {
		t.Errorf("%s = %q: %v", name, env[name], err)
	}
	return int32(n)
}

func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func mountAt(c corev1.Container, path string) *corev1.VolumeMount {
	for i, m := range c.VolumeMounts {
		if m.MountPath == path {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

func volume(pod corev1.PodSpec, name string) *corev1.Volume {
	for i, v := range pod.Volumes {
		if v.Name == name {
			return &pod.Volumes[i]
		}
	}
	return nil
}

func names(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

// selects reports whether the label selector matches the labels; an empty selector, which matches
// everything, counts as a failure here.
func selects(t *testing.T, sel *metav1.LabelSelector, set map[string]string) bool {
	t.Helper()
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("selector %v: %v", sel, err)
		return false
	}
	return s.Matches(labels.Set(set))
}

// chartAppVersion returns Chart.yaml's appVersion.
func chartAppVersion(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(chartDir + "/Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(raw, &chart); err != nil {
		t.Fatal(err)
	}
	return chart.AppVersion
}
