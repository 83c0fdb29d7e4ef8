package store_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/meshfed/meshfed/federation/store"
)

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{
		"clusters/eu-1",
		"presence/eu-1/gw-0",
		"exports/eu-1/demo/echo",
		"bundles/example.org",
		"policies/demo/echo/failover",
		"bundle-endpoints/example.org",
		"bundle-endpoints/a/b",
		store.ElectionPrefix + "694d8f0a1b2c3d4e",
		"",
		"clusters/",
		"clusters/a/b",
		"presence/eu-1",
		"exports/eu-1/demo",
		"exports/eu-1/demo/echo/x",
		"exports///",
		"presence//",
		"policies/demo//failover",
		store.Prefix + "clusters/eu-1",
		"clusters",
		"unknown/x",
		"Clusters/eu-1",
	} {
		f.Add(s)
	}
	// What each kind's keys look like: prefix, then parts names joined by "/".
	layout := map[store.Kind]struct {
		prefix string
		parts  int
	}{
		store.KindCluster:        {"clusters/", 1},
		store.KindPresence:       {"presence/", 2},
		store.KindExport:         {"exports/", 3},
		store.KindBundle:         {"bundles/", 1},
		store.KindPolicy:         {"policies/", 3},
		store.KindBundleEndpoint: {"bundle-endpoints/", 1},
	}
	f.Fuzz(func(t *testing.T, key string) {
		kind, name, err := store.ParseKey(key)
		if err != nil {
			if kind != store.KindUnknown || name != "" {
				t.Fatalf("ParseKey(%q) = %v, %q with error %v", key, kind, name, err)
			}
			if !strings.HasPrefix(err.Error(), "store: ") || !strings.Contains(err.Error(), strconv.Quote(key)) {
				t.Fatalf("ParseKey(%q) error %q does not start with the package or name the key", key, err)
			}
			return
		}
		if kind == store.KindUnknown || name == "" {
			t.Fatalf("ParseKey(%q) = %v, %q, nil", key, kind, name)
		}
		if kind.String() == "unknown" {
			t.Fatalf("ParseKey(%q) returned kind %d without a name", key, kind)
		}
		l, ok := layout[kind]
		if !ok {
			t.Fatalf("ParseKey(%q) returned unexpected kind %v", key, kind)
		}
		if key != l.prefix+name {
			t.Fatalf("ParseKey(%q) = %v, %q: key is not %q + name", key, kind, name, l.prefix)
		}
		parts := strings.Split(name, "/")
		if len(parts) != l.parts {
			t.Fatalf("ParseKey(%q) = %v, %q: %d parts, want %d", key, kind, name, len(parts), l.parts)
		}
		for i, p := range parts {
			if p == "" {
				t.Fatalf("ParseKey(%q) = %v, %q: part %d is empty", key, kind, name, i)
			}
		}
		// Keys are relative to store.Prefix; election keys are not objects.
		if strings.HasPrefix(key, store.ElectionPrefix) || strings.HasPrefix(key, store.Prefix) {
			t.Fatalf("ParseKey(%q) accepted a key that is not an object key", key)
		}
	})
}
