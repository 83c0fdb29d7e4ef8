package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Output formats of -o.
const (
	formatTable = "table"
	formatJSON  = "json"
	formatYAML  = "yaml"
)

// enumFlag is a string flag that only takes one of a fixed set of values,
// so a typo fails while the flags are parsed.
type enumFlag struct {
	value   string
	allowed []string
}

func (e *enumFlag) String() string { return e.value }
func (e *enumFlag) Type() string   { return "string" }
func (e *enumFlag) Set(v string) error {
	if !slices.Contains(e.allowed, v) {
		return fmt.Errorf("must be one of %s", strings.Join(e.allowed, ", "))
	}
	e.value = v
	return nil
}

// addOutputFlag adds -o/--output to c and returns where its value lands.
func addOutputFlag(c *cobra.Command) *enumFlag {
	f := &enumFlag{value: formatTable, allowed: []string{formatTable, formatJSON, formatYAML}}
	c.Flags().VarP(f, "output", "o", "output format: table, json or yaml")
	return f
}

// printOutput writes m as JSON or YAML, or calls table with a tabwriter
// that is flushed afterwards.
func printOutput(w io.Writer, format string, m proto.Message, table func(w io.Writer)) error {
	switch format {
	case formatJSON, formatYAML:
		return writeProto(w, format, m)
	}
	tw := newTable(w)
	table(tw)
	return tw.Flush()
}

// writeProto writes m in the JSON mapping with proto field names, or that
// JSON converted to YAML.
func writeProto(w io.Writer, format string, m proto.Message) error {
	data, err := marshalJSON(m)
	if err != nil {
		return err
	}
	if format == formatYAML {
		if data, err = yaml.JSONToYAML(data); err != nil {
			return fmt.Errorf("converting to YAML: %w", err)
		}
	}
	_, err = w.Write(data)
	return err
}

// marshalJSON is protojson with stable indentation: protojson varies its
// whitespace on purpose, and scripts diff our output.
func marshalJSON(m proto.Message) ([]byte, error) {
	raw, err := protojson.MarshalOptions{Multiline: true, UseProtoNames: true, EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	var compact, out bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, err
	}
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
}

// row writes one tab-separated line; cells lose tabs and newlines so that
// a server message cannot break the columns.
func row(w io.Writer, cells ...string) {
	for i, c := range cells {
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(c)
	}
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// age is a short human duration since t, as kubectl prints it.
func age(t *timestamppb.Timestamp, now time.Time) string {
	if t == nil {
		return "<unknown>"
	}
	d := now.Sub(t.AsTime())
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < 2*time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h"
	case d < 2*365*24*time.Hour:
		return strconv.Itoa(int(d.Hours()/24)) + "d"
	}
	return strconv.Itoa(int(d.Hours()/24/365)) + "y"
}

// timestamp is t in RFC 3339, UTC.
func timestamp(t *timestamppb.Timestamp) string {
	if t == nil {
		return "<unknown>"
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}

// ports formats service ports as name:port/protocol, e.g. "http:80/TCP".
func ports(ps []*meshfedv1.ServicePort) string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		s := strconv.FormatUint(uint64(p.GetPort()), 10) + "/" + schema.Protocol(p)
		if p.GetName() != "" {
			s = p.GetName() + ":" + s
		}
		out = append(out, s)
	}
	return orNone(strings.Join(out, ","))
}

// labels formats a label map as sorted k=v pairs.
func labels(m map[string]string) string {
	keys := sortedKeys(m)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return orNone(strings.Join(keys, ","))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
