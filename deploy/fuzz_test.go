package deploy_test

import (
	"errors"
	"testing"

	"github.com/meshfed/meshfed/deploy"
)

// FuzzValues feeds values files and --set expressions to the parsers:
// they never panic, and values that validate always render.
func FuzzValues(f *testing.F) {
	f.Add([]byte("cluster: east\ncontrolPlane:\n  address: cp:1\n  ca: \"\"\n"), "gateway.replicas=2")
	f.Add([]byte("gateway:\n  advertise: [a:1]\n  service: {annotations: {a: b}}\n"), `gateway.service.annotations.a\.b/c=d`)
	f.Add([]byte("importPorts: {first: 1, last: 0}\nagent: {resources: {requests: {cpu: 1}}}\n"), "gateway.advertise={x:1,y:2}")
	f.Add([]byte("{}"), "agent.createNamespaces=true")
	f.Add([]byte("gateway:\n  podLabels: {a: b}\n  serviceAccount: {annotations: {x/y: z}}\nagent: {podAnnotations: {a: b}}\n"), `gateway.podLabels.app\.kubernetes\.io/name=x`)
	f.Fuzz(func(t *testing.T, data []byte, set string) {
		v, err := deploy.ParseValues(data)
		if err != nil {
			return
		}
		_ = v.Set(set)
		v.ControlPlane.CA = exampleCA
		err = v.Validate()
		if err != nil {
			if !errors.Is(err, deploy.ErrInvalid) {
				t.Fatalf("Validate: %v is not ErrInvalid", err)
			}
			return
		}
		objs, err := deploy.Objects(v)
		if err != nil {
			t.Fatalf("valid values do not render: %v", err)
		}
		for _, o := range objs {
			if o.GetName() == "" || o.GetKind() == "" {
				t.Fatalf("object without kind or name: %v", o.Object)
			}
		}
	})
}
