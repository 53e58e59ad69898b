{{/* The chart's name in labels: nameOverride or dv-pod. */}}
{{- define "dv-pod.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Names: every object is named after the release (one release is one
node), or fullnameOverride, or <release>-<nameOverride>. Cut to 45
characters: the longest suffix (-enr-key-supplied) and the StatefulSet's
controller-revision-hash label (name, dash, 10 characters) then stay within
Kubernetes' 63. */}}
{{- define "dv-pod.fullname" -}}
{{- $name := .Release.Name -}}
{{- if .Values.fullnameOverride -}}
{{- $name = .Values.fullnameOverride -}}
{{- else if and .Values.nameOverride (not (contains .Values.nameOverride .Release.Name)) -}}
{{- $name = printf "%s-%s" .Release.Name .Values.nameOverride -}}
{{- end -}}
{{- $name | trunc 45 | trimSuffix "-" -}}
{{- end -}}

{{- define "dv-pod.enrSecretName" -}}
{{- .Values.charon.enr.existingSecret | default (printf "%s-enr-key" (include "dv-pod.fullname" .)) -}}
{{- end -}}

{{- define "dv-pod.statusConfigMapName" -}}
{{- printf "%s-status" (include "dv-pod.fullname" .) -}}
{{- end -}}

{{/* Standard labels; the selector labels never change across upgrades. */}}
{{- define "dv-pod.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dv-pod.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dv-pod.labels" -}}
{{ include "dv-pod.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* A hash of the values the pod is made from: a change rolls the pod. The
values of objects beside it (monitoring, the PodDisruptionBudget, the
NetworkPolicy) are left out, so turning a dashboard on never restarts the
validator. */}}
{{- define "dv-pod.podValuesChecksum" -}}
{{- omit .Values "monitoring" "podDisruptionBudget" "networkPolicy" | toJson | sha256sum -}}
{{- end -}}

{{/* The restricted Pod Security Standard, for every container. */}}
{{- define "dv-pod.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "dv-pod.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* An image reference from (list $ image): the registry replaced by
global.imageRegistry when set, and pinned by digest when one is given. */}}
{{- define "dv-pod.image" -}}
{{- $root := index . 0 -}}
{{- $image := index . 1 -}}
{{- $repository := $image.repository -}}
{{- with ($root.Values.global).imageRegistry -}}
{{- $repository = printf "%s/%s" . (regexReplaceAll "^[^/]*[.:][^/]*/" $repository "") -}}
{{- end -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository $image.tag -}}
{{- end -}}
{{- end -}}

{{- define "dv-pod.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The validator client's image: the override, or the pinned image of its type. */}}
{{- define "dv-pod.vcImage" -}}
{{- $vc := .Values.validatorClient -}}
{{- if $vc.image.repository -}}
{{- include "dv-pod.image" (list $ $vc.image) -}}
{{- else -}}
{{- include "dv-pod.image" (list $ (index $vc.images $vc.type)) -}}
{{- end -}}
{{- end -}}

{{/* The validator client's command line behind Charon's validator API on
localhost:3600, per client (flags from each client's DV-mode documentation). */}}
{{- define "dv-pod.vcCommand" -}}
{{- $vc := .Values.validatorClient -}}
{{- $net := .Values.network -}}
{{- /* With Charon's simulated beacon node (tests only) the VC goes through
dv-sidecar's simnet gateway, which fills the mock's gaps (simnet_gateway.rs). */}}
{{- $bn := .Values.charon.simnetBeaconMock | ternary "http://127.0.0.1:3601" "http://127.0.0.1:3600" -}}
{{- if eq $vc.type "lighthouse" }}
{{- /* --init-slashing-protection lets Lighthouse create its database on the
first start. It can never paper over a lost one: import-keys refuses to run
on a VC volume or client the key shares were not bound to (vc_volume.rs). */}}
command: [lighthouse]
args:
  - vc
  - --network={{ $net }}
  - --datadir=/vc-data
  - --beacon-nodes={{ $bn }}
  - --distributed
  - --disable-auto-discover
  - --init-slashing-protection
  - --suggested-fee-recipient={{ $vc.feeRecipient }}
  - --metrics
  - --metrics-address=0.0.0.0
  - --metrics-port=5064
  {{- if $vc.graffiti }}
  - {{ printf "--graffiti=%s" $vc.graffiti | quote }}
  {{- end }}
  {{- if .Values.charon.builderApi }}
  - --builder-proposals
  {{- end }}
{{- else if eq $vc.type "teku" }}
command: [/opt/teku/bin/teku]
args:
  - validator-client
  - --network={{ $net }}
  - --data-path=/vc-data/teku
  - --beacon-node-api-endpoint={{ $bn }}
  - --validator-keys=/vc-data/keys:/vc-data/passwords
  - --validators-keystore-locking-enabled=false
  - --Xobol-dvt-integration-enabled=true
  - --Xvalidator-client-beacon-api-executor-threads=50
  - --validators-proposer-default-fee-recipient={{ $vc.feeRecipient }}
  - --metrics-enabled=true
  - --metrics-interface=0.0.0.0
  - --metrics-port=8008
  - --metrics-host-allowlist=*
  {{- if $vc.graffiti }}
  - {{ printf "--validators-graffiti=%s" $vc.graffiti | quote }}
  {{- end }}
  {{- if .Values.charon.builderApi }}
  - --validators-builder-registration-default-enabled=true
  {{- end }}
{{- else if eq $vc.type "prysm" }}
command: [/app/cmd/validator/validator]
args:
  - --{{ $net }}
  - --accept-terms-of-use
  - --datadir=/vc-data/prysm
  - --wallet-dir=/vc-data/prysm-wallet
  - --wallet-password-file=/vc-data/prysm-wallet/password.txt
  - --beacon-rest-api-provider={{ $bn }}
  - --enable-beacon-rest-api
  - --distributed
  - --suggested-fee-recipient={{ $vc.feeRecipient }}
  - --monitoring-host=0.0.0.0
  - --monitoring-port=8081
  {{- if .Values.charon.simnetBeaconMock }}
  - --chain-config-file=/simnet/prysm-chain-config.yaml
  {{- end }}
  {{- if $vc.graffiti }}
  - {{ printf "--graffiti=%s" $vc.graffiti | quote }}
  {{- end }}
  {{- if .Values.charon.builderApi }}
  - --enable-builder
  {{- end }}
{{- else if eq $vc.type "nimbus" }}
command: [nimbus_validator_client]
args:
  - --beacon-node={{ $bn }}
  - --data-dir=/vc-data/nimbus
  - --validators-dir=/vc-data/validators
  - --secrets-dir=/vc-data/secrets
  - --distributed
  - --doppelganger-detection=false
  - --suggested-fee-recipient={{ $vc.feeRecipient }}
  - --metrics
  - --metrics-address=0.0.0.0
  - --metrics-port=8108
  {{- if $vc.graffiti }}
  - {{ printf "--graffiti=%s" $vc.graffiti | quote }}
  {{- end }}
  {{- if .Values.charon.builderApi }}
  - --payload-builder=true
  {{- end }}
{{- else if eq $vc.type "lodestar" }}
command: [node, /usr/app/packages/cli/bin/lodestar]
args:
  - validator
  - --network={{ $net }}
  - --dataDir=/vc-data/lodestar
  - --beaconNodes={{ $bn }}
  - --keystoresDir=/vc-data/keystores
  - --secretsDir=/vc-data/secrets
  - --distributed
  - --suggestedFeeRecipient={{ $vc.feeRecipient }}
  - --metrics
  - --metrics.address=0.0.0.0
  - --metrics.port=5064
  {{- if $vc.graffiti }}
  - {{ printf "--graffiti=%s" $vc.graffiti | quote }}
  {{- end }}
  {{- if .Values.charon.builderApi }}
  - --builder
  - --builder.selection=builderalways
  {{- end }}
{{- end }}
{{- end -}}

{{/* The image that imports a restored node's slashing history: the override,
or the validator client's. */}}
{{- define "dv-pod.slashingImportImage" -}}
{{- $image := .Values.validatorClient.slashingProtection.image -}}
{{- if $image.repository -}}
{{- include "dv-pod.image" (list $ $image) -}}
{{- else -}}
{{- include "dv-pod.vcImage" . -}}
{{- end -}}
{{- end -}}

{{/* Each client's own documented import of EIP-3076 interchange into its
database under the layout of dv-pod.vcCommand; the way back from the export
in src/validator_client.rs. Prysm's refuses to run without a database:
import-keys creates an empty one first (DV_SLASHING_IMPORT). */}}
{{- define "dv-pod.vcSlashingImportCommand" -}}
{{- $file := "/slashing-protection/slashing-protection.json" -}}
{{- $net := .Values.network -}}
{{- $type := .Values.validatorClient.type -}}
{{- if eq $type "lighthouse" }}
command: [lighthouse, --network={{ $net }}, --datadir=/vc-data, account, validator, slashing-protection, import, {{ $file }}]
{{- else if eq $type "teku" }}
command: [/opt/teku/bin/teku, slashing-protection, import, --data-path=/vc-data/teku, --from={{ $file }}]
{{- else if eq $type "prysm" }}
command: [/app/cmd/validator/validator, slashing-protection-history, import, --accept-terms-of-use, --datadir=/vc-data/prysm, --slashing-protection-json-file={{ $file }}]
{{- else if eq $type "nimbus" }}
command: [nimbus_beacon_node, --data-dir=/vc-data/nimbus, slashingdb, import, {{ $file }}, --validators-dir=/vc-data/validators]
{{- else if eq $type "lodestar" }}
command: [node, /usr/app/packages/cli/bin/lodestar, validator, slashing-protection, import, --network={{ $net }}, --dataDir=/vc-data/lodestar, --file={{ $file }}]
{{- end }}
{{- end -}}

{{/* The metrics port each validator client listens on (see dv-pod.vcCommand). */}}
{{- define "dv-pod.vcMetricsPort" -}}
{{- get (dict "lighthouse" 5064 "teku" 8008 "prysm" 8081 "nimbus" 8108 "lodestar" 5064) .Values.validatorClient.type -}}
{{- end -}}

{{/* Charon's beacon endpoints and fallbacks, as "a,b" strings. With auth
headers they are the beacon-proxy container's loopback ports, one per URL in
the same order (endpoints, then fallbacks), from dv-pod.beaconProxyFirstPort. */}}
{{- define "dv-pod.beaconProxyFirstPort" -}}15052{{- end }}
{{- define "dv-pod.charonBeaconEndpoints" -}}
{{- $c := .Values.charon -}}
{{- if $c.beaconNodeHeaders.secretName -}}
{{- $ports := list -}}
{{- range $i, $_ := $c.beaconNodeEndpoints -}}
{{- $ports = append $ports (printf "http://127.0.0.1:%d" (add (include "dv-pod.beaconProxyFirstPort" $ | int) $i)) -}}
{{- end -}}
{{- join "," $ports -}}
{{- else -}}
{{- join "," $c.beaconNodeEndpoints -}}
{{- end -}}
{{- end }}
{{- define "dv-pod.charonFallbackEndpoints" -}}
{{- $c := .Values.charon -}}
{{- if $c.beaconNodeHeaders.secretName -}}
{{- $first := add (include "dv-pod.beaconProxyFirstPort" .| int) (len $c.beaconNodeEndpoints) -}}
{{- $ports := list -}}
{{- range $i, $_ := $c.fallbackBeaconNodeEndpoints -}}
{{- $ports = append $ports (printf "http://127.0.0.1:%d" (add $first $i)) -}}
{{- end -}}
{{- join "," $ports -}}
{{- else -}}
{{- join "," $c.fallbackBeaconNodeEndpoints -}}
{{- end -}}
{{- end }}
