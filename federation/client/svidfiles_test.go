package client

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshfed/meshfed/internal/devca"
)

// TestSVIDFilesReload checks a rotated SVID is picked up, and a broken
// rotation keeps the last good one.
func TestSVIDFilesReload(t *testing.T) {
	t.Parallel()
	td := spiffeid.RequireTrustDomainFromString("east.test")
	ca, err := devca.New(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "svid.pem"), filepath.Join(dir, "svid-key.pem")
	write := func(path string) spiffeid.ID {
		id := spiffeid.RequireFromPath(td, path)
		svid, err := ca.IssueSVID(id, time.Hour, devca.SVIDOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := devca.WriteSVID(cert, key, svid); err != nil {
			t.Fatal(err)
		}
		return id
	}
	first := write("/meshfed/gateway/east/agent")
	s, err := loadSVIDFiles(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	got := func() spiffeid.ID {
		svid, err := s.GetX509SVID()
		if err != nil {
			t.Fatal(err)
		}
		return svid.ID
	}
	if got() != first {
		t.Fatalf("first SVID %s", got())
	}
	// Rotation: same ID path here would hide a missed reload; use another.
	second := write("/meshfed/gateway/east/agent-2")
	future := time.Now().Add(time.Second)
	os.Chtimes(cert, future, future)
	if got() != second {
		t.Fatalf("after rotation: %s, want %s", got(), second)
	}
	// A broken rotation keeps the last good SVID.
	if err := os.WriteFile(key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got() != second {
		t.Fatalf("after a bad rotation: %s, want the last good %s", got(), second)
	}
	if _, err := loadSVIDFiles(filepath.Join(dir, "missing.pem"), key); err == nil {
		t.Fatal("a missing file was accepted at start")
	}
}
