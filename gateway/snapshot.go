package gateway

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"google.golang.org/protobuf/proto"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// MaxSnapshotBytes caps the snapshot file read at start.
const MaxSnapshotBytes = 512 << 20

// snapshotLocked returns the state as a watch response holding one full
// snapshot, sorted so equal states give equal files. stateMu must be
// held.
func (g *Gateway) snapshotLocked() *meshfedv1.WatchResponse {
	st := g.state
	snap := &meshfedv1.Snapshot{}
	for _, k := range sortedKeys(st.Clusters) {
		snap.Clusters = append(snap.Clusters, st.Clusters[k])
	}
	for _, k := range sortedKeys(st.Presence) {
		snap.Presence = append(snap.Presence, st.Presence[k])
	}
	for _, k := range sortedKeys(st.Imports) {
		snap.Imports = append(snap.Imports, st.Imports[k])
	}
	for _, k := range sortedKeys(st.Bundles) {
		snap.Bundles = append(snap.Bundles, st.Bundles[k])
	}
	for _, k := range sortedKeys(st.Policies) {
		snap.Policies = append(snap.Policies, st.Policies[k])
	}
	for _, k := range sortedKeys(st.Drains) {
		snap.Drains = append(snap.Drains, st.Drains[k])
	}
	return &meshfedv1.WatchResponse{Version: st.Version, Snapshot: snap}
}

func sortedKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// saveSnapshot writes the state to DATA_DIR/snapshot.pb atomically
// (temporary file, fsync, rename), unless nothing was ever received.
func (g *Gateway) saveSnapshot() error {
	g.stateMu.Lock()
	if g.state.Version == 0 {
		g.stateMu.Unlock()
		return nil
	}
	data, err := proto.Marshal(g.snapshotLocked())
	g.stateMu.Unlock()
	if err != nil {
		return err
	}
	path := g.snapshotPath()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".snapshot-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// loadSnapshot applies the saved snapshot, if any, so the gateway serves
// before (or without) the control plane.
func (g *Gateway) loadSnapshot() error {
	f, err := os.Open(g.snapshotPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSnapshotBytes+1))
	if err != nil {
		return err
	}
	if len(data) > MaxSnapshotBytes {
		return fmt.Errorf("larger than %d bytes", MaxSnapshotBytes)
	}
	var resp meshfedv1.WatchResponse
	if err := proto.Unmarshal(data, &resp); err != nil {
		return fmt.Errorf("not a snapshot: %w", err)
	}
	if resp.GetSnapshot() == nil {
		return errors.New("holds no snapshot")
	}
	g.stateMu.Lock()
	err = g.state.Apply(&resp)
	g.stateMu.Unlock()
	if err != nil {
		return err
	}
	g.update("disk")
	g.log.Info("serving from the saved snapshot until the control plane answers", "version", resp.GetVersion(), "path", g.snapshotPath())
	return nil
}
