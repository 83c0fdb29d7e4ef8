// Package deploy is the single source of truth of meshfed's Kubernetes
// deployment: what runs in a cluster (the gateway and the agent), with
// which rights, configuration and identities. [Objects] renders it for one
// set of [Values]; everything else is generated from it:
//
//   - deploy/manifests/meshfed.yaml, the plain manifests for default values
//     (with placeholders to replace);
//   - deploy/helm/meshfed, a Helm chart whose values are [Values]' JSON
//     names (values.yaml, validated by values.schema.json);
//   - `meshfed install`, which applies [Objects] with server-side apply.
//
// Run `go generate ./deploy` (or `make deploy`) after changing the package;
// a test fails while the generated files are out of date, and another
// renders the chart with the real helm and checks that it yields exactly
// [Objects] for the same values.
//
// The chart's templates are made by rendering the objects with placeholder
// values (a distinct token or number per value) and replacing each by its
// Helm expression: a scalar by {{ .Values.x }}, a map (resources,
// annotations) by toYaml, an optional line by a with block, and a map
// whose entries join the chart's own (pod labels) by a with block in place
// of one entry. The lines a
// boolean adds are found by rendering with it off and on, and wrapped in
// an if. The generator fails if a placeholder is left over or unused, so
// a new value cannot be forgotten; see chart.go.
package deploy

//go:generate go run ./gen
