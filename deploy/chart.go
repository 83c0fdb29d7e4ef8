package deploy

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// A placeholder stands for one scalar value in the objects rendered for
// the chart; it is replaced by its Helm expression. Strings are quoted
// where they are a whole YAML scalar and inserted raw inside a larger
// string (a flag, a config file), where values.schema.json keeps them
// free of quotes and backslashes.
type placeholder struct {
	token string
	expr  string
	str   bool
}

// A block placeholder stands for a map value (resources, annotations):
// the key above the token and everything under it become the template.
type blockPlaceholder struct {
	token string
	key   string                     // the YAML key holding the map
	tmpl  func(indent string) string // replaces the key and its map
}

// A line placeholder stands for an optional line of a config file.
type linePlaceholder struct {
	token string
	tmpl  func(indent string) string // replaces the whole line
}

// Placeholder numbers are far outside any port or replica count, so they
// cannot occur in a rendering by chance.
const (
	phGatewayReplicas = 9990001 + iota
	phInboundPort
	phAgentReplicas
	phImportFirst
	phImportLast
)

var scalarPlaceholders = []placeholder{
	{"__MESHFED_CLUSTER__", ".Values.cluster", true},
	{"__MESHFED_NAMESPACE__", ".Release.Namespace", true},
	{"__MESHFED_IMAGE__", ".Values.image", true},
	{"__MESHFED_PULL_POLICY__", ".Values.imagePullPolicy", true},
	{"__MESHFED_CP_ADDRESS__", ".Values.controlPlane.address", true},
	{"__MESHFED_CP_CA__", ".Values.controlPlane.ca", true},
	{"__MESHFED_CP_SERVER_ID__", ".Values.controlPlane.serverID", true},
	{"__MESHFED_GATEWAY_NAME__", ".Values.gateway.name", true},
	{"__MESHFED_SERVICE_TYPE__", ".Values.gateway.service.type", true},
	{"__MESHFED_GATEWAY_SECRET__", ".Values.gateway.identitySecret", true},
	{"__MESHFED_AGENT_SECRET__", ".Values.agent.identitySecret", true},
	{"__MESHFED_CLUSTER_DOMAIN__", ".Values.clusterDomain", true},
	{fmt.Sprint(phGatewayReplicas), ".Values.gateway.replicas", false},
	{fmt.Sprint(phInboundPort), ".Values.gateway.inboundPort", false},
	{fmt.Sprint(phAgentReplicas), ".Values.agent.replicas", false},
	{fmt.Sprint(phImportFirst), ".Values.importPorts.first", false},
	{fmt.Sprint(phImportLast), ".Values.importPorts.last", false},
}

var blockPlaceholders = []blockPlaceholder{
	{"__MESHFED_GATEWAY_RESOURCES__", "resources", toYAMLBlock("resources", ".Values.gateway.resources")},
	{"__MESHFED_AGENT_RESOURCES__", "resources", toYAMLBlock("resources", ".Values.agent.resources")},
	{"__MESHFED_SERVICE_ANNOTATIONS__", "annotations", withBlock("annotations", ".Values.gateway.service.annotations")},
	{"__MESHFED_GATEWAY_SA_ANNOTATIONS__", "annotations", withBlock("annotations", ".Values.gateway.serviceAccount.annotations")},
	{"__MESHFED_AGENT_SA_ANNOTATIONS__", "annotations", withBlock("annotations", ".Values.agent.serviceAccount.annotations")},
	{"__MESHFED_GATEWAY_POD_ANNOTATIONS__", "annotations", withBlock("annotations", ".Values.gateway.podAnnotations")},
	{"__MESHFED_AGENT_POD_ANNOTATIONS__", "annotations", withBlock("annotations", ".Values.agent.podAnnotations")},
}

var linePlaceholders = []linePlaceholder{
	{"__MESHFED_ADVERTISE__", func(ind string) string {
		return ind + "{{- with .Values.gateway.advertise }}\n" +
			ind + "advertise: {{ toJson . }}\n" +
			ind + "{{- end }}"
	}},
	// Pod labels share their map with the chart's own labels: the token is
	// one entry among them, replaced by the value's entries.
	{"__MESHFED_GATEWAY_POD_LABELS__", withEntries(".Values.gateway.podLabels")},
	{"__MESHFED_AGENT_POD_LABELS__", withEntries(".Values.agent.podLabels")},
}

// conditionalValue is the one boolean value; the lines it adds are found
// by rendering with it off and on.
const conditionalValue = ".Values.agent.createNamespaces"

// toYAMLBlock renders key: and the map under it, even when empty ({}),
// as Go renders a struct.
func toYAMLBlock(key, expr string) func(string) string {
	return func(ind string) string {
		return fmt.Sprintf("%s%s: {{- toYaml %s | nindent %d }}", ind, key, expr, len(ind)+2)
	}
}

// withBlock renders key: and the map under it only when it is not empty,
// as Go leaves out an empty map marked omitempty.
func withBlock(key, expr string) func(string) string {
	return func(ind string) string {
		return fmt.Sprintf("%s{{- with %s }}\n%s%s: {{- toYaml . | nindent %d }}\n%s{{- end }}",
			ind, expr, ind, key, len(ind)+2, ind)
	}
}

// withEntries renders the entries of a map value in place of one entry of
// a map holding others too, when it is not empty. Validate keeps the
// value's keys apart from the others', so no key can appear twice.
func withEntries(expr string) func(string) string {
	return func(ind string) string {
		return fmt.Sprintf("%s{{- with %s }}\n%s{{- toYaml . | nindent %d }}\n%s{{- end }}",
			ind, expr, ind, len(ind), ind)
	}
}

// placeholderValues are values whose every field is a placeholder.
func placeholderValues() Values {
	one := resource.MustParse("1")
	return Values{
		Cluster:         "__MESHFED_CLUSTER__",
		Namespace:       "__MESHFED_NAMESPACE__",
		Image:           "__MESHFED_IMAGE__",
		ImagePullPolicy: "__MESHFED_PULL_POLICY__",
		ControlPlane: ControlPlane{
			Address:  "__MESHFED_CP_ADDRESS__",
			CA:       "__MESHFED_CP_CA__",
			ServerID: "__MESHFED_CP_SERVER_ID__",
		},
		Gateway: Gateway{
			Name:        "__MESHFED_GATEWAY_NAME__",
			Replicas:    phGatewayReplicas,
			InboundPort: phInboundPort,
			Advertise:   []string{"__MESHFED_ADVERTISE__"},
			Service: Service{
				Type:        "__MESHFED_SERVICE_TYPE__",
				Annotations: placeholderMap("__MESHFED_SERVICE_ANNOTATIONS__"),
			},
			IdentitySecret: "__MESHFED_GATEWAY_SECRET__",
			Resources:      placeholderResources("__MESHFED_GATEWAY_RESOURCES__", one),
			ServiceAccount: ServiceAccount{Annotations: placeholderMap("__MESHFED_GATEWAY_SA_ANNOTATIONS__")},
			PodLabels:      placeholderMap("__MESHFED_GATEWAY_POD_LABELS__"),
			PodAnnotations: placeholderMap("__MESHFED_GATEWAY_POD_ANNOTATIONS__"),
		},
		Agent: Agent{
			Replicas:       phAgentReplicas,
			IdentitySecret: "__MESHFED_AGENT_SECRET__",
			Resources:      placeholderResources("__MESHFED_AGENT_RESOURCES__", one),
			ServiceAccount: ServiceAccount{Annotations: placeholderMap("__MESHFED_AGENT_SA_ANNOTATIONS__")},
			PodLabels:      placeholderMap("__MESHFED_AGENT_POD_LABELS__"),
			PodAnnotations: placeholderMap("__MESHFED_AGENT_POD_ANNOTATIONS__"),
		},
		ImportPorts:   PortRange{First: phImportFirst, Last: phImportLast},
		ClusterDomain: "__MESHFED_CLUSTER_DOMAIN__",
	}
}

// leftover matches what no rendered template may still hold.
var leftover = regexp.MustCompile(`__MESHFED_[A-Z_]+__|999000[0-9]`)

// chartTemplates returns templates/*.yaml: every object but the Namespace
// (Helm's --create-namespace makes it) and the CRDs (in crds/).
func chartTemplates() (map[string][]byte, error) {
	off := placeholderValues()
	on := off
	on.Agent.CreateNamespaces = true
	offObjs, err := render(off)
	if err != nil {
		return nil, err
	}
	onObjs, err := render(on)
	if err != nil {
		return nil, err
	}
	if len(offObjs) != len(onObjs) {
		return nil, fmt.Errorf("deploy: chart: %s adds or removes objects; only lines may depend on it", conditionalValue)
	}
	used := map[string]int{}
	files := map[string][]byte{}
	for i, obj := range offObjs {
		if obj.GetKind() == "Namespace" || obj.GetKind() == "CustomResourceDefinition" {
			continue
		}
		a, err := templateLines(obj, used)
		if err != nil {
			return nil, err
		}
		b, err := templateLines(onObjs[i], nil)
		if err != nil {
			return nil, err
		}
		text := strings.Join(mergeConditional(a, b, conditionalValue), "\n") + "\n"
		if m := leftover.FindString(text); m != "" {
			return nil, fmt.Errorf("deploy: chart: %s still holds placeholder %s: give it a Helm expression in chart.go", objectRef(obj), m)
		}
		files["templates/"+fileName(obj)] = []byte(generatedHeader + text)
	}
	for _, p := range scalarPlaceholders {
		if used[p.token] == 0 {
			return nil, fmt.Errorf("deploy: chart: placeholder %s (%s) appears in no object: remove it from chart.go", p.token, p.expr)
		}
	}
	for _, p := range blockPlaceholders {
		if used[p.token] == 0 {
			return nil, fmt.Errorf("deploy: chart: placeholder %s appears in no object: remove it from chart.go", p.token)
		}
	}
	for _, p := range linePlaceholders {
		if used[p.token] == 0 {
			return nil, fmt.Errorf("deploy: chart: placeholder %s appears in no object: remove it from chart.go", p.token)
		}
	}
	return files, nil
}

const generatedHeader = "# Generated by `go generate ./deploy` from deploy/*.go. DO NOT EDIT.\n"

func fileName(obj *unstructured.Unstructured) string {
	return strings.ToLower(obj.GetKind()) + "-" + obj.GetName() + ".yaml"
}

func objectRef(obj *unstructured.Unstructured) string {
	return strings.ToLower(obj.GetKind()) + "/" + obj.GetName()
}

// templateLines renders obj as YAML and replaces its placeholders, counting
// them in used (if not nil).
func templateLines(obj *unstructured.Unstructured, used map[string]int) ([]string, error) {
	data, err := yaml.Marshal(obj.Object)
	if err != nil {
		return nil, fmt.Errorf("deploy: chart: %s: %w", objectRef(obj), err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	count := func(token string) {
		if used != nil {
			used[token]++
		}
	}
	for _, p := range blockPlaceholders {
		for {
			i := indexContaining(lines, p.token)
			if i < 0 {
				break
			}
			count(p.token)
			if lines, err = replaceBlock(lines, i, p); err != nil {
				return nil, fmt.Errorf("deploy: chart: %s: %w", objectRef(obj), err)
			}
		}
	}
	for _, p := range linePlaceholders {
		for {
			i := indexContaining(lines, p.token)
			if i < 0 {
				break
			}
			count(p.token)
			lines[i] = p.tmpl(indentOf(lines[i]))
		}
	}
	for i, line := range lines {
		for _, p := range scalarPlaceholders {
			if !strings.Contains(line, p.token) {
				continue
			}
			count(p.token)
			if p.str && (strings.HasSuffix(line, ": "+p.token) || strings.HasSuffix(line, "- "+p.token)) {
				line = strings.TrimSuffix(line, p.token) + "{{ " + p.expr + " | quote }}"
			}
			line = strings.ReplaceAll(line, p.token, "{{ "+p.expr+" }}")
		}
		lines[i] = line
	}
	return lines, nil
}

func indexContaining(lines []string, token string) int {
	for i, l := range lines {
		if strings.Contains(l, token) {
			return i
		}
	}
	return -1
}

func indentOf(line string) string {
	return line[:len(line)-len(strings.TrimLeft(line, " "))]
}

// replaceBlock replaces the key above line i, and the map under it, by
// p's template. The map must hold nothing but the placeholder.
func replaceBlock(lines []string, i int, p blockPlaceholder) ([]string, error) {
	cur := len(indentOf(lines[i]))
	for j := i - 1; j >= 0; j-- {
		ind := len(indentOf(lines[j]))
		if ind >= cur {
			return nil, fmt.Errorf("placeholder %s shares its map with %q: it must be alone under %q", p.token, strings.TrimSpace(lines[j]), p.key)
		}
		cur = ind
		if strings.TrimSpace(lines[j]) != p.key+":" {
			continue
		}
		if i+1 < len(lines) && len(indentOf(lines[i+1])) > ind {
			return nil, fmt.Errorf("placeholder %s is followed by %q under %q: it must be alone", p.token, strings.TrimSpace(lines[i+1]), p.key)
		}
		out := append([]string{}, lines[:j]...)
		out = append(out, p.tmpl(indentOf(lines[j])))
		return append(out, lines[i+1:]...), nil
	}
	return nil, fmt.Errorf("placeholder %s is not under a key %q", p.token, p.key)
}

// mergeConditional merges two renderings that differ in the value cond:
// lines only in on are wrapped in {{- if cond }}, lines only in off in
// {{- if not cond }}, and a change in {{- if }} ... {{- else }}.
func mergeConditional(off, on []string, cond string) []string {
	// Longest common subsequence, by dynamic programming; files are small.
	n, m := len(off), len(on)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if off[i] == on[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out, onlyOff, onlyOn []string
	flush := func() {
		if len(onlyOff) == 0 && len(onlyOn) == 0 {
			return
		}
		ind := ""
		if len(onlyOn) > 0 {
			ind = indentOf(onlyOn[0])
		} else {
			ind = indentOf(onlyOff[0])
		}
		switch {
		case len(onlyOff) == 0:
			out = append(out, ind+"{{- if "+cond+" }}")
			out = append(out, onlyOn...)
		case len(onlyOn) == 0:
			out = append(out, ind+"{{- if not "+cond+" }}")
			out = append(out, onlyOff...)
		default:
			out = append(out, ind+"{{- if "+cond+" }}")
			out = append(out, onlyOn...)
			out = append(out, ind+"{{- else }}")
			out = append(out, onlyOff...)
		}
		out = append(out, ind+"{{- end }}")
		onlyOff, onlyOn = nil, nil
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && off[i] == on[j]:
			flush()
			out = append(out, off[i])
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			onlyOn = append(onlyOn, on[j])
			j++
		default:
			onlyOff = append(onlyOff, off[i])
			i++
		}
	}
	flush()
	return out
}

func placeholderResources(token string, q resource.Quantity) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceName(token): q}}
}

func placeholderMap(token string) map[string]string { return map[string]string{token: ""} }
