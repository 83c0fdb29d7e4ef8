package api

import (
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// Encoded is a message already in protobuf wire format, in parts whose
// concatenation is the message. The codec sends it without marshalling,
// so one watch response encoded by the view goes to every gateway as is.
type Encoded [][]byte

// codec is gRPC's protobuf codec that also passes Encoded through.
type codec struct{ proto encoding.CodecV2 }

// Codec returns the server codec; install it with grpc.ForceServerCodecV2.
func Codec() encoding.CodecV2 {
	return codec{proto: encoding.GetCodecV2(grpcproto.Name)}
}

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if e, ok := v.(Encoded); ok {
		out := make(mem.BufferSlice, 0, len(e))
		for _, p := range e {
			out = append(out, mem.SliceBuffer(p)) // shared, read-only; Free is a no-op
		}
		return out, nil
	}
	return c.proto.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error { return c.proto.Unmarshal(data, v) }

func (c codec) Name() string { return grpcproto.Name }
