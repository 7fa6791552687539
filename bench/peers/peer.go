// Package peers runs the same append and read workloads on this store
// (encrypted and plaintext, through package host) and on the SQLite
// libraries a Go program would otherwise pick: mattn/go-sqlite3 (cgo),
// modernc.org/sqlite (pure Go), ncruces/go-sqlite3 with its adiantum
// encrypting VFS (SQLite in wazero, like this store) and, through its own
// binary, SQLCipher (package sqlcipher, cgo).
//
// Every peer holds the same events table as the store (session, id, turn,
// kind, ts, format, size, payload; primary key (session, id), WITHOUT
// ROWID) and runs with the durability of the store: WAL mode and
// synchronous=FULL, one commit per appended event, a busy timeout for
// concurrent writers. The store does more per event than the peers (it
// redacts and compresses the payload and keeps a per-session summary row and
// an ID counter in the same transaction); the peers insert one row.
//
// The module is separate from the store's (it links cgo SQLite builds); the
// store's module never imports it.
package peers

import (
	"context"
	"errors"
)

// Event is one appended event, the fields of the store's events table.
type Event struct {
	ID      uint64 // assigned on append (by the store, or by the peer's counter)
	Session string
	Turn    int
	Kind    string
	TS      int64 // Unix nanoseconds
	Payload []byte
}

// Peer is one database under test, opened on one directory.
type Peer interface {
	// Append stores e in one durable commit (one transaction, fsynced
	// before it returns). It is safe for concurrent use.
	Append(ctx context.Context, e Event) error
	// Load stores evs in few large transactions: it builds the read
	// workloads' data and is not measured.
	Load(ctx context.Context, evs []Event) error
	// ReadSession appends to dst up to limit events of session sess with
	// an ID greater than after, in ID order.
	ReadSession(ctx context.Context, sess string, after uint64, limit int, dst []Event) ([]Event, error)
	// ReadPoint returns the event of session sess with ID id.
	ReadPoint(ctx context.Context, sess string, id uint64) (Event, error)
	// Close closes the database.
	Close() error
}

// Opener describes a peer and opens it on a directory.
type Opener struct {
	Name string // short name, a column of the tables
	What string // what it is, for the report
	// Encrypted says the files hold no plaintext (the smoke tests scan them).
	Encrypted bool
	Open      func(dir string) (Peer, error)
}

// ErrNotFound is returned by ReadPoint for an event that is not there.
var ErrNotFound = errors.New("peers: event not found")
