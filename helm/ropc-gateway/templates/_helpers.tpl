{{/* Names and labels. */}}
{{- define "ropc-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ropc-gateway.fullname" -}}
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

{{- define "ropc-gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ropc-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "ropc-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ropc-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ropc-gateway.metricsServiceName" -}}
{{- printf "%s-metrics" (include "ropc-gateway.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{- define "ropc-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ropc-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ropc-gateway.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The Secret mounted at secrets.mountPath: an existing one, the chart's, or none. */}}
{{- define "ropc-gateway.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else if .Values.secrets.data }}
{{- include "ropc-gateway.fullname" . }}
{{- end }}
{{- end }}

{{/* Ports of the gateway's two listeners, from the configuration (gateway defaults 9031/9091). */}}
{{- define "ropc-gateway.port" -}}
{{- dig "server" "port" 9031 .Values.config | int }}
{{- end }}
{{- define "ropc-gateway.adminPort" -}}
{{- dig "admin" "port" 9091 .Values.config | int }}
{{- end }}

{{/*
The gateway configuration as rendered into gateway.yaml: .Values.config as given, except that
sidecar mode points the upstream at the app in the same pod.
*/}}
{{- define "ropc-gateway.config" -}}
{{- $config := deepCopy (.Values.config | default dict) }}
{{- if .Values.sidecar.enabled }}
{{- $upstream := deepCopy (get $config "upstream" | default dict) }}
{{- $_ := set $upstream "url" (printf "http://127.0.0.1:%d" (int .Values.app.port)) }}
{{- $_ := set $config "upstream" $upstream }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/*
Refuses impossible combinations with one clear message each (rendered from the ConfigMap, so
every mode runs them). The gateway checks its configuration again at startup.
*/}}
{{- define "ropc-gateway.validate" -}}
{{- $config := .Values.config | default dict }}
{{- $store := get $config "store" | default dict }}
{{- $redis := get $store "redis" | default dict }}
{{- $storeType := get $store "type" | default "" }}
{{- $upstreamUrl := dig "upstream" "url" "" $config }}
{{- $port := include "ropc-gateway.port" . | int }}
{{- $adminPort := include "ropc-gateway.adminPort" . | int }}
{{- if not (has $storeType (list "redis" "memory")) }}
{{- fail "config.store.type: set redis (with store.redis.url, sentinels or cluster) or memory (one pod only)" }}
{{- end }}
{{- if and (eq $storeType "redis") (not (or (get $redis "url") (get $redis "sentinels") (get $redis "cluster"))) }}
{{- fail "config.store.redis: set url, sentinels (with sentinelName) or cluster for the redis store" }}
{{- end }}
{{- if and (eq $storeType "memory") (or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1)) }}
{{- fail "config.store.type memory keeps tokens in one process: use replicaCount 1 without autoscaling, or the redis store" }}
{{- end }}
{{- if .Values.sidecar.enabled }}
{{- if $upstreamUrl }}
{{- fail (printf "config.upstream.url: leave it empty in sidecar mode; the chart sets it to http://127.0.0.1:%d (app.port)" (int .Values.app.port)) }}
{{- end }}
{{- if not .Values.app.image.repository }}
{{- fail "app.image.repository: sidecar mode needs the image of the app to protect" }}
{{- end }}
{{- if not .Values.deployment.enabled }}
{{- fail "sidecar.enabled needs deployment.enabled (the sidecar Deployment is the chart's)" }}
{{- end }}
{{- if has (int .Values.app.port) (list $port $adminPort) }}
{{- fail (printf "app.port %d: the gateway listens there (config.server.port %d, config.admin.port %d)" (int .Values.app.port) $port $adminPort) }}
{{- end }}
{{- else if not $upstreamUrl }}
{{- fail "config.upstream.url: required in standalone mode (the application to protect), or set sidecar.enabled" }}
{{- end }}
{{- range $listener := list "server" "admin" }}
{{- /* The gateway's own defaults: server.host 0.0.0.0, admin.host 127.0.0.1 (values.yaml sets 0.0.0.0). */}}
{{- $host := dig $listener "host" (ternary "127.0.0.1" "0.0.0.0" (eq $listener "admin")) $config }}
{{- if or (hasPrefix "127." $host) (eq $host "localhost") (eq $host "::1") }}
{{- fail (printf "config.%s.host %s: the Service and the probes reach the pod's IP; use 0.0.0.0" $listener $host) }}
{{- end }}
{{- end }}
{{- $drain := dig "server" "drainSeconds" 5 $config | int }}
{{- $shutdown := dig "server" "shutdownTimeoutSeconds" 20 $config | int }}
{{- if le (int .Values.terminationGracePeriodSeconds) (add (int .Values.preStopSleepSeconds) $drain $shutdown) }}
{{- fail (printf "terminationGracePeriodSeconds %d: must exceed preStopSleepSeconds %d + config.server.drainSeconds %d + config.server.shutdownTimeoutSeconds %d, or in-flight requests are killed" (int .Values.terminationGracePeriodSeconds) (int .Values.preStopSleepSeconds) $drain $shutdown) }}
{{- end }}
{{- if and .Values.deployment.enabled .Values.serviceMonitor.enabled .Values.networkPolicy.enabled (not .Values.networkPolicy.adminFrom) }}
{{- fail "networkPolicy.adminFrom: the NetworkPolicy admits no pod to the admin port unless listed there; add your Prometheus (e.g. a namespaceSelector of its namespace) for serviceMonitor.enabled" }}
{{- end }}
{{- if and .Values.secrets.existingSecret .Values.secrets.data }}
{{- fail "secrets: set existingSecret or data, not both" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (not (kindIs "invalid" .Values.podDisruptionBudget.minAvailable)) (ne (toString .Values.podDisruptionBudget.minAvailable) "") (not (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable)) (ne (toString .Values.podDisruptionBudget.maxUnavailable) "") }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- if .Values.tests.enabled }}
{{- if not (and .Values.tests.clientId .Values.tests.username .Values.tests.passwordKey) }}
{{- fail "tests: set clientId, username and passwordKey (a key of the mounted Secret) for the helm test" }}
{{- end }}
{{- if not (include "ropc-gateway.secretName" .) }}
{{- fail "tests: the helm test reads the password from the Secret; set secrets.data or secrets.existingSecret" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The gateway container, as one item of a pod's `containers` list. Other charts add the gateway
to their own pods with it (and "ropc-gateway.volumes"), passing this chart's context:
  containers:
    {{- include "ropc-gateway.container" (index .Subcharts "ropc-gateway") | nindent 4 }}
*/}}
{{- define "ropc-gateway.container" -}}
- name: ropc-gateway
  image: {{ include "ropc-gateway.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["start", "--config", "/etc/ropc-gateway/gateway.yaml"]
  ports:
    - name: http
      containerPort: {{ include "ropc-gateway.port" . }}
      protocol: TCP
    - name: admin
      containerPort: {{ include "ropc-gateway.adminPort" . }}
      protocol: TCP
  {{- with .Values.extraEnv }}
  env:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.extraEnvFrom }}
  envFrom:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  startupProbe:
    httpGet:
      path: /healthz
      port: admin
    periodSeconds: {{ .Values.probes.startup.periodSeconds }}
    failureThreshold: {{ .Values.probes.startup.failureThreshold }}
  livenessProbe:
    httpGet:
      path: /healthz
      port: admin
    periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
    timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
    failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
  readinessProbe:
    httpGet:
      path: /readyz
      port: admin
    periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
    timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
    failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
  {{- if gt (int .Values.preStopSleepSeconds) 0 }}
  lifecycle:
    preStop:
      # The image has no shell or sleep binary; node is there.
      exec:
        command: ["node", "-e", "setTimeout(() => {}, {{ mul (int .Values.preStopSleepSeconds) 1000 }})"]
  {{- end }}
  {{- with .Values.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: ropc-gateway-config
      mountPath: /etc/ropc-gateway
      readOnly: true
    {{- if include "ropc-gateway.secretName" . }}
    - name: ropc-gateway-secrets
      mountPath: {{ .Values.secrets.mountPath }}
      readOnly: true
    {{- end }}
    - name: ropc-gateway-tmp
      mountPath: /tmp
    {{- with .Values.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}

{{/* The volumes the gateway container mounts, as items of a pod's `volumes` list. */}}
{{- define "ropc-gateway.volumes" -}}
- name: ropc-gateway-config
  configMap:
    name: {{ include "ropc-gateway.fullname" . }}
{{- with include "ropc-gateway.secretName" . }}
- name: ropc-gateway-secrets
  secret:
    secretName: {{ . }}
    defaultMode: 0440
{{- end }}
- name: ropc-gateway-tmp
  emptyDir:
    medium: Memory
    sizeLimit: 16Mi
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod annotations that roll the pods when the configuration or the chart's Secret changes. */}}
{{- define "ropc-gateway.checksums" -}}
checksum/config: {{ print (include "ropc-gateway.config" .) (toYaml .Values.files) | sha256sum }}
{{- if and .Values.secrets.data (not .Values.secrets.existingSecret) }}
checksum/secret: {{ toYaml .Values.secrets.data | sha256sum }}
{{- end }}
{{- end }}
