package schema

import (
	"errors"
	"fmt"
)

// ErrInvalid is matched by every validation error of this package.
var ErrInvalid = errors.New("schema: invalid object")

// FieldError says which field of which object holds a bad value and why.
type FieldError struct {
	Object string // e.g. `cluster "eu-1"`; may be empty
	Field  string // e.g. "trust_domain"
	Value  string // the offending value, truncated for display
	Reason string // what is allowed
}

func (e *FieldError) Error() string {
	prefix := ""
	if e.Object != "" {
		prefix = e.Object + ": "
	}
	return fmt.Sprintf("%s%s %q %s", prefix, e.Field, e.Value, e.Reason)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

const maxShownValue = 80

func fieldErr(object, field, value, reason string) *FieldError {
	if len(value) > maxShownValue {
		value = value[:maxShownValue] + "..."
	}
	return &FieldError{Object: object, Field: field, Value: value, Reason: reason}
}
