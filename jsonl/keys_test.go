package jsonl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/jsonl"
)

// TestImportBatchedAfterRetention: two exports of one session, the second
// taken after retention dropped its payloads, imported one after the other
// in either order, store the session's records once: a record is keyed by
// what identifies it, which retention does not change.
func TestImportBatchedAfterRetention(t *testing.T) {
	ctx := context.Background()
	now := t0.Add(72 * time.Hour)
	a, err := host.OpenWithConfig(filepath.Join(t.TempDir(), "a.db"),
		host.NewConfig().WithKey(testKey).WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	record(t, a, "r")
	if err := a.Unpin(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	full := export(t, a, "r")
	if _, err := a.ApplyRetention(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	dropped := export(t, a, "r")
	if bytes.Equal(full, dropped) || !bytes.Contains(full, []byte(`"payload"`)) || bytes.Contains(dropped, []byte(`"payload"`)) {
		t.Fatalf("retention did not drop the payloads:\n%s", dropped)
	}
	n := records(full)
	if records(dropped) != n {
		t.Fatalf("the export after retention has %d records, want %d:\n%s", records(dropped), n, dropped)
	}
	for name, files := range map[string][2][]byte{
		"full first":    {full, dropped},
		"dropped first": {dropped, full},
	} {
		t.Run(name, func(t *testing.T) {
			b, _ := newStore(t)
			if st, err := jsonl.Import(ctx, b, bytes.NewReader(files[0])); err != nil || statTotal(st) != n || st.Skipped != 0 {
				t.Fatalf("first import: %+v, %v; want %d records, none skipped", st, err, n)
			}
			before := export(t, b, "r")
			st, err := jsonl.Import(ctx, b, bytes.NewReader(files[1]))
			if err != nil || st.Skipped != n {
				t.Fatalf("second import: %+v, %v; want all %d records skipped", st, err, n)
			}
			if got := export(t, b, "r"); !bytes.Equal(got, before) {
				t.Fatalf("the second import changed the store:\n%s\nwant:\n%s", got, before)
			}
		})
	}
}

// TestImportBatchedSameIdentity: an event of another file with the session,
// turn, kind and time of one the store holds from a keyed import is taken
// for it, whatever its payload; within one file, each occurrence of an
// identity is its own record.
func TestImportBatchedSameIdentity(t *testing.T) {
	ctx := context.Background()
	file := func(payloads ...string) []byte {
		var buf bytes.Buffer
		w := jsonl.NewWriter(&buf)
		for _, p := range payloads {
			e := abi.EventEnvelope{Session: "same", Turn: 1, Kind: abi.KindUserMessage, TS: t0, Payload: json.RawMessage(p)}
			if err := w.Write(jsonl.Record{Type: jsonl.TypeEvent, Event: &e}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	s, _ := newStore(t)
	if st, err := jsonl.Import(ctx, s, bytes.NewReader(file(`{"a":1}`, `{"a":2}`))); err != nil || st.Events != 2 || st.Skipped != 0 {
		t.Fatalf("first import: %+v, %v; want 2 events written", st, err)
	}
	st, err := jsonl.Import(ctx, s, bytes.NewReader(file(`{"b":1}`, `{"b":2}`, `{"b":3}`)))
	if err != nil || st.Events != 3 || st.Skipped != 2 {
		t.Fatalf("second import: %+v, %v; want 3 events, 2 skipped", st, err)
	}
	evs, err := s.EventsSince(ctx, "same", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, string(e.Payload))
	}
	if want := []string{`{"a":1}`, `{"a":2}`, `{"b":3}`}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored payloads %v, want %v", got, want)
	}
}

// refusedFile is n events of one session whose event at line bad (from 1,
// the header's line) has a payload of 2000 bytes.
func refusedFile(n, bad int) []byte {
	var buf strings.Builder
	buf.WriteString(`{"type":"header","format":"gofastr-jsonl","version":1}` + "\n")
	for line := 2; line <= n+1; line++ {
		p := fmt.Sprintf(`{"i":%d}`, line)
		if line == bad {
			p = `{"big":"` + strings.Repeat("x", 2000) + `"}`
		}
		fmt.Fprintf(&buf, `{"type":"event","event":{"session":"s","turn":0,"kind":"user_message","ts":"2026-01-01T00:00:%02d.%09dZ","payload":%s}}`+"\n",
			line/1e9, line, p)
	}
	return []byte(buf.String())
}

// TestImportBatchedRefusedRecord: a record the destination refuses (a
// payload over its limit) is found before anything is written, in a
// Store and in a MonthlyRollover; the error names its line.
func TestImportBatchedRefusedRecord(t *testing.T) {
	ctx := context.Background()
	const n, bad = 1500, 1201
	file := refusedFile(n, bad)
	cfg := host.NewConfig().WithKey(testKey).WithMaxPayloadSize(1024)
	s, err := host.OpenWithConfig(filepath.Join(t.TempDir(), "s.db"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, err := host.NewMonthlyRolloverWithConfig(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for name, dst := range map[string]interface {
		jsonl.Destination
		jsonl.BatchChecker
	}{"store": s, "rollover": m} {
		t.Run(name, func(t *testing.T) {
			for run := 1; run <= 2; run++ {
				st, err := jsonl.Import(ctx, dst, bytes.NewReader(file))
				var le *jsonl.LineError
				if !errors.As(err, &le) || le.Line != bad || !errors.Is(err, host.ErrPayloadTooLarge) {
					t.Fatalf("import %d = %v, want ErrPayloadTooLarge at line %d", run, err, bad)
				}
				if st != (jsonl.Stats{}) {
					t.Fatalf("import %d: %+v, want nothing imported", run, st)
				}
				evs, err := dst.EventsSince(ctx, "s", 0, n)
				if err != nil || len(evs) != 0 {
					t.Fatalf("after import %d the destination holds %d events (%v), want none", run, len(evs), err)
				}
			}
		})
	}
}
