{{- define "polyvisor.labels" -}}
app.kubernetes.io/name: polyvisor
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "polyvisor.selector" -}}
app.kubernetes.io/name: polyvisor
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "polyvisor.credentialsNamespace" -}}
{{ .Values.credentialsNamespace | default .Release.Namespace }}
{{- end -}}
