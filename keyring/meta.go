package keyring

import (
	"strings"
	"time"
)

// The header's meta field, as this package writes it: optional dated
// fields, then the KEK source, separated by single spaces:
//
//	created=<RFC 3339 UTC> rewrapped=<RFC 3339 UTC> kek=<source name>
//
// created is when the DEK was generated (store creation, rekey,
// encryption); rewrapped is when the DEK was last wrapped under another
// KEK ([RotateKEKWith], [ImportDEKWith], a rekey). Either is absent when
// unknown or never. The dated fields come first because an RFC 3339 time
// holds no space: the source name, which may hold anything, is the rest
// of the field after "kek=". Headers written before the dates existed
// hold "kek=<source name>" alone and read as zero times. The whole field
// is authenticated with the wrap, so the dates of a header the KEK opens
// are what its writer recorded.
const (
	metaCreated   = "created="
	metaRewrapped = "rewrapped="
	metaKEK       = "kek="
)

// headerTimes are the dates a header's meta records; a zero time is
// absent.
type headerTimes struct {
	created, rewrapped time.Time
}

// now is the clock header dates come from; tests replace it.
var now = time.Now

// stamp returns t as a header date: UTC, whole seconds.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// buildMeta returns the meta field for a header of a KEK from the source
// named source, with the dates in t.
func buildMeta(t headerTimes, source string) string {
	var b strings.Builder
	if !t.created.IsZero() {
		b.WriteString(metaCreated + stamp(t.created).Format(time.RFC3339) + " ")
	}
	if !t.rewrapped.IsZero() {
		b.WriteString(metaRewrapped + stamp(t.rewrapped).Format(time.RFC3339) + " ")
	}
	b.WriteString(metaKEK + source)
	return b.String()
}

// parseMeta reads the dates and the KEK source name from a meta field.
// Fields it does not know end the dated part; a date that does not parse
// reads as zero. Free text that does not follow the format (a header
// written by hand) yields zero times and source "".
func parseMeta(meta string) (t headerTimes, source string) {
	for meta != "" {
		if rest, ok := strings.CutPrefix(meta, metaKEK); ok {
			return t, rest
		}
		field, rest, _ := strings.Cut(meta, " ")
		switch {
		case strings.HasPrefix(field, metaCreated):
			t.created = parseStamp(field[len(metaCreated):])
		case strings.HasPrefix(field, metaRewrapped):
			t.rewrapped = parseStamp(field[len(metaRewrapped):])
		default:
			return t, ""
		}
		meta = rest
	}
	return t, ""
}

func parseStamp(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// Created returns when the DEK this header wraps was generated, as
// recorded in its meta: by the creation of the store, a rekey or an
// encryption. It is the zero time for headers written before this was
// recorded, and for a header that [ImportDEKWith] wrote without an
// earlier header to take the date from. The meta is authenticated only
// once the header is opened with its KEK ([ReadHeader] does not).
func (h *DEKHeader) Created() time.Time {
	t, _ := parseMeta(h.Metadata)
	return t.created
}

// Rewrapped returns when the DEK was last wrapped under a new KEK, as
// recorded in the header's meta: by [RotateKEKWith], [ImportDEKWith] or
// a rekey ([RekeyWith]). It is the zero time if that never happened since
// the DEK was created, or the header predates the record.
func (h *DEKHeader) Rewrapped() time.Time {
	t, _ := parseMeta(h.Metadata)
	return t.rewrapped
}

// Source returns the name of the KEK source the header was wrapped with
// ([KEKSource.Name]), as recorded in its meta, or "" if the meta does not
// name one.
func (h *DEKHeader) Source() string {
	_, s := parseMeta(h.Metadata)
	return s
}
