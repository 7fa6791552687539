package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/jsonl"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sandbox"
)

// demoStamp marks a directory the demo made, so that a rerun with the same
// --dir may replace the demo's files in it and nothing else.
const demoStamp = ".gofastr-demo"

// demoMarkerSession is the session the demo appends its marker event to.
const demoMarkerSession = "demo-marker"

// errDemoPlaintext is returned when the marker scan finds plaintext in a
// file of the demo's store.
var errDemoPlaintext = errors.New("demo: plaintext found in the store's files")

// errNoSourceTree is returned when the demo cannot find the checkout whose
// testdata it imports.
var errNoSourceTree = errors.New("demo: no gofastr source tree")

// demoReport is what the demo prints (as JSON with --json).
type demoReport struct {
	Dir      string `json:"dir"`
	Kept     bool   `json:"kept"`
	Store    string `json:"store"`
	Ledger   string `json:"ledger"`
	KEK      string `json:"kek"`
	KEKPath  string `json:"kek_path,omitempty"`
	KEKMade  bool   `json:"kek_created,omitempty"`
	Imported struct {
		Files    int `json:"files"`
		Events   int `json:"events"`
		Intents  int `json:"tool_intents"`
		Outcomes int `json:"tool_outcomes"`
		Attempts int `json:"attempts"`
		Pins     int `json:"pins"`
	} `json:"imported"`
	LedgerSynced  int                `json:"ledger_entries_synced"`
	Sessions      []demoSession      `json:"sessions"`
	Totals        demoSession        `json:"totals"`
	Orphans       []abi.ToolIntent   `json:"orphans"`
	ByProvider    []demoProviderCost `json:"cost_by_provider"`
	Guests        demoGuests         `json:"guests"`
	Reconciled    []reconcileOut     `json:"reconciliations"`
	NotReconciled []string           `json:"not_reconciled,omitempty"`
	MarkerScan    scanResult         `json:"marker_scan"`
	Steps         []demoStep         `json:"steps"`
	Elapsed       string             `json:"elapsed"`
}

type demoSession struct {
	ID        string `json:"id,omitempty"`
	Events    int    `json:"events"`
	ToolCalls int    `json:"tool_calls"`
	Orphans   int    `json:"orphans"`
	Attempts  int    `json:"attempts"`
	Unpriced  int    `json:"unpriced"`
	CostNanos int64  `json:"cost_nanos"`
	Pinned    bool   `json:"pinned,omitempty"`
}

type demoProviderCost struct {
	Provider  string `json:"provider"`
	Attempts  int    `json:"attempts"`
	Unpriced  int    `json:"unpriced"`
	CostNanos int64  `json:"cost_nanos"`
}

type demoGuests struct {
	// Skipped says why the guests did not run; empty when they did.
	Skipped string         `json:"skipped,omitempty"`
	Cached  bool           `json:"cached,omitempty"`
	Runs    []demoGuestRun `json:"runs,omitempty"`
}

type demoGuestRun struct {
	Guest      string         `json:"guest"`
	Session    string         `json:"session,omitempty"`
	ExitCode   uint32         `json:"exit_code"`
	Emitted    int            `json:"emitted,omitempty"`
	Summary    string         `json:"summary"`
	Divergence *divergenceOut `json:"divergence,omitempty"`
}

type demoStep struct {
	Name    string `json:"name"`
	Elapsed string `json:"elapsed"`
}

func init() {
	var dir, src string
	register(&command{
		name:    "demo",
		summary: "build a demo store from the recorded sessions and show what the store does",
		help: `
Runs the whole store once on the recorded sessions of the source tree
(testdata/sessions), in a few seconds, and prints a report:

 1. creates a fresh encrypted store and cost ledger in a temporary
    directory (removed at the end) or in --dir (kept);
 2. imports the recorded sessions (JSONL), then copies their provider
    attempts into the cost ledger;
 3. runs three example guests in the sandbox: replay checks every
    session's invariants, costaudit recomputes every attempt's cost from the
    pricing table, agentloop replays each session as an agent loop and the
    sandbox compares what it emits with the recording. They are built with
    "go build" (GOOS=wasip1) and kept in a cache directory; without the go
    command this section is skipped, and says so;
 4. reconciles the estimates with the recorded billing responses of
    testdata/billing, served by a local HTTP server to the real billing
    fetchers, and saves the results;
 5. appends an event holding a random marker, then reads every file in the
    store's directory (database, WAL, shared memory, DEK header, ledger),
    while the store is open and after it is closed, for the marker and for
    strings of the imported sessions; finding one is an error.

The report lists the sessions with their events, tool calls, orphaned tool
calls (intents without an outcome), attempts and cost, the cost by provider
(from the ledger), the guests' results, the reconciliation variance per
provider and the marker scan. With --json, the same as one JSON object.

Keys: with --kek-file, --kek-env, --passphrase or $GOFASTR_KEK, the store is
encrypted under that KEK. Otherwise the demo uses a machine key of its own,
created on first use in $XDG_STATE_HOME/gofastr/demo/kek
(~/.local/state/gofastr/demo/kek), never the machine key of real stores
in the configuration directory; the report names it. With --dir, open the
kept store afterwards with
  runner --db DIR/sessions.db --kek-file ~/.local/state/gofastr/demo/kek sessions

The demo ignores --db and --ledger. Rerunning is safe: a temporary
directory is new every time, and --dir replaces the files of an earlier
demo in that directory (it refuses a non-empty directory the demo did not
make).

Example:
  make demo
  go run ./cmd/runner demo --dir /tmp/gofastr-demo --json`,
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&dir, "dir", "", "create the store in `DIR` and keep it (default: a temporary directory, removed)")
			fs.StringVar(&src, "src", "", "the gofastr source tree `DIR` holding testdata (default: the checkout containing the current directory)")
		},
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) > 0 {
				return usagef("demo: unexpected argument %q", args[0])
			}
			return a.demo(ctx, dir, src)
		},
	})
}

// findSourceTree returns the root of the gofastr checkout: src if given,
// else the nearest directory at or above the current one whose go.mod
// declares the module.
func findSourceTree(src string) (string, error) {
	check := func(d string) bool {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err != nil || !bytes.HasPrefix(b, []byte("module github.com/gofastr/store\n")) {
			return false
		}
		_, err = os.Stat(filepath.Join(d, "testdata", "sessions"))
		return err == nil
	}
	if src != "" {
		if !check(src) {
			return "", fmt.Errorf("%w at --src %s (no go.mod of github.com/gofastr/store with testdata/sessions)", errNoSourceTree, src)
		}
		return filepath.Abs(src)
	}
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if check(d) {
			return d, nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", fmt.Errorf("%w in the current directory or above: run the demo from a checkout (git clone, then make demo) or give --src", errNoSourceTree)
		}
		d = up
	}
}

// demoKEKPath returns the demo's own machine key file:
// $XDG_STATE_HOME/gofastr/demo/kek, or ~/.local/state/gofastr/demo/kek.
func (a *app) demoKEKPath() (string, error) {
	if d := a.getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "gofastr", "demo", "kek"), nil
	}
	home := a.getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("demo: no home directory for the demo's key: %w (give --kek-file)", err)
		}
		home = h
	}
	return filepath.Join(home, ".local", "state", "gofastr", "demo", "kek"), nil
}

// demoDir prepares the demo's directory: a new temporary one, or dir,
// created, or emptied of an earlier demo's files. kept reports whether it
// is dir, made whether the demo created it.
func demoDir(dir string) (path string, kept, made bool, err error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "gofastr-demo-")
		return d, false, true, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", false, false, err
	}
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", false, false, err
		}
		made = true
	case err != nil:
		return "", false, false, err
	case len(ents) > 0:
		if _, err := os.Stat(filepath.Join(dir, demoStamp)); err != nil {
			return "", false, false, fmt.Errorf("demo: --dir %s is not empty and was not made by the demo: give a new or empty directory", dir)
		}
		for _, e := range ents {
			// Lock files stay: they are never deleted (another process
			// may hold them).
			n := e.Name()
			if strings.HasSuffix(n, ".lock") {
				continue
			}
			if n == demoStamp || strings.HasPrefix(n, "sessions.db") || strings.HasPrefix(n, "costs.db") {
				if err := os.Remove(filepath.Join(dir, n)); err != nil {
					return "", false, false, err
				}
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, demoStamp), []byte("made by runner demo; a rerun with --dir replaces the demo's files here\n"), 0o600); err != nil {
		return "", false, made, err
	}
	return dir, true, made, nil
}

func (a *app) demo(ctx context.Context, keepDir, src string) (err error) {
	start := time.Now()
	if a.db != host.DefaultPath() {
		return usagef("demo: makes its own store; use --dir instead of --db")
	}
	root, err := findSourceTree(src)
	if err != nil {
		return err
	}
	var rep demoReport
	last := start
	step := func(name string) {
		now := time.Now()
		rep.Steps = append(rep.Steps, demoStep{name, now.Sub(last).Round(time.Millisecond).String()})
		a.debugf("demo: %s: %s", name, now.Sub(last).Round(time.Millisecond))
		last = now
	}

	// The KEK.
	var kek keyring.KEKSource
	if a.kekFile != "" || a.kekEnv != "" || a.passphrase || a.getenv(keyring.DefaultEnvVar) != "" {
		if kek, err = a.kekSource(); err != nil {
			return err
		}
		rep.KEK = kek.Name()
	} else {
		if rep.KEKPath, err = a.demoKEKPath(); err != nil {
			return err
		}
		_, statErr := os.Stat(rep.KEKPath)
		rep.KEKMade = errors.Is(statErr, fs.ErrNotExist)
		kek = keyring.MachineKEK(rep.KEKPath)
		rep.KEK = "demo machine key"
	}

	dir, kept, made, err := demoDir(keepDir)
	if made {
		// A temporary directory goes at the end; a --dir the demo
		// created goes if the demo fails.
		defer func() {
			if !kept || err != nil {
				os.RemoveAll(dir)
			}
		}()
	}
	if err != nil {
		return err
	}
	rep.Dir, rep.Kept = dir, kept
	rep.Store = filepath.Join(dir, "sessions.db")
	rep.Ledger = filepath.Join(dir, "costs.db")
	cfg := a.config().WithKEKSource(kek)
	s, err := host.OpenWithConfig(rep.Store, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	ledger, err := host.OpenCostLedgerWithConfig(rep.Ledger, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if ledger != nil {
			ledger.Close()
		}
	}()
	step("open store and ledger")

	// Import, then the ledger.
	files, err := filepath.Glob(filepath.Join(root, "testdata", "sessions", "*.jsonl"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("%w: no recorded sessions in %s", errNoSourceTree, filepath.Join(root, "testdata", "sessions"))
	}
	slices.Sort(files)
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			return err
		}
		st, err := jsonl.Import(ctx, s, r)
		r.Close()
		if err != nil {
			return fmt.Errorf("import %s: %w", f, err)
		}
		rep.Imported.Files++
		rep.Imported.Events += st.Events
		rep.Imported.Intents += st.ToolIntents
		rep.Imported.Outcomes += st.ToolOutcomes
		rep.Imported.Attempts += st.Attempts
		rep.Imported.Pins += st.Pins
	}
	if rep.LedgerSynced, err = ledger.SyncAttempts(ctx, ledgerSource(s), s); err != nil {
		return err
	}
	step("import and ledger sync")

	// Sessions, orphans, attempts, costs.
	attempts, err := a.demoTables(ctx, s, ledger, &rep)
	if err != nil {
		return err
	}
	step("read sessions and costs")

	// Guests.
	if err := a.demoGuests(ctx, s, root, &rep); err != nil {
		return err
	}
	step("guests")

	// Reconciliation over the months the attempts span.
	var first, lastT time.Time
	billed := map[string]bool{}
	for _, b := range demoBillings {
		billed[b.provider] = true
	}
	seen := map[string]bool{}
	for _, at := range attempts {
		if first.IsZero() || at.StartedAt.Before(first) {
			first = at.StartedAt
		}
		if at.StartedAt.After(lastT) {
			lastT = at.StartedAt
		}
		if !billed[at.Provider] && !seen[at.Provider] {
			seen[at.Provider] = true
			rep.NotReconciled = append(rep.NotReconciled, at.Provider)
		}
	}
	if !first.IsZero() {
		first, lastT = first.UTC(), lastT.UTC()
		pStart := time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC)
		pEnd := time.Date(lastT.Year(), lastT.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		if rep.Reconciled, err = demoReconcile(ctx, s, filepath.Join(root, "testdata", "billing"), pStart, pEnd); err != nil {
			return err
		}
	}
	slices.Sort(rep.NotReconciled)
	step("reconcile")

	// The marker scan.
	var mark [12]byte
	rand.Read(mark[:])
	marker := "gofastr-demo-marker-" + hex.EncodeToString(mark[:])
	payload, _ := json.Marshal(map[string]string{"text": marker})
	if _, err := s.Append(ctx, abi.EventEnvelope{
		Session: demoMarkerSession, Turn: 1, Kind: abi.KindUserMessage, TS: time.Now(), Payload: payload,
	}); err != nil {
		return err
	}
	needles := map[string][]byte{"marker": []byte(marker)}
	for _, p := range rep.Sessions {
		needles["session ID "+p.ID] = []byte(p.ID)
	}
	for _, o := range rep.Orphans {
		needles["call ID "+o.CallID] = []byte(o.CallID)
	}
	list, err := s.ListPastSessions(ctx, 0)
	if err != nil {
		return err
	}
	for _, p := range list {
		if m := []rune(p.FirstUserMessage); len(m) >= 24 && p.ID != demoMarkerSession {
			needles["first message of "+string(p.ID)] = []byte(string(m[:24]))
		}
	}
	open, err := scanDir(dir, needles)
	if err != nil {
		return err
	}
	err = s.Close()
	s = nil
	if err != nil {
		return err
	}
	err = ledger.Close()
	ledger = nil
	if err != nil {
		return err
	}
	closed, err := scanDir(dir, needles)
	if err != nil {
		return err
	}
	rep.MarkerScan = closed
	rep.MarkerScan.Hits = append(open.Hits, closed.Hits...)
	rep.MarkerScan.Bytes = max(open.Bytes, closed.Bytes)
	for _, f := range open.Files {
		if !slices.Contains(rep.MarkerScan.Files, f) {
			rep.MarkerScan.Files = append(rep.MarkerScan.Files, f)
		}
	}
	slices.Sort(rep.MarkerScan.Files)
	rep.MarkerScan.Hits = slices.Compact(slices.Sorted(slices.Values(rep.MarkerScan.Hits)))
	step("marker scan")
	rep.Elapsed = time.Since(start).Round(time.Millisecond).String()

	if a.json {
		err = a.printJSON(rep)
	} else {
		err = a.printDemo(&rep)
	}
	if err != nil {
		return err
	}
	if len(rep.MarkerScan.Hits) > 0 {
		return fmt.Errorf("%w: %s", errDemoPlaintext, strings.Join(rep.MarkerScan.Hits, "; "))
	}
	if rep.Guests.Skipped == "" {
		for _, r := range rep.Guests.Runs {
			if r.ExitCode != 0 || r.Divergence != nil {
				return fmt.Errorf("demo: guest %s %s: exit %d, divergence %v", r.Guest, r.Session, r.ExitCode, r.Divergence != nil)
			}
		}
	}
	return nil
}

// demoTables fills in the sessions, orphans and costs of the report, and
// returns the store's attempts.
func (a *app) demoTables(ctx context.Context, s *host.Store, ledger *host.CostLedger, rep *demoReport) ([]abi.ProviderAttempt, error) {
	list, err := s.ListPastSessions(ctx, 0)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(list, func(x, y abi.PastSession) int { return strings.Compare(string(x.ID), string(y.ID)) })
	if rep.Orphans, err = s.OrphanIntents(ctx, ""); err != nil {
		return nil, err
	}
	attempts, err := s.AttemptsSince(ctx, 0, 0)
	if err != nil {
		return nil, err
	}
	bySession, err := ledger.CostBySessionNanos(ctx, time.Time{})
	if err != nil {
		return nil, err
	}
	byProvider, err := ledger.CostByProviderNanos(ctx, time.Time{})
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	for _, p := range list {
		idx[string(p.ID)] = len(rep.Sessions)
		rep.Sessions = append(rep.Sessions, demoSession{
			ID: string(p.ID), Events: p.Events, ToolCalls: p.ToolCalls, Pinned: p.Pinned,
			CostNanos: int64(bySession[string(p.ID)]),
		})
	}
	for _, o := range rep.Orphans {
		if i, ok := idx[string(o.Session)]; ok {
			rep.Sessions[i].Orphans++
		}
	}
	prov := map[string]*demoProviderCost{}
	for _, at := range attempts {
		unpriced := at.Price != nil && at.Price.Unpriced()
		if i, ok := idx[at.Session]; ok {
			rep.Sessions[i].Attempts++
			if unpriced {
				rep.Sessions[i].Unpriced++
			}
		}
		p := prov[at.Provider]
		if p == nil {
			p = &demoProviderCost{Provider: at.Provider, CostNanos: int64(byProvider[at.Provider])}
			prov[at.Provider] = p
		}
		p.Attempts++
		if unpriced {
			p.Unpriced++
		}
	}
	for _, p := range prov {
		rep.ByProvider = append(rep.ByProvider, *p)
	}
	slices.SortFunc(rep.ByProvider, func(x, y demoProviderCost) int {
		if x.CostNanos != y.CostNanos {
			return int(min(max(y.CostNanos-x.CostNanos, -1), 1))
		}
		return strings.Compare(x.Provider, y.Provider)
	})
	for _, p := range rep.Sessions {
		t := &rep.Totals
		t.Events += p.Events
		t.ToolCalls += p.ToolCalls
		t.Orphans += p.Orphans
		t.Attempts += p.Attempts
		t.Unpriced += p.Unpriced
		t.CostNanos += p.CostNanos
	}
	if rep.Orphans == nil {
		rep.Orphans = []abi.ToolIntent{}
	}
	return attempts, nil
}

// demoGuests builds and runs the example guests, or says why not.
func (a *app) demoGuests(ctx context.Context, s *host.Store, root string, rep *demoReport) error {
	scratch, err := os.MkdirTemp("", "gofastr-demo-guests-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	t0 := time.Now()
	mods, cached, err := buildDemoGuests(ctx, root, a.guestCacheDir(), scratch)
	if errors.Is(err, errNoGoTool) {
		rep.Guests.Skipped = err.Error()
		return nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("demo: building the example guests: %w", err)
	}
	rep.Guests.Cached = cached
	a.debugf("demo: guests built (cached %v): %s", cached, time.Since(t0).Round(time.Millisecond))
	table, err := os.ReadFile(filepath.Join(root, "pricing", "data", "genai-prices.json"))
	if err != nil {
		return err
	}
	rt, err := sandbox.NewRuntime(ctx, sandbox.NewRuntimeConfig())
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	compiled := map[string]*sandbox.Guest{}
	for _, name := range demoGuestNames {
		g, err := rt.Compile(ctx, mods[name])
		if err != nil {
			return fmt.Errorf("demo: compile guest %s: %w", name, err)
		}
		compiled[name] = g
	}
	a.debugf("demo: guests compiled: %s", time.Since(t0).Round(time.Millisecond))
	base := sandbox.NewRunConfig().WithSource(s).WithDeadline(time.Minute).WithMaxOutput(1 << 20)
	run := func(name, session string, cfg sandbox.RunConfig) error {
		var out, log bytes.Buffer
		res, err := compiled[name].Run(ctx, cfg.WithOutput(&out).WithLog(&log))
		r := demoGuestRun{Guest: name, Session: session, ExitCode: res.ExitCode, Emitted: res.Emitted, Divergence: newDivergenceOut(res.Divergence)}
		var div *sandbox.Divergence
		if errors.As(err, &div) {
			err = nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("demo: guest %s: %w\n%s", name, err, log.Bytes())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		r.Summary = lines[len(lines)-1]
		a.debugf("demo: guest %s %s output:\n%s", name, session, out.Bytes())
		rep.Guests.Runs = append(rep.Guests.Runs, r)
		return nil
	}
	if err := run("replay", "", base.WithAllSessions()); err != nil {
		return err
	}
	if err := run("costaudit", "", base.WithAllSessions().WithInput(table)); err != nil {
		return err
	}
	for _, p := range rep.Sessions {
		id := abi.SessionID(p.ID)
		if err := run("agentloop", p.ID, base.WithSessions(id).WithReplay(id)); err != nil {
			return err
		}
	}
	return nil
}

// printDemo prints the report as text.
func (a *app) printDemo(rep *demoReport) error {
	w := a.stdout
	where := "a temporary directory, removed at exit (--dir keeps it)"
	if rep.Kept {
		where = "kept"
	}
	fmt.Fprintf(w, "gofastr store demo\n\n")
	fmt.Fprintf(w, "Store   %s (encrypted: every page AES-256-GCM; %s)\n", rep.Store, where)
	fmt.Fprintf(w, "Ledger  %s (encrypted, its own data key)\n", rep.Ledger)
	if rep.KEKPath != "" {
		made := "existing"
		if rep.KEKMade {
			made = "created now"
		}
		fmt.Fprintf(w, "KEK     demo machine key %s (%s; not the machine key of real stores)\n", rep.KEKPath, made)
	} else {
		fmt.Fprintf(w, "KEK     %s\n", rep.KEK)
	}
	im := rep.Imported
	fmt.Fprintf(w, "Import  %d files of testdata/sessions: %d events, %d tool intents, %d outcomes, %d provider attempts, %d pin; %d ledger entries\n",
		im.Files, im.Events, im.Intents, im.Outcomes, im.Attempts, im.Pins, rep.LedgerSynced)

	fmt.Fprintf(w, "\nSessions\n")
	tw := a.table()
	fmt.Fprintln(tw, "  SESSION\tEVENTS\tTOOL CALLS\tORPHANED\tATTEMPTS\tUNPRICED\tCOST\tPINNED")
	row := func(p demoSession, name string) {
		pinned := ""
		if p.Pinned {
			pinned = "yes"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", name, p.Events, p.ToolCalls, p.Orphans, p.Attempts, p.Unpriced, fmtUSD(p.CostNanos), pinned)
	}
	for _, p := range rep.Sessions {
		row(p, p.ID)
	}
	row(rep.Totals, fmt.Sprintf("%d sessions", len(rep.Sessions)))
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nOrphaned tool calls (an intent, no outcome: the harness died while the tool ran)\n")
	if len(rep.Orphans) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, o := range rep.Orphans {
		fmt.Fprintf(w, "  %s turn %d: %s %s, started %s\n", o.Session, o.Turn, o.Tool, o.CallID, o.StartedAt.UTC().Format(time.DateTime))
	}

	fmt.Fprintf(w, "\nCost by provider (cost ledger)\n")
	tw = a.table()
	for _, p := range rep.ByProvider {
		note := ""
		if p.Unpriced > 0 {
			note = fmt.Sprintf("%d unpriced: not in the price table, counted as unknown, not $0", p.Unpriced)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", p.Provider, fmtUSD(p.CostNanos), plural(p.Attempts, "attempt"), note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nGuests (WebAssembly, in the sandbox)\n")
	if rep.Guests.Skipped != "" {
		fmt.Fprintf(w, "  skipped: %s\n", rep.Guests.Skipped)
	}
	tw = a.table()
	for _, r := range rep.Guests.Runs {
		what := r.Summary
		switch {
		case r.Divergence != nil:
			what = fmt.Sprintf("DIVERGED at turn %d, event %d: %s", r.Divergence.Turn, r.Divergence.Index, r.Divergence.Reason)
		case r.Guest == "agentloop":
			what = fmt.Sprintf("replayed: %d events emitted, no divergence", r.Emitted)
		}
		name := r.Guest
		if r.Session != "" {
			name += " " + r.Session
		}
		fmt.Fprintf(tw, "  %s\texit %d\t%s\n", name, r.ExitCode, what)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nReconciliation (recorded billing responses of testdata/billing, served locally to the real fetchers)\n")
	tw = a.table()
	fmt.Fprintln(tw, "  PROVIDER\tPERIOD (UTC)\tBILLED\tESTIMATED\tVARIANCE\tUNPRICED")
	for _, r := range rep.Reconciled {
		fmt.Fprintf(tw, "  %s\t%s .. %s\t%s\t%s\t%s\t%d\n", r.Provider,
			r.PeriodStart.Format(time.DateOnly), r.PeriodEnd.Format(time.DateOnly),
			fmtUSD(r.UpstreamNanos), fmtUSD(r.LocalNanos), signedUSD(r.VarianceNanos), r.LocalUnpriced)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range rep.NotReconciled {
		fmt.Fprintf(w, "  %s: no billing API, not reconciled\n", p)
	}

	fmt.Fprintf(w, "\nMarker scan (an event with a random marker appended; every file of the store's directory read, open and closed)\n")
	if len(rep.MarkerScan.Hits) == 0 {
		fmt.Fprintf(w, "  ok: no file contains the marker or any of %d strings of the imported sessions (%d files, %s: %s)\n",
			rep.MarkerScan.Needles-1, len(rep.MarkerScan.Files), fmtBytes(rep.MarkerScan.Bytes), strings.Join(rep.MarkerScan.Files, ", "))
	} else {
		fmt.Fprintf(w, "  PLAINTEXT FOUND: %s\n", strings.Join(rep.MarkerScan.Hits, "; "))
	}

	fmt.Fprintf(w, "\nDone in %s.", rep.Elapsed)
	if rep.Kept {
		kf := ""
		if rep.KEKPath != "" {
			kf = " --kek-file " + rep.KEKPath
		}
		fmt.Fprintf(w, " Look inside: runner --db %s%s sessions", rep.Store, kf)
	}
	fmt.Fprintln(w)
	return nil
}
