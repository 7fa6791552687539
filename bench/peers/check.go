package peers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Marker is written into Check's payloads; an encrypted peer's files must
// not contain it, a plaintext peer's must (which shows the scan works).
const Marker = "PEERS-MARKER-7f3a9c"

// Check opens o in dir (which must be empty), appends events from one and
// from several callers, reads them back (session and point reads),
// closes, reopens and reads them again, then scans every file in dir for
// Marker: absent when o.Encrypted, present otherwise. The payloads are
// small (under the store's compression threshold), so a plaintext store
// keeps the marker as written.
func Check(ctx context.Context, o Opener, dir string) error {
	p, err := o.Open(dir)
	if err != nil {
		return err
	}
	evs := Events(42, "check", 40)
	for i := range evs {
		evs[i].Payload = fmt.Appendf(nil, `{"text":"%s event %d"}`, Marker, i)
	}
	if _, err := appendSerial(ctx, p, evs[:8]); err != nil {
		p.Close()
		return err
	}
	if _, err := appendConcurrent(ctx, p, [][]Event{evs[8:16], evs[16:24], evs[24:32], evs[32:]}, 32); err != nil {
		p.Close()
		return err
	}
	if err := checkRead(ctx, p, evs); err != nil {
		p.Close()
		return err
	}
	if err := p.Close(); err != nil {
		return err
	}
	if p, err = o.Open(dir); err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	if err := checkRead(ctx, p, evs); err != nil {
		p.Close()
		return fmt.Errorf("after reopen: %w", err)
	}
	if err := p.Close(); err != nil {
		return err
	}
	hits, err := scan(dir, []byte(Marker))
	if err != nil {
		return err
	}
	if o.Encrypted && len(hits) > 0 {
		return fmt.Errorf("%w: plaintext marker in %v", ErrCheck, hits)
	}
	if !o.Encrypted && len(hits) == 0 {
		return fmt.Errorf("%w: the marker is in no file of a plaintext peer: the scan finds nothing", ErrCheck)
	}
	return nil
}

// checkRead reads session "check" back: the events in append order per
// caller, each readable by ID.
func checkRead(ctx context.Context, p Peer, want []Event) error {
	got, err := p.ReadSession(ctx, "check", 0, 1000, nil)
	if err != nil {
		return err
	}
	if len(got) != len(want) {
		return fmt.Errorf("%w: %d events read, %d appended", ErrCheck, len(got), len(want))
	}
	seen := map[string]bool{}
	for i, e := range got {
		if i > 0 && e.ID <= got[i-1].ID {
			return fmt.Errorf("%w: IDs out of order: %d after %d", ErrCheck, e.ID, got[i-1].ID)
		}
		seen[string(e.Payload)] = true
		pe, err := p.ReadPoint(ctx, "check", e.ID)
		if err != nil {
			return fmt.Errorf("point read %d: %w", e.ID, err)
		}
		if !bytes.Equal(pe.Payload, e.Payload) || pe.Kind != e.Kind || pe.Turn != e.Turn || pe.TS != e.TS {
			return fmt.Errorf("%w: point read %d differs from the session read", ErrCheck, e.ID)
		}
	}
	for _, e := range want {
		if !seen[string(e.Payload)] {
			return fmt.Errorf("%w: payload %s missing", ErrCheck, e.Payload)
		}
	}
	if _, err := p.ReadPoint(ctx, "check", got[len(got)-1].ID+1000); !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: point read of a missing ID: %v, want ErrNotFound", ErrCheck, err)
	}
	return nil
}

func scan(dir string, marker []byte) ([]string, error) {
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, marker) {
			hits = append(hits, filepath.Base(path))
		}
		return nil
	})
	return hits, err
}
