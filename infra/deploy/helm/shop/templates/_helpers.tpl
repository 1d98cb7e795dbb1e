{{/*
What every template shares: names, labels, the image, and the pod spec of every process
(one helper, so the five Deployments and the Job differ only in their values).
*/}}

{{/* The prefix of every object's name: fullnameOverride, else the release name. */}}
{{- define "shop.fullname" -}}
{{- .Values.fullnameOverride | default .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select one process's pods. Call with (dict "root" $ "component" name). */}}
{{- define "shop.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every object's labels. Call with (dict "root" $ "component" name); component may be "". */}}
{{- define "shop.labels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
app.kubernetes.io/part-of: shop
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The image: by digest when one is given, else by tag (default: the appVersion). */}}
{{- define "shop.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* The port of a process, read from its setting. Call with (dict "root" $ "process" $p). */}}
{{- define "shop.port" -}}
{{- $port := index .root.Values.settings .process.portSetting -}}
{{- if not $port -}}
{{- fail (printf "settings.%s (a process's port) is not set" .process.portSetting) -}}
{{- end -}}
{{- $port -}}
{{- end -}}

{{/* The settings ConfigMap's data: SHOP_<KEY> for each non-null value. */}}
{{- define "shop.settingsData" -}}
{{- range $key, $value := .Values.settings }}
{{- if not (kindIs "invalid" $value) }}
SHOP_{{ upper $key }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Annotations that roll the pods when a ConfigMap's content changes. */}}
{{- define "shop.configChecksums" -}}
checksum/settings: {{ include "shop.settingsData" . | sha256sum }}
checksum/telemetry: {{ toYaml .Values.telemetry | sha256sum }}
{{- end -}}

{{/*
checkov skips, justified (tests/deploy reads them): the connection URLs are environment
variables because pydantic-settings reads them so (SHOP_*) - the Secret is mounted by
envFrom, never printed, and the encryption keys themselves are files (SHOP_KEYS_FILE,
SHOP_AUTH_KEYS_DIR); without image.digest the image is pulled by tag, and a release pins
the digest (--set image.digest=sha256:...).
*/}}
{{- define "shop.checkovSkips" -}}
checkov.io/skip1: CKV_K8S_35=SHOP_* connection URLs are read from the environment
{{- if not .Values.image.digest }}
checkov.io/skip2: CKV_K8S_43=digest pinned at release with image.digest, not in git
{{- end }}
{{- end -}}

{{/* A process's volume mounts and volumes: /tmp, the keys, its token keys and its table
state where it has them. Call with (dict "root" $ "process" $p). */}}
{{- define "shop.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: keys
  mountPath: {{ dir .root.Values.settings.keys_file }}
  readOnly: true
{{- if .process.authKeys }}
- name: auth-keys
  mountPath: {{ .root.Values.settings.auth_keys_dir }}
  readOnly: true
{{- end }}
{{- if .process.dataVolume }}
- name: data
  mountPath: {{ .root.Values.settings.data_dir }}
{{- end }}
{{- end -}}

{{- define "shop.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .root.Values.tmpSizeLimit }}
- name: keys
  secret:
    secretName: {{ .root.Values.secrets.keys }}
    defaultMode: 0400
{{- with .process.authKeys }}
- name: auth-keys
  secret:
    secretName: {{ index $.root.Values.secrets . }}
    defaultMode: 0400
{{- end }}
{{- with .process.dataVolume }}
# Faust's local table state (a cache of changelog topics: rebuilt after a restart).
- name: data
  emptyDir:
    sizeLimit: {{ . }}
{{- end }}
{{- end -}}

{{/*
The pod spec of a process. Call with (dict "root" $ "name" "worker" "process" $p
"args" (list ...) "settingsConfigMap" name "job" bool). A Job's pod has no ports, probes
or telemetry and never restarts; a long-running process has all three.
*/}}
{{- define "shop.podSpec" -}}
{{- $root := .root -}}
{{- $fullname := include "shop.fullname" $root -}}
serviceAccountName: {{ $fullname }}-{{ .name }}
automountServiceAccountToken: false
{{- if .job }}
restartPolicy: Never
{{- else }}
terminationGracePeriodSeconds: {{ .process.terminationGracePeriodSeconds }}
{{- end }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- if and $root.Values.topologySpread.enabled (not .job) }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: {{ $root.Values.topologySpread.topologyKey }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "shop.selectorLabels" (dict "root" $root "component" .name) | nindent 8 }}
{{- end }}
containers:
  - name: {{ .name }}
    image: {{ include "shop.image" $root }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    args: {{ toJson .args }}
    {{- if not .job }}
    {{- $port := include "shop.port" (dict "root" $root "process" .process) | int }}
    ports:
      - name: {{ .process.portName }}
        containerPort: {{ $port }}
        protocol: TCP
    env:
      - name: OTEL_SERVICE_NAME
        value: {{ $fullname }}-{{ .name }}
    {{- end }}
    envFrom:
      - configMapRef:
          name: {{ .settingsConfigMap }}
      {{- if not .job }}
      - configMapRef:
          name: {{ $fullname }}-telemetry
      {{- end }}
      - secretRef:
          name: {{ $root.Values.secrets.connections }}
    {{- if not .job }}
    {{- $probes := $root.Values.probes }}
    {{- range $probe, $field := dict "startup" "startupProbe" "liveness" "livenessProbe" "readiness" "readinessProbe" }}
    {{ $field }}:
      httpGet:
        path: {{ (index $probes $probe).path }}
        port: {{ $.process.portName }}
      {{- toYaml (omit (index $probes $probe) "path") | nindent 6 }}
    {{- end }}
    {{- end }}
    resources:
      {{- toYaml .process.resources | nindent 6 }}
    securityContext:
      {{- toYaml $root.Values.containerSecurityContext | nindent 6 }}
    volumeMounts:
      {{- include "shop.volumeMounts" . | nindent 6 }}
volumes:
  {{- include "shop.volumes" . | nindent 2 }}
{{- end -}}
