package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/transcript"
)

const importFromHelp = `With --from claude-code or --from codex, imports the transcripts of those
agents instead: Claude Code's ~/.claude/projects folders (sub-agents'
files included) or Codex CLI's rollouts in ~/.codex/sessions, those
defaults when no DIR or FILE is given. Messages become events, tool calls
tool intents and outcomes, and each API response one provider attempt with
its final token counts, priced with the built-in pricing table (see
docs/IMPORT.md). Each file is read and checked whole, then written in one
transaction: a truncated or malformed file is an error naming the file and
line (exit status 1) and nothing of it is written; the files before it stay
imported. Re-importing a file adds nothing, so after an error or Ctrl-C
the same command completes the import. Prints a table of each file's
sessions, records, tokens and cost (--json: a JSON array), the files
already imported counted as skipped.

A running Claude Code session writes its transcript as a response streams,
and the response's token counts are final only at its end, which no line
marks. In a transcript modified less than --settle ago (default 2m), the
response begun last is therefore left for a later import (its messages and
tool calls are imported): the command says how many it left. Once the
session has been idle that long, running the command again imports them.
--settle 0 imports everything now, for files known complete.`

// transcriptFlags are the flags of import --from.
type transcriptFlags struct {
	settle time.Duration
}

func (f *transcriptFlags) register(fs *pflag.FlagSet) {
	fs.DurationVar(&f.settle, "settle", transcript.DefaultSettle,
		"with --from claude-code, leave the last response of a transcript modified less than `D` ago for a later import (0: none)")
}

// importTranscripts imports the transcripts at paths, in format, into
// the store, creating it if it is missing.
func (a *app) importTranscripts(ctx context.Context, format string, paths []string, plaintext bool, tf transcriptFlags) error {
	var imp func(context.Context, transcript.Writer, []string, ...transcript.Option) ([]transcript.FileStats, error)
	var def string
	switch format {
	case transcript.FormatClaudeCode:
		imp, def = transcript.ImportClaudeCode, filepath.Join(".claude", "projects")
	case transcript.FormatCodex:
		imp, def = transcript.ImportCodex, filepath.Join(".codex", "sessions")
	default:
		return usagef("import: --from %q: want claude-code or codex", format)
	}
	if tf.settle < 0 {
		return usagef("import: --settle %v: want a duration of 0 or more", tf.settle)
	}
	if len(paths) == 0 {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("import --from %s: no path given and no home directory: %w", format, err)
		}
		paths = []string{filepath.Join(home, def)}
	}
	// Check the paths before a store is created for them.
	found := false
	for _, p := range paths {
		ok, err := holdsJSONL(ctx, p)
		if err != nil {
			return fmt.Errorf("import --from %s: %w", format, err)
		}
		found = found || ok
	}
	if !found {
		return fmt.Errorf("import --from %s: %w in %s", format, transcript.ErrNoTranscripts, strings.Join(paths, ", "))
	}
	w, err := a.importDestination(ctx, plaintext)
	if err != nil {
		return err
	}
	defer w.close()
	opts := []transcript.Option{transcript.WithSettle(tf.settle)}
	if p := a.newProgress(-1, "importing", true); p != nil {
		opts = append(opts, transcript.WithProgress(p.set))
		defer p.finish()
	}
	stats, err := imp(ctx, w, paths, opts...)
	if err != nil {
		if len(stats) > 0 && !a.quiet {
			fmt.Fprintf(a.stderr, "imported before the error:\n")
			a.printTranscriptStats(a.stderr, stats, paths)
		}
		return err
	}
	if err := w.close(); err != nil {
		return err
	}
	deferred := 0
	for _, f := range stats {
		deferred += f.Deferred
	}
	if deferred > 0 && !a.quiet {
		fmt.Fprintf(a.stderr, "left for a later import: %s of transcripts modified in the last %v, maybe still streaming (not in the table; --settle 0 imports them now)\n",
			plural(deferred, "response"), tf.settle)
	}
	if a.json {
		return a.printJSON(stats)
	}
	return a.printTranscriptStats(nil, stats, paths)
}

// holdsJSONL reports whether path is a .jsonl file or a directory holding
// one; a path that does not exist is an error.
func holdsJSONL(ctx context.Context, path string) (bool, error) {
	st, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	if !st.IsDir() {
		return true, nil // the importer says what is wrong with the file
	}
	errFound := errors.New("found")
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".jsonl") {
			return errFound
		}
		return nil
	})
	if errors.Is(err, errFound) {
		return true, nil
	}
	return false, err
}

// printTranscriptStats prints one row per file and the totals, on stdout
// when w is nil. Files are named relative to the directory given that
// holds them.
func (a *app) printTranscriptStats(w interface{ Write([]byte) (int, error) }, stats []transcript.FileStats, roots []string) error {
	tw := a.table()
	if w != nil {
		tw.Init(w, 0, 4, 2, ' ', 0)
	}
	fmt.Fprintln(tw, "FILE\tSESSIONS\tEVENTS\tTOOL CALLS\tATTEMPTS\tSKIPPED\tINPUT\tOUTPUT\tCACHE READ\tCACHE WRITE\tCACHE WRITE 1H\tCOST")
	var t transcript.FileStats
	sessions := 0
	for _, f := range stats {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", shortPath(f.Path, roots), len(f.Sessions), f.Events, f.ToolCalls,
			f.Attempts, fmtSkipped(f.Skipped, f.Batches), f.InputTokens, f.OutputTokens, f.CacheReadTokens,
			f.CacheWriteTokens, f.CacheWrite1hTokens, fmtCost(f.Cost, f.Unpriced))
		sessions += len(f.Sessions)
		t.Events += f.Events
		t.ToolCalls += f.ToolCalls
		t.Attempts += f.Attempts
		t.Skipped += f.Skipped
		t.Batches += f.Batches
		t.InputTokens += f.InputTokens
		t.OutputTokens += f.OutputTokens
		t.CacheReadTokens += f.CacheReadTokens
		t.CacheWriteTokens += f.CacheWriteTokens
		t.CacheWrite1hTokens += f.CacheWrite1hTokens
		t.Cost += f.Cost
		t.Unpriced += f.Unpriced
	}
	files := fmt.Sprintf("%d files", len(stats))
	if len(stats) == 1 {
		files = "1 file"
	}
	fmt.Fprintf(tw, "TOTAL (%s)\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", files, sessions, t.Events, t.ToolCalls,
		t.Attempts, fmtSkipped(t.Skipped, t.Batches), t.InputTokens, t.OutputTokens, t.CacheReadTokens,
		t.CacheWriteTokens, t.CacheWrite1hTokens, fmtCost(t.Cost, t.Unpriced))
	return tw.Flush()
}

// fmtSkipped says how many of a file's batches were already in the store.
func fmtSkipped(skipped, batches int) string {
	if skipped == 0 {
		return "0"
	}
	return fmt.Sprintf("%d/%d", skipped, batches)
}

// fmtCost formats an exact cost and the count of attempts without one.
func fmtCost(n abi.NanoUSD, unpriced int) string {
	if unpriced == 0 {
		return fmtNanoUSD(n)
	}
	return fmt.Sprintf("%s + %d unpriced", fmtNanoUSD(n), unpriced)
}

// shortPath names path relative to the first of roots that is a directory
// holding it, or as it is.
func shortPath(path string, roots []string) string {
	for _, r := range roots {
		rel, err := filepath.Rel(r, path)
		if err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return path
}
