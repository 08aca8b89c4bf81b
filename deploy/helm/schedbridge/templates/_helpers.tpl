{{/* The release's object name: the release name, or <release>-schedbridge. */}}
{{- define "schedbridge.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "schedbridge.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: ingress
{{- end -}}

{{- define "schedbridge.labels" -}}
{{ include "schedbridge.selectorLabels" . }}
{{ include "schedbridge.releaseLabels" . }}
{{- end -}}

{{- define "schedbridge.releaseLabels" -}}
app.kubernetes.io/part-of: schedbridge
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The reconcile CronJob's pods: never selected by the ingress's Services,
disruption budget or network policy. */}}
{{- define "schedbridge.reconcileLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: reconcile
{{- end -}}

{{- define "schedbridge.kafkaNamespace" -}}
{{- .Values.networkPolicy.kafkaNamespace | default .Values.strimzi.namespace -}}
{{- end -}}

{{/* Kafka connection, with Strimzi's defaults filled in. */}}
{{- define "schedbridge.brokers" -}}
{{- if .Values.kafka.brokers -}}
{{- .Values.kafka.brokers -}}
{{- else if .Values.strimzi.enabled -}}
{{- printf "%s-kafka-bootstrap.%s.svc:%d" .Values.strimzi.cluster .Values.strimzi.namespace (int .Values.strimzi.listenerPort) -}}
{{- else -}}
{{- fail "kafka.brokers is required (or strimzi.enabled)" -}}
{{- end -}}
{{- end -}}

{{- define "schedbridge.passwordSecret" -}}
{{- if .Values.kafka.passwordSecret.name -}}
{{- .Values.kafka.passwordSecret.name -}}
{{- else if and .Values.strimzi.enabled .Values.strimzi.user.create -}}
{{- .Values.strimzi.user.name -}}
{{- end -}}
{{- end -}}

{{- define "schedbridge.caSecret" -}}
{{- if .Values.kafka.caSecret.name -}}
{{- .Values.kafka.caSecret.name -}}
{{- else if .Values.strimzi.enabled -}}
{{- printf "%s-cluster-ca-cert" .Values.strimzi.cluster -}}
{{- end -}}
{{- end -}}

{{/* Whole seconds of a millisecond setting, rounded up. */}}
{{- define "schedbridge.seconds" -}}
{{- div (add (int .) 999) 1000 -}}
{{- end -}}

{{/* preStop + the longest webhook + shutdown (spool drain, then flush) + slack. */}}
{{- define "schedbridge.gracePeriod" -}}
{{- $ack := include "schedbridge.seconds" (.Values.config.ack_timeout_ms | default 10000) | int -}}
{{- $shutdown := include "schedbridge.seconds" (.Values.config.shutdown_timeout_ms | default 5000) | int -}}
{{- $phases := ternary 2 1 .Values.spool.enabled -}}
{{- add (int .Values.preStopSeconds) $ack (mul $shutdown $phases) 10 -}}
{{- end -}}

{{/* The Kafka client's environment, mounts and volumes: the service and the
reconcile CronJob connect alike. */}}
{{- define "schedbridge.kafkaEnv" -}}
{{- if include "schedbridge.passwordSecret" . -}}
env:
  # A file from the mounted Secret, never an environment value
  # (visible in the pod spec and /proc/<pid>/environ).
  - name: SCHEDBRIDGE_KAFKA_SASL_PASSWORD_FILE
    value: /var/run/secrets/kafka-user/{{ .Values.kafka.passwordSecret.key }}
{{- end -}}
{{- end -}}

{{- define "schedbridge.kafkaMounts" -}}
{{- if include "schedbridge.passwordSecret" . }}
- name: kafka-user
  mountPath: /var/run/secrets/kafka-user
  readOnly: true
{{- end }}
{{- if include "schedbridge.caSecret" . }}
- name: kafka-ca
  mountPath: /var/run/secrets/kafka-ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "schedbridge.kafkaVolumes" -}}
{{- with include "schedbridge.passwordSecret" . }}
- name: kafka-user
  secret:
    secretName: {{ . }}
    defaultMode: 0400
    items:
      - key: {{ $.Values.kafka.passwordSecret.key }}
        path: {{ $.Values.kafka.passwordSecret.key }}
{{- end }}
{{- with include "schedbridge.caSecret" . }}
- name: kafka-ca
  secret:
    secretName: {{ . }}
    items:
      - key: {{ $.Values.kafka.caSecret.key }}
        path: {{ $.Values.kafka.caSecret.key }}
{{- end }}
{{- end -}}

{{/* The sources with a provider API key: the reconcile CronJob's sources. */}}
{{- define "schedbridge.reconcileSources" -}}
{{- range .Values.sources -}}
{{- if and .apiKeyKey (ne .provider "orufy") -}}
{{ .provider }}/{{ .name | default "default" }}
{{ end -}}
{{- end -}}
{{- end -}}
