package apierror

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DecodeJSON decodes body into v strictly: exactly one JSON value, no
// unknown fields. A failure is a 400 whose details name the field (or the
// byte offset of a syntax error).
func DecodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return Field("empty_body", "body", "the request needs a JSON body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			return Field("malformed_json", "body", "the body holds more than one JSON value")
		}
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		e := Field("malformed_json", "body", fmt.Sprintf("the body is not valid JSON: %s at byte %d", syn.Error(), syn.Offset))
		e.Details["offset"] = syn.Offset
		return e
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return Field("wrong_type", field, fmt.Sprintf("%s must be %s, not %s", field, kind(typ.Type.Kind().String()), typ.Value))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Field("malformed_json", "body", "the body ends in the middle of a JSON value")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return Field("unknown_field", name, fmt.Sprintf("unknown field %q", name))
	}
	return Field("malformed_json", "body", err.Error())
}

func kind(k string) string {
	switch k {
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	}
	return "a number"
}
