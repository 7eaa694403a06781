{{/*
Names and labels. Every template that takes a (dict "values" ... "root" ...) argument works both in this
chart (gateway mode) and when another chart includes the sidecar templates with this chart's values.
*/}}

{{/* The image tag used when image.tag is empty: this chart's appVersion. It is spelled out here, not read
from .Chart, because in sidecar mode .Chart is the including chart; chartstest keeps it equal to Chart.yaml. */}}
{{- define "sigv4-sidecar.defaultTag" -}}
0.1.0
{{- end }}

{{- define "sigv4-sidecar.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sigv4-sidecar.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sigv4-sidecar.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sigv4-sidecar.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sigv4-sidecar.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end }}

{{- define "sigv4-sidecar.labels" -}}
helm.sh/chart: {{ include "sigv4-sidecar.chart" . }}
{{ include "sigv4-sidecar.selectorLabels" . }}
app.kubernetes.io/version: {{ include "sigv4-sidecar.tag" .Values | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sigv4-sidecar.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sigv4-sidecar.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Argument: the chart's values. */}}
{{- define "sigv4-sidecar.tag" -}}
{{- .image.tag | default (include "sigv4-sidecar.defaultTag" .) }}
{{- end }}

{{- define "sigv4-sidecar.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (include "sigv4-sidecar.tag" .) }}
{{- end }}
{{- end }}

{{/* One option value as the binary reads it from its environment: lists comma-separated (the separator
caarlos0/env uses for slices), whole numbers without an exponent (YAML numbers reach templates as float64,
so 104857600 would otherwise print as 1.048576e+08). */}}
{{- define "sigv4-sidecar.envValue" -}}
{{- if kindIs "slice" . }}
{{- $parts := list }}
{{- range . }}{{ $parts = append $parts (include "sigv4-sidecar.envValue" .) }}{{ end }}
{{- join "," $parts }}
{{- else if and (kindIs "float64" .) (eq (float64 (int64 .)) .) }}
{{- int64 . }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/*
The container's environment: every proxy option as SIGV4_<NAME>. Argument: dict with
  values: this chart's values; role: "gateway" or "sidecar".
Listen addresses come first, then config (first-class options), then env (any option by name, which wins
over config), each name once; then extraEnv verbatim (AWS_*, valueFrom, ...).
*/}}
{{- define "sigv4-sidecar.env" -}}
{{- $v := .values }}
{{- $opts := dict }}
{{- if eq .role "gateway" }}
{{- $_ := set $opts "LISTEN" (printf "0.0.0.0:%d" (int $v.ports.proxy)) }}
{{- $_ := set $opts "ADMIN_LISTEN" (printf "0.0.0.0:%d" (int $v.ports.admin)) }}
{{- else }}
{{- $_ := set $opts "LISTEN" (printf "127.0.0.1:%d" (int $v.ports.proxy)) }}
{{- $_ := set $opts "ADMIN_LISTEN" (printf "%s:%d" (ternary "0.0.0.0" "127.0.0.1" $v.sidecar.exposeAdmin) (int $v.ports.admin)) }}
{{- end }}
{{- $names := dict
  "upstream" "UPSTREAM"
  "allowHosts" "ALLOW_HOSTS"
  "service" "SERVICE"
  "region" "REGION"
  "signHost" "SIGN_HOST"
  "connectTo" "CONNECT_TO"
  "upstreamCAFile" "UPSTREAM_CA_FILE"
  "unsignedHeaders" "UNSIGNED_HEADERS"
  "stripHeaders" "STRIP_HEADERS"
  "payload" "PAYLOAD"
  "bodyMemory" "BODY_MEMORY"
  "bodyMemoryTotal" "BODY_MEMORY_TOTAL"
  "maxBody" "MAX_BODY"
  "maxProcs" "MAX_PROCS"
  "shutdownTimeout" "SHUTDOWN_TIMEOUT"
  "logFormat" "LOG_FORMAT"
  "logLevel" "LOG_LEVEL"
  "roleArn" "ROLE_ARN"
  "roleSessionName" "ROLE_SESSION_NAME"
  "externalId" "EXTERNAL_ID"
  "roleDuration" "ROLE_DURATION"
  "credentialsFile" "CREDENTIALS_FILE"
  "profile" "PROFILE"
}}
{{- range $key, $name := $names }}
{{- $val := index $v.config $key }}
{{- if and (not (kindIs "invalid" $val)) (ne (include "sigv4-sidecar.envValue" $val) "") }}
{{- $_ := set $opts $name (include "sigv4-sidecar.envValue" $val) }}
{{- end }}
{{- end }}
{{- /* The drain: keep serving with /readyz at 503 while the pod leaves its Service (any Kubernetes). */}}
{{- if eq .role "gateway" }}
{{- $_ := set $opts "SHUTDOWN_DELAY" (printf "%ds" (int $v.gateway.shutdownDelaySeconds)) }}
{{- else if not $v.sidecar.native }}
{{- $_ := set $opts "SHUTDOWN_DELAY" (printf "%ds" (int $v.sidecar.shutdownDelaySeconds)) }}
{{- end }}
{{- if $v.credentials.secretName }}
{{- $_ := set $opts "CREDENTIALS_FILE" (printf "/etc/sigv4-sidecar/credentials/%s" $v.credentials.key) }}
{{- end }}
{{- range $key, $val := $v.env }}
{{- $_ := set $opts (trimPrefix "SIGV4_" $key) (include "sigv4-sidecar.envValue" $val) }}
{{- end }}
{{- /* Gateway only: the config file, TLS and client authentication, each a mounted directory. */}}
{{- if ne .role "gateway" }}
{{- if or $v.configFile.options $v.configFile.routes $v.tls.secretName $v.tls.certManager.enabled $v.clientAuth.caSecretName $v.clientAuth.tokensSecretName }}
{{- fail "sigv4-sidecar: configFile, tls and clientAuth are for the gateway; a sidecar listens on loopback for its own pod (set them under the gateway's values, or use env for a sidecar option)" }}
{{- end }}
{{- else }}
{{- range $key, $_ := $v.configFile.options }}
{{- $name := $key | upper | replace "-" "_" }}
{{- if hasKey $opts $name }}
{{- fail (printf "sigv4-sidecar: configFile.options.%s is also set as SIGV4_%s (config, env or the chart's listen addresses), which would win over the file: set it in one place" $key $name) }}
{{- end }}
{{- end }}
{{- if include "sigv4-sidecar.configFile" $v }}
{{- $_ := set $opts "CONFIG" "/etc/sigv4-sidecar/config/config.yaml" }}
{{- end }}
{{- if include "sigv4-sidecar.tlsSecretName" .root }}
{{- $_ := set $opts "TLS_CERT_FILE" "/etc/sigv4-sidecar/tls/tls.crt" }}
{{- $_ := set $opts "TLS_KEY_FILE" "/etc/sigv4-sidecar/tls/tls.key" }}
{{- else if $v.clientAuth.caSecretName }}
{{- fail "sigv4-sidecar: clientAuth.caSecretName (mutual TLS) needs TLS on the listener: set tls.secretName or tls.certManager.enabled" }}
{{- end }}
{{- with $v.clientAuth.caSecretName }}
{{- $_ := set $opts "CLIENT_CA_FILE" (printf "/etc/sigv4-sidecar/client-ca/%s" $v.clientAuth.caKey) }}
{{- end }}
{{- with $v.clientAuth.tokensSecretName }}
{{- $_ := set $opts "CLIENT_TOKENS_FILE" (printf "/etc/sigv4-sidecar/client-tokens/%s" $v.clientAuth.tokensKey) }}
{{- end }}
{{- end }}
{{- range $v.extraEnv }}
{{- if and (hasPrefix "SIGV4_" .name) (hasKey $opts (trimPrefix "SIGV4_" .name)) }}
{{- fail (printf "sigv4-sidecar: extraEnv sets %s, which config or env already set: set it in one place" .name) }}
{{- end }}
{{- end }}
{{- range $name, $val := $opts }}
- name: SIGV4_{{ $name }}
  value: {{ $val | quote }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Restricted (Pod Security Standards) container security context, also set on the sidecar so it holds
whatever the including pod sets. */}}
{{- define "sigv4-sidecar.securityContext" -}}
{{- toYaml .securityContext }}
{{- end }}

{{/*
The proxy container. Argument: dict with
  values: this chart's values; role: "gateway" or "sidecar"; root: the top-level context (for Capabilities).
*/}}
{{- define "sigv4-sidecar.container" -}}
{{- $v := .values }}
{{- $native := and (eq .role "sidecar") $v.sidecar.native -}}
- name: {{ ternary $v.sidecar.containerName "sigv4-sidecar" (eq .role "sidecar") }}
  image: {{ include "sigv4-sidecar.image" $v }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  args:
    - serve
  {{- if $native }}
  # Native sidecar (Kubernetes 1.29+): an init container that keeps running, so it starts before the
  # app containers and stops after them.
  restartPolicy: Always
  {{- end }}
  {{- if eq .role "gateway" }}
  ports:
    - name: proxy
      containerPort: {{ $v.ports.proxy }}
      protocol: TCP
    - name: admin
      containerPort: {{ $v.ports.admin }}
      protocol: TCP
  {{- else if $v.sidecar.exposeAdmin }}
  ports:
    - name: sigv4-admin
      containerPort: {{ $v.ports.admin }}
      protocol: TCP
  {{- end }}
  env:
    {{- include "sigv4-sidecar.env" . | trim | nindent 4 }}
  {{- if eq .role "gateway" }}
  # /readyz is 503 until credentials are held (the proxy starts without them and keeps fetching).
  startupProbe:
    httpGet:
      path: /readyz
      port: admin
    {{- with $v.probes.startup }}{{ toYaml . | nindent 4 }}{{ end }}
  livenessProbe:
    httpGet:
      path: /healthz
      port: admin
    {{- with $v.probes.liveness }}{{ toYaml . | nindent 4 }}{{ end }}
  readinessProbe:
    httpGet:
      path: /readyz
      port: admin
    {{- with $v.probes.readiness }}{{ toYaml . | nindent 4 }}{{ end }}
  {{- else }}
  # The admin listener is on loopback: the probes exec the binary's own healthcheck against it
  # (the image has no shell). The startup probe holds the app containers back until the proxy can sign.
  startupProbe:
    exec:
      command: ["sigv4-sidecar", "healthcheck", "--ready"]
    {{- with $v.sidecar.startupProbe }}{{ toYaml . | nindent 4 }}{{ end }}
  livenessProbe:
    exec:
      command: ["sigv4-sidecar", "healthcheck"]
    {{- with $v.probes.liveness }}{{ toYaml . | nindent 4 }}{{ end }}
  readinessProbe:
    exec:
      command: ["sigv4-sidecar", "healthcheck", "--ready"]
    {{- with $v.probes.readiness }}{{ toYaml . | nindent 4 }}{{ end }}
  {{- end }}
  {{- with $v.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- include "sigv4-sidecar.securityContext" $v | nindent 4 }}
  volumeMounts:
    # Bodies that must be hashed spool here above body-memory; the root filesystem is read-only.
    - name: sigv4-sidecar-tmp
      mountPath: /tmp
    {{- if $v.credentials.secretName }}
    - name: sigv4-sidecar-credentials
      mountPath: /etc/sigv4-sidecar/credentials
      readOnly: true
    {{- end }}
    {{- if eq .role "gateway" }}
    {{- /* Whole directories, never subPath: a subPath mount does not see a ConfigMap's or Secret's updates. */}}
    {{- if include "sigv4-sidecar.configFile" $v }}
    - name: sigv4-sidecar-config
      mountPath: /etc/sigv4-sidecar/config
      readOnly: true
    {{- end }}
    {{- if include "sigv4-sidecar.tlsSecretName" .root }}
    - name: sigv4-sidecar-tls
      mountPath: /etc/sigv4-sidecar/tls
      readOnly: true
    {{- end }}
    {{- if $v.clientAuth.caSecretName }}
    - name: sigv4-sidecar-client-ca
      mountPath: /etc/sigv4-sidecar/client-ca
      readOnly: true
    {{- end }}
    {{- if $v.clientAuth.tokensSecretName }}
    - name: sigv4-sidecar-client-tokens
      mountPath: /etc/sigv4-sidecar/client-tokens
      readOnly: true
    {{- end }}
    {{- end }}
    {{- with $v.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- if and (eq .role "gateway") (gt (int $v.gateway.preStopSleepSeconds) 0) }}
  # Opt-in (Kubernetes 1.30+): wait in a preStop sleep before SIGTERM, on top of SIGV4_SHUTDOWN_DELAY (the
  # default drain, which works on any cluster). The sleep action needs no shell.
  lifecycle:
    preStop:
      sleep:
        seconds: {{ $v.gateway.preStopSleepSeconds }}
  {{- end }}
  {{- if and (eq .role "sidecar") (not $native) }}
  {{- if $v.sidecar.lifecycle }}
  lifecycle:
    {{- toYaml $v.sidecar.lifecycle | nindent 4 }}
  {{- else if gt (int $v.sidecar.preStopSleepSeconds) 0 }}
  # Opt-in (Kubernetes 1.30+): wait in a preStop sleep before SIGTERM, on top of SIGV4_SHUTDOWN_DELAY (the
  # default, which keeps the proxy serving while the app drains). The sleep action needs no shell.
  lifecycle:
    preStop:
      sleep:
        seconds: {{ $v.sidecar.preStopSleepSeconds }}
  {{- end }}
  {{- end }}
{{- end }}

{{/* Pod volumes the container mounts. Argument: the chart's values. */}}
{{- define "sigv4-sidecar.volumes" -}}
- name: sigv4-sidecar-tmp
  emptyDir:
    {{- with .tmpSizeLimit }}
    sizeLimit: {{ . }}
    {{- else }}
    {}
    {{- end }}
{{- if .credentials.secretName }}
- name: sigv4-sidecar-credentials
  secret:
    secretName: {{ .credentials.secretName }}
{{- end }}
{{- with .extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The config file's content (YAML), empty when configFile sets nothing. Argument: the chart's values. */}}
{{- define "sigv4-sidecar.configFile" -}}
{{- if or .configFile.options .configFile.routes }}
{{- $file := deepCopy (.configFile.options | default dict) }}
{{- with .configFile.routes }}
{{- $_ := set $file "routes" . }}
{{- end }}
{{- toYaml $file }}
{{- end }}
{{- end }}

{{/* The TLS Secret's name, empty without TLS. Argument: the top-level context (gateway mode). */}}
{{- define "sigv4-sidecar.tlsSecretName" -}}
{{- if .Values.tls.secretName }}
{{- .Values.tls.secretName }}
{{- else if .Values.tls.certManager.enabled }}
{{- printf "%s-tls" (include "sigv4-sidecar.fullname" .) }}
{{- end }}
{{- end }}

{{/* The gateway's own volumes: the config file and the TLS and client-authentication Secrets. */}}
{{- define "sigv4-sidecar.gatewayVolumes" -}}
{{- if include "sigv4-sidecar.configFile" .Values }}
- name: sigv4-sidecar-config
  configMap:
    name: {{ include "sigv4-sidecar.fullname" . }}-config
{{- end }}
{{- with include "sigv4-sidecar.tlsSecretName" . }}
- name: sigv4-sidecar-tls
  secret:
    secretName: {{ . }}
{{- end }}
{{- with .Values.clientAuth.caSecretName }}
- name: sigv4-sidecar-client-ca
  secret:
    secretName: {{ . }}
{{- end }}
{{- with .Values.clientAuth.tokensSecretName }}
- name: sigv4-sidecar-client-tokens
  secret:
    secretName: {{ . }}
{{- end }}
{{- end }}
