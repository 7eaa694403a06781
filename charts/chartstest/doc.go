// Package chartstest tests what ships sigv4-sidecar to Kubernetes: the Helm chart in ../sigv4-sidecar,
// the kustomize manifests in ../../deploy and the binary as the Dockerfile builds it. It lives in its own
// module so that the main module carries no Kubernetes dependencies. It has no code of its own, only tests.
//
// Every manifest is decoded strictly into the Kubernetes API types (an unknown field or a wrong type
// fails), then checked for what matters: probes on the admin port, the restricted security context, the
// native sidecar's restartPolicy, the NetworkPolicy, and SIGV4_* variables the binary really reads.
package chartstest
