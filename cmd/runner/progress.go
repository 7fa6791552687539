package main

import (
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress is a progress bar on stderr. It is nil, and every method a
// no-op, when stderr is not a terminal or -q was given: scripts and logs
// get no control characters.
type progress struct{ bar *progressbar.ProgressBar }

// newProgress returns a bar for a task of total units (bytes if bytes is
// set), or nil when progress is not shown.
func (a *app) newProgress(total int64, desc string, bytes bool) *progress {
	if a.quiet || !isTerminal(a.stderr) {
		return nil
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(a.stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionShowCount(),
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true))
	}
	return &progress{bar: progressbar.NewOptions64(total, opts...)}
}

// set reports done of total units (total may change as work is found).
func (p *progress) set(done, total int64) {
	if p == nil {
		return
	}
	if total > 0 && total != p.bar.GetMax64() {
		p.bar.ChangeMax64(total)
	}
	_ = p.bar.Set64(done)
}

// finish removes the bar.
func (p *progress) finish() {
	if p == nil {
		return
	}
	_ = p.bar.Finish()
}
