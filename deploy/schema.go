package deploy

// Patterns of values.schema.json. They mirror [Values.Validate] where JSON
// Schema can, and also keep quotes and backslashes out of every string the
// chart inserts into a config file. Checks across fields (the import range
// against the inbound port, requests against limits) are Validate's alone.
const (
	dnsLabelPattern     = `^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`
	dnsSubdomainPattern = `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	addressPattern      = `^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}$`
	spiffeIDPattern     = `^spiffe://[a-z0-9._-]+/[^\s"'\\]+$`
	imagePattern        = `^[^\s"'\\]+$`
	// A qualified name (label key, annotation name): an optional DNS
	// subdomain prefix and a name. Validate also checks the lengths.
	qualifiedNamePattern = `^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`
	// An annotation name is a qualified name in any case.
	annotationNamePattern = `^([A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`
	labelValuePattern     = `^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$`
)

// valuesSchema is values.schema.json: Helm refuses values that do not
// match it, at install, upgrade, template and lint.
func valuesSchema() map[string]any {
	str := func(desc, pattern string) map[string]any {
		s := map[string]any{"type": "string", "description": desc}
		if pattern != "" {
			s["pattern"] = pattern
		}
		return s
	}
	integer := func(desc string, minimum, maximum int) map[string]any {
		return map[string]any{"type": "integer", "minimum": minimum, "maximum": maximum, "description": desc}
	}
	object := func(props map[string]any, required ...string) map[string]any {
		o := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
		if len(required) > 0 {
			o["required"] = required
		}
		return o
	}
	resources := map[string]any{
		"type":        "object",
		"description": "Kubernetes ResourceRequirements (requests, limits).",
		"properties": map[string]any{
			"requests": map[string]any{"type": "object"},
			"limits":   map[string]any{"type": "object"},
		},
		"additionalProperties": false,
	}
	annotations := func(desc string) map[string]any {
		return map[string]any{
			"type": "object", "description": desc,
			"propertyNames":        map[string]any{"pattern": annotationNamePattern},
			"additionalProperties": map[string]any{"type": "string"},
		}
	}
	// Pod labels: label keys and values, none of the chart's own (a
	// false schema refuses a key, and helm's message names it).
	podLabels := func(desc string) map[string]any {
		refused := map[string]any{}
		for _, k := range chartLabels {
			refused[k] = false
		}
		return map[string]any{
			"type": "object", "description": desc,
			"properties":           refused,
			"propertyNames":        map[string]any{"pattern": qualifiedNamePattern},
			"additionalProperties": map[string]any{"type": "string", "maxLength": 63, "pattern": labelValuePattern},
		}
	}
	s := object(map[string]any{
		"cluster":         str(valueDocs["cluster"], dnsLabelPattern),
		"image":           str(valueDocs["image"], imagePattern),
		"imagePullPolicy": map[string]any{"enum": []string{"Always", "IfNotPresent", "Never"}, "description": valueDocs["imagePullPolicy"]},
		"controlPlane": object(map[string]any{
			"address":  str(valueDocs["controlPlane.address"], addressPattern),
			"ca":       str(valueDocs["controlPlane.ca"], `-----BEGIN CERTIFICATE-----`),
			"serverID": str(valueDocs["controlPlane.serverID"], spiffeIDPattern),
		}, "address", "ca", "serverID"),
		"gateway": object(map[string]any{
			"name":        str(valueDocs["gateway.name"], dnsLabelPattern),
			"replicas":    integer(valueDocs["gateway.replicas"], 1, 1000),
			"inboundPort": integer(valueDocs["gateway.inboundPort"], 1, 65535),
			"advertise": map[string]any{
				"type": "array", "maxItems": maxAdvertise, "items": str("", addressPattern),
				"description": valueDocs["gateway.advertise"],
			},
			"service": object(map[string]any{
				"type":        map[string]any{"enum": []string{"LoadBalancer", "NodePort", "ClusterIP"}, "description": valueDocs["gateway.service.type"]},
				"annotations": annotations(valueDocs["gateway.service.annotations"]),
			}),
			"identitySecret": str(valueDocs["gateway.identitySecret"], dnsSubdomainPattern),
			"resources":      resources,
			"serviceAccount": object(map[string]any{
				"annotations": annotations(valueDocs["gateway.serviceAccount.annotations"]),
			}),
			"podLabels":      podLabels(valueDocs["gateway.podLabels"]),
			"podAnnotations": annotations(valueDocs["gateway.podAnnotations"]),
		}),
		"agent": object(map[string]any{
			"replicas":         integer(valueDocs["agent.replicas"], 1, 1000),
			"createNamespaces": map[string]any{"type": "boolean", "description": valueDocs["agent.createNamespaces"]},
			"identitySecret":   str(valueDocs["agent.identitySecret"], dnsSubdomainPattern),
			"resources":        resources,
			"serviceAccount": object(map[string]any{
				"annotations": annotations(valueDocs["agent.serviceAccount.annotations"]),
			}),
			"podLabels":      podLabels(valueDocs["agent.podLabels"]),
			"podAnnotations": annotations(valueDocs["agent.podAnnotations"]),
		}),
		"importPorts": object(map[string]any{
			"first": integer(valueDocs["importPorts.first"], 1024, 65535),
			"last":  integer(valueDocs["importPorts.last"], 1024, 65535),
		}, "first", "last"),
		"clusterDomain": str(valueDocs["clusterDomain"], dnsSubdomainPattern),
	}, "cluster", "controlPlane")
	s["$schema"] = "https://json-schema.org/draft-07/schema#"
	s["title"] = "meshfed chart values"
	return s
}
