package jsonl_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/jsonl"
)

// evLine returns an event record of session sess with the given payload.
func evLine(sess, payload string) string {
	return `{"type":"event","event":{"id":1,"session":"` + sess + `","turn":1,"kind":"user_message","ts":"2026-11-02T09:00:00Z","payload":` + payload + `}}` + "\n"
}

// TestReaderRefusesSilentChanges: what decoding would silently change is
// refused with an error naming the line: a lone surrogate escape (it
// would become U+FFFD) and a key twice in one object (the last would
// win, so a record could claim one session and be imported into another).
func TestReaderRefusesSilentChanges(t *testing.T) {
	for _, c := range []struct {
		name, line string
		want       error // nil: accepted
	}{
		{"lone low surrogate in session", evLine(`s\udc80x`, `{}`), jsonl.ErrSyntax},
		{"lone high surrogate at end", evLine(`s\ud800`, `{}`), jsonl.ErrSyntax},
		{"high surrogate then letter", evLine(`s\ud800\u0041`, `{}`), jsonl.ErrSyntax},
		{"lone surrogate in payload", evLine("s", `{"text":"\uDFFF"}`), jsonl.ErrSyntax},
		{"surrogate pair", evLine(`s\ud83d\ude00`, `{"text":"\ud83d\ude00 \\udc80"}`), nil},
		{"duplicate type", `{"type":"pin","type":"event","session":"s"}` + "\n", jsonl.ErrInvalidRecord},
		{"duplicate inner session", `{"type":"event","event":{"id":1,"session":"a","session":"victim","turn":1,"kind":"k","ts":"2026-11-02T09:00:00Z"}}` + "\n", jsonl.ErrInvalidRecord},
		{"duplicate in another case", `{"type":"event","event":{"id":1,"session":"a","Session":"victim","turn":1,"kind":"k","ts":"2026-11-02T09:00:00Z"}}` + "\n", jsonl.ErrInvalidRecord},
		// encoding/json matches U+017F (long s) to s and U+212A (Kelvin) to k.
		{"duplicate under Unicode folding (long s)", `{"type":"event","event":{"id":1,"session":"a","ſession":"victim","turn":1,"kind":"k","ts":"2026-11-02T09:00:00Z"}}` + "\n", jsonl.ErrInvalidRecord},
		{"duplicate under Unicode folding (Kelvin)", `{"type":"event","event":{"id":1,"session":"a","turn":1,"kind":"k","Kind":"x","ts":"2026-11-02T09:00:00Z"}}` + "\n", jsonl.ErrInvalidRecord},
		{"duplicate under Unicode folding, escaped", `{"type":"event","event":{"id":1,"session":"a","\u017fession":"victim","turn":1,"kind":"k","ts":"2026-11-02T09:00:00Z"}}` + "\n", jsonl.ErrInvalidRecord},
		{"duplicate by escape", `{"type":"pin","session":"a","sessio\u006e":"victim"}` + "\n", jsonl.ErrInvalidRecord},
		{"duplicate in payload", evLine("s", `{"a":{"b":1,"b":2}}`), jsonl.ErrInvalidRecord},
		{"payload keys differing in case", evLine("s", `{"Text":"a","text":"b","x":[{"k":1},{"k":2}]}`), nil},
		{"same key in sibling objects", evLine("s", `{"a":{"k":1},"b":{"k":2}}`), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			rd := jsonl.NewReader(strings.NewReader(header + c.line))
			_, err := rd.Next()
			var le *jsonl.LineError
			switch {
			case c.want == nil && err != nil:
				t.Fatalf("Next: %v, want the record", err)
			case c.want != nil && (!errors.Is(err, c.want) || !errors.As(err, &le) || le.Line != 2):
				t.Fatalf("Next: %v, want %v on line 2", err, c.want)
			}
		})
	}
}

// TestImportRefusesDuplicates: into a destination written record by
// record, a file imported again, or again after a failed import, is
// refused with ErrAlreadyImported naming the session, through the same
// handle or a second one; AppendExisting imports it anyway.
func TestImportRefusesDuplicates(t *testing.T) {
	ctx := context.Background()
	file := bigSession(t, "dup", 30)
	store, path := newStore(t)
	s := perRecord{store}
	if _, err := jsonl.Import(ctx, s, bytes.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	for name, dst := range map[string]jsonl.Destination{"same handle": s, "second handle": perRecord{openStore(t, path)}} {
		st, err := jsonl.Import(ctx, dst, bytes.NewReader(file))
		var le *jsonl.LineError
		if !errors.Is(err, jsonl.ErrAlreadyImported) || !errors.As(err, &le) || le.Line != 2 || !strings.Contains(err.Error(), `"dup"`) {
			t.Fatalf("%s: second import: %v, want ErrAlreadyImported naming \"dup\" on line 2", name, err)
		}
		if st != (jsonl.Stats{}) {
			t.Errorf("%s: second import wrote %+v", name, st)
		}
	}
	if got := export(t, store, "dup"); !bytes.Equal(got, file) {
		t.Error("the refused imports changed the session")
	}

	// A failed import, then its retry: the retry stops at the session the
	// first attempt began, before writing anything of it again.
	st2, _ := newStore(t)
	s2 := perRecord{st2}
	two := string(file) + evLine("other", `{}`) + `{"type":"event",` + "\n"
	if _, err := jsonl.Import(ctx, s2, strings.NewReader(two)); !errors.Is(err, jsonl.ErrSyntax) {
		t.Fatalf("first import: %v", err)
	}
	if _, err := jsonl.Import(ctx, s2, strings.NewReader(two)); !errors.Is(err, jsonl.ErrAlreadyImported) {
		t.Fatalf("retry: %v, want ErrAlreadyImported", err)
	}
	if evs, _ := s2.EventsSince(ctx, "dup", 0, 0); len(evs) != 30 {
		t.Errorf("%d events of dup after the retry, want 30", len(evs))
	}

	// AppendExisting says so: the events are there twice.
	st, err := jsonl.Import(ctx, s, bytes.NewReader(file), jsonl.AppendExisting())
	if err != nil || st.Events != 30 {
		t.Fatalf("AppendExisting: %+v, %v", st, err)
	}
	if evs, _ := s.EventsSince(ctx, "dup", 0, 0); len(evs) != 60 {
		t.Errorf("%d events after AppendExisting, want 60", len(evs))
	}
}

type dupArgs struct{ Path, File string }

var _ = proc.Role("jsonl-import-once", func() int {
	var a dupArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	s, err := host.OpenEncrypted(a.Path, host.EncryptionAtRest, testKey)
	if err != nil {
		proc.Fail("open: %v", err)
	}
	defer s.Close()
	_, err = jsonl.Import(context.Background(), perRecord{s}, strings.NewReader(a.File))
	switch {
	case err == nil:
		fmt.Println("imported")
	case errors.Is(err, jsonl.ErrAlreadyImported):
		fmt.Println("refused")
	default:
		proc.Fail("import: %v", err)
	}
	return 0
})

// TestImportDuplicatesProcesses: two OS processes import the same file
// into one store record by record, one after the other; the second is
// refused.
func TestImportDuplicatesProcesses(t *testing.T) {
	proc.Skip(t)
	file := bigSession(t, "dupp", 20)
	_, path := newStore(t)
	var outs []string
	for range 2 {
		p := proc.Start(t, proc.Spec{Role: "jsonl-import-once", Args: dupArgs{Path: path, File: string(file)}})
		var out []string
		p.Lines(func(l string) { out = append(out, l) })
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, strings.Join(out, ";"))
	}
	if outs[0] != "imported" || outs[1] != "refused" {
		t.Fatalf("the processes said %q, want imported then refused", outs)
	}
	s := openStore(t, path)
	if evs, err := s.EventsSince(context.Background(), abi.SessionID("dupp"), 0, 0); err != nil || len(evs) != 20 {
		t.Fatalf("%d events stored, %v; want 20", len(evs), err)
	}
}
