package transcript

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/pricing"
)

// Formats: the values of [FileStats.Format].
const (
	FormatClaudeCode = "claude-code"
	FormatCodex      = "codex"
)

// KindThinking is the event kind of a model's visible reasoning (Claude's
// thinking blocks, the summaries of Codex reasoning items). It is not one
// of abi's kinds: a store accepts any kind, and a reader that does not know
// it can skip it.
const KindThinking = "assistant_thinking"

// MaxLineSize bounds one line of a transcript, in bytes. A longer line is
// an error ([ErrLineTooLong]).
const MaxLineSize = 64 << 20

var (
	// ErrMalformed is matched by the error of a line that is not a JSON
	// object of the expected shape.
	ErrMalformed = errors.New("transcript: malformed line")
	// ErrLineTooLong is matched by the error of a line longer than
	// [MaxLineSize].
	ErrLineTooLong = errors.New("transcript: line too long")
	// ErrNoTranscripts is returned when the paths given hold no
	// transcript file.
	ErrNoTranscripts = errors.New("transcript: no transcript files found")
	// ErrInvalidOption is matched by the error of a bad [Option].
	ErrInvalidOption = errors.New("transcript: invalid option")
)

// LineError is the error of a line that cannot be imported: the file, the
// line number (from 1) and the reason. It never holds the line's text,
// which may be a secret. Nothing of a file with a LineError is written.
type LineError struct {
	Path string
	Line int
	Err  error // wraps ErrMalformed or ErrLineTooLong
}

func (e *LineError) Error() string {
	return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// Writer is where an import writes: a store that writes each call's
// batches in one transaction, all or none, and skips a batch whose key it
// has already written (host.Store and host.MonthlyRollover satisfy it). It
// returns how many batches it wrote.
type Writer interface {
	WriteBatches(ctx context.Context, batches ...abi.Batch) (int, error)
}

// FileStats describes the import of one transcript file. Its counts and
// totals are those of the records parsed from the file as it was read
// (without the deferred attempt, see Deferred), all of them, whether this
// import wrote their batches or the store already had them (counted in
// Skipped). The totals of the written batches are what the store records.
// Those of the skipped ones are what the store holds only if the file has
// not changed since they were written: a store keeps the first version of
// a key, so a record the file has changed since keeps its stored value.
type FileStats struct {
	Path     string          `json:"path"`
	Format   string          `json:"format"`   // FormatClaudeCode or FormatCodex
	Sessions []abi.SessionID `json:"sessions"` // in order of first appearance

	Lines      int `json:"lines"`      // non-empty lines read
	Duplicates int `json:"duplicates"` // lines dropped as repeats of an earlier line of the file
	Ignored    int `json:"ignored"`    // lines that hold no record (progress, snapshots, …)
	Batches    int `json:"batches"`    // batches given to the Writer
	Skipped    int `json:"skipped"`    // of those, the ones the store already had

	Events    int `json:"events"`
	ToolCalls int `json:"tool_calls"` // tool intents
	Outcomes  int `json:"outcomes"`   // tool outcomes
	Attempts  int `json:"attempts"`   // provider attempts (API responses)

	InputTokens        int64 `json:"input_tokens"` // not counting cache reads and writes
	OutputTokens       int64 `json:"output_tokens"`
	CacheReadTokens    int64 `json:"cache_read_tokens"`
	CacheWriteTokens   int64 `json:"cache_write_tokens"` // 5-minute cache writes
	CacheWrite1hTokens int64 `json:"cache_write_1h_tokens"`

	// Deferred counts the attempts left for a later import because their
	// response may still be streaming: the last response of a Claude Code
	// transcript modified less than the settle time ago ([WithSettle]).
	// They are in no other count or total; their lines' events are.
	Deferred int `json:"deferred"`

	// Cost is the sum of the priced attempts' estimates, what the store
	// records for the attempts this import wrote (see above for skipped
	// ones); Unpriced counts the attempts without a price
	// (unknown model, or no usage in the transcript), stored with an
	// unpriced snapshot and not in Cost.
	Cost     abi.NanoUSD `json:"cost_nanousd"`
	Unpriced int         `json:"unpriced"`
}

// Option configures an import.
type Option func(*config) error

type config struct {
	prices   *pricing.Table
	progress func(done, total int64)
	settle   time.Duration
}

// DefaultSettle is the settle time of an import without [WithSettle].
const DefaultSettle = 2 * time.Minute

// WithSettle sets the settle time, [DefaultSettle] by default: a Claude
// Code transcript modified less than d before it is read may be written
// to by a session still running, and the last API response in it may
// still be streaming, its token counts not final. Its attempt is then not
// written (its key would keep the counts for good) but counted in
// [FileStats.Deferred] and left for a later import. 0 imports every
// response at once. d must not be negative.
func WithSettle(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("%w: WithSettle: negative duration %v", ErrInvalidOption, d)
		}
		c.settle = d
		return nil
	}
}

// WithPricing prices attempts from t instead of the embedded table
// (pricing.Default). t must not be nil.
func WithPricing(t *pricing.Table) Option {
	return func(c *config) error {
		if t == nil {
			return fmt.Errorf("%w: WithPricing: nil table", ErrInvalidOption)
		}
		if t.Name() == "" || strings.HasPrefix(t.Name(), abi.UnpricedPrefix) {
			return fmt.Errorf("%w: WithPricing: table name %q", ErrInvalidOption, t.Name())
		}
		c.prices = t
		return nil
	}
}

// WithProgress has fn called as the files are read, with the bytes read
// so far and the total size of the files. fn must not be nil.
func WithProgress(fn func(done, total int64)) Option {
	return func(c *config) error {
		if fn == nil {
			return fmt.Errorf("%w: WithProgress: nil func", ErrInvalidOption)
		}
		c.progress = fn
		return nil
	}
}

// ImportClaudeCode imports Claude Code transcripts: paths are *.jsonl
// files or directories (a ~/.claude/projects folder, one project, one
// session's folder), walked for *.jsonl files, sub-agents' files
// included. See the package documentation for what becomes what.
//
// Each file is read and checked completely before anything of it is
// written, then written with one WriteBatches call. It returns the
// statistics of the files imported; on an error it stops, and the files
// before the one that failed stay imported (a rerun skips them).
func ImportClaudeCode(ctx context.Context, w Writer, paths []string, opts ...Option) ([]FileStats, error) {
	return importFiles(ctx, w, paths, opts, FormatClaudeCode, parseClaudeCode)
}

// ImportCodex imports Codex CLI rollouts: paths are files or directories
// (a ~/.codex/sessions folder) walked for *.jsonl files. Otherwise as
// [ImportClaudeCode].
func ImportCodex(ctx context.Context, w Writer, paths []string, opts ...Option) ([]FileStats, error) {
	return importFiles(ctx, w, paths, opts, FormatCodex, parseCodex)
}

// ParseClaudeCode reads one Claude Code transcript file and returns the
// batches an import would write and their statistics, writing nothing
// (Skipped is 0).
func ParseClaudeCode(ctx context.Context, path string, opts ...Option) ([]abi.Batch, FileStats, error) {
	return parseOnly(ctx, path, opts, FormatClaudeCode, parseClaudeCode)
}

// ParseCodex is [ParseClaudeCode] for a Codex rollout.
func ParseCodex(ctx context.Context, path string, opts ...Option) ([]abi.Batch, FileStats, error) {
	return parseOnly(ctx, path, opts, FormatCodex, parseCodex)
}

type parseFunc func(ctx context.Context, b *builder, lines []line) error

func newConfig(opts []Option) (*config, error) {
	c := &config{prices: pricing.Default(), settle: DefaultSettle}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil Option", ErrInvalidOption)
		}
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func parseOnly(ctx context.Context, path string, opts []Option, format string, parse parseFunc) ([]abi.Batch, FileStats, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, FileStats{}, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, FileStats{}, fmt.Errorf("transcript: %w", err)
	}
	p := &progress{fn: c.progress, total: fi.Size()}
	b, err := parseFile(ctx, c, p, path, format, parse)
	if err != nil {
		return nil, FileStats{}, err
	}
	return b.batches, b.stats, nil
}

func importFiles(ctx context.Context, w Writer, paths []string, opts []Option, format string, parse parseFunc) ([]FileStats, error) {
	if w == nil {
		return nil, fmt.Errorf("%w: nil Writer", ErrInvalidOption)
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	files, total, err := findFiles(paths)
	if err != nil {
		return nil, err
	}
	p := &progress{fn: c.progress, total: total}
	var out []FileStats
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		b, err := parseFile(ctx, c, p, f, format, parse)
		if err != nil {
			return out, err
		}
		if len(b.batches) > 0 {
			n, err := w.WriteBatches(ctx, b.batches...)
			if err != nil {
				return out, fmt.Errorf("transcript: %s: %w", f, err)
			}
			b.stats.Skipped = len(b.batches) - n
		}
		out = append(out, b.stats)
	}
	if p.fn != nil && p.last != p.done {
		p.fn(p.done, p.total) // a file changed size since it was listed
	}
	return out, nil
}

// findFiles returns the *.jsonl files of paths (a file given by name is
// taken whatever its name), each once, directories walked in lexical
// order, and their total size.
func findFiles(paths []string) ([]string, int64, error) {
	var files []string
	seen := make(map[string]bool)
	var total int64
	add := func(p string, size int64) {
		abs, err := filepath.Abs(p)
		if err != nil {
			abs = filepath.Clean(p)
		}
		if !seen[abs] {
			seen[abs] = true
			files = append(files, p)
			total += size
		}
	}
	for _, root := range paths {
		fi, err := os.Stat(root)
		if err != nil {
			return nil, 0, fmt.Errorf("transcript: %w", err)
		}
		if !fi.IsDir() {
			add(root, fi.Size())
			continue
		}
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(d.Name(), ".jsonl") {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if info.Mode().IsRegular() {
				add(p, info.Size())
			}
			return nil
		})
		if err != nil {
			return nil, 0, fmt.Errorf("transcript: %w", err)
		}
	}
	if len(files) == 0 {
		return nil, 0, fmt.Errorf("%w in %s", ErrNoTranscripts, strings.Join(paths, ", "))
	}
	return files, total, nil
}

type progress struct {
	fn          func(done, total int64)
	done, total int64
	last        int64
}

func (p *progress) add(n int64) {
	p.done += n
	if p.fn != nil && (p.done-p.last >= 1<<20 || p.done == p.total) {
		p.last = p.done
		p.fn(p.done, p.total)
	}
}

// line is one non-empty line of a file and its number (from 1).
type line struct {
	n    int
	text []byte
}

// readLines reads the non-empty lines of r. A last line without a final
// newline is kept: whether it was cut short shows when it is parsed.
func readLines(ctx context.Context, path string, r io.Reader, p *progress) ([]line, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var out []line
	var buf []byte
	for n := 1; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		buf = buf[:0]
		var err error
		for {
			var chunk []byte
			chunk, err = br.ReadSlice('\n')
			if len(buf)+len(chunk) > MaxLineSize+1 {
				return nil, &LineError{Path: path, Line: n, Err: fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, MaxLineSize)}
			}
			buf = append(buf, chunk...)
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("transcript: %s: %w", path, err)
		}
		p.add(int64(len(buf)))
		if t := bytes.TrimSpace(buf); len(t) > 0 {
			out = append(out, line{n: n, text: bytes.Clone(t)})
		}
		if err == io.EOF {
			return out, nil
		}
	}
}

func parseFile(ctx context.Context, c *config, p *progress, path, format string, parse parseFunc) (*builder, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("transcript: %w", err)
	}
	lines, err := readLines(ctx, path, f, p)
	if err != nil {
		f.Close()
		return nil, err
	}
	// The modification time after reading: a write during the read makes
	// the file recent.
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("transcript: %w", err)
	}
	b := &builder{path: path, prices: c.prices, sessions: make(map[abi.SessionID]bool),
		recent: c.settle > 0 && time.Since(fi.ModTime()) < c.settle}
	b.stats.Path, b.stats.Format, b.stats.Lines = path, format, len(lines)
	if err := parse(ctx, b, lines); err != nil {
		return nil, err
	}
	return b, nil
}

// builder collects the batches of one file and their statistics.
type builder struct {
	path     string
	prices   *pricing.Table
	batches  []abi.Batch
	stats    FileStats
	sessions map[abi.SessionID]bool
	recent   bool // modified less than the settle time ago: its last response may be streaming
}

// lineErr returns the error of line l.
func (b *builder) lineErr(l line, format string, args ...any) error {
	return &LineError{Path: b.path, Line: l.n, Err: fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)}
}

func (b *builder) session(s abi.SessionID) {
	if !b.sessions[s] {
		b.sessions[s] = true
		b.stats.Sessions = append(b.stats.Sessions, s)
	}
}

// add appends batch unless it holds no record.
func (b *builder) add(batch abi.Batch) {
	if batch.Empty() {
		return
	}
	for _, e := range batch.Events {
		b.session(e.Session)
	}
	b.stats.Events += len(batch.Events)
	b.stats.ToolCalls += len(batch.Intents)
	b.stats.Outcomes += len(batch.Outcomes)
	b.batches = append(b.batches, batch)
	b.stats.Batches = len(b.batches)
}

// attempt prices a (unless usage is false: the transcript had no usage
// for it) and appends it in a batch of its own under key.
func (b *builder) attempt(key string, a abi.ProviderAttempt, usage bool) {
	b.session(abi.SessionID(a.Session))
	if usage {
		priceAttempt(b.prices, &a)
	} else {
		a.Price = &abi.AttemptPrice{Source: abi.UnpricedPrefix + "no token usage in the transcript"}
	}
	if a.Price.Unpriced() {
		b.stats.Unpriced++
	} else {
		b.stats.Cost += nanos(a.EstimatedUSD)
	}
	b.stats.Attempts++
	b.stats.InputTokens += int64(a.InputTokens)
	b.stats.OutputTokens += int64(a.OutputTokens)
	b.stats.CacheReadTokens += int64(a.CacheReadTokens)
	b.stats.CacheWriteTokens += int64(a.CacheWriteTokens)
	b.stats.CacheWrite1hTokens += int64(a.CacheWrite1hTokens)
	b.batches = append(b.batches, abi.Batch{Key: key, Attempts: []abi.ProviderAttempt{a}})
	b.stats.Batches = len(b.batches)
}

// batchKey returns the key of a batch made from the input: format, then
// parts, cut to a SHA-256 when longer than abi.MaxBatchKey.
func batchKey(format string, parts ...string) string {
	k := format + ":" + strings.Join(parts, ":")
	if len(k) <= abi.MaxBatchKey {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return format + ":sha256:" + hex.EncodeToString(sum[:])
}

// lineHash is the hex SHA-256 of a line, for inputs without IDs.
func lineHash(text []byte) string {
	sum := sha256.Sum256(text)
	return hex.EncodeToString(sum[:])
}

// hashArgs is the lowercase hex SHA-256 of tool arguments as given, as
// host.HashArgs computes it.
func hashArgs(args []byte) string {
	sum := sha256.Sum256(args)
	return hex.EncodeToString(sum[:])
}
