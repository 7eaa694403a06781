package chartstest

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

const deployDir = "../../deploy"

// kustomize renders a kustomization under deploy/ as `kubectl kustomize` does.
func kustomize(t *testing.T, dir string) manifests {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(deployDir, dir))
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	ms, err := decodeStrict(out)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	return ms
}

// TestDeployManifestsDecodeStrictly: every YAML file under deploy/ that is a Kubernetes object (not a
// kustomization or a patch fragment) decodes strictly on its own.
func TestDeployManifestsDecodeStrictly(t *testing.T) {
	var n int
	err := filepath.WalkDir(deployDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".yaml" || d.Name() == "kustomization.yaml" {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if _, err := decodeStrict(raw); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 8 {
		t.Errorf("decoded %d manifests under %s: the walk missed them", n, deployDir)
	}
}

func TestDeployBase(t *testing.T) {
	ms := kustomize(t, "base")
	checkGateway(t, ms, "sigv4-sidecar")
	d := only[appsv1.Deployment](t, ms, "")
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "ghcr.io/sigv4-sidecar/sigv4-sidecar:0.1.0" {
		t.Errorf("image %s", img)
	}
}

func TestDeployGatewayOverlay(t *testing.T) {
	ms := kustomize(t, "overlays/gateway")
	checkGateway(t, ms, "sigv4-sidecar")
	ns := only[corev1.Namespace](t, ms, "sigv4-sidecar")
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace labels %v, want the restricted Pod Security Standard enforced", ns.Labels)
	}
	for _, m := range ms {
		if _, isNamespace := m.(*corev1.Namespace); !isNamespace {
			if o := objectNamespace(m); o != "sigv4-sidecar" {
				t.Errorf("%T %s in namespace %q", m, objectName(m), o)
			}
		}
	}
	sa := only[corev1.ServiceAccount](t, ms, "sigv4-sidecar")
	if sa.Annotations["eks.amazonaws.com/role-arn"] == "" {
		t.Errorf("service account without the IRSA role annotation: %v", sa.Annotations)
	}
	// kustomize's label transformer must not have widened or narrowed the client selector.
	np := only[networkingv1.NetworkPolicy](t, ms, "")
	want := map[string]string{"sigv4-sidecar/client": "true"}
	if got := np.Spec.Ingress[0].From[0].PodSelector.MatchLabels; !reflect.DeepEqual(got, want) {
		t.Errorf("client selector %v, want %v", got, want)
	}
}

func TestDeployAppOverlay(t *testing.T) {
	ms := kustomize(t, "overlays/app")
	d := only[appsv1.Deployment](t, ms, "example-app")
	pod := d.Spec.Template.Spec
	if len(pod.InitContainers) != 1 || pod.InitContainers[0].Name != "sigv4-sidecar" {
		t.Fatalf("init containers %v, want the sigv4-sidecar native sidecar", names(pod.InitContainers))
	}
	c := pod.InitContainers[0]
	if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("native sidecar restartPolicy = %s, want Always", ptrString(c.RestartPolicy))
	}
	if c.Image != "ghcr.io/sigv4-sidecar/sigv4-sidecar:0.1.0" {
		t.Errorf("sidecar image %s", c.Image)
	}
	checkSidecar(t, pod, c)
	checkRestricted(t, pod, c)
	env := envOf(t, c)
	if env["SIGV4_UPSTREAM"] != "https://s3.us-east-1.amazonaws.com" {
		t.Errorf("the overlay's SIGV4_UPSTREAM did not merge into the sidecar: %v", env)
	}
	// The app calls the sidecar on loopback, at the port it listens on.
	app := pod.Containers[0]
	if !slices.ContainsFunc(app.Command, func(s string) bool { return strings.Contains(s, "http://127.0.0.1:8080/") }) {
		t.Errorf("app command %v does not call the sidecar at 127.0.0.1:8080", app.Command)
	}
	sa := only[corev1.ServiceAccount](t, ms, pod.ServiceAccountName)
	if sa.Annotations["eks.amazonaws.com/role-arn"] == "" {
		t.Errorf("app service account without the IRSA role annotation")
	}
}

func objectNamespace(o any) string {
	if m, ok := o.(interface{ GetNamespace() string }); ok {
		return m.GetNamespace()
	}
	return ""
}
