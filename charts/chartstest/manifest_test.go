package chartstest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// scheme knows every kind the chart and deploy/ may produce. A kind outside it fails the decode, so a
// new kind gets a decision (add its API group here) rather than escaping the strict check.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, autoscalingv2.AddToScheme,
		policyv1.AddToScheme, networkingv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// serviceMonitor is the part of prometheus-operator's monitoring.coreos.com/v1 ServiceMonitor the chart
// renders, declared here rather than importing the operator's module (a large download for one type).
// Strict decoding into it still catches a field the chart renders that this test does not know.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

var serviceMonitorKind = schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}

// certificate is the part of cert-manager's cert-manager.io/v1 Certificate the chart renders, declared here
// for the same reason as serviceMonitor.
type certificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SecretName  string `json:"secretName"`
		Duration    string `json:"duration"`
		RenewBefore string `json:"renewBefore"`
		PrivateKey  struct {
			Algorithm      string `json:"algorithm"`
			Size           int    `json:"size"`
			RotationPolicy string `json:"rotationPolicy"`
		} `json:"privateKey"`
		Usages    []string `json:"usages"`
		DNSNames  []string `json:"dnsNames"`
		IssuerRef struct {
			Name  string `json:"name"`
			Kind  string `json:"kind"`
			Group string `json:"group"`
		} `json:"issuerRef"`
	} `json:"spec"`
}

var certificateKind = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}

// manifests is a decoded set of objects, in the order they came.
type manifests []any

// decodeStrict splits a multi-document YAML stream and decodes each document into its API type,
// refusing unknown fields, duplicate fields and wrong types.
func decodeStrict(stream []byte) (manifests, error) {
	var out manifests
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		var probe map[string]any
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if probe == nil { // only comments
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		gvk := tm.GroupVersionKind()
		var obj any
		switch gvk {
		case serviceMonitorKind:
			obj = &serviceMonitor{}
		case certificateKind:
			obj = &certificate{}
		default:
			o, err := scheme.New(gvk)
			if err != nil {
				return nil, fmt.Errorf("document %d (%s): not a kind this test knows: %w", i, gvk, err)
			}
			obj = o
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return nil, fmt.Errorf("document %d (%s): %w\n%s", i, gvk.Kind, err, doc)
		}
		out = append(out, obj)
	}
}

// only returns the one object of type T named name ("" for any), failing the test otherwise.
func only[T any](t *testing.T, ms manifests, name string) *T {
	t.Helper()
	var found []*T
	for _, m := range ms {
		if o, ok := m.(*T); ok && (name == "" || objectName(m) == name) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %T named %q, found %d in %s", *new(T), name, len(found), ms)
	}
	return found[0]
}

func all[T any](ms manifests) []*T {
	var found []*T
	for _, m := range ms {
		if o, ok := m.(*T); ok {
			found = append(found, o)
		}
	}
	return found
}

func objectName(o any) string {
	if m, ok := o.(metav1.Object); ok {
		return m.GetName()
	}
	if sm, ok := o.(*serviceMonitor); ok {
		return sm.Name
	}
	return ""
}

func (ms manifests) String() string {
	var kinds []string
	for _, m := range ms {
		kinds = append(kinds, fmt.Sprintf("%T/%s", m, objectName(m)))
	}
	return "[" + strings.Join(kinds, " ") + "]"
}

func TestDecodeStrictRejectsUnknownFieldsAndWrongTypes(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field":                     "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {prots: []}\n",
		"wrong type":                        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: \"2\"}\n",
		"unknown kind":                      "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: x}\n",
		"duplicate key":                     "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\nautomountServiceAccountToken: false\nautomountServiceAccountToken: true\n",
		"unknown field in a ServiceMonitor": "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec: {endpoint: []}\n",
	} {
		if _, err := decodeStrict([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error:\n%s", name, doc)
		}
	}
	ms, err := decodeStrict([]byte("# Source: x\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\n---\n"))
	if err != nil || len(ms) != 1 {
		t.Fatalf("a valid stream: %v, %d objects", err, len(ms))
	}
}
