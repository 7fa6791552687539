// Command importstats imports a folder of real agent transcripts into a
// scratch store and prints, per file, the token and cost totals of the
// import as a Markdown table (the table of docs/IMPORT.md), then checks
// that the store recorded exactly the cost the import reported. The
// folder holds claude/ (a Claude Code config directory: projects/…) and
// codex/ (a Codex home: sessions/YYYY/MM/DD/rollout-*.jsonl), either may
// be absent. Run it from the module root:
//
//	go run ./internal/cmd/importstats DIR
//	go run ./internal/cmd/importstats            # DIR from $GOFASTR_TRANSCRIPTS
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/transcript"
)

// ErrMismatch reports a store that recorded another cost than the import
// reported.
var ErrMismatch = errors.New("importstats: the store's cost differs from the import's")

func main() {
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: importstats [DIR]  (default $GOFASTR_TRANSCRIPTS)")
		flag.PrintDefaults()
	}
	flag.Parse()
	dir := os.Getenv("GOFASTR_TRANSCRIPTS")
	if flag.NArg() > 0 {
		dir = flag.Arg(0)
	}
	if dir == "" || flag.NArg() > 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(context.Background(), os.Stdout, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, dir string) error {
	scratch, err := os.MkdirTemp("", "importstats-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	s, err := host.Open(filepath.Join(scratch, "sessions.db"))
	if err != nil {
		return err
	}
	defer s.Close()
	var all []transcript.FileStats
	for _, f := range []struct {
		sub string
		imp func(context.Context, transcript.Writer, []string, ...transcript.Option) ([]transcript.FileStats, error)
	}{{"claude", transcript.ImportClaudeCode}, {"codex", transcript.ImportCodex}} {
		p := filepath.Join(dir, f.sub)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		st, err := f.imp(ctx, s, []string{p}, transcript.WithSettle(0)) // a copied corpus may be new
		if err != nil {
			return err
		}
		all = append(all, st...)
	}
	if len(all) == 0 {
		return fmt.Errorf("importstats: no claude/ or codex/ transcripts under %s", dir)
	}
	fmt.Fprintln(w, "| file | format | events | tool calls | attempts | unpriced | input | output | cache read | cache write 5m | cache write 1h | cost (USD) |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	var tot transcript.FileStats
	cost := map[string]abi.NanoUSD{}
	for _, f := range all {
		rel, err := filepath.Rel(dir, f.Path)
		if err != nil {
			rel = f.Path
		}
		row(w, "`"+filepath.ToSlash(rel)+"`", f.Format, f)
		tot.Events += f.Events
		tot.ToolCalls += f.ToolCalls
		tot.Attempts += f.Attempts
		tot.Unpriced += f.Unpriced
		tot.InputTokens += f.InputTokens
		tot.OutputTokens += f.OutputTokens
		tot.CacheReadTokens += f.CacheReadTokens
		tot.CacheWriteTokens += f.CacheWriteTokens
		tot.CacheWrite1hTokens += f.CacheWrite1hTokens
		tot.Cost += f.Cost
		provider := transcript.ClaudeCodeProvider
		if f.Format == transcript.FormatCodex {
			provider = transcript.CodexDefaultProvider
		}
		cost[provider] += f.Cost
	}
	row(w, "**total**", "", tot)
	start, end := time.Unix(0, 0), time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	var stored abi.NanoUSD
	for provider := range cost {
		n, err := s.LocalCostNanosInPeriod(ctx, provider, start, end)
		if err != nil {
			return err
		}
		stored += n
	}
	if stored != tot.Cost {
		return fmt.Errorf("%w: store %d nano-dollars, import %d", ErrMismatch, stored, tot.Cost)
	}
	fmt.Fprintf(w, "\nThe store recorded %d nano-dollars, the import's total to the nano-dollar.\n", stored)
	return nil
}

func row(w io.Writer, name, format string, f transcript.FileStats) {
	fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %.6f |\n", name, format, f.Events, f.ToolCalls,
		f.Attempts, f.Unpriced, f.InputTokens, f.OutputTokens, f.CacheReadTokens, f.CacheWriteTokens, f.CacheWrite1hTokens, f.Cost.USD())
}
