package peers

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sync/atomic"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/vfs/adiantum" // registers "adiantum"
)

// adiantumHexKey is the adiantum peer's 32-byte key (a benchmark key).
const adiantumHexKey = "7d0f1e2c3b4a59687766554433221100ffeeddccbbaa99887766554433221100"

// Adiantum is github.com/ncruces/go-sqlite3 v0.32.0 (SQLite in wazero, the
// engine of this store) with its adiantum VFS (length-preserving Adiantum
// encryption of every page, no authentication), through the driver-less
// API: a pool of MaxConns connections.
var Adiantum = Opener{Name: "adiantum", Encrypted: true,
	What: "github.com/ncruces/go-sqlite3 v0.32.0 with its adiantum VFS (SQLite in wazero; Adiantum, unauthenticated), a pool of connections",
	Open: func(dir string) (Peer, error) {
		path := filepath.Join(dir, "adiantum.db")
		uri := "file:" + url.PathEscape(path) + "?vfs=adiantum&hexkey=" + adiantumHexKey
		p := &ncrucesPeer{pool: make(chan *ncrucesConn, MaxConns)}
		for i := range MaxConns {
			c, err := openNcruces(uri, i == 0)
			if err != nil {
				p.Close()
				return nil, fmt.Errorf("adiantum: %w", err)
			}
			p.pool <- c
		}
		c := <-p.pool
		defer func() { p.pool <- c }()
		last, err := c.maxID()
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("adiantum: %w", err)
		}
		p.nextID.Store(last)
		return p, nil
	}}

type ncrucesConn struct {
	c                 *sqlite3.Conn
	ins, sess, point  *sqlite3.Stmt
	begin, commit, rb *sqlite3.Stmt
}

func openNcruces(uri string, first bool) (_ *ncrucesConn, err error) {
	c, err := sqlite3.OpenFlags(uri, sqlite3.OPEN_READWRITE|sqlite3.OPEN_CREATE|sqlite3.OPEN_URI)
	if err != nil {
		return nil, err
	}
	nc := &ncrucesConn{c: c}
	defer func() {
		if err != nil {
			nc.close()
		}
	}()
	if err := c.BusyTimeout(BusyTimeoutMS * 1e6); err != nil {
		return nil, err
	}
	pragmas := []string{"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL"}
	if first {
		pragmas = append(pragmas, Schema)
	}
	for _, p := range pragmas {
		if err := c.Exec(p); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	for _, s := range []struct {
		dst **sqlite3.Stmt
		sql string
	}{{&nc.ins, insertSQL}, {&nc.sess, sessionSQL}, {&nc.point, pointSQL},
		{&nc.begin, "BEGIN IMMEDIATE"}, {&nc.commit, "COMMIT"}, {&nc.rb, "ROLLBACK"}} {
		if *s.dst, _, err = c.Prepare(s.sql); err != nil {
			return nil, err
		}
	}
	return nc, nil
}

func (nc *ncrucesConn) close() {
	for _, s := range []*sqlite3.Stmt{nc.ins, nc.sess, nc.point, nc.begin, nc.commit, nc.rb} {
		if s != nil {
			s.Close()
		}
	}
	nc.c.Close()
}

func (nc *ncrucesConn) maxID() (uint64, error) {
	s, _, err := nc.c.Prepare(`SELECT ifnull(max(id), 0) FROM events`)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	if !s.Step() {
		return 0, errors.Join(s.Err(), errors.New("no row"))
	}
	return uint64(s.ColumnInt64(0)), s.Err()
}

func (nc *ncrucesConn) insert(id uint64, e Event) error {
	s := nc.ins
	err := errors.Join(s.BindText(1, e.Session), s.BindInt64(2, int64(id)), s.BindInt64(3, int64(e.Turn)),
		s.BindText(4, e.Kind), s.BindInt64(5, e.TS), s.BindInt64(6, int64(len(e.Payload))), s.BindBlob(7, e.Payload))
	if err != nil {
		return err
	}
	return s.Exec()
}

type ncrucesPeer struct {
	pool   chan *ncrucesConn
	nextID atomic.Uint64
}

func (p *ncrucesPeer) get(ctx context.Context) (*ncrucesConn, error) {
	select {
	case c := <-p.pool:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *ncrucesPeer) Append(ctx context.Context, e Event) error {
	c, err := p.get(ctx)
	if err != nil {
		return err
	}
	defer func() { p.pool <- c }()
	return c.insert(p.nextID.Add(1), e)
}

func (p *ncrucesPeer) Load(ctx context.Context, evs []Event) error {
	c, err := p.get(ctx)
	if err != nil {
		return err
	}
	defer func() { p.pool <- c }()
	for len(evs) > 0 {
		n := min(len(evs), 1000)
		if err := c.begin.Exec(); err != nil {
			return err
		}
		for _, e := range evs[:n] {
			if err := c.insert(p.nextID.Add(1), e); err != nil {
				return errors.Join(err, c.rb.Exec())
			}
		}
		if err := c.commit.Exec(); err != nil {
			return err
		}
		evs = evs[n:]
	}
	return nil
}

func (nc *ncrucesConn) row(s *sqlite3.Stmt, sess string) Event {
	return Event{ID: uint64(s.ColumnInt64(0)), Session: sess, Turn: s.ColumnInt(1), Kind: s.ColumnText(2),
		TS: s.ColumnInt64(3), Payload: s.ColumnBlob(4, nil)}
}

func (p *ncrucesPeer) ReadSession(ctx context.Context, sess string, after uint64, limit int, dst []Event) ([]Event, error) {
	c, err := p.get(ctx)
	if err != nil {
		return dst, err
	}
	defer func() { p.pool <- c }()
	s := c.sess
	defer s.Reset()
	if err := errors.Join(s.BindText(1, sess), s.BindInt64(2, int64(after)), s.BindInt64(3, int64(limit))); err != nil {
		return dst, err
	}
	for s.Step() {
		dst = append(dst, c.row(s, sess))
	}
	return dst, s.Err()
}

func (p *ncrucesPeer) ReadPoint(ctx context.Context, sess string, id uint64) (Event, error) {
	c, err := p.get(ctx)
	if err != nil {
		return Event{}, err
	}
	defer func() { p.pool <- c }()
	s := c.point
	defer s.Reset()
	if err := errors.Join(s.BindText(1, sess), s.BindInt64(2, int64(id))); err != nil {
		return Event{}, err
	}
	if !s.Step() {
		if err := s.Err(); err != nil {
			return Event{}, err
		}
		return Event{}, ErrNotFound
	}
	return c.row(s, sess), nil
}

func (p *ncrucesPeer) Close() error {
	for {
		select {
		case c := <-p.pool:
			c.close()
		default:
			return nil
		}
	}
}
