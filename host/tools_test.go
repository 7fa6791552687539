package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

func TestToolIntentsAndOrphans(t *testing.T) {
	s, _ := openEncStore(t)
	ctx := context.Background()
	t0 := time.Date(2025, 5, 5, 10, 0, 0, 0, time.UTC)
	intents := []abi.ToolIntent{
		{Session: "s1", Turn: 1, CallID: "c1", Tool: "bash", Args: json.RawMessage(`{"cmd":"ls"}`), StartedAt: t0.Add(1 * time.Second)},
		{Session: "s1", Turn: 2, CallID: "c2", Tool: "read", Args: json.RawMessage(`{"path":"a.go"}`), ArgsHash: "caller-hash", StartedAt: t0.Add(2 * time.Second)},
		{Session: "s2", Turn: 1, CallID: "c1", Tool: "edit", StartedAt: t0.Add(3 * time.Second)}, // no args
		{Session: "s1", Turn: 3, CallID: "c3", Tool: "bash", Args: json.RawMessage(`{"cmd":"make"}`), StartedAt: t0.Add(4 * time.Second)},
	}
	for _, in := range intents {
		if err := s.RecordToolIntent(ctx, in); err != nil {
			t.Fatalf("RecordToolIntent(%s/%s): %v", in.Session, in.CallID, err)
		}
	}
	// Expected as read back: an empty hash is filled from the arguments.
	want := make([]abi.ToolIntent, len(intents))
	copy(want, intents)
	want[0].ArgsHash = host.HashArgs([]byte(`{"cmd":"ls"}`))
	want[2].ArgsHash = host.HashArgs(nil)
	want[3].ArgsHash = host.HashArgs([]byte(`{"cmd":"make"}`))

	check := func(sess abi.SessionID, wantIdx ...int) {
		t.Helper()
		got, err := s.OrphanIntents(ctx, sess)
		if err != nil {
			t.Fatalf("OrphanIntents(%q): %v", sess, err)
		}
		if len(got) != len(wantIdx) {
			t.Fatalf("OrphanIntents(%q) = %d intents %v, want %d", sess, len(got), callIDs(got), len(wantIdx))
		}
		for i, j := range wantIdx {
			g, w := got[i], want[j]
			if g.Session != w.Session || g.CallID != w.CallID || g.Turn != w.Turn || g.Tool != w.Tool ||
				g.ArgsHash != w.ArgsHash || string(g.Args) != string(w.Args) || !g.StartedAt.Equal(w.StartedAt) {
				t.Errorf("OrphanIntents(%q)[%d] = %+v\nwant %+v", sess, i, g, w)
			}
		}
	}
	check("", 0, 1, 2, 3) // every session, oldest first
	check("s1", 0, 1, 3)
	check("s2", 2)
	check("nobody")

	outcomes := []abi.ToolOutcome{
		{Session: "s1", CallID: "c1", Status: abi.StatusOK, Result: json.RawMessage(`{"out":"a.go b.go"}`), EndedAt: t0.Add(5 * time.Second)},
		{Session: "s2", CallID: "c1", Status: abi.StatusError, Error: "exit status 1"},
		// An outcome for a call that had no intent is accepted and does not
		// create an orphan.
		{Session: "s3", CallID: "ghost", Status: abi.StatusCanceled},
	}
	for _, out := range outcomes {
		if err := s.RecordToolOutcome(ctx, out); err != nil {
			t.Fatalf("RecordToolOutcome(%s/%s): %v", out.Session, out.CallID, err)
		}
	}
	// s1/c1 is resolved; s2/c1 is resolved although s1 has a call c1 too.
	check("", 1, 3)
	check("s1", 1, 3)
	check("s2")
	check("s3")

	// Recording an outcome again replaces it; the intent stays resolved.
	if err := s.RecordToolOutcome(ctx, abi.ToolOutcome{Session: "s1", CallID: "c1", Status: abi.StatusTimeout}); err != nil {
		t.Fatal(err)
	}
	check("s1", 1, 3)

	// Recording an intent again replaces it.
	again := abi.ToolIntent{Session: "s1", Turn: 9, CallID: "c3", Tool: "grep", Args: json.RawMessage(`{"q":"x"}`), StartedAt: t0.Add(6 * time.Second)}
	if err := s.RecordToolIntent(ctx, again); err != nil {
		t.Fatal(err)
	}
	again.ArgsHash = host.HashArgs(again.Args)
	want[3] = again
	check("s1", 1, 3)
}

func callIDs(list []abi.ToolIntent) []string {
	var ids []string
	for _, in := range list {
		ids = append(ids, string(in.Session)+"/"+in.CallID)
	}
	return ids
}

func TestToolIntentZeroStartedAt(t *testing.T) {
	s, _ := openPlainStore(t)
	before := time.Now()
	if err := s.RecordToolIntent(context.Background(), abi.ToolIntent{Session: "s", CallID: "c", Tool: "t"}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	got, err := s.OrphanIntents(context.Background(), "s")
	if err != nil || len(got) != 1 {
		t.Fatalf("OrphanIntents = %v, %v", got, err)
	}
	if got[0].StartedAt.Before(before) || got[0].StartedAt.After(after) {
		t.Fatalf("StartedAt = %v, want between %v and %v", got[0].StartedAt, before, after)
	}
}

func TestToolIntentArgsRedacted(t *testing.T) {
	s, path := openPlainStore(t)
	ctx := context.Background()
	key := fakeOpenAIKey(4)
	args := `{"cmd":"curl -H 'X-Key: ` + key + `' https://api.example.com"}`
	if err := s.RecordToolIntent(ctx, abi.ToolIntent{Session: "s", CallID: "c1", Tool: "bash", Args: json.RawMessage(args)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.OrphanIntents(ctx, "s")
	if err != nil || len(got) != 1 {
		t.Fatalf("OrphanIntents = %v, %v", got, err)
	}
	if a := string(got[0].Args); strings.Contains(a, key) || !strings.Contains(a, "«redacted:") || !json.Valid(got[0].Args) {
		t.Errorf("stored args = %s, want valid JSON with the key redacted", a)
	}
	// The hash is of the arguments as given, before redaction.
	if got[0].ArgsHash != host.HashArgs([]byte(args)) {
		t.Errorf("ArgsHash = %s, want HashArgs of the original arguments", got[0].ArgsHash)
	}

	// Outcome results and error text are redacted too; outcomes cannot be
	// read back, so look for the secrets in the file. A control secret
	// written with redaction off proves the scan finds what is there.
	resultKey, errKey, controlKey := fakeOpenAIKey(5), fakeOpenAIKey(6), fakeOpenAIKey(7)
	if err := s.RecordToolOutcome(ctx, abi.ToolOutcome{Session: "s", CallID: "c1", Status: abi.StatusError,
		Result: json.RawMessage(`{"stdout":"` + resultKey + `"}`), Error: "auth failed for " + errKey}); err != nil {
		t.Fatal(err)
	}
	s.Redactors = nil
	if err := s.RecordToolOutcome(ctx, abi.ToolOutcome{Session: "s", CallID: "control", Status: abi.StatusOK,
		Result: json.RawMessage(`{"stdout":"` + controlKey + `"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]string{"intent args": key, "outcome result": resultKey, "outcome error": errKey} {
		if n := total(countInStoreFiles(t, path, []byte(k))); n != 0 {
			t.Errorf("%s: secret found %d times in the store files", name, n)
		}
	}
	if n := total(countInStoreFiles(t, path, []byte(controlKey))); n == 0 {
		t.Error("control secret (stored with redaction off) not found: the file scan proves nothing")
	}
}

func TestToolBadInput(t *testing.T) {
	s, _ := openEncStore(t)
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	good := abi.ToolIntent{Session: "s", CallID: "c", Tool: "bash", Args: json.RawMessage(`{}`)}
	intentTests := []struct {
		name string
		ctx  context.Context
		edit func(*abi.ToolIntent)
		want error
	}{
		{"empty session", ctx, func(in *abi.ToolIntent) { in.Session = "" }, host.ErrEmptySession},
		{"empty call ID", ctx, func(in *abi.ToolIntent) { in.CallID = "" }, host.ErrInvalidArgument},
		{"empty tool", ctx, func(in *abi.ToolIntent) { in.Tool = "" }, host.ErrInvalidArgument},
		{"invalid args", ctx, func(in *abi.ToolIntent) { in.Args = json.RawMessage(`{"a":`) }, host.ErrInvalidPayload},
		{"empty non-nil args", ctx, func(in *abi.ToolIntent) { in.Args = json.RawMessage{} }, host.ErrInvalidPayload},
		{"canceled context", canceled, func(*abi.ToolIntent) {}, context.Canceled},
	}
	for _, tt := range intentTests {
		in := good
		tt.edit(&in)
		if err := s.RecordToolIntent(tt.ctx, in); !errors.Is(err, tt.want) {
			t.Errorf("RecordToolIntent %s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if got, err := s.OrphanIntents(ctx, ""); err != nil || len(got) != 0 {
		t.Fatalf("OrphanIntents after failed intents = %v, %v; want none", callIDs(got), err)
	}

	if err := s.RecordToolIntent(ctx, good); err != nil {
		t.Fatal(err)
	}
	okOut := abi.ToolOutcome{Session: "s", CallID: "c", Status: abi.StatusOK, Result: json.RawMessage(`{}`)}
	outcomeTests := []struct {
		name string
		ctx  context.Context
		edit func(*abi.ToolOutcome)
		want error
	}{
		{"empty session", ctx, func(o *abi.ToolOutcome) { o.Session = "" }, host.ErrEmptySession},
		{"empty call ID", ctx, func(o *abi.ToolOutcome) { o.CallID = "" }, host.ErrInvalidArgument},
		{"empty status", ctx, func(o *abi.ToolOutcome) { o.Status = "" }, host.ErrInvalidArgument},
		{"invalid result", ctx, func(o *abi.ToolOutcome) { o.Result = json.RawMessage(`nope`) }, host.ErrInvalidPayload},
		{"canceled context", canceled, func(*abi.ToolOutcome) {}, context.Canceled},
	}
	for _, tt := range outcomeTests {
		out := okOut
		tt.edit(&out)
		if err := s.RecordToolOutcome(tt.ctx, out); !errors.Is(err, tt.want) {
			t.Errorf("RecordToolOutcome %s: %v, want %v", tt.name, err, tt.want)
		}
	}
	// None of the failed outcomes resolved the intent.
	if got, err := s.OrphanIntents(ctx, "s"); err != nil || len(got) != 1 {
		t.Fatalf("OrphanIntents after failed outcomes = %v, %v; want the one intent", callIDs(got), err)
	}
	if _, err := s.OrphanIntents(canceled, "s"); !errors.Is(err, context.Canceled) {
		t.Errorf("OrphanIntents(canceled): %v, want context.Canceled", err)
	}
}

func TestOrphanIntentsManySessions(t *testing.T) {
	s, _ := openPlainStore(t)
	ctx := context.Background()
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 30 {
		in := abi.ToolIntent{Session: abi.SessionID(fmt.Sprint("m", i%3)), CallID: fmt.Sprint("call-", i), Tool: "t",
			StartedAt: t0.Add(time.Duration(30-i) * time.Second)} // newest first
		if err := s.RecordToolIntent(ctx, in); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := s.RecordToolOutcome(ctx, abi.ToolOutcome{Session: in.Session, CallID: in.CallID, Status: abi.StatusOK}); err != nil {
				t.Fatal(err)
			}
		}
	}
	all, err := s.OrphanIntents(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 15 {
		t.Fatalf("%d orphans, want 15", len(all))
	}
	for i, in := range all {
		var n int
		fmt.Sscanf(in.CallID, "call-%d", &n)
		if n%2 == 0 {
			t.Errorf("resolved call %s listed as orphan", in.CallID)
		}
		if i > 0 && in.StartedAt.Before(all[i-1].StartedAt) {
			t.Errorf("orphans not oldest first: %v after %v", in.StartedAt, all[i-1].StartedAt)
		}
	}
}

// TestToolTimestampOutOfRange: like TestAppendTimestampOutOfRange, for
// StartedAt.
func TestToolTimestampOutOfRange(t *testing.T) {
	s, _ := openPlainStore(t)
	ts := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	err := s.RecordToolIntent(context.Background(), abi.ToolIntent{Session: "s", CallID: "c", Tool: "t", StartedAt: ts})
	if err != nil {
		if !errors.Is(err, host.ErrInvalidArgument) {
			t.Fatalf("RecordToolIntent(StartedAt %v): %v, want nil or ErrInvalidArgument", ts, err)
		}
		return
	}
	got, err := s.OrphanIntents(context.Background(), "s")
	if err != nil || len(got) != 1 {
		t.Fatalf("OrphanIntents = %v, %v", got, err)
	}
	if !got[0].StartedAt.Equal(ts) {
		t.Errorf("StartedAt %v accepted, reads back %v", ts, got[0].StartedAt.UTC())
	}
}
