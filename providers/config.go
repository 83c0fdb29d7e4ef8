package providers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// DecodeConfig decodes a plugin's configuration document into v strictly:
// unknown fields and data after the JSON object are errors, prefixed with
// the plugin's name. An empty document leaves v as it is. Every plugin
// parses its Configure document with it, so a typo in any plugin's
// configuration fails the same way.
func DecodeConfig(plugin string, doc []byte, v any) error {
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: config: %w", plugin, err)
	}
	if dec.More() {
		return errors.New(plugin + ": config: data after the JSON object")
	}
	return nil
}
