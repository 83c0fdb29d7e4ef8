package store_test

import (
	"slices"
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
		"drains/east/_/_",
		"drains/east/demo/echo",
		"drains/east/_/echo",
		"drains/east/demo/_",
		"drains/east//",
		"drains/_/_/_",
		"drills/20261122-211500-kill-east", // not a view object: an error
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
		store.KindDrain:          {"drains/", 3},
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
		if kind == store.KindDrain {
			checkDrainName(t, key, name)
			return
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

// checkDrainName: a drain's name is its key with "_/_" (both or neither)
// standing for the empty namespace and name of a cluster-wide drain.
func checkDrainName(t *testing.T, key, name string) {
	t.Helper()
	rest, ok := strings.CutPrefix(key, "drains/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 || slices.Contains(parts, "") {
		t.Fatalf("ParseKey(%q) = drain %q: want drains/ and 3 non-empty parts", key, name)
	}
	want := rest
	switch {
	case parts[1] == store.ClusterWide && parts[2] == store.ClusterWide:
		want = parts[0] + "//"
	case parts[1] == store.ClusterWide || parts[2] == store.ClusterWide:
		t.Fatalf("ParseKey(%q) = drain %q: accepted %q for only one of namespace and name", key, name, store.ClusterWide)
	}
	if name != want {
		t.Fatalf("ParseKey(%q) = drain %q, want %q", key, name, want)
	}
}
