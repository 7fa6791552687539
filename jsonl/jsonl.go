package jsonl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/gofastr/store/abi"
)

// Format is the value of the header's "format" field.
const Format = "gofastr-jsonl"

// Version is the version of the form this package reads and writes.
const Version = 1

// DefaultMaxLine is the longest line, in bytes without its line ending, a
// [Reader] made by [NewReader] accepts: room for a payload of the store's
// largest size (16 MiB) and the record around it.
const DefaultMaxLine = 17 << 20

// Record types: the values of [Record.Type] and of a line's "type" field.
const (
	TypeEvent       = "event"
	TypeToolIntent  = "tool_intent"
	TypeToolOutcome = "tool_outcome"
	TypeAttempt     = "attempt"
	TypePin         = "pin"
)

// Errors a [Reader] and a [Writer] return, wrapped, for a [Reader] in a
// [*LineError] that names the line.
var (
	// ErrLineTooLong: a line is longer than the reader's limit.
	ErrLineTooLong = errors.New("jsonl: line too long")
	// ErrSyntax: a line is not one JSON object (malformed JSON, invalid
	// UTF-8, a \u escape of a lone UTF-16 surrogate, trailing data, a
	// blank line).
	ErrSyntax = errors.New("jsonl: malformed line")
	// ErrHeader: the first line is not the header, or a header appears
	// later.
	ErrHeader = errors.New("jsonl: missing or bad header")
	// ErrVersion: the header names a version this package does not read.
	ErrVersion = errors.New("jsonl: unsupported version")
	// ErrUnknownType: a record's type is not one of the Type constants.
	ErrUnknownType = errors.New("jsonl: unknown record type")
	// ErrInvalidRecord: a record lacks a required field, has a zero time,
	// has a field its type does not have, or has a key twice in one
	// object.
	ErrInvalidRecord = errors.New("jsonl: invalid record")
)

// LineError is an error about one line of the input; Line counts from 1.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("jsonl: line %d: %s", e.Line, strings.TrimPrefix(e.Err.Error(), "jsonl: "))
}

func (e *LineError) Unwrap() error { return e.Err }

// Record is one line of the form other than the header. Type says which
// one field is set: Event, Intent, Outcome, Attempt, or, for a pin,
// Session.
type Record struct {
	Type    string
	Event   *abi.EventEnvelope
	Intent  *abi.ToolIntent
	Outcome *abi.ToolOutcome
	Attempt *abi.ProviderAttempt
	Session abi.SessionID
}

// line is a line as it appears in the file; a nil field is an absent one.
type line struct {
	Type        string          `json:"type"`
	Format      *string         `json:"format,omitempty"`
	Version     *int            `json:"version,omitempty"`
	Event       json.RawMessage `json:"event,omitempty"`
	ToolIntent  json.RawMessage `json:"tool_intent,omitempty"`
	ToolOutcome json.RawMessage `json:"tool_outcome,omitempty"`
	Attempt     json.RawMessage `json:"attempt,omitempty"`
	Session     *abi.SessionID  `json:"session,omitempty"`
}

// check reports whether r is a record this package writes and reads back
// as it is.
func (r *Record) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: "+format, append([]any{ErrInvalidRecord, r.Type}, args...)...)
	}
	switch r.Type {
	case TypeEvent, TypeToolIntent, TypeToolOutcome, TypeAttempt, TypePin:
	default:
		return fmt.Errorf("%w: %q", ErrUnknownType, r.Type)
	}
	set := 0
	for _, p := range []bool{r.Event != nil, r.Intent != nil, r.Outcome != nil, r.Attempt != nil, r.Session != ""} {
		if p {
			set++
		}
	}
	if set != 1 {
		return bad("%d record fields set, want 1", set)
	}
	for _, f := range r.strings() {
		if !utf8.ValidString(f) {
			return bad("a string field is not valid UTF-8")
		}
	}
	switch r.Type {
	case TypeEvent:
		e := r.Event
		switch {
		case e == nil:
			return bad("no event")
		case e.Session == "":
			return bad("empty session")
		case e.Kind == "":
			return bad("empty kind")
		case e.TS.IsZero():
			return bad("zero ts")
		}
	case TypeToolIntent:
		in := r.Intent
		switch {
		case in == nil:
			return bad("no tool intent")
		case in.Session == "":
			return bad("empty session")
		case in.CallID == "":
			return bad("empty call_id")
		case in.Tool == "":
			return bad("empty tool")
		case in.StartedAt.IsZero():
			return bad("zero started_at")
		}
	case TypeToolOutcome:
		o := r.Outcome
		switch {
		case o == nil:
			return bad("no tool outcome")
		case o.Session == "":
			return bad("empty session")
		case o.CallID == "":
			return bad("empty call_id")
		case o.Status == "":
			return bad("empty status")
		case o.EndedAt.IsZero():
			return bad("zero ended_at")
		}
	case TypeAttempt:
		a := r.Attempt
		switch {
		case a == nil:
			return bad("no attempt")
		case a.Session == "":
			return bad("empty session")
		case a.Provider == "" || a.Model == "":
			return bad("empty provider or model")
		case a.TerminatedReason == "":
			return bad("empty terminated_reason")
		case a.StartedAt.IsZero() || a.EndedAt.IsZero():
			return bad("zero started_at or ended_at")
		}
	case TypePin:
		if r.Session == "" {
			return bad("empty session")
		}
	}
	return nil
}

// strings returns the string fields of the record's set field, which
// must be valid UTF-8 to be written as they are.
func (r *Record) strings() []string {
	switch {
	case r.Event != nil:
		return []string{string(r.Event.Session), r.Event.Kind}
	case r.Intent != nil:
		return []string{string(r.Intent.Session), r.Intent.CallID, r.Intent.Tool, r.Intent.ArgsHash}
	case r.Outcome != nil:
		return []string{string(r.Outcome.Session), r.Outcome.CallID, r.Outcome.Status, r.Outcome.Error}
	case r.Attempt != nil:
		a := r.Attempt
		out := []string{a.Session, a.Provider, a.Model, a.RequestID, a.TerminatedReason}
		if a.Price != nil {
			out = append(out, a.Price.Source)
		}
		return out
	}
	return []string{string(r.Session)}
}

// Writer writes the form to an io.Writer: the header, then one line per
// record. It buffers; call Flush at the end.
type Writer struct {
	bw     *bufio.Writer
	enc    *json.Encoder
	header bool
	err    error
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &Writer{bw: bw, enc: enc}
}

// Write writes one record, after the header if it is the first. A record
// a [Reader] would refuse (see the package documentation) is refused with
// an error wrapping [ErrInvalidRecord] or [ErrUnknownType] and nothing is
// written. Times are written in UTC and payloads compacted. After an
// error from the underlying writer every call returns it.
func (w *Writer) Write(r Record) error {
	if w.err != nil {
		return w.err
	}
	if err := r.check(); err != nil {
		return err
	}
	if err := w.writeHeader(); err != nil {
		return err
	}
	out := line{Type: r.Type}
	var v any
	switch r.Type {
	case TypeEvent:
		e := *r.Event
		e.TS = e.TS.UTC()
		v = &e
	case TypeToolIntent:
		in := *r.Intent
		in.StartedAt = in.StartedAt.UTC()
		v = &in
	case TypeToolOutcome:
		o := *r.Outcome
		o.EndedAt = o.EndedAt.UTC()
		v = &o
	case TypeAttempt:
		a := *r.Attempt
		a.StartedAt, a.EndedAt = a.StartedAt.UTC(), a.EndedAt.UTC()
		v = &a
	case TypePin:
		s := r.Session
		out.Session = &s
	}
	if v != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalidRecord, r.Type, err)
		}
		raw := json.RawMessage(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
		if !utf8.Valid(raw) {
			return fmt.Errorf("%w: %s: a payload is not valid UTF-8", ErrInvalidRecord, r.Type)
		}
		switch r.Type {
		case TypeEvent:
			out.Event = raw
		case TypeToolIntent:
			out.ToolIntent = raw
		case TypeToolOutcome:
			out.ToolOutcome = raw
		case TypeAttempt:
			out.Attempt = raw
		}
	}
	if err := w.enc.Encode(&out); err != nil {
		w.err = err
		return err
	}
	return nil
}

func (w *Writer) writeHeader() error {
	if w.header {
		return nil
	}
	w.header = true
	f, v := Format, Version
	if err := w.enc.Encode(&line{Type: "header", Format: &f, Version: &v}); err != nil {
		w.err = err
		return err
	}
	return nil
}

// Flush writes the header if no record was written and any buffered data
// to the underlying writer.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if err := w.writeHeader(); err != nil {
		return err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = err
		return err
	}
	return nil
}

// Reader reads the form from an io.Reader, one record at a time.
type Reader struct {
	br     *bufio.Reader
	max    int
	line   int
	header bool
	buf    []byte
	err    error
}

// NewReader returns a Reader of r with the line limit [DefaultMaxLine].
func NewReader(r io.Reader) *Reader { return NewReaderSize(r, DefaultMaxLine) }

// NewReaderSize returns a Reader of r that refuses lines longer than
// maxLine bytes (without the line ending); maxLine <= 0 means
// [DefaultMaxLine].
func NewReaderSize(r io.Reader, maxLine int) *Reader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), max: maxLine}
}

// Line returns the number of the line last read, counting from 1.
func (r *Reader) Line() int { return r.line }

// Next returns the next record. It reads and checks the header first. At
// the end of the input it returns io.EOF; an input without a header is an
// error wrapping [ErrHeader]. Every other error is a [*LineError] wrapping
// one of the package's errors (or the underlying reader's error), and
// every later call returns it again.
func (r *Reader) Next() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	rec, err := r.next()
	if err != nil {
		if err != io.EOF {
			err = &LineError{Line: r.line, Err: err}
		}
		r.err = err
	}
	return rec, err
}

func (r *Reader) next() (Record, error) {
	for {
		b, err := r.readLine()
		if err == io.EOF && !r.header {
			r.line++
			return Record{}, fmt.Errorf("%w: empty input", ErrHeader)
		}
		if err != nil {
			return Record{}, err
		}
		var l line
		if err := decodeStrict(b, &l); err != nil {
			return Record{}, err
		}
		if err := checkRaw(b); err != nil {
			return Record{}, err
		}
		if !r.header {
			if err := checkHeader(&l); err != nil {
				return Record{}, err
			}
			r.header = true
			continue
		}
		return decodeRecord(&l)
	}
}

// readLine returns the next line without its ending, in a buffer valid
// until the next call.
func (r *Reader) readLine() ([]byte, error) {
	r.buf = r.buf[:0]
	for {
		frag, err := r.br.ReadSlice('\n')
		if len(r.buf)+len(frag) > r.max+2 { // room for "\r\n"
			r.line++
			return nil, fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, r.max)
		}
		r.buf = append(r.buf, frag...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(r.buf) == 0:
			return nil, io.EOF
		case err != nil && err != io.EOF:
			r.line++
			return nil, err
		}
		r.line++
		b := bytes.TrimSuffix(r.buf, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		if len(b) > r.max {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, r.max)
		}
		return b, nil
	}
}

// decodeStrict decodes one JSON object that fills b into v, refusing
// unknown fields.
func decodeStrict(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return fmt.Errorf("%w: blank line", ErrSyntax)
	}
	if !utf8.Valid(b) {
		return fmt.Errorf("%w: invalid UTF-8", ErrSyntax)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return fmt.Errorf("%w: %v", ErrSyntax, err)
		case errors.As(err, &te):
			return fmt.Errorf("%w: field %s: %s where %s belongs", ErrInvalidRecord, te.Field, te.Value, te.Type)
		default:
			// Unknown fields, and times or other values that parse
			// themselves and refuse the text.
			return fmt.Errorf("%w: %v", ErrInvalidRecord, err)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the object", ErrSyntax)
	}
	return nil
}

func checkHeader(l *line) error {
	if l.Type != "header" || l.Format == nil || l.Version == nil ||
		l.Event != nil || l.ToolIntent != nil || l.ToolOutcome != nil || l.Attempt != nil || l.Session != nil {
		return fmt.Errorf("%w: the first line must be {\"type\":\"header\",\"format\":%q,\"version\":%d}", ErrHeader, Format, Version)
	}
	if *l.Format != Format {
		return fmt.Errorf("%w: format %q, want %q", ErrHeader, *l.Format, Format)
	}
	if *l.Version != Version {
		return fmt.Errorf("%w: version %d, this reader reads %d", ErrVersion, *l.Version, Version)
	}
	return nil
}

func decodeRecord(l *line) (Record, error) {
	r := Record{Type: l.Type}
	if l.Type == "header" {
		return r, fmt.Errorf("%w: a second header", ErrHeader)
	}
	if l.Format != nil || l.Version != nil {
		return r, fmt.Errorf("%w: %s: format or version outside the header", ErrInvalidRecord, l.Type)
	}
	inner := func(raw json.RawMessage, v any) error {
		if raw == nil || string(raw) == "null" {
			return nil // reported by check as a missing field
		}
		return decodeStrict(raw, v)
	}
	var err error
	if l.Event != nil {
		r.Event = new(abi.EventEnvelope)
		err = errors.Join(err, inner(l.Event, r.Event))
	}
	if l.ToolIntent != nil {
		r.Intent = new(abi.ToolIntent)
		err = errors.Join(err, inner(l.ToolIntent, r.Intent))
	}
	if l.ToolOutcome != nil {
		r.Outcome = new(abi.ToolOutcome)
		err = errors.Join(err, inner(l.ToolOutcome, r.Outcome))
	}
	if l.Attempt != nil {
		r.Attempt = new(abi.ProviderAttempt)
		err = errors.Join(err, inner(l.Attempt, r.Attempt))
	}
	if err != nil {
		return Record{}, err
	}
	if l.Session != nil {
		if *l.Session == "" {
			return Record{}, fmt.Errorf("%w: %s: empty session", ErrInvalidRecord, l.Type)
		}
		r.Session = *l.Session
	}
	if err := r.check(); err != nil {
		return Record{}, err
	}
	return r, nil
}
