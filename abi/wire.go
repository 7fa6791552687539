package abi

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// ErrMalformed is wrapped by the errors of the UnmarshalBinary methods
// when their input is not a valid encoding of the type (truncated, with
// trailing bytes, with a length past the end of the input, with a
// non-minimal varint, ...), and by those of AppendBinary and MarshalBinary
// when a value cannot be encoded (a time outside the encodable range, a
// string that must be UTF-8 and is not). Test for it with [errors.Is].
var ErrMalformed = errors.New("abi: malformed wire data")

// wireError is the error of a failed encoding or decoding: which field,
// what was wrong, and at which byte of the input (decoding only).
type wireError struct {
	field  string
	reason string
	off    int // -1 when encoding
}

func (e *wireError) Error() string {
	s := ErrMalformed.Error() + ": " + e.field + ": " + e.reason
	if e.off >= 0 {
		s += " (at byte " + strconv.Itoa(e.off) + ")"
	}
	return s
}

func (e *wireError) Unwrap() error { return ErrMalformed }

// Reasons of wire errors.
const (
	reasonTruncated = "input ends inside the field"
	reasonVarint    = "invalid or non-minimal varint"
	reasonLength    = "length past the end of the input"
	reasonCount     = "count larger than the input can hold"
	reasonBool      = "boolean byte not 0 or 1"
	reasonTimeFlag  = "time flag byte not 0 or 1"
	reasonTime      = "time outside the encodable range"
	reasonTimeZero  = "zero time encoded as a present time"
	reasonNanos     = "nanoseconds not below 1e9"
	reasonInt       = "integer out of range"
	reasonUTF8      = "string is not valid UTF-8"
	reasonFlags     = "unknown bits in the presence flags"
	reasonTrailing  = "trailing bytes after the value"
)

// maxUnixSeconds is the largest Unix time, in seconds, a time.Time can
// hold: time counts seconds from year 1 in an int64.
const maxUnixSeconds = math.MaxInt64 - 62135596800

// encoder appends encodings to b; the first failure sticks in err.
type encoder struct {
	b   []byte
	err error
}

func (e *encoder) fail(field, reason string) {
	if e.err == nil {
		e.err = &wireError{field: field, reason: reason, off: -1}
	}
}

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }

func (e *encoder) varint(v int64) { e.b = binary.AppendVarint(e.b, v) }

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) string(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

// utf8String is string for a field that must hold valid UTF-8.
func (e *encoder) utf8String(field, s string) {
	if !utf8.ValidString(s) {
		e.fail(field, reasonUTF8)
	}
	e.string(s)
}

// bytes encodes optional bytes: 0 for nil, else len+1 and the bytes.
func (e *encoder) bytes(p []byte) {
	if p == nil {
		e.b = append(e.b, 0)
		return
	}
	e.b = binary.AppendUvarint(e.b, uint64(len(p))+1)
	e.b = append(e.b, p...)
}

// time encodes 0 for the zero time, else 1, the Unix seconds (zigzag
// varint) and the nanoseconds within the second (uvarint).
func (e *encoder) time(field string, t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	sec := t.Unix()
	if sec > maxUnixSeconds {
		// Unix() wrapped: the time is before the earliest encodable one.
		e.fail(field, reasonTime)
	}
	e.b = append(e.b, 1)
	e.b = binary.AppendVarint(e.b, sec)
	e.b = binary.AppendUvarint(e.b, uint64(t.Nanosecond()))
}

func (e *encoder) float64(f float64) {
	e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(f))
}

// finish returns the encoding appended to b[:n], or b[:n] and the error.
func (e *encoder) finish(n int) ([]byte, error) {
	if e.err != nil {
		return e.b[:n], e.err
	}
	return e.b, nil
}

// decoder reads an encoding from buf; the first failure sticks in err
// and makes every later read return a zero value.
type decoder struct {
	buf   []byte
	off   int
	owned bool // buf is a private copy, so byte fields may alias it
	err   error
	// The last session ID and kind decoded, reused when the next one has
	// the same bytes: a batch repeats them.
	session SessionID
	kind    string
}

func (d *decoder) fail(field, reason string) {
	if d.err == nil {
		d.err = &wireError{field: field, reason: reason, off: d.off}
	}
	d.off = len(d.buf)
}

func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	b := d.buf[d.off:]
	if len(b) > 0 && b[0] < 0x80 {
		d.off++
		return uint64(b[0])
	}
	v, n := binary.Uvarint(b)
	if n <= 0 {
		if n == 0 {
			d.fail(field, reasonTruncated)
		} else {
			d.fail(field, reasonVarint)
		}
		return 0
	}
	if b[n-1] == 0 { // n > 1 here: a trailing zero byte adds nothing
		d.fail(field, reasonVarint)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint(field string) int64 {
	u := d.uvarint(field)
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

func (d *decoder) int(field string) int {
	v := d.varint(field)
	if int64(int(v)) != v {
		d.fail(field, reasonInt)
		return 0
	}
	return int(v)
}

func (d *decoder) uint32(field string) uint32 {
	v := d.uvarint(field)
	if v > math.MaxUint32 {
		d.fail(field, reasonInt)
		return 0
	}
	return uint32(v)
}

func (d *decoder) byte(field string) byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.buf) {
		d.fail(field, reasonTruncated)
		return 0
	}
	c := d.buf[d.off]
	d.off++
	return c
}

func (d *decoder) bool(field string) bool {
	switch d.byte(field) {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(field, reasonBool)
	return false
}

// span returns the next n bytes of the input, or fails.
func (d *decoder) span(field string, n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.buf)-d.off) {
		d.fail(field, reasonLength)
		return nil
	}
	p := d.buf[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return p
}

func (d *decoder) string(field string) string {
	n := d.uvarint(field)
	return string(d.span(field, n))
}

func (d *decoder) utf8String(field string) string {
	start := d.off
	s := d.string(field)
	if d.err == nil && !utf8.ValidString(s) {
		d.off = start
		d.fail(field, reasonUTF8)
		return ""
	}
	return s
}

// sessionID decodes a session ID, reusing the previous one when equal.
func (d *decoder) sessionID(field string) SessionID {
	n := d.uvarint(field)
	p := d.span(field, n)
	if string(p) != string(d.session) {
		d.session = SessionID(p)
	}
	return d.session
}

// kindString decodes an event kind: one of the Kind constants, or the
// previous kind decoded when equal, costs no allocation.
func (d *decoder) kindString(field string) string {
	n := d.uvarint(field)
	p := d.span(field, n)
	switch string(p) {
	case KindUserMessage:
		return KindUserMessage
	case KindAssistantMessage:
		return KindAssistantMessage
	case KindToolCall:
		return KindToolCall
	case KindToolResult:
		return KindToolResult
	case KindSystem:
		return KindSystem
	case KindError:
		return KindError
	case d.kind:
		return d.kind
	}
	d.kind = string(p)
	return d.kind
}

// bytes decodes optional bytes (see encoder.bytes). The result aliases a
// private copy of the input, made once per decoding: in a wasip1 guest,
// one copy costs less than half of what copying each payload does.
func (d *decoder) bytes(field string) []byte {
	u := d.uvarint(field)
	if u == 0 || d.err != nil {
		return nil
	}
	if u-1 > uint64(len(d.buf)-d.off) {
		d.fail(field, reasonLength)
		return nil
	}
	if !d.owned {
		d.buf = append([]byte(nil), d.buf...)
		d.owned = true
	}
	return d.span(field, u-1)
}

func (d *decoder) time(field string) time.Time {
	switch d.byte(field) {
	case 0:
		return time.Time{}
	case 1:
	default:
		if d.err == nil {
			d.off--
			d.fail(field, reasonTimeFlag)
		}
		return time.Time{}
	}
	start := d.off
	sec := d.varint(field)
	nsec := d.uvarint(field)
	if d.err != nil {
		return time.Time{}
	}
	switch {
	case nsec >= 1e9:
		d.off = start
		d.fail(field, reasonNanos)
	case sec > maxUnixSeconds:
		d.off = start
		d.fail(field, reasonTime)
	}
	if d.err != nil {
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec)).UTC()
	if t.IsZero() {
		d.off = start
		d.fail(field, reasonTimeZero)
		return time.Time{}
	}
	return t
}

func (d *decoder) float64(field string) float64 {
	p := d.span(field, 8)
	if d.err != nil {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(p))
}

// count decodes the length of a list whose elements take at least min
// bytes each, failing when the rest of the input cannot hold that many:
// a claimed count never makes the decoder allocate more than the input
// justifies.
func (d *decoder) count(field string, min int) int {
	n := d.uvarint(field)
	if d.err != nil {
		return 0
	}
	if n > uint64((len(d.buf)-d.off)/min) {
		d.fail(field, reasonCount)
		return 0
	}
	return int(n)
}

// finish fails when input remains after the value.
func (d *decoder) finish() error {
	if d.err == nil && d.off != len(d.buf) {
		d.fail("value", reasonTrailing)
	}
	return d.err
}

// unmarshal decodes data into *v with dec, leaving *v unchanged on error.
func unmarshal[T any](data []byte, v *T, dec func(*decoder, *T)) error {
	d := decoder{buf: data}
	var x T
	dec(&d, &x)
	if err := d.finish(); err != nil {
		return err
	}
	*v = x
	return nil
}

// appendValue appends the encoding of *v made by enc to b.
func appendValue[T any](b []byte, v *T, enc func(*encoder, *T)) ([]byte, error) {
	e := encoder{b: b}
	enc(&e, v)
	return e.finish(len(b))
}
