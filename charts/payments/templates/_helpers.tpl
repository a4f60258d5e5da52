{{/* Chart name. */}}
{{- define "payments.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release + chart, unless the release name already contains the chart name. */}}
{{- define "payments.fullname" -}}
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

{{/* chart label: name-version. */}}
{{- define "payments.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels; call with (dict "ctx" $ "component" "ingester"). */}}
{{- define "payments.selectorLabels" -}}
app.kubernetes.io/name: {{ include "payments.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/* Standard labels; call with (dict "ctx" $ "component" "ingester"). */}}
{{- define "payments.labels" -}}
helm.sh/chart: {{ include "payments.chart" .ctx }}
{{ include "payments.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: payments
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Object name of a component: <fullname>-<component>, max 63 characters. */}}
{{- define "payments.componentName" -}}
{{- printf "%s-%s" (include "payments.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The payments image. */}}
{{- define "payments.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* Any other image; call with an {repository, tag} map. */}}
{{- define "payments.imageRef" -}}
{{- printf "%s:%s" .repository (toString .tag) }}
{{- end }}

{{/*
A Secret value (base64) that survives upgrades: the value already stored in the cluster,
else the value given, else a random alphanumeric string.
Call with (dict "ctx" $ "name" "secret-name" "key" "password" "value" "" "length" 32).
*/}}
{{- define "payments.secretValue" -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .name }}
{{- if and $existing $existing.data (hasKey $existing.data .key) }}
{{- index $existing.data .key }}
{{- else if .value }}
{{- .value | toString | b64enc }}
{{- else }}
{{- randAlphaNum (.length | default 32) | b64enc }}
{{- end }}
{{- end }}

{{/* Names of the Secrets the pods read. */}}
{{- define "payments.postgresql.secretName" -}}
{{- .Values.postgresql.auth.existingSecret | default (include "payments.componentName" (dict "ctx" . "component" "postgresql")) }}
{{- end }}

{{- define "payments.postgresql.host" -}}
{{- include "payments.componentName" (dict "ctx" . "component" "postgresql") }}
{{- end }}

{{/*
Secret holding `reader-password`, the password of Metabase's read-only login role: the given
one, else the release's PostgreSQL Secret, else one the chart generates.
*/}}
{{- define "payments.metabase.readerSecretName" -}}
{{- if .Values.metabase.reader.existingSecret }}
{{- .Values.metabase.reader.existingSecret }}
{{- else if .Values.postgresql.enabled }}
{{- include "payments.postgresql.secretName" . }}
{{- else }}
{{- include "payments.componentName" (dict "ctx" . "component" "metabase-reader") }}
{{- end }}
{{- end }}

{{/* Secret and key of PAYMENTS_DATABASE_URL. */}}
{{- define "payments.database.secretName" -}}
{{- if .Values.postgresql.enabled }}
{{- include "payments.postgresql.secretName" . }}
{{- else if .Values.externalDatabase.existingSecret }}
{{- .Values.externalDatabase.existingSecret }}
{{- else }}
{{- include "payments.componentName" (dict "ctx" . "component" "database") }}
{{- end }}
{{- end }}

{{- define "payments.database.secretKey" -}}
{{- if and (not .Values.postgresql.enabled) .Values.externalDatabase.existingSecret }}
{{- .Values.externalDatabase.existingSecretKey }}
{{- else }}
{{- "database-url" }}
{{- end }}
{{- end }}

{{/* S3 credentials: Secret name, key names, endpoint. */}}
{{- define "payments.s3.secretName" -}}
{{- if .Values.minio.enabled }}
{{- .Values.minio.auth.existingSecret | default (include "payments.componentName" (dict "ctx" . "component" "minio")) }}
{{- else }}
{{- required "externalS3.existingSecret is required when minio.enabled is false" .Values.externalS3.existingSecret }}
{{- end }}
{{- end }}

{{- define "payments.s3.accessKeyKey" -}}
{{- if .Values.minio.enabled }}root-user{{ else }}access-key{{ end }}
{{- end }}

{{- define "payments.s3.secretKeyKey" -}}
{{- if .Values.minio.enabled }}root-password{{ else }}secret-key{{ end }}
{{- end }}

{{- define "payments.s3.endpoint" -}}
{{- if .Values.minio.enabled }}
{{- printf "http://%s:%d" (include "payments.componentName" (dict "ctx" . "component" "minio")) (int .Values.minio.service.apiPort) }}
{{- else }}
{{- .Values.externalS3.endpoint }}
{{- end }}
{{- end }}

{{/* Kafka cluster name and bootstrap servers. */}}
{{- define "payments.kafka.name" -}}
{{- .Values.kafka.name | default (include "payments.componentName" (dict "ctx" . "component" "kafka")) }}
{{- end }}

{{- define "payments.kafka.brokers" -}}
{{- if .Values.kafka.enabled }}
{{- printf "%s-kafka-bootstrap:9092" (include "payments.kafka.name" .) }}
{{- else }}
{{- required "externalKafka.brokers is required when kafka.enabled is false" .Values.externalKafka.brokers }}
{{- end }}
{{- end }}

{{/* Environment shared by every payments container. */}}
{{- define "payments.commonEnv" -}}
- name: PAYMENTS_LOG
  value: {{ .Values.log.level | quote }}
- name: PAYMENTS_LOG_FORMAT
  value: {{ .Values.log.format | quote }}
{{- with .Values.tracing.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: PAYMENTS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "payments.database.secretName" . }}
      key: {{ include "payments.database.secretKey" . }}
{{- end }}

{{- define "payments.kafkaEnv" -}}
- name: PAYMENTS_KAFKA_BROKERS
  value: {{ include "payments.kafka.brokers" . | quote }}
- name: PAYMENTS_STREAM_TOPIC
  value: {{ .Values.topics.stream | quote }}
- name: PAYMENTS_IMPORT_TOPIC
  value: {{ .Values.topics.import | quote }}
{{- with .Values.kafkaClient.properties }}
{{- $properties := list }}
{{- range $key, $value := . }}
{{- $properties = append $properties (printf "%s=%v" $key $value) }}
{{- end }}
- name: PAYMENTS_KAFKA_PROPERTIES
  value: {{ join "," $properties | quote }}
{{- end }}
{{- if and (not .Values.kafka.enabled) .Values.externalKafka.createTopics }}
- name: PAYMENTS_CREATE_TOPICS
  value: "true"
- name: PAYMENTS_TOPIC_PARTITIONS
  value: {{ .Values.topics.partitions | quote }}
{{- end }}
{{- end }}

{{- define "payments.s3Env" -}}
- name: PAYMENTS_S3_ENDPOINT
  value: {{ include "payments.s3.endpoint" . | quote }}
- name: PAYMENTS_S3_REGION
  value: {{ .Values.s3.region | quote }}
- name: PAYMENTS_S3_BUCKET
  value: {{ .Values.s3.bucket | quote }}
- name: PAYMENTS_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "payments.s3.secretName" . }}
      key: {{ include "payments.s3.accessKeyKey" . }}
- name: PAYMENTS_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "payments.s3.secretName" . }}
      key: {{ include "payments.s3.secretKeyKey" . }}
{{- end }}

{{/* Pod-level fields shared by our Deployments; call with (dict "ctx" $ "values" .Values.ingester). */}}
{{- define "payments.podCommon" -}}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .ctx.Values.podSecurityContext | nindent 2 }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* A writable /tmp for read-only root filesystems. */}}
{{- define "payments.tmpVolume" -}}
- name: tmp
  emptyDir: {}
{{- end }}

{{/*
The startup probe of the importer and the controller: at start they wait for the database, Kafka
and S3 (PAYMENTS_STARTUP_TIMEOUT, 5 min) before serving HTTP; liveness only counts after it.
*/}}
{{- define "payments.startupProbe" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 5
  failureThreshold: 60
{{- end }}

{{/*
The importer's paths a browser or API client needs, and only those: the Ingress and the
HTTPRoute expose these, so /metrics, /healthz and /readyz are never reachable from outside.
Keep in step with the routes of crates/web/src/lib.rs.
*/}}
{{- define "payments.importer.publicPaths" -}}
- {path: /, type: Exact}
- {path: /imports, type: Prefix}
- {path: /api, type: Prefix}
- {path: /approvals, type: Prefix}
- {path: /dashboard, type: Prefix}
- {path: /static, type: Prefix}
{{- end }}

{{/*
barman-cloud's environment: the store's credentials (boto3 reads AWS_*), its region and
endpoint. dict: ctx, secret, accessKeyKey, secretKeyKey, endpoint, region.
*/}}
{{- define "payments.postgresql.barmanEnv" -}}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef: {name: {{ .secret }}, key: {{ .accessKeyKey }}}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef: {name: {{ .secret }}, key: {{ .secretKeyKey }}}
- name: AWS_DEFAULT_REGION
  value: {{ .region | quote }}
- name: S3_ENDPOINT
  value: {{ .endpoint | quote }}
{{- end }}
