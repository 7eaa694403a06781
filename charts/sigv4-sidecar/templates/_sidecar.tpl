{{/*
Sidecar mode: templates other charts include to add the proxy to their own pods. Add this chart as a
dependency (values under the key "sigv4-sidecar", with gateway.enabled: false if no gateway is wanted), then
in the pod spec:

  initContainers:
    {{- include "sigv4-sidecar.sidecar.initContainers" (dict "values" (index .Values "sigv4-sidecar") "root" $) | nindent 4 }}
  containers:
    - name: app
      ...
    {{- include "sigv4-sidecar.sidecar.containers" (dict "values" (index .Values "sigv4-sidecar") "root" $) | nindent 4 }}
  volumes:
    {{- include "sigv4-sidecar.sidecar.volumes" (dict "values" (index .Values "sigv4-sidecar") "root" $) | nindent 4 }}

Include all three: with sidecar.native (the default) the proxy is a native sidecar in initContainers
(Kubernetes 1.29+) and the containers template renders nothing; with sidecar.native=false it is a regular
container (the fallback for older clusters) and the initContainers template renders nothing. The app talks
to http://127.0.0.1:<ports.proxy>.
*/}}

{{- define "sigv4-sidecar.sidecar.initContainers" -}}
{{- if .values.sidecar.native }}
{{- if and .root.Capabilities (semverCompare "<1.29.0-0" .root.Capabilities.KubeVersion.Version) }}
{{- fail (printf "sigv4-sidecar: sidecar.native needs Kubernetes 1.29+ (native sidecar containers); this cluster is %s: set sidecar.native=false for the regular-container fallback" .root.Capabilities.KubeVersion.Version) }}
{{- end }}
{{- include "sigv4-sidecar.container" (dict "values" .values "role" "sidecar" "root" .root) }}
{{- end }}
{{- end }}

{{- define "sigv4-sidecar.sidecar.containers" -}}
{{- if not .values.sidecar.native }}
{{- if and (not .values.sidecar.lifecycle) (gt (int .values.sidecar.preStopSleepSeconds) 0) .root.Capabilities (semverCompare "<1.30.0-0" .root.Capabilities.KubeVersion.Version) }}
{{- fail (printf "sigv4-sidecar: sidecar.preStopSleepSeconds uses the preStop sleep action, Kubernetes 1.30+; this cluster is %s: set sidecar.lifecycle (the image has no shell, so exec only sigv4-sidecar) or sidecar.preStopSleepSeconds=0 (sidecar.shutdownDelaySeconds drains on any version)" .root.Capabilities.KubeVersion.Version) }}
{{- end }}
{{- include "sigv4-sidecar.container" (dict "values" .values "role" "sidecar" "root" .root) }}
{{- end }}
{{- end }}

{{- define "sigv4-sidecar.sidecar.volumes" -}}
{{- include "sigv4-sidecar.volumes" .values }}
{{- end }}
