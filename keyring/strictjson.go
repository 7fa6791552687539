package keyring

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Strict JSON decoding for DEK headers. encoding/json alone matches field
// names case-insensitively, keeps the last of duplicate fields, accepts null
// for strings and non-canonical base64; each of those would let a damaged
// header parse as a different but valid one.

// object is a decoded JSON object whose values are still raw.
type object struct {
	prefix string // field-name prefix for errors, "" or "kdf."
	keys   []string
	fields map[string]json.RawMessage
}

// decodeObject decodes one JSON object, rejecting duplicate keys and
// anything after the closing brace.
func decodeObject(data []byte, prefix string) (object, error) {
	o := object{prefix: prefix, fields: map[string]json.RawMessage{}}
	field := strings.TrimSuffix(prefix, ".")
	syntax := func(err error) error {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return corrupt(field, fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se))
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return corrupt(field, "invalid JSON: truncated")
		}
		return corrupt(field, "invalid JSON: "+err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return o, syntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return o, corrupt(field, "not a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return o, syntax(err)
		}
		key, _ := tok.(string)
		if _, dup := o.fields[key]; dup {
			return o, corrupt(prefix+key, "duplicate field")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return o, syntax(err)
		}
		o.keys = append(o.keys, key)
		o.fields[key] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return o, syntax(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return o, corrupt(field, "unexpected data after the JSON object")
	}
	return o, nil
}

// check reports the first unknown field (names are case-sensitive) and the
// first missing required field.
func (o object) check(required, optional []string) error {
	for _, k := range o.keys {
		if !slices.Contains(required, k) && !slices.Contains(optional, k) {
			return corrupt(o.prefix+k, "unknown field")
		}
	}
	for _, k := range required {
		if _, ok := o.fields[k]; !ok {
			return corrupt(o.prefix+k, "missing")
		}
	}
	return nil
}

func jsonString(raw json.RawMessage, field string) (string, error) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", corrupt(field, "not a JSON string")
	}
	return s, nil
}

// jsonBytes decodes a canonical, padded standard base64 string of exactly
// n bytes. base64's decoder skips CR and LF even in strict mode, so they are
// rejected first.
func jsonBytes(raw json.RawMessage, field string, n int) ([]byte, error) {
	s, err := jsonString(raw, field)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(s, "\r\n") {
		return nil, corrupt(field, "not valid base64")
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, corrupt(field, "not valid base64")
	}
	if len(b) != n {
		return nil, corrupt(field, fmt.Sprintf("%d bytes, want %d", len(b), n))
	}
	return b, nil
}

// jsonUint decodes a plain decimal integer (no sign, fraction or exponent)
// that fits in bits.
func jsonUint(raw json.RawMessage, field string, bits int) (uint64, error) {
	s := string(raw)
	if s == "" || strings.Trim(s, "0123456789") != "" || (len(s) > 1 && s[0] == '0') {
		return 0, corrupt(field, "not a non-negative integer")
	}
	v, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return 0, corrupt(field, "integer out of range")
	}
	return v, nil
}
