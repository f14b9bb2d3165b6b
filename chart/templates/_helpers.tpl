{{/*
Name of every object of the release. Fixed, as the catalyst-api and the runbooks address the
controller by it; one release per namespace.
*/}}
{{- define "continuum.name" -}}
continuum-controller
{{- end -}}

{{- define "continuum.selectorLabels" -}}
app.kubernetes.io/name: {{ include "continuum.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
catalyst.openova.io/controller: continuum
{{- end -}}

{{- define "continuum.labels" -}}
{{ include "continuum.selectorLabels" . }}
app.kubernetes.io/part-of: continuum
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
openova.io/product: continuum
{{- end -}}

{{/*
Image reference. global.imageRegistry replaces the registry host (the first path segment);
an empty tag means the chart's appVersion, never "latest".
*/}}
{{- define "continuum.image" -}}
{{- $c := .Values.continuum -}}
{{- $repo := $c.image.repository -}}
{{- with .Values.global.imageRegistry -}}
{{- $parts := splitList "/" $repo -}}
{{- if gt (len $parts) 1 -}}
{{- $repo = printf "%s/%s" . (rest $parts | join "/") -}}
{{- else -}}
{{- $repo = printf "%s/%s" . $repo -}}
{{- end -}}
{{- end -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion $c.image.tag) -}}
{{- end -}}

{{/* Namespace where witness Secrets are read: the configured one or the release namespace. */}}
{{- define "continuum.witnessSecretNamespace" -}}
{{- default .Release.Namespace .Values.continuum.witness.secretNamespace -}}
{{- end -}}

{{/* "region=context,..." sorted by region, the CONTINUUM_REGION_CONTEXTS format. */}}
{{- define "continuum.regionContexts" -}}
{{- $ctx := .Values.continuum.kubeconfig.regionContexts -}}
{{- $pairs := list -}}
{{- range $region := keys $ctx | sortAlpha -}}
{{- $pairs = append $pairs (printf "%s=%s" $region (index $ctx $region)) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/*
DNS health-check vantages as egress peers: a JSON list of {cidr, port}. Each vantage is an
IPv4 "ip" (port 53) or "ip:port" (values.schema.json enforces the form).
*/}}
{{- define "continuum.vantagePeers" -}}
{{- $peers := list -}}
{{- range $v := .Values.continuum.health.vantages -}}
{{- $parts := splitList ":" $v -}}
{{- $port := 53 -}}
{{- if eq (len $parts) 2 -}}{{- $port = last $parts | int -}}{{- end -}}
{{- $peers = append $peers (dict "cidr" (printf "%s/32" (first $parts)) "port" $port) -}}
{{- end -}}
{{- toJson $peers -}}
{{- end -}}

{{/* Every variable the Deployment template sets itself; continuum.extraEnv must not repeat one. */}}
{{- define "continuum.chartEnvNames" -}}
{{- list
  "CONTINUUM_REGION" "CONTINUUM_WATCH_NAMESPACES" "CONTINUUM_KUBECONFIG"
  "CONTINUUM_REGION_CONTEXTS" "CONTINUUM_WITNESS_SECRET_NAMESPACE" "CONTINUUM_WITNESS_CONTEXT"
  "CONTINUUM_WITNESS_LEASE_NAMESPACE" "CONTINUUM_NATS_URL" "CONTINUUM_AUDIT_SUBJECT"
  "CONTINUUM_AUDIT_STREAM" "CONTINUUM_AUDIT_OUTBOX_LIMIT" "CONTINUUM_AUDIT_REQUIRED"
  "CONTINUUM_DNS_WRITER" "CONTINUUM_PDM_URL" "CONTINUUM_PDM_TOKEN" "CONTINUUM_POWERDNS_API_URL"
  "CONTINUUM_POWERDNS_API_KEY" "CONTINUUM_API_ADDR" "CONTINUUM_API_TOKEN"
  "CONTINUUM_HEALTH_DELAY_SECONDS" "CONTINUUM_HEALTH_VANTAGES" "CONTINUUM_METRICS_ADDR"
  "CONTINUUM_LOG_LEVEL" "CONTINUUM_LOG_FORMAT" "CONTINUUM_LEADER_ELECTION"
  "CONTINUUM_LEADER_LEASE_NAME" "CONTINUUM_LEADER_LEASE_NAMESPACE" "CONTINUUM_CLUSTER_DOMAIN"
  "CONTINUUM_SHUTDOWN_TIMEOUT_SECONDS" "CONTINUUM_SHARDING" "CONTINUUM_ROLE_REASSERT"
  "CONTINUUM_POD_IP" | toJson -}}
{{- end -}}

{{/* "true" when the replicas share the Continuums (sharding on and more than one replica). */}}
{{- define "continuum.sharded" -}}
{{- $c := .Values.continuum -}}
{{- and $c.sharding (gt (int $c.replicas) 1) | toString -}}
{{- end -}}

{{/* Fail rendering early, with the value to fix, when the enabled chart cannot work. */}}
{{- define "continuum.validate" -}}
{{- $c := .Values.continuum -}}
{{- if not $c.region -}}
{{- fail "continuum.region is required when continuum.enabled is true: the region this installation runs in" -}}
{{- end -}}
{{- if and (gt (int $c.replicas) 1) (not $c.leaderElection.enabled) (not $c.sharding) -}}
{{- fail "continuum.leaderElection.enabled (or continuum.sharding) must be true when continuum.replicas > 1: two active controllers would act on the same Continuum" -}}
{{- end -}}
{{- $chartEnv := include "continuum.chartEnvNames" . | fromJsonArray -}}
{{- range $name := keys $c.extraEnv | sortAlpha -}}
{{- if has $name $chartEnv -}}
{{- fail (printf "continuum.extraEnv.%s is set by the chart from its own value; set that value instead" $name) -}}
{{- end -}}
{{- end -}}
{{- if and (eq $c.dnsWriter "powerdns") (not $c.powerdns.apiURL) -}}
{{- fail "continuum.powerdns.apiURL is required when continuum.dnsWriter is powerdns" -}}
{{- end -}}
{{- if and (eq $c.dnsWriter "powerdns") (not $c.powerdns.apiKeySecretRef.name) -}}
{{- fail "continuum.powerdns.apiKeySecretRef.name is required when continuum.dnsWriter is powerdns" -}}
{{- end -}}
{{- end -}}

{{/*
"true" when the managed-role re-assert is on: asked for (managedRoles.reassert) and given
namespaces to patch Secrets in (managedRoles.secretNamespaces, else watchNamespaces). With no
namespace listed it is off: a grant of patch on every Secret of the cluster would let the
controller read them all (a patch answers with the whole object).
*/}}
{{- define "continuum.roleReassert" -}}
{{- $roles := .Values.continuum.managedRoles -}}
{{- if and $roles.reassert ($roles.secretNamespaces | default .Values.continuum.watchNamespaces) -}}
true
{{- else -}}
false
{{- end -}}
{{- end -}}
