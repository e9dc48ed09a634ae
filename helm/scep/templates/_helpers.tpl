{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "scep.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every resource name. */}}
{{- define "scep.fullname" -}}
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

{{- define "scep.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every resource. */}}
{{- define "scep.labels" -}}
helm.sh/chart: {{ include "scep.chart" . }}
app.kubernetes.io/name: {{ include "scep.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: scep
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: include with (dict "root" $ "component" "gateway"). */}}
{{- define "scep.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scep.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "scep.componentLabels" -}}
{{ include "scep.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Image reference: (dict "image" .Values.gateway.image "root" $). */}}
{{- define "scep.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{- define "scep.gateway.fullname" -}}{{ include "scep.fullname" . }}-gateway{{- end -}}
{{- define "scep.signer.fullname" -}}{{ include "scep.fullname" . }}-signer{{- end -}}
{{- define "scep.signer.headless" -}}{{ include "scep.fullname" . }}-signer-headless{{- end -}}
{{- define "scep.redis.fullname" -}}{{ include "scep.fullname" . }}-redis{{- end -}}

{{/* The signer kind: softhsm always needs a StatefulSet (token on a claim). */}}
{{- define "scep.signer.kind" -}}
{{- if .Values.signer.softhsm.enabled -}}StatefulSet{{- else -}}{{ .Values.signer.kind }}{{- end -}}
{{- end -}}

{{/* gRPC target of the gateway: every signer pod address through DNS. */}}
{{- define "scep.signer.target" -}}
{{- printf "dns:///%s.%s.svc.%s:%d" (include "scep.signer.headless" .) .Release.Namespace .Values.clusterDomain (int .Values.signer.grpcPort) -}}
{{- end -}}

{{- define "scep.redis.host" -}}
{{- if .Values.redis.bundled.enabled -}}{{ include "scep.redis.fullname" . }}{{- else -}}{{ .Values.redis.host }}{{- end -}}
{{- end -}}

{{- define "scep.redis.port" -}}
{{- if .Values.redis.bundled.enabled -}}6379{{- else -}}{{ .Values.redis.port }}{{- end -}}
{{- end -}}

{{/* Secret names: an existing Secret, or the one this chart creates. */}}
{{- define "scep.challenge.secretName" -}}
{{- default (printf "%s-challenge" (include "scep.fullname" .)) .Values.challenge.existingSecret -}}
{{- end -}}

{{- define "scep.pin.secretName" -}}
{{- default (printf "%s-hsm-pin" (include "scep.fullname" .)) .Values.signer.pin.existingSecret -}}
{{- end -}}

{{- define "scep.pki.configMapName" -}}
{{- default (printf "%s-pki" (include "scep.fullname" .)) .Values.signer.pki.existingConfigMap -}}
{{- end -}}

{{- define "scep.gateway.tlsSecret" -}}
{{- default (printf "%s-gateway-tls" (include "scep.fullname" .)) .Values.tls.gateway.secretName -}}
{{- end -}}

{{- define "scep.signer.tlsSecret" -}}
{{- default (printf "%s-signer-tls" (include "scep.fullname" .)) .Values.tls.signer.secretName -}}
{{- end -}}

{{/*
A random secret that survives upgrades: the value already in the cluster's
Secret when there is one, else a fresh one. (dict "root" $ "secret" NAME "key" KEY)
Chosen once per render and kept in .Values (one map for every template of
the chart, in Helm as in chart-render) under a key the schema refuses from
users: secrets.yaml and the checksum/secrets annotations that include it
see the same value. Without a cluster (`helm template`, Argo CD) lookup
finds nothing and each render draws a new one: set existingSecret or value
there (chart README, "GitOps and helm template").
*/}}
{{- define "scep.stableRandom" -}}
{{- if not (hasKey .root.Values "__scepGeneratedSecrets") -}}
{{- $_ := set .root.Values "__scepGeneratedSecrets" (dict) -}}
{{- end -}}
{{- $generated := get .root.Values "__scepGeneratedSecrets" -}}
{{- $id := printf "%s/%s" .secret .key -}}
{{- if not (hasKey $generated $id) -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .secret -}}
{{- if and $existing (hasKey (get $existing "data" | default dict) .key) -}}
{{- $_ := set $generated $id (index $existing.data .key | b64dec) -}}
{{- else -}}
{{- $_ := set $generated $id (randAlphaNum 32) -}}
{{- end -}}
{{- end -}}
{{- get $generated $id -}}
{{- end -}}

{{/*
Bytes in an amount of memory, "" when it cannot be read: (dict "value" V
"units" "redis") for Redis's units (1k = 1000, 1kb = 1024, mb, gb, any
case), "kubernetes" for a resource quantity (Ki, Mi, Gi, Ti; k, M, G, T).
*/}}
{{- define "scep.bytes" -}}
{{- $v := toString .value -}}
{{- $number := regexFind "^[0-9]+([.][0-9]+)?" $v -}}
{{- $unit := trimPrefix $number $v -}}
{{- $units := dict "" 1.0 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "k" 1000.0 "M" 1e6 "G" 1e9 "T" 1e12 -}}
{{- if eq .units "redis" -}}
{{- $unit = lower $unit -}}
{{- $units = dict "" 1.0 "b" 1.0 "k" 1000.0 "kb" 1024.0 "m" 1e6 "mb" 1048576.0 "g" 1e9 "gb" 1073741824.0 -}}
{{- end -}}
{{- if and $number (hasKey $units $unit) -}}
{{- mulf $number (get $units $unit) -}}
{{- end -}}
{{- end -}}

{{/* PodDisruptionBudget of one component: (dict "root" $ "component" NAME "pdb" VALUES). */}}
{{- define "scep.pdb" -}}
{{- if .pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "scep.fullname" .root }}-{{ .component }}
  labels:
    {{- include "scep.componentLabels" (dict "root" .root "component" .component) | nindent 4 }}
spec:
  maxUnavailable: {{ .pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "scep.selectorLabels" (dict "root" .root "component" .component) | nindent 6 }}
{{- end }}
{{- end -}}

{{/* Admin API (scep.admin.v1): its own ClusterIP Service and Secrets. */}}
{{- define "scep.admin.fullname" -}}{{ include "scep.gateway.fullname" . }}-admin{{- end -}}

{{- define "scep.admin.tokenSecretName" -}}
{{- default (printf "%s-admin-token" (include "scep.fullname" .)) .Values.admin.token.existingSecret -}}
{{- end -}}

{{- define "scep.admin.tlsSecret" -}}
{{- default (printf "%s-admin-tls" (include "scep.fullname" .)) .Values.admin.tls.secretName -}}
{{- end -}}

{{- define "scep.admin.clientCASecret" -}}
{{- default (include "scep.admin.tlsSecret" .) .Values.admin.tls.clientCA.secretName -}}
{{- end -}}

{{- define "scep.redis.sentinelSecretName" -}}
{{- default (include "scep.redis.authSecretName" .) .Values.redis.sentinel.auth.existingSecret -}}
{{- end -}}

{{/* The Sentinel password's key: redis.auth's with redis.auth's Secret. */}}
{{- define "scep.redis.sentinelSecretKey" -}}
{{- $s := .Values.redis.sentinel.auth -}}
{{- if $s.key -}}
{{- $s.key -}}
{{- else if $s.existingSecret -}}
password
{{- else -}}
{{- .Values.redis.auth.key -}}
{{- end -}}
{{- end -}}

{{- define "scep.redis.authSecretName" -}}
{{- default (printf "%s-redis-auth" (include "scep.fullname" .)) .Values.redis.auth.existingSecret -}}
{{- end -}}

{{/*
Combinations values.schema.json cannot express, refused at render time.
Included by the gateway Deployment (always rendered).
*/}}
{{- define "scep.validate" -}}
{{- $gw := .Values.gateway -}}
{{- if le (int $gw.terminationGracePeriodSeconds) (add (int $gw.drainDelaySeconds) (int $gw.shutdownGraceSeconds)) -}}
{{- fail (printf "gateway.terminationGracePeriodSeconds (%d) must exceed drainDelaySeconds + shutdownGraceSeconds (%d): Kubernetes would kill gateways with requests in flight" (int $gw.terminationGracePeriodSeconds) (add (int $gw.drainDelaySeconds) (int $gw.shutdownGraceSeconds))) -}}
{{- end -}}
{{- $sg := .Values.signer -}}
{{- if le (int $sg.terminationGracePeriodSeconds) (int $sg.shutdownGraceSeconds) -}}
{{- fail (printf "signer.terminationGracePeriodSeconds (%d) must exceed signer.shutdownGraceSeconds (%d): Kubernetes would kill signers with calls in flight" (int $sg.terminationGracePeriodSeconds) (int $sg.shutdownGraceSeconds)) -}}
{{- end -}}
{{- /* Names get suffixes after the base name: "-signer-headless" (16),
and a StatefulSet's pods a 10-character revision hash after "-signer-"
in a label; each must stay within 63. */ -}}
{{- $base := include "scep.fullname" . -}}
{{- $room := ternary 45 47 (eq (include "scep.signer.kind" .) "StatefulSet") -}}
{{- if gt (len $base) $room -}}
{{- fail (printf "the release name makes resource names start with %q (%d characters): at most %d fit (suffixes such as -signer-headless must stay within Kubernetes' 63); use a shorter release name or fullnameOverride" $base (len $base) $room) -}}
{{- end -}}
{{- $a := .Values.admin -}}
{{- if and $a.enabled (not $a.token.enabled) (not (and $a.tls.enabled $a.tls.clientCA.enabled)) -}}
{{- fail "admin.enabled needs a credential: admin.token.enabled, or admin.tls.enabled with admin.tls.clientCA.enabled (mutual TLS)" -}}
{{- end -}}
{{- if and $a.enabled $a.tls.clientCA.enabled (not $a.tls.enabled) -}}
{{- fail "admin.tls.clientCA.enabled needs admin.tls.enabled (the gateway serves mutual TLS only over TLS)" -}}
{{- end -}}
{{- $r := .Values.redis -}}
{{- if and $r.auth.enabled $r.bundled.enabled $r.auth.username -}}
{{- fail "redis.auth.username is for an external Redis with ACL users; the bundled Redis has only the default user (leave username empty)" -}}
{{- end -}}
{{- if and $r.auth.enabled (not $r.bundled.enabled) (not $r.auth.existingSecret) (not $r.auth.value) -}}
{{- fail "redis.auth.enabled with an external Redis needs its password: redis.auth.existingSecret (or redis.auth.value)" -}}
{{- end -}}
{{- if and $r.sentinel.enabled $r.bundled.enabled -}}
{{- fail "redis.sentinel is for an external Redis run with Sentinels; the bundled Redis has none (disable one of them)" -}}
{{- end -}}
{{- if and $r.sentinel.auth.username (not $r.sentinel.auth.enabled) -}}
{{- fail "redis.sentinel.auth.username needs redis.sentinel.auth.enabled (ACL AUTH takes the user's password too)" -}}
{{- end -}}
{{- if and $r.sentinel.enabled $r.sentinel.auth.enabled (not $r.auth.enabled) (not $r.sentinel.auth.existingSecret) -}}
{{- fail "redis.sentinel.auth.enabled takes the Sentinel password from redis.auth's Secret, which redis.auth.enabled=false leaves out: set redis.sentinel.auth.existingSecret (and .key), or enable redis.auth" -}}
{{- end -}}
{{- if and $r.sentinel.enabled (not $r.sentinel.hosts) -}}
{{- fail "redis.sentinel.enabled needs redis.sentinel.hosts (the Sentinels' host:port)" -}}
{{- end -}}
{{- if and $r.tls.enabled $r.bundled.enabled -}}
{{- fail "redis.tls is for an external Redis served over TLS; the bundled Redis has none (disable one of them)" -}}
{{- end -}}
{{- if and (not $r.tls.enabled) (or $r.tls.ca.existingSecret $r.tls.clientCertificate.existingSecret $r.tls.serverName) -}}
{{- fail "redis.tls.ca.existingSecret, redis.tls.clientCertificate.existingSecret and redis.tls.serverName need redis.tls.enabled (the gateway refuses its --redis_tls_* files and name without --redis_tls)" -}}
{{- end -}}
{{- if and $r.bundled.enabled (gt (int $r.waitReplicas) 0) -}}
{{- fail "redis.waitReplicas is for a replicated external Redis; the bundled Redis has no replica (every write would wait redis.waitTimeoutMs for none)" -}}
{{- end -}}
{{- end -}}

{{/* The pods' listen address with a port (gRPC --listen): an IPv6 literal
in brackets. */}}
{{- define "scep.listenHostPort" -}}
{{- $host := .root.Values.listenAddress -}}
{{- if contains ":" $host -}}[{{ $host }}]:{{ .port }}{{- else -}}{{ $host }}:{{ .port }}{{- end -}}
{{- end -}}

{{/*
The signer's drain delay as rendered: signer.drainDelaySeconds, shortened
to what terminationGracePeriodSeconds leaves after shutdownGraceSeconds and
a second (so a release that set a grace period before drainDelaySeconds
existed still renders, with a shorter delay).
*/}}
{{- define "scep.signerDrainDelay" -}}
{{- $s := .Values.signer -}}
{{- $room := sub (sub (int $s.terminationGracePeriodSeconds) (int $s.shutdownGraceSeconds)) 1 -}}
{{- min (int $s.drainDelaySeconds) (max 0 $room) -}}
{{- end -}}
