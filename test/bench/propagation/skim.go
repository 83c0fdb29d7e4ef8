package main

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/meshfed/meshfed/federation/client"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Skim watchers stand in for gateways that run on their own machines: the
// benchmark machine has 2 CPUs for the control plane and 100 simulated
// gateways, and fully decoding every import in 100 watchers there measures
// the watchers' CPU, not the control plane's delivery. A skim watcher
// takes the clock reading as the response's bytes arrive, then walks the
// wire format (protowire) for the import names and ready counts it checks,
// without building messages. `-watchers full` uses client.Follow instead.

// rawCodec receives responses as bytes and marshals requests as protobuf.
type rawCodec struct{ proto encoding.CodecV2 }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	*b = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return grpcproto.Name }

// skimWatch is a skim watcher (see above).
func skimWatch(rec *recorder, burst int) func(ctx context.Context, conn *client.Conn, w int) error {
	codec := rawCodec{proto: encoding.GetCodecV2(grpcproto.Name)}
	desc := &grpc.StreamDesc{StreamName: "Watch", ServerStreams: true}
	return func(ctx context.Context, conn *client.Conn, w int) error {
		return skimStream(ctx, conn, codec, desc, rec, w, burst)
	}
}

func skimStream(ctx context.Context, conn *client.Conn, codec rawCodec, desc *grpc.StreamDesc, rec *recorder, w, burst int) error {
	stream, err := conn.NewStream(ctx, desc, meshfedv1.GatewayService_Watch_FullMethodName, grpc.ForceCodecV2(codec))
	if err != nil {
		return err
	}
	if err := stream.SendMsg(&meshfedv1.WatchRequest{Cluster: clusterName(w)}); err != nil {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	for {
		var b []byte
		if err := stream.RecvMsg(&b); err != nil {
			return err
		}
		t := rec.now()
		if err := skimResponse(b, func(snapshot bool) {
			if snapshot && rec.synced[w].Swap(true) {
				rec.resyncs.Add(1)
			}
		}, func(ns, name, owner string, ready uint32, found bool) {
			i, ok := exportIndex(ns, name)
			if !ok || i >= rec.exports || !found {
				return
			}
			if owner == clusterName(ownerOf(i, burst, rec.watchers)) && ready == wantReady(i) {
				rec.saw(w, i, t)
			}
		}, func(i int) string { return clusterName(ownerOf(i, burst, rec.watchers)) }); err != nil {
			return err
		}
	}
}

var errSkim = errors.New("skim: malformed response")

// fields walks the top-level fields of a message.
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, u uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errSkim
		}
		b = b[n:]
		var v []byte
		var u uint64
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			u, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return errSkim
		}
		b = b[n:]
		if err := fn(num, typ, v, u); err != nil {
			return err
		}
	}
	return nil
}

// skimResponse finds, in a WatchResponse, every import (in the snapshot or
// in changes) and reports its namespace, name and the ready count of the
// cluster owner(export index) names.
func skimResponse(b []byte, onSnapshot func(bool), onImport func(ns, name, owner string, ready uint32, found bool), ownerOf func(int) string) error {
	imp := func(v []byte) error {
		var ns, name string
		var clusters [][]byte
		if err := fields(v, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
			switch num {
			case 1:
				ns = string(v)
			case 2:
				name = string(v)
			case 4:
				clusters = append(clusters, v)
			}
			return nil
		}); err != nil {
			return err
		}
		i, ok := exportIndex(ns, name)
		if !ok {
			return nil
		}
		owner := ownerOf(i)
		for _, c := range clusters {
			var cluster string
			var ready uint64
			if err := fields(c, func(num protowire.Number, _ protowire.Type, v []byte, u uint64) error {
				switch num {
				case 1:
					cluster = string(v)
				case 3:
					ready = u
				}
				return nil
			}); err != nil {
				return err
			}
			if cluster == owner {
				onImport(ns, name, owner, uint32(ready), true)
				return nil
			}
		}
		return nil
	}
	snapshot := false
	err := fields(b, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
		switch num {
		case 2: // snapshot
			snapshot = true
			return fields(v, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
				if num == 3 { // imports
					return imp(v)
				}
				return nil
			})
		case 3: // changes
			return fields(v, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
				if num == 6 { // import
					return imp(v)
				}
				return nil
			})
		}
		return nil
	})
	onSnapshot(snapshot)
	return err
}
