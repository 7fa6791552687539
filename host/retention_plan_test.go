package host_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
)

// planString formats a plan's sessions as "sess:payloads/events/tools/attempts ...".
func planString(p *host.RetentionPlan) string {
	s := ""
	for i, sr := range p.Sessions {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s:%d/%d/%d/%d", sr.Session, sr.Payloads, sr.Events, sr.ToolCalls, sr.Attempts)
	}
	return s
}

// recordOldAttempt records a provider attempt of sess started at ts.
func recordOldAttempt(t *testing.T, s *host.Store, sess abi.SessionID, ts time.Time) {
	t.Helper()
	_, err := s.RecordAttempt(context.Background(), abi.ProviderAttempt{Session: string(sess), Turn: 1, Provider: "p", Model: "m",
		StartedAt: ts, EndedAt: ts, TerminatedReason: abi.AttemptComplete, EstimatedUSD: 0.25})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPlanRetention: the plan counts per session what ApplyRetention and
// DropMetadata then remove, leaves pinned sessions out, and changes no
// byte of the store's files.
func TestPlanRetention(t *testing.T) {
	const age = 24 * time.Hour
	ctx := context.Background()
	s, path := openEncStore(t)
	fillRetention(t, s, age)
	recordOldAttempt(t, s, "old", oldTS(2*age))
	recordOldAttempt(t, s, "pinned", oldTS(2*age))
	recordOldAttempt(t, s, "recent", oldTS(time.Minute))

	db, wal := fileDigest(t, path), fileDigest(t, path+"-wal")
	plan, err := s.PlanRetention(ctx, age, age)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := planString(plan), "exempt:3/3/1/0 old:3/3/1/1"; got != want {
		t.Errorf("plan = %s, want %s", got, want)
	}
	if plan.PayloadCutoff.IsZero() || plan.MetadataCutoff.IsZero() || time.Since(plan.PayloadCutoff) < age {
		t.Errorf("cutoffs %v, %v; want about %v ago", plan.PayloadCutoff, plan.MetadataCutoff, age)
	}
	if fileDigest(t, path) != db || fileDigest(t, path+"-wal") != wal {
		t.Error("PlanRetention changed the store's files")
	}

	// One step at a time.
	only, err := s.PlanRetention(ctx, age, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := planString(only), "exempt:3/0/0/0 old:3/0/0/0"; got != want || !only.MetadataCutoff.IsZero() {
		t.Errorf("payload-only plan = %s (metadata cutoff %v), want %s", got, only.MetadataCutoff, want)
	}
	only, err = s.PlanRetention(ctx, 0, age)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := planString(only), "exempt:0/3/1/0 old:0/3/1/1"; got != want || !only.PayloadCutoff.IsZero() {
		t.Errorf("metadata-only plan = %s (payload cutoff %v), want %s", got, only.PayloadCutoff, want)
	}

	// The real run removes what the plan counted.
	tot := plan.Totals()
	n, err := s.ApplyRetention(ctx, age)
	if err != nil || n != tot.Payloads {
		t.Errorf("ApplyRetention = %d, %v; the plan counted %d payloads", n, err, tot.Payloads)
	}
	n, err = s.DropMetadata(ctx, age, nil)
	if err != nil || n != tot.Events {
		t.Errorf("DropMetadata = %d, %v; the plan counted %d events", n, err, tot.Events)
	}
	after, err := s.PlanRetention(ctx, age, age)
	if err != nil || len(after.Sessions) != 0 {
		t.Errorf("plan after the run = %s, %v; want nothing left", planString(after), err)
	}
}

// TestPlanRetentionInvalid: no duration, a negative one or a cutoff out
// of range is ErrInvalidArgument.
func TestPlanRetentionInvalid(t *testing.T) {
	s, _ := openPlainStore(t)
	ctx := context.Background()
	for _, d := range [][2]time.Duration{{0, 0}, {-time.Hour, 0}, {0, -time.Second}} {
		if p, err := s.PlanRetention(ctx, d[0], d[1]); !errors.Is(err, host.ErrInvalidArgument) {
			t.Errorf("PlanRetention(%v, %v) = %v, %v; want ErrInvalidArgument", d[0], d[1], p, err)
		}
	}
	// A cutoff before 1678 (a clock in 1800 minus 292 years).
	clock := time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC)
	early, err := host.OpenWithConfig(tempStorePath(t), host.NewConfig().WithClock(func() time.Time { return clock }))
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()
	if p, err := early.PlanRetention(ctx, 0, time.Duration(math.MaxInt64)); !errors.Is(err, host.ErrInvalidArgument) {
		t.Errorf("PlanRetention with a cutoff before 1678 = %v, %v; want ErrInvalidArgument", p, err)
	}
	// An empty store plans nothing.
	p, err := s.PlanRetention(ctx, time.Hour, time.Hour)
	if err != nil || p.Sessions == nil || len(p.Sessions) != 0 {
		t.Errorf("empty store: plan %+v, %v; want an empty list", p, err)
	}
}

// TestPlanRetentionTwoHandles: a plan read through one handle sees the
// pins and events another handle on the same file committed.
func TestPlanRetentionTwoHandles(t *testing.T) {
	ctx := context.Background()
	a, path := openPlainStore(t)
	b, err := host.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	old := storeEvent("x", 1, abi.KindUserMessage, `{"text":"old"}`)
	old.TS = oldTS(48 * time.Hour)
	mustAppend(t, a, old)
	p, err := b.PlanRetention(ctx, time.Hour, 0)
	if err != nil || planString(p) != "x:1/0/0/0" {
		t.Fatalf("plan through the second handle = %v, %v; want x:1/0/0/0", p, err)
	}
	if err := a.Pin(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if p, err = b.PlanRetention(ctx, time.Hour, 0); err != nil || len(p.Sessions) != 0 {
		t.Fatalf("plan after the other handle pinned x = %s, %v; want nothing", planString(p), err)
	}
}

var _ = proc.Role("plan-writer", planWriterChild)

// planWriterChild pins session "keep" and appends an old event of session
// "child" to the store named by its arguments.
func planWriterChild() int {
	var path string
	if err := proc.Args(&path); err != nil {
		proc.Fail("%v", err)
	}
	s, err := host.Open(path)
	if err != nil {
		proc.Fail("%v", err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Pin(ctx, "keep"); err != nil {
		proc.Fail("%v", err)
	}
	e := storeEvent("child", 1, abi.KindUserMessage, `{"text":"from the child"}`)
	e.TS = oldTS(72 * time.Hour)
	if _, err := s.Append(ctx, e); err != nil {
		proc.Fail("%v", err)
	}
	return 0
}

// TestPlanRetentionProcesses: a plan in one process sees what another
// process committed to the same files while the first had the store open.
func TestPlanRetentionProcesses(t *testing.T) {
	proc.Skip(t)
	ctx := context.Background()
	s, path := openPlainStore(t)
	for _, sess := range []abi.SessionID{"keep", "drop"} {
		e := storeEvent(sess, 1, abi.KindUserMessage, `{"text":"old"}`)
		e.TS = oldTS(48 * time.Hour)
		mustAppend(t, s, e)
	}
	p, err := s.PlanRetention(ctx, time.Hour, time.Hour)
	if err != nil || planString(p) != "drop:1/1/0/0 keep:1/1/0/0" {
		t.Fatalf("plan = %v, %v", p, err)
	}
	out, err := proc.Run(t, proc.Spec{Role: "plan-writer", Args: path, Env: childEnv(childCacheDir(t))})
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	p, err = s.PlanRetention(ctx, time.Hour, time.Hour)
	if err != nil || planString(p) != "child:1/1/0/0 drop:1/1/0/0" {
		t.Fatalf("plan after the other process pinned keep and appended = %s, %v; want child:1/1/0/0 drop:1/1/0/0", planString(p), err)
	}
}
