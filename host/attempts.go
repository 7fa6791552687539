package host

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/internal/sqldb"
)

// MaxAttemptString is the largest provider name, model name, request ID
// or price source, in bytes, that [Store.RecordAttempt] accepts.
const MaxAttemptString = abi.MaxAttemptString

// attemptsSchema is the schema version that added the provider_attempts
// table.
const attemptsSchema = 3

// maxUSD is the largest amount that fits in int64 nano-dollars.
const maxUSD = math.MaxInt64 / 1e9

// ErrOldSchema is returned by [Store.EnsureAttemptsSchema] when the
// database is below the schema version that holds provider attempts,
// which a Store never leaves it at: the file was replaced by an older
// copy while the Store was open.
var ErrOldSchema = errors.New("host: store's schema is older than this package's")

// EnsureAttemptsSchema checks that the store holds the provider attempts
// table. Every Open function migrates a store to [SchemaVersion] before it
// returns, so on a Store that opened the table is always there; the method
// reads the schema version and the table to confirm it and is safe to call
// any number of times, from any number of goroutines. It returns an error
// matching [ErrOldSchema] if the file is below the version that added the
// table.
func (s *Store) EnsureAttemptsSchema(ctx context.Context) error {
	err := s.read(ctx, func(q *rtx) error {
		c := (*sqldb.ReadTx)(q).Conn()
		v, err := sqldb.QueryInt(c, `PRAGMA user_version`)
		if err != nil {
			return err
		}
		n, err := sqldb.QueryInt(c, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'provider_attempts'`)
		if err != nil {
			return err
		}
		if v < attemptsSchema || n != 1 {
			return fmt.Errorf("%w: schema version %d, provider attempts need %d", ErrOldSchema, v, attemptsSchema)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ensure attempts schema: %w", err)
	}
	return nil
}

// RecordAttempt stores one provider attempt and returns the ID it assigns:
// strictly increasing within the store, never reused, across every Store
// open on the file in this process or others (drawn from a counter in the
// database inside the write transaction, as event IDs are; see
// [Store.Append]). When it returns nil the attempt is on stable storage.
//
// Session, Provider, Model and TerminatedReason (one of the abi.Attempt
// constants) must be set, StartedAt must not be zero, token counts must not
// be negative, and strings are at most [MaxAttemptString] bytes (the
// session ID excepted). A zero EndedAt is the store's current time
// ([Config.WithClock]); EndedAt must not be before StartedAt, and both must
// lie in the storable range (Unix nanoseconds in an int64, 1677-09-21 to 2262-04-11 UTC). EstimatedUSD must be
// a finite amount from 0 to about 9.2e9 USD: it is stored in whole
// nano-dollars ([abi.NanoUSD]), rounded to the nearest. A Price snapshot,
// if given, needs a Source and prices that are not negative. Bad input
// returns [ErrEmptySession] or an error matching [ErrInvalidArgument],
// and nothing is stored.
//
// A snapshot whose Source begins with [abi.UnpricedPrefix] must carry no
// prices and an EstimatedUSD of 0.
//
// A store with a price table ([Config.WithPricing]) prices an attempt
// given with EstimatedUSD 0 and no Price: its token counts
// (CacheWriteTokens as 5-minute cache writes, CacheWrite1hTokens as
// 1-hour ones) at the table's prices in force at StartedAt,
// looked up by Provider and Model. EstimatedUSD becomes the estimate and
// Price its snapshot: the table's name and date as Source, and the
// per-million-token prices the tokens were billed at, those of the
// context tier the attempt fell in (see [abi.AttemptPrice]). An attempt
// the table has no price for (unknown provider or model, or a kind of
// token without a price) is stored with EstimatedUSD 0 and an unpriced
// snapshot, whose Source says why. An attempt given with an EstimatedUSD
// or a Price is stored as given, so a caller that has priced it, or
// knows it was free, gives one of them. A table without a 1-hour cache
// write price bills those tokens at twice the input price (see
// [pricing.Table.Estimate]); the snapshot's CacheWrite1h is the price
// applied either way.
//
// Provider, model and request ID are not secrets and are stored as given,
// without redaction.
func (s *Store) RecordAttempt(ctx context.Context, a abi.ProviderAttempt) (int64, error) {
	defer s.db.Enter()()
	r, err := s.prepareAttempt(a)
	if err != nil {
		return 0, fmt.Errorf("record attempt: %w", err)
	}
	var id int64
	// Like Append, the write may run twice: it changes nothing outside
	// the transaction but the IDs it draws.
	err = s.db.Submit(ctx, sqldb.Request{Rerun: true, Fn: func(t *sqldb.Tx) error {
		tx := (*wtx)(t)
		if err := tx.checkSealed(); err != nil {
			return err
		}
		var err error
		id, err = tx.insertAttempt(&r)
		return err
	}})
	if err != nil {
		return 0, fmt.Errorf("record attempt: %w", err)
	}
	return id, nil
}

// prepareAttempt checks a and prices it from the store's price table
// when it is to be priced (see RecordAttempt).
func (s *Store) prepareAttempt(a abi.ProviderAttempt) (attemptRow, error) {
	r, err := s.checkAttempt(a)
	if err != nil {
		return r, err
	}
	if s.prices != nil && a.EstimatedUSD == 0 && a.Price == nil {
		nusd, p := s.prices.PriceAttempt(a)
		if err := r.setPrice(p, nusd); err != nil {
			return r, err
		}
	}
	return r, nil
}

// insertAttempt stores r, prepared by prepareAttempt, with the next
// attempt ID, and returns the ID.
func (t *wtx) insertAttempt(r *attemptRow) (int64, error) {
	id, err := t.sqldb().Next(attemptIDs)
	if err != nil {
		return 0, err
	}
	a := &r.a
	_, err = t.exec(`INSERT INTO provider_attempts (id, session, turn, provider, model, request_id, started_at, ended_at, reason,
			input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, estimated_nusd,
			price_source, price_input, price_output, price_cache_read, price_cache_write, price_cache_write_1h)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		int64(id), a.Session, a.Turn, a.Provider, a.Model, a.RequestID, r.started, r.ended, a.TerminatedReason,
		a.InputTokens, a.OutputTokens, a.CacheReadTokens, a.CacheWriteTokens, a.CacheWrite1hTokens, int64(r.nusd),
		r.source, r.prices[0], r.prices[1], r.prices[2], r.prices[3], r.prices[4])
	if err != nil {
		return 0, err
	}
	return int64(id), nil
}

// attemptRow is a validated attempt's values as stored.
type attemptRow struct {
	a              abi.ProviderAttempt // as given; the fields below say how it is stored
	started, ended int64
	nusd           abi.NanoUSD
	source         any                  // string, or nil without a price snapshot
	prices         [len(priceNames)]any // int64 nano-dollars per million tokens, or nil
}

// checkAttempt validates a and converts what it stores differently.
func (s *Store) checkAttempt(a abi.ProviderAttempt) (attemptRow, error) {
	r := attemptRow{a: a}
	if a.Session == "" {
		return r, ErrEmptySession
	}
	for _, f := range []struct{ name, v string }{{"provider", a.Provider}, {"model", a.Model}, {"request ID", a.RequestID}} {
		if f.v == "" && f.name != "request ID" {
			return r, fmt.Errorf("%w: empty %s", ErrInvalidArgument, f.name)
		}
		if len(f.v) > MaxAttemptString {
			return r, fmt.Errorf("%w: %s of %d bytes, at most %d", ErrInvalidArgument, f.name, len(f.v), MaxAttemptString)
		}
	}
	switch a.TerminatedReason {
	case abi.AttemptComplete, abi.AttemptEOF, abi.AttemptTimeout, abi.AttemptCancel, abi.AttemptHTTPError:
	default:
		return r, fmt.Errorf("%w: unknown terminated reason %q", ErrInvalidArgument, a.TerminatedReason)
	}
	for _, f := range []struct {
		name string
		n    int
	}{{"input", a.InputTokens}, {"output", a.OutputTokens}, {"cache read", a.CacheReadTokens},
		{"cache write", a.CacheWriteTokens}, {"1-hour cache write", a.CacheWrite1hTokens}} {
		if f.n < 0 {
			return r, fmt.Errorf("%w: negative %s tokens %d", ErrInvalidArgument, f.name, f.n)
		}
	}
	if a.StartedAt.IsZero() {
		return r, fmt.Errorf("%w: zero start time", ErrInvalidArgument)
	}
	var err error
	if r.started, err = s.nanos("attempt start time", a.StartedAt); err != nil {
		return r, err
	}
	if r.ended, err = s.nanos("attempt end time", a.EndedAt); err != nil {
		return r, err
	}
	if r.ended < r.started {
		return r, fmt.Errorf("%w: attempt ends (%v) before it starts (%v)", ErrInvalidArgument, time.Unix(0, r.ended), a.StartedAt)
	}
	if r.nusd, err = toNanoUSD("estimated cost", a.EstimatedUSD); err != nil {
		return r, err
	}
	if a.Price != nil {
		if err := r.setPrice(a.Price, r.nusd); err != nil {
			return r, err
		}
	}
	return r, nil
}

// setPrice checks price snapshot p of an attempt costing nusd and sets
// the row's snapshot and cost.
func (r *attemptRow) setPrice(p *abi.AttemptPrice, nusd abi.NanoUSD) error {
	if p.Source == "" {
		return fmt.Errorf("%w: price snapshot without a source", ErrInvalidArgument)
	}
	if len(p.Source) > MaxAttemptString {
		return fmt.Errorf("%w: price source of %d bytes, at most %d", ErrInvalidArgument, len(p.Source), MaxAttemptString)
	}
	prices := [len(priceNames)]*abi.NanoUSD{p.Input, p.Output, p.CacheRead, p.CacheWrite, p.CacheWrite1h}
	if p.Unpriced() {
		if nusd != 0 || slices.ContainsFunc(prices[:], func(v *abi.NanoUSD) bool { return v != nil }) {
			return fmt.Errorf("%w: an unpriced snapshot with prices or a cost", ErrInvalidArgument)
		}
	}
	r.source, r.nusd = p.Source, nusd
	for i, v := range prices {
		r.prices[i] = nil
		if v == nil {
			continue
		}
		if *v < 0 {
			return fmt.Errorf("%w: negative %s price %d", ErrInvalidArgument, priceNames[i], *v)
		}
		r.prices[i] = int64(*v)
	}
	return nil
}

// priceNames name the price columns, in AttemptPrice's order.
var priceNames = [...]string{"input", "output", "cache read", "cache write", "1-hour cache write"}

// toNanoUSD converts a dollar amount to whole nano-dollars, rounding to
// the nearest. NaN, infinities, negative amounts and amounts beyond
// int64 nano-dollars are errors wrapping ErrInvalidArgument.
func toNanoUSD(field string, usd float64) (abi.NanoUSD, error) {
	n := math.Round(usd * 1e9)
	// 1<<63 is the first float64 above math.MaxInt64.
	if math.IsNaN(usd) || usd < 0 || n >= 1<<63 {
		return 0, fmt.Errorf("%w: %s %v USD is not an amount from 0 to %.0f USD", ErrInvalidArgument, field, usd, float64(maxUSD))
	}
	return abi.NanoUSD(n), nil
}

// AttemptsForTurn returns every recorded attempt of one turn of session
// sess, in ID order (the order they were recorded): a retried request
// shows each try with its own cost. A turn without attempts returns none.
func (s *Store) AttemptsForTurn(ctx context.Context, sess string, turn int) ([]abi.ProviderAttempt, error) {
	if sess == "" {
		return nil, fmt.Errorf("attempts for turn: %w", ErrEmptySession)
	}
	var out []abi.ProviderAttempt
	err := s.read(ctx, func(q *rtx) error {
		st, err := q.stmt(attemptsForTurnQuery)
		if err != nil {
			return err
		}
		defer st.Reset()
		if err := bindAll(st, sess, turn); err != nil {
			return err
		}
		for st.Step() {
			a := abi.ProviderAttempt{
				ID:                 st.ColumnInt64(0),
				Session:            sess,
				Turn:               turn,
				Provider:           st.ColumnText(1),
				Model:              st.ColumnText(2),
				RequestID:          st.ColumnText(3),
				StartedAt:          time.Unix(0, st.ColumnInt64(4)),
				EndedAt:            time.Unix(0, st.ColumnInt64(5)),
				TerminatedReason:   st.ColumnText(6),
				InputTokens:        st.ColumnInt(7),
				OutputTokens:       st.ColumnInt(8),
				CacheReadTokens:    st.ColumnInt(9),
				CacheWriteTokens:   st.ColumnInt(10),
				CacheWrite1hTokens: st.ColumnInt(11),
				EstimatedUSD:       abi.NanoUSD(st.ColumnInt64(12)).USD(),
			}
			if st.ColumnType(13) != sqlite3.NULL {
				p := &abi.AttemptPrice{Source: st.ColumnText(13)}
				for i, dst := range []**abi.NanoUSD{&p.Input, &p.Output, &p.CacheRead, &p.CacheWrite, &p.CacheWrite1h} {
					if st.ColumnType(14+i) != sqlite3.NULL {
						v := abi.NanoUSD(st.ColumnInt64(14 + i))
						*dst = &v
					}
				}
				a.Price = p
			}
			out = append(out, a)
		}
		return st.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("attempts for turn: %w", err)
	}
	return out, nil
}

// LocalCostInPeriod returns the locally estimated cost, in dollars, of
// the attempts at provider that started in [start, end): the sum of their
// EstimatedUSD, added exactly as integer nano-dollars and converted once
// (see [Store.LocalCostNanosInPeriod]).
func (s *Store) LocalCostInPeriod(ctx context.Context, provider string, start, end time.Time) (float64, error) {
	n, err := s.LocalCostNanosInPeriod(ctx, provider, start, end)
	if err != nil {
		return 0, err
	}
	return n.USD(), nil
}

// LocalCostNanosInPeriod is [Store.LocalCostInPeriod] in nano-dollars, the
// exact sum. The provider must not be empty, start and end must lie in
// the storable range (Unix nanoseconds in an int64, 1677-09-21 to 2262-04-11 UTC; zero times are not), and end
// must not be before start (equal is an empty period). A sum beyond int64
// nano-dollars is an error. Attempts that [Store.DropMetadata] deleted
// no longer count. Attempts nobody priced add 0: with
// [Store.UnpricedAttemptsInPeriod] above zero the sum is a lower bound.
func (s *Store) LocalCostNanosInPeriod(ctx context.Context, provider string, start, end time.Time) (abi.NanoUSD, error) {
	sum, err := s.periodQuery(ctx, "local cost", localCostQuery, provider, start, end)
	return abi.NanoUSD(sum), err
}

// periodQuery runs query, which returns one integer, with the provider and
// the period [start, end) in storable nanoseconds as its arguments, after
// checking them as LocalCostNanosInPeriod documents; errors begin with
// what.
func (s *Store) periodQuery(ctx context.Context, what, query, provider string, start, end time.Time) (int64, error) {
	if provider == "" {
		return 0, fmt.Errorf("%s: %w: empty provider", what, ErrInvalidArgument)
	}
	from, err := storable("period start", start)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	to, err := storable("period end", end)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if to < from {
		return 0, fmt.Errorf("%s: %w: period ends (%v) before it starts (%v)", what, ErrInvalidArgument, end, start)
	}
	var n int64
	err = s.read(ctx, func(q *rtx) error {
		st, err := q.stmt(query)
		if err != nil {
			return err
		}
		defer st.Reset()
		if err := bindAll(st, provider, from, to); err != nil {
			return err
		}
		if !st.Step() {
			if err := st.Err(); err != nil {
				return err
			}
			return errors.New("no result row")
		}
		n = st.ColumnInt64(0)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return n, nil
}

// The queries of AttemptsForTurn and LocalCostNanosInPeriod: the first
// runs on the index provider_attempts_turn, the second on
// provider_attempts_cost alone, which covers it.
const (
	attemptsForTurnQuery = `SELECT id, provider, model, request_id, started_at, ended_at, reason,
		input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, estimated_nusd,
		price_source, price_input, price_output, price_cache_read, price_cache_write, price_cache_write_1h
	FROM provider_attempts WHERE session = ? AND turn = ? ORDER BY id`
	localCostQuery = `SELECT coalesce(sum(estimated_nusd), 0) FROM provider_attempts WHERE provider = ? AND started_at >= ? AND started_at < ?`
)

// storable returns t as Unix nanoseconds. A zero t or a time outside the
// storable range is an error wrapping ErrInvalidArgument, naming field.
func storable(field string, t time.Time) (int64, error) {
	if t.IsZero() || t.Before(minTime) || t.After(maxTime) {
		return 0, fmt.Errorf("%w: %s %v is outside the storable range (%d to %d)",
			ErrInvalidArgument, field, t, minTime.Year(), maxTime.Year())
	}
	return t.UnixNano(), nil
}

// AttemptsSince returns up to limit attempts (0: no limit) with an ID
// above afterID, in ID order, of every session: a reader that passes the
// last ID it saw pages through the store's attempts and sees each once.
// Attempts commit in ID order, so a page holds every attempt of the store
// up to its last ID, except those [Store.DropMetadata] deleted. It is
// what [CostLedger.SyncAttempts] reads. A negative afterID or limit is an
// error matching [ErrInvalidArgument].
func (s *Store) AttemptsSince(ctx context.Context, afterID int64, limit int) ([]abi.ProviderAttempt, error) {
	if afterID < 0 {
		return nil, fmt.Errorf("attempts since: %w: negative attempt ID %d", ErrInvalidArgument, afterID)
	}
	if limit < 0 {
		return nil, fmt.Errorf("attempts since: %w: negative limit %d", ErrInvalidArgument, limit)
	}
	lim := int64(limit)
	if limit == 0 {
		lim = -1 // SQLite: no limit
	}
	var out []abi.ProviderAttempt
	err := s.read(ctx, func(q *rtx) error {
		st, err := q.stmt(attemptsSinceQuery)
		if err != nil {
			return err
		}
		defer st.Reset()
		if err := bindAll(st, afterID, lim); err != nil {
			return err
		}
		for st.Step() {
			a := abi.ProviderAttempt{
				ID:                 st.ColumnInt64(0),
				Session:            st.ColumnText(1),
				Turn:               st.ColumnInt(2),
				Provider:           st.ColumnText(3),
				Model:              st.ColumnText(4),
				RequestID:          st.ColumnText(5),
				StartedAt:          time.Unix(0, st.ColumnInt64(6)),
				EndedAt:            time.Unix(0, st.ColumnInt64(7)),
				TerminatedReason:   st.ColumnText(8),
				InputTokens:        st.ColumnInt(9),
				OutputTokens:       st.ColumnInt(10),
				CacheReadTokens:    st.ColumnInt(11),
				CacheWriteTokens:   st.ColumnInt(12),
				CacheWrite1hTokens: st.ColumnInt(13),
				EstimatedUSD:       abi.NanoUSD(st.ColumnInt64(14)).USD(),
			}
			if st.ColumnType(15) != sqlite3.NULL {
				p := &abi.AttemptPrice{Source: st.ColumnText(15)}
				for i, dst := range []**abi.NanoUSD{&p.Input, &p.Output, &p.CacheRead, &p.CacheWrite, &p.CacheWrite1h} {
					if st.ColumnType(16+i) != sqlite3.NULL {
						v := abi.NanoUSD(st.ColumnInt64(16 + i))
						*dst = &v
					}
				}
				a.Price = p
			}
			out = append(out, a)
		}
		return st.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("attempts since: %w", err)
	}
	return out, nil
}

// attemptsSinceQuery is the query of AttemptsSince, a range of the
// table's primary key.
const attemptsSinceQuery = `SELECT id, session, turn, provider, model, request_id, started_at, ended_at, reason,
		input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, estimated_nusd,
		price_source, price_input, price_output, price_cache_read, price_cache_write, price_cache_write_1h
	FROM provider_attempts WHERE id > ? ORDER BY id LIMIT ?`
