package chartstest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// renderNotes renders NOTES.txt, which `helm template` leaves out: a copy of the chart gets a ConfigMap
// template that renders the notes with tpl, in the same context helm install would.
func renderNotes(t *testing.T, args ...string) string {
	t.Helper()
	chart := filepath.Join(t.TempDir(), "sigv4-sidecar")
	if err := os.CopyFS(chart, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	notes, err := os.ReadFile(filepath.Join(chartDir, "templates", "NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(chart, "notes.txt"), notes, 0o644); err != nil {
		t.Fatal(err)
	}
	const wrapper = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ tpl (.Files.Get \"notes.txt\") . | quote }}\n"
	if err := os.WriteFile(filepath.Join(chart, "templates", "zz-notes.yaml"), []byte(wrapper), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := helm(t, append([]string{"template", "r", chart, "--namespace", "ns", "--kube-version", kubeVersion, "--show-only", "templates/zz-notes.yaml"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := decodeStrict(out)
	if err != nil {
		t.Fatal(err)
	}
	return only[corev1.ConfigMap](t, ms, "notes").Data["notes"]
}

// TestNotesSayHowToReachAndCheck: the install notes print the gateway's address and how to check /readyz.
func TestNotesSayHowToReachAndCheck(t *testing.T) {
	notes := renderNotes(t)
	for _, want := range []string{
		"http://r-sigv4-sidecar.ns.svc:8080",
		"host mode",
		"sigv4-sidecar/client=true",
		"sigv4-sidecar healthcheck --ready",
		"curl -i http://127.0.0.1:8081/readyz",
		"kubectl -n ns port-forward service/r-sigv4-sidecar 8081:8081",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	fixed := renderNotes(t, "--set", "config.upstream=https://abc.execute-api.eu-west-1.amazonaws.com/prod")
	if !strings.Contains(fixed, "fixed mode: every request goes to https://abc.execute-api.eu-west-1.amazonaws.com/prod") {
		t.Errorf("fixed-mode notes do not name the upstream:\n%s", fixed)
	}
	sidecarOnly := renderNotes(t, "--set", "gateway.enabled=false")
	if strings.Contains(sidecarOnly, "svc:") || !strings.Contains(sidecarOnly, "sigv4-sidecar.sidecar.") {
		t.Errorf("notes without a gateway should point at the sidecar templates only:\n%s", sidecarOnly)
	}
}

// TestNotesSayHowToAuthenticate: with TLS, routes and client authentication the notes give the https
// address, the routes and how a client proves who it is.
func TestNotesSayHowToAuthenticate(t *testing.T) {
	notes := renderNotes(t, "-f", gatewayRoutesValues)
	for _, want := range []string{
		"https://r-sigv4-sidecar.ns.svc:8080",
		"Secret r-sigv4-sidecar-tls",
		"routes from the config file: orders, reports",
		"sigv4-sidecar routes https://HOST/PATH",
		"a client certificate signed by the CA in Secret gateway-client-ca",
		"Authorization: Bearer TOKEN, a token listed in Secret gateway-client-tokens",
		"401 client_unauthenticated",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if plain := renderNotes(t); strings.Contains(plain, "https://") || strings.Contains(plain, "authenticate") {
		t.Errorf("default notes speak of TLS or client authentication:\n%s", plain)
	}
}
