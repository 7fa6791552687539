package peers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
)

// Schema is the events table of every SQL peer: the store's (host's schema,
// version 1) without its other tables.
const Schema = `CREATE TABLE IF NOT EXISTS events (
	session TEXT    NOT NULL,
	id      INTEGER NOT NULL,
	turn    INTEGER NOT NULL,
	kind    TEXT    NOT NULL,
	ts      INTEGER NOT NULL,
	format  INTEGER NOT NULL,
	size    INTEGER NOT NULL,
	payload BLOB,
	PRIMARY KEY (session, id)
) WITHOUT ROWID`

const (
	insertSQL  = `INSERT INTO events (session, id, turn, kind, ts, format, size, payload) VALUES (?, ?, ?, ?, ?, 0, ?, ?)`
	sessionSQL = `SELECT id, turn, kind, ts, payload FROM events WHERE session = ? AND id > ? ORDER BY id LIMIT ?`
	pointSQL   = `SELECT id, turn, kind, ts, payload FROM events WHERE session = ? AND id = ?`
)

// BusyTimeoutMS is the busy timeout of every peer's connections, in
// milliseconds (the store's default is 5 s; concurrent peers wait longer
// for the write lock, so they get more).
const BusyTimeoutMS = 30_000

// MaxConns is the size of every SQL peer's connection pool: one
// connection per caller of the concurrent append workload.
const MaxConns = 16

// SQLOpener returns an Opener for a database/sql driver. dsn maps the
// database path to the data source name, which must set WAL mode,
// synchronous=FULL and BusyTimeoutMS on every connection (and the key, for
// encrypted peers).
func SQLOpener(name, what string, encrypted bool, driver string, dsn func(path string) string) Opener {
	return Opener{Name: name, What: what, Encrypted: encrypted, Open: func(dir string) (Peer, error) {
		path := filepath.Join(dir, name+".db")
		db, err := sql.Open(driver, dsn(path))
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(MaxConns)
		db.SetMaxIdleConns(MaxConns)
		p := &sqlPeer{db: db}
		if err := p.init(context.Background()); err != nil {
			db.Close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return p, nil
	}}
}

type sqlPeer struct {
	db     *sql.DB
	nextID atomic.Uint64
	ins    *sql.Stmt
	sess   *sql.Stmt
	point  *sql.Stmt
}

func (p *sqlPeer) init(ctx context.Context) error {
	if _, err := p.db.ExecContext(ctx, Schema); err != nil {
		return err
	}
	var mode string
	var sync int
	if err := p.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return err
	}
	if err := p.db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil {
		return err
	}
	if mode != "wal" || sync != 2 {
		return fmt.Errorf("%w: journal_mode=%s synchronous=%d, want wal and 2 (FULL)", ErrDurability, mode, sync)
	}
	var last sql.NullInt64
	if err := p.db.QueryRowContext(ctx, `SELECT max(id) FROM events`).Scan(&last); err != nil {
		return err
	}
	p.nextID.Store(uint64(last.Int64))
	var err error
	if p.ins, err = p.db.PrepareContext(ctx, insertSQL); err != nil {
		return err
	}
	if p.sess, err = p.db.PrepareContext(ctx, sessionSQL); err != nil {
		return err
	}
	p.point, err = p.db.PrepareContext(ctx, pointSQL)
	return err
}

// ErrDurability is returned when a peer's connection does not run with
// WAL mode and synchronous=FULL.
var ErrDurability = errors.New("peers: not full durability")

func (p *sqlPeer) Append(ctx context.Context, e Event) error {
	id := p.nextID.Add(1)
	_, err := p.ins.ExecContext(ctx, e.Session, id, e.Turn, e.Kind, e.TS, len(e.Payload), e.Payload)
	return err
}

func (p *sqlPeer) Load(ctx context.Context, evs []Event) error {
	for len(evs) > 0 {
		n := min(len(evs), 1000)
		tx, err := p.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		ins := tx.StmtContext(ctx, p.ins)
		for _, e := range evs[:n] {
			if _, err := ins.ExecContext(ctx, e.Session, p.nextID.Add(1), e.Turn, e.Kind, e.TS, len(e.Payload), e.Payload); err != nil {
				tx.Rollback()
				return err
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		evs = evs[n:]
	}
	return nil
}

func (p *sqlPeer) ReadSession(ctx context.Context, sess string, after uint64, limit int, dst []Event) ([]Event, error) {
	rows, err := p.sess.QueryContext(ctx, sess, after, limit)
	if err != nil {
		return dst, err
	}
	defer rows.Close()
	for rows.Next() {
		e := Event{Session: sess}
		if err := rows.Scan(&e.ID, &e.Turn, &e.Kind, &e.TS, &e.Payload); err != nil {
			return dst, err
		}
		dst = append(dst, e)
	}
	return dst, rows.Err()
}

func (p *sqlPeer) ReadPoint(ctx context.Context, sess string, id uint64) (Event, error) {
	e := Event{Session: sess}
	err := p.point.QueryRowContext(ctx, sess, id).Scan(&e.ID, &e.Turn, &e.Kind, &e.TS, &e.Payload)
	if errors.Is(err, sql.ErrNoRows) {
		return e, ErrNotFound
	}
	return e, err
}

func (p *sqlPeer) Close() error {
	for _, s := range []*sql.Stmt{p.ins, p.sess, p.point} {
		if s != nil {
			s.Close()
		}
	}
	return p.db.Close()
}
