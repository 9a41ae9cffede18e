{{/* Names and labels. */}}
{{- define "verdict.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "verdict.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "verdict.selectorLabels" -}}
app.kubernetes.io/name: {{ include "verdict.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "verdict.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "verdict.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "verdict.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "verdict.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "verdict.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "verdict.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "verdict.fullname" .)) .Values.tls.secretName -}}
{{- end -}}

{{- define "verdict.mongodbName" -}}
{{- printf "%s-mongodb" (include "verdict.fullname" .) -}}
{{- end -}}

{{/* The Secret and key MONGODB_URI is read from. */}}
{{- define "verdict.mongodbUriSecret" -}}
{{- if eq .Values.mongodb.mode "operator" -}}
{{- printf "%s-connection" (include "verdict.mongodbName" .) -}}
{{- else -}}
{{- default (include "verdict.mongodbName" .) .Values.mongodb.external.secretName -}}
{{- end -}}
{{- end -}}

{{- define "verdict.mongodbUriKey" -}}
{{- if eq .Values.mongodb.mode "operator" -}}
connectionString.standard
{{- else -}}
{{- .Values.mongodb.external.secretKey -}}
{{- end -}}
{{- end -}}

{{/*
The API keys of the APIs without key_sha256, as a dict name → key: given in
apiKeys.keys, else read back from the existing Secret (so an upgrade keeps them),
else generated. Computed once per render and kept in .Values, so the Secret and the
configuration's hashes agree.
*/}}
{{- define "verdict.apiKeys" -}}
{{- if not (hasKey .Values "__apiKeys") -}}
{{- $existing := dict -}}
{{- $secret := lookup "v1" "Secret" .Release.Namespace (printf "%s-api-keys" (include "verdict.fullname" .)) -}}
{{- if $secret -}}{{- $existing = $secret.data | default dict -}}{{- end -}}
{{- $keys := dict -}}
{{- range $api := .Values.config.apis -}}
{{- if not $api.key_sha256 -}}
{{- if hasKey $.Values.apiKeys.keys $api.name -}}
{{- $_ := set $keys $api.name (get $.Values.apiKeys.keys $api.name) -}}
{{- else if hasKey $existing $api.name -}}
{{- $_ := set $keys $api.name (get $existing $api.name | b64dec) -}}
{{- else -}}
{{- $_ := set $keys $api.name (printf "vdk_%s" (randAlphaNum 40)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $_ := set .Values "__apiKeys" $keys -}}
{{- end -}}
{{- toJson (get .Values "__apiKeys") -}}
{{- end -}}

{{/* Paths inside the container. */}}
{{- define "verdict.bundlePath" -}}
{{- $source := .Values.bundle.source -}}
{{- if eq $source "configMap" -}}
{{- printf "/etc/verdict/bundle/%s" .Values.bundle.configMap.key -}}
{{- else if eq $source "http" -}}
/var/run/verdict/bundle/bundle.tar.gz
{{- else if eq $source "oci" -}}
{{- printf "/var/run/verdict/bundle/%s" .Values.bundle.oci.file -}}
{{- end -}}
{{- end -}}

{{/* Verdict's configuration file: the values' config plus what the chart decides. */}}
{{- define "verdict.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- range $key := list "listen" "admin_listen" "tls" "insecure_plaintext" "bundle" "mongodb_uri" -}}
{{- if hasKey $cfg $key -}}
{{- fail (printf "config.%s is set by the chart: remove it from config (see values.yaml)" $key) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $cfg "listen" (printf "0.0.0.0:%d" (int .Values.ports.grpc)) -}}
{{- $_ := set $cfg "admin_listen" (printf "0.0.0.0:%d" (int .Values.ports.admin)) -}}
{{- if .Values.tls.enabled -}}
{{- $tls := dict "cert_file" "/etc/verdict/tls/tls.crt" "key_file" "/etc/verdict/tls/tls.key" -}}
{{- if .Values.tls.clientAuth -}}{{- $_ := set $tls "client_ca_file" "/etc/verdict/tls/ca.crt" -}}{{- end -}}
{{- $_ := set $cfg "tls" $tls -}}
{{- else if .Values.tls.insecurePlaintext -}}
{{- $_ := set $cfg "insecure_plaintext" true -}}
{{- else -}}
{{- fail "tls.enabled is false: set tls.insecurePlaintext: true only if a mesh encrypts the hop (API keys and tokens would travel in clear)" -}}
{{- end -}}
{{- $bundle := include "verdict.bundlePath" . -}}
{{- if $bundle -}}{{- $_ := set $cfg "bundle" $bundle -}}{{- end -}}
{{- $keys := include "verdict.apiKeys" . | fromJson -}}
{{- $apis := list -}}
{{- range $api := .Values.config.apis -}}
{{- $entry := deepCopy $api -}}
{{- if not $entry.key_sha256 -}}{{- $_ := set $entry "key_sha256" (get $keys $api.name | sha256sum) -}}{{- end -}}
{{- $apis = append $apis $entry -}}
{{- end -}}
{{- $_ := set $cfg "apis" $apis -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/*
"true" when the NetworkPolicy admits the admin port from the chart's default peers only (the monitoring
namespace), else "": what reaches it from elsewhere (Shared Signals, the console) is cut off.
*/}}
{{- define "verdict.adminFromIsDefault" -}}
{{- $monitoringOnly := list (dict "namespaceSelector" (dict "matchLabels" (dict "kubernetes.io/metadata.name" "monitoring"))) -}}
{{- if and .Values.networkPolicy.enabled (eq (toJson .Values.networkPolicy.adminFrom) (toJson $monitoringOnly)) -}}true{{- end -}}
{{- end }}
