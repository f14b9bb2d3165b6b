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
DNS health-check vantages as egress peers: a list of {ip, port, ipv6}. "ip" or "ip:port";
an IPv6 vantage is written "[ip]:port" or as a bare address.
*/}}
{{- define "continuum.vantagePeers" -}}
{{- $peers := list -}}
{{- range $v := .Values.continuum.health.vantages -}}
{{- if hasPrefix "[" $v -}}
{{- $ip := trimPrefix "[" (regexReplaceAll "\\].*$" $v "") -}}
{{- $port := 53 -}}
{{- if regexMatch "\\]:[0-9]+$" $v -}}{{- $port = regexReplaceAll "^.*\\]:" $v "" | int -}}{{- end -}}
{{- $peers = append $peers (dict "cidr" (printf "%s/128" $ip) "port" $port) -}}
{{- else if contains ":" $v -}}
{{- if eq (len (splitList ":" $v)) 2 -}}
{{- $parts := splitList ":" $v -}}
{{- $peers = append $peers (dict "cidr" (printf "%s/32" (first $parts)) "port" (last $parts | int)) -}}
{{- else -}}
{{- $peers = append $peers (dict "cidr" (printf "%s/128" $v) "port" 53) -}}
{{- end -}}
{{- else -}}
{{- $peers = append $peers (dict "cidr" (printf "%s/32" $v) "port" 53) -}}
{{- end -}}
{{- end -}}
{{- toJson $peers -}}
{{- end -}}

{{/* Fail rendering early, with the value to fix, when the enabled chart cannot work. */}}
{{- define "continuum.validate" -}}
{{- $c := .Values.continuum -}}
{{- if not $c.region -}}
{{- fail "continuum.region is required when continuum.enabled is true: the region this installation runs in" -}}
{{- end -}}
{{- if and (gt (int $c.replicas) 1) (not $c.leaderElection.enabled) -}}
{{- fail "continuum.leaderElection.enabled must be true when continuum.replicas > 1: two active controllers would act on the same Continuum" -}}
{{- end -}}
{{- if and (eq $c.dnsWriter "pdm") (not $c.pdmURL) -}}
{{- fail "continuum.pdmURL is required when continuum.dnsWriter is pdm" -}}
{{- end -}}
{{- if and (eq $c.dnsWriter "powerdns") (not $c.powerdns.apiURL) -}}
{{- fail "continuum.powerdns.apiURL is required when continuum.dnsWriter is powerdns" -}}
{{- end -}}
{{- if and (eq $c.dnsWriter "powerdns") (not $c.powerdns.apiKeySecretRef.name) -}}
{{- fail "continuum.powerdns.apiKeySecretRef.name is required when continuum.dnsWriter is powerdns" -}}
{{- end -}}
{{- end -}}
