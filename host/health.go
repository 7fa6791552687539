package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/gofastr/store/keyring"
)

// Health is a summary of a store's state, for a status command or a
// harness's health endpoint ([Store.Health]). It never holds key
// material. Times are UTC; a zero time means unknown or never, and is
// left out of JSON.
type Health struct {
	// Path is the store's database file, as the store was opened.
	Path string `json:"path"`
	// Size and WALSize are the sizes in bytes of the database file and
	// of its write-ahead log (0 when there is none).
	Size    int64 `json:"size_bytes"`
	WALSize int64 `json:"wal_bytes"`
	// SchemaVersion is the store's schema version ([SchemaVersion] once
	// opened by this build).
	SchemaVersion int `json:"schema_version"`
	// Encrypted reports whether the store's pages are encrypted.
	Encrypted bool `json:"encrypted"`
	// KEKSource names the source of the key-encryption key the store was
	// opened with (keyring.KEKSource's Name, such as "machine" or
	// "file:/path"); empty for a plaintext store and for one opened with
	// its raw data key ([Config.WithKey]).
	KEKSource string `json:"kek_source,omitempty"`
	// HeaderVersion is the format version of the DEK header <path>.dek;
	// 0 when there is none (plaintext, or a data key given directly).
	HeaderVersion int `json:"header_version,omitempty"`
	// KeyCreated is when the data key was generated (the store's
	// creation, or its last rekey or encryption), and LastRotation when
	// it was last wrapped under another KEK (a KEK rotation, an escrow
	// import or a rekey), as the DEK header records them. Headers
	// written by builds that did not record them read as zero.
	KeyCreated   time.Time `json:"key_created,omitzero"`
	LastRotation time.Time `json:"last_rotation,omitzero"`
	// LastReconciliation is when the newest saved reconciliation ran, of
	// any provider ([Store.ReconcileNow]).
	LastReconciliation time.Time `json:"last_reconciliation,omitzero"`
	// Sessions, Events and Pinned count the store's sessions, their
	// events and the pinned sessions.
	Sessions int64 `json:"sessions"`
	Events   int64 `json:"events"`
	Pinned   int64 `json:"pinned"`
}

// keyInfo is what a Store remembers of its Config's encryption, for
// Health.
type keyInfo struct {
	encrypted bool
	source    string // KEKSource.Name(); "" for a raw data key or plaintext
}

// keyInfo returns how c encrypts a store.
func (c Config) keyInfo() keyInfo {
	k := keyInfo{encrypted: c.kek != nil || c.key != nil}
	if c.kek != nil {
		k.source = c.kek.Name()
	}
	return k
}

// Health returns a summary of the store's state. It is cheap: a few
// reads of small tables and indexes in one read transaction, the sizes
// of two files and the DEK header (which it parses, not unwraps); it
// never scans the events. Safe to call from a health endpoint while the
// store is in use.
func (s *Store) Health(ctx context.Context) (Health, error) {
	h := Health{Path: s.path, Encrypted: s.keyInfo.encrypted, KEKSource: s.keyInfo.source}
	var err error
	if h.Size, err = sizeOf(s.path); err != nil {
		return Health{}, fmt.Errorf("health: %w", err)
	}
	if h.WALSize, err = sizeOf(s.path + "-wal"); err != nil {
		return Health{}, fmt.Errorf("health: %w", err)
	}
	if h.Encrypted {
		hdr, err := keyring.ReadHeader(s.path)
		switch {
		case err == nil:
			h.HeaderVersion = hdr.Version
			h.KeyCreated, h.LastRotation = hdr.Created(), hdr.Rewrapped()
		case errors.Is(err, fs.ErrNotExist) && s.keyInfo.source == "":
			// A store opened with its data key may have no header.
		default:
			return Health{}, fmt.Errorf("health: %w", err)
		}
	}
	err = s.read(ctx, func(q *rtx) error {
		version, err := q.queryInt("PRAGMA user_version")
		if err != nil {
			return err
		}
		h.SchemaVersion = int(version)
		if h.Sessions, err = q.queryInt("SELECT count(*) FROM sessions"); err != nil {
			return err
		}
		if h.Events, err = q.queryInt("SELECT coalesce(sum(events), 0) FROM sessions"); err != nil {
			return err
		}
		if h.Pinned, err = q.queryInt("SELECT count(*) FROM pins"); err != nil {
			return err
		}
		ran, err := q.queryInt("SELECT coalesce(max(ran_at), 0) FROM reconciliations")
		if err != nil {
			return err
		}
		if ran != 0 {
			h.LastReconciliation = time.Unix(0, ran).UTC()
		}
		return nil
	})
	if err != nil {
		return Health{}, fmt.Errorf("health: %w", err)
	}
	return h, nil
}

// queryInt runs a query that returns one integer.
func (q *rtx) queryInt(query string) (int64, error) {
	st, err := q.stmt(query)
	if err != nil {
		return 0, err
	}
	defer st.Reset()
	if !st.Step() {
		if err := st.Err(); err != nil {
			return 0, err
		}
		return 0, errors.New("no row")
	}
	return st.ColumnInt64(0), st.Err()
}

// sizeOf returns the size of the file at path, 0 if there is none.
func sizeOf(path string) (int64, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
