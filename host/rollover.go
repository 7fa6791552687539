package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/internal/filelock"
	"github.com/gofastr/store/keyring"
)

// ErrMonthSealed is returned (wrapped) by [Store.Append],
// [Store.AppendEvent], [Store.RecordToolIntent], [Store.RecordToolOutcome]
// and [Store.RecordAttempt] on a month file of a [MonthlyRollover] that a
// newer month has sealed: nothing was written. The write methods of
// MonthlyRollover retry it once in the current month; a caller writing
// through a *Store from [MonthlyRollover.Current] calls Current again.
var ErrMonthSealed = errors.New("host: month file sealed: a newer month took over")

// sealedRow is the row of the counters table that seals a month file.
const sealedRow = "month_sealed"

// rolloverLockName is the lock file that serializes, across processes,
// the creation of month files in a rollover's directory. ListArchives
// ignores it.
const rolloverLockName = "sessions-rollover.lock"

// rolloverLockWait bounds the wait for another process's rollover.
const rolloverLockWait = 30 * time.Second

// month counts calendar months: year*12 + month-1.
type month int

func monthOf(t time.Time) month { return month(t.Year()*12 + int(t.Month()) - 1) }

func (m month) year() int       { return int(m) / 12 }
func (m month) mon() time.Month { return time.Month(int(m)%12 + 1) }
func (m month) name() string    { return fmt.Sprintf("sessions-%04d%02d.db", m.year(), int(m.mon())) }
func (m month) start(loc *time.Location) time.Time {
	return time.Date(m.year(), m.mon(), 1, 0, 0, 0, 0, loc)
}

// parseMonth returns the month of a file named sessions-YYYYMM.db.
func parseMonth(name string) (month, bool) {
	const prefix, suffix = "sessions-", ".db"
	if len(name) != len(prefix)+6+len(suffix) || name[:len(prefix)] != prefix || name[len(name)-len(suffix):] != suffix {
		return 0, false
	}
	digits := name[len(prefix) : len(prefix)+6]
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	y, _ := strconv.Atoi(digits[:4])
	mo, _ := strconv.Atoi(digits[4:])
	if mo < 1 || mo > 12 {
		return 0, false
	}
	return month(y*12 + mo - 1), true
}

// RolloverOption configures a [MonthlyRollover] beyond its [Config].
type RolloverOption func(*rolloverOptions)

type rolloverOptions struct {
	loc *time.Location
}

// WithMonthLocation returns an option that starts each month at midnight
// of the 1st in loc instead of UTC. Every process sharing a directory
// must use the same location.
func WithMonthLocation(loc *time.Location) RolloverOption {
	return func(o *rolloverOptions) { o.loc = loc }
}

// MonthlyRollover keeps one session store per calendar month in a
// directory, as files sessions-YYYYMM.db (with their -wal, -shm, .dek and
// lock files): retention drops whole months, and a rewrite (VACUUM) only
// touches the month it runs on. Its methods are safe for concurrent use,
// and any number of MonthlyRollovers, in this process and others, may
// share a directory.
//
// The current month, by the clock of the [Config] ([Config.WithClock]) in
// UTC unless [WithMonthLocation] says otherwise, is the live store; past
// months are sealed archives that refuse new events, tool intents,
// outcomes and attempts with [ErrMonthSealed]. See the package
// documentation, section "Monthly rollover", for how IDs stay strictly
// increasing across months and how queries span them.
type MonthlyRollover struct {
	dir  string
	loc  *time.Location
	now  func() time.Time
	lock string // path of rolloverLockName

	mu       sync.Mutex
	cfg      Config           // the KEK source changes with RotateKEK
	stores   map[month]*Store // every month file opened so far
	sealed   map[month]finals // months seen sealed, with their ID ranges
	cur      *Store
	curMonth month
	closed   bool
}

// NewMonthlyRollover returns a rollover of plaintext month files in dir,
// with the default [Config]; the current month's store is opened (and
// created) immediately. See [NewMonthlyRolloverWithConfig].
func NewMonthlyRollover(dir string) (*MonthlyRollover, error) {
	return NewMonthlyRolloverWithConfig(dir, NewConfig())
}

// NewMonthlyRolloverWithConfig returns a rollover rooted at dir whose
// month files open as cfg says: with [Config.WithKEKSource], each month
// has its own data key, wrapped under the one KEK in
// sessions-YYYYMM.db.dek, so deleting a month's files crypto-shreds it.
// The directory is created 0700 if missing. The current month's store is
// opened (and created) immediately; if a month file newer than the
// clock's month exists (another process's clock runs ahead), that one is
// current. A clock whose month is not wholly storable is an error
// wrapping [ErrInvalidArgument], here and in every later call that reads
// it; no file is created for it.
func NewMonthlyRolloverWithConfig(dir string, cfg Config, opts ...RolloverOption) (*MonthlyRollover, error) {
	if dir == "" {
		return nil, fmt.Errorf("monthly rollover: %w: empty directory", ErrInvalidArgument)
	}
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("monthly rollover: %w", err)
	}
	o := rolloverOptions{loc: time.UTC}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.loc == nil {
		return nil, fmt.Errorf("monthly rollover: %w: WithMonthLocation: nil location", ErrInvalidArgument)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("monthly rollover: %w", err)
	}
	m := &MonthlyRollover{
		dir:    dir,
		loc:    o.loc,
		now:    cfg.clock,
		lock:   filepath.Join(dir, rolloverLockName),
		cfg:    cfg,
		stores: map[month]*Store{},
		sealed: map[month]finals{},
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.mu.Lock()
	_, err := m.currentLocked(0)
	m.mu.Unlock()
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("monthly rollover: %w", err)
	}
	return m, nil
}

// Current returns the live Store: the store of the clock's month, or of
// the newest month file in the directory if that is newer, created if
// needed. When the month changes, the previous month is sealed first.
// The Store stays open until [MonthlyRollover.Close]; once a newer month
// takes over, its writes fail with [ErrMonthSealed]. Each call reads the
// directory (a few microseconds for a few dozen files), so that it
// follows a month another process started.
func (m *MonthlyRollover) Current() (*Store, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	s, err := m.currentLocked(0)
	if err != nil {
		return nil, fmt.Errorf("monthly rollover: %w", err)
	}
	return s, nil
}

// ListArchives returns the paths of every month file in the directory,
// the current month included, oldest first. Other files are ignored.
func (m *MonthlyRollover) ListArchives() ([]string, error) {
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	months, err := m.list()
	if err != nil {
		return nil, fmt.Errorf("monthly rollover: %w", err)
	}
	out := make([]string, len(months))
	for i, mo := range months {
		out[i] = m.path(mo)
	}
	return out, nil
}

// Close closes every store the rollover opened. Later calls return the
// first call's result; other methods return [ErrClosed].
func (m *MonthlyRollover) Close() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	for _, mo := range slices.Sorted(mapKeys(m.stores)) {
		errs = append(errs, m.stores[mo].Close())
	}
	m.stores, m.cur = nil, nil
	return errors.Join(errs...)
}

func mapKeys[K comparable, V any](mp map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range mp {
			if !yield(k) {
				return
			}
		}
	}
}

func (m *MonthlyRollover) path(mo month) string { return filepath.Join(m.dir, mo.name()) }

// list returns the months that have a database file in the directory,
// oldest first.
func (m *MonthlyRollover) list() ([]month, error) {
	entries, err := os.ReadDir(m.dir)
	if err != nil {
		return nil, err
	}
	var out []month
	for _, e := range entries {
		if e.Type().IsDir() {
			continue
		}
		if mo, ok := parseMonth(e.Name()); ok {
			out = append(out, mo)
		}
	}
	slices.Sort(out)
	return out, nil
}

// checkMonth returns an error wrapping ErrInvalidArgument, naming the
// month, unless every instant of month mo is storable (see storable) and
// its file name is one parseMonth lists: a clock outside that range never
// creates a month file that readers would miss or that seals the real
// current month.
func (m *MonthlyRollover) checkMonth(mo month) error {
	if p, ok := parseMonth(mo.name()); !ok || p != mo || mo.start(m.loc).Before(minTime) || (mo + 1).start(m.loc).After(maxTime) {
		return fmt.Errorf("%w: month %04d-%02d is outside the storable range (%d to %d)",
			ErrInvalidArgument, mo.year(), int(mo.mon()), minTime.Year(), maxTime.Year())
	}
	return nil
}

// currentLocked returns the current store: of the latest of the clock's
// month, least and the newest month file, rolling over if that is not
// the month of m.cur. m.mu is held.
func (m *MonthlyRollover) currentLocked(least month) (*Store, error) {
	months, err := m.list()
	if err != nil {
		return nil, err
	}
	m.forgetDroppedLocked(months)
	clock := monthOf(m.now().In(m.loc))
	if err := m.checkMonth(clock); err != nil {
		return nil, fmt.Errorf("clock %v: %w", m.now(), err)
	}
	want := max(clock, least)
	if len(months) > 0 {
		want = max(want, months[len(months)-1])
	}
	if m.cur != nil && m.curMonth == want {
		return m.cur, nil
	}
	return m.advanceLocked(want)
}

// advanceLocked makes month want, or a newer one, current. Under the
// directory's lock file, so that no two processes create month files at
// once, it seals the newest existing month before want, reading its final
// event and attempt counters in the sealing transaction, then opens (or
// creates) the target month and raises its counters to those values
// before anyone can write to it through this rollover. Every step is
// idempotent: a process killed anywhere in between leaves files the next
// call completes. m.mu is held.
func (m *MonthlyRollover) advanceLocked(want month) (*Store, error) {
	unlock, err := lockDir(m.lock, rolloverLockWait)
	if err != nil {
		return nil, err
	}
	defer unlock()
	ctx := context.Background()
	for {
		months, err := m.list()
		if err != nil {
			return nil, err
		}
		target := want
		if len(months) > 0 {
			target = max(target, months[len(months)-1])
		}
		var fin finals
		if i, _ := slices.BinarySearch(months, target); i > 0 {
			pred := months[i-1]
			if creating(m.path(pred)) {
				// Its creation was interrupted: it never held data.
				if err := m.discardLocked(pred); err != nil {
					return nil, err
				}
				if err := os.Remove(m.path(pred) + creatingSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return nil, err
				}
				continue
			}
			ps, err := m.openLocked(pred)
			if err != nil {
				return nil, err
			}
			if fin, err = ps.sealMonth(ctx); err != nil {
				return nil, fmt.Errorf("seal %s: %w", ps.path, err)
			}
			m.sealed[pred] = fin
		}
		if err := m.checkMonth(target); err != nil {
			return nil, err
		}
		s, err := m.createLocked(target, slices.Contains(months, target))
		if err != nil {
			return nil, err
		}
		sealed, err := s.floorCounters(ctx, fin)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", s.path, err)
		}
		if err := os.Remove(m.path(target) + creatingSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if sealed {
			// A rollover killed after sealing target and before
			// creating the next month: continue there.
			want = target + 1
			continue
		}
		m.cur, m.curMonth = s, target
		return s, nil
	}
}

// lockDir takes the exclusive lock file at path, waiting up to wait.
// Where file locking is unsupported it fails: without it two processes
// could create different month files at once and hand out overlapping
// IDs, so a MonthlyRollover refuses to run.
func lockDir(path string, wait time.Duration) (unlock func(), err error) {
	return lockFile(path, true, wait)
}

// lockFile takes the lock file at path, exclusive or shared, waiting up
// to wait.
func lockFile(path string, exclusive bool, wait time.Duration) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	ok, err := filelock.LockWait(f, exclusive, wait)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		f.Close()
		return nil, fmt.Errorf("%w: %s is locked by another rollover (waited %v)", ErrBusy, path, wait)
	}
	return func() { f.Close() }, nil
}

// openLocked returns the Store of month mo, opening (or creating) it on
// first use. The directory's lock file and m.mu are held: only the
// rollover that creates months, or DropMonthsBefore, calls it.
func (m *MonthlyRollover) openLocked(mo month) (*Store, error) {
	if s := m.stores[mo]; s != nil {
		return s, nil
	}
	s, err := OpenWithConfig(m.path(mo), m.cfg)
	if errors.Is(err, keyring.ErrWrongKEK) {
		// The likely cause in a rollover that opened other months: a
		// RotateKEK that stopped part way (see its doc).
		return nil, fmt.Errorf("%w; if a KEK rotation of the rollover stopped part way, finish it: "+
			"call MonthlyRollover.RotateKEK again with the new source on a rollover opened with the old one", err)
	}
	if err != nil {
		return nil, err
	}
	m.stores[mo] = s
	return s, nil
}

// openExisting returns the Store of month mo, opening it on first use,
// or nil if the month no longer exists: DropMonthsBefore deleted it since
// it was listed, or its deletion was interrupted. It never creates a
// month. The files are checked and the month opened under the
// directory's lock file held shared, which DropMonthsBefore holds
// exclusively while it deletes: a month that exists then stays until the
// open has taken the month's store lock. m.mu is held, the directory's
// lock file is not.
func (m *MonthlyRollover) openExisting(mo month) (*Store, error) {
	if s := m.stores[mo]; s != nil {
		return s, nil
	}
	unlock, err := lockFile(m.lock, false, rolloverLockWait)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if !m.present(mo) {
		return nil, nil
	}
	return m.openLocked(mo)
}

// present reports whether month mo has its database: DropMonthsBefore
// deletes it first (before the DEK header), so a month without it is
// deleted, or its deletion was interrupted, and is not opened (opening
// it would create it again).
func (m *MonthlyRollover) present(mo month) bool {
	_, err := os.Stat(m.path(mo))
	return err == nil
}

// creatingSuffix names the marker file that exists, beside a month's
// database, from before the rollover creates the month until its schema
// is in place and its counters are floored: a process killed in between
// leaves a database that never held data, perhaps empty next to its DEK
// header, which the next rollover removes and creates again instead of
// reporting ErrDatabaseLost. ListArchives ignores the marker; queries
// skip a month that has it.
const creatingSuffix = ".creating"

// createLocked returns the Store of month mo, as openLocked, creating the
// month if listed says it has no database yet, under a creatingSuffix
// marker. The directory's lock file and m.mu are held.
func (m *MonthlyRollover) createLocked(mo month, listed bool) (*Store, error) {
	if s := m.stores[mo]; s != nil {
		return s, nil
	}
	path := m.path(mo)
	marker := path + creatingSuffix
	if creating(path) {
		// An interrupted creation: its files never held data.
		if err := m.discardLocked(mo); err != nil {
			return nil, err
		}
	} else if !listed {
		if err := writeSynced(marker); err != nil {
			return nil, err
		}
	}
	return m.openLocked(mo)
}

// creating reports whether the month database at path has its
// creatingSuffix marker: its creation is under way or was interrupted, and
// it holds no data anyone may read.
func creating(path string) bool {
	_, err := os.Stat(path + creatingSuffix)
	return err == nil
}

// storeLockSuffix names a store's lock file (see keyring.LockStore): every
// open Store holds it shared for its lifetime.
const storeLockSuffix = ".lock"

// monthLockWait bounds the wait of discardLocked for the exclusive store
// lock of a month whose creation was interrupted. Readers never keep such
// a month open (they skip it, and close it if they opened it just before
// its marker appeared), so the lock is normally free at once.
var monthLockWait = 5 * time.Second

// discardLocked removes the files of month mo, whose creation was
// interrupted, so that it can be created again. It first closes this
// rollover's handle of the month, if any, then takes the month's store
// lock exclusively, so that it fails with ErrBusy instead of deleting a
// database that any handle, in this process or another, still has open:
// writes through that handle would go to the unlinked file and be lost.
// The lock files stay (deleting a held lock file would let two processes
// lock different files). The directory's lock file and m.mu are held.
func (m *MonthlyRollover) discardLocked(mo month) error {
	m.dropLocked(mo)
	path := m.path(mo)
	unlock, err := lockDir(path+storeLockSuffix, monthLockWait)
	if err != nil {
		return fmt.Errorf("recover interrupted creation of %s: %w", path, err)
	}
	defer unlock()
	return removeMonthFiles(path, false)
}

// dropLocked closes and forgets this rollover's handle of month mo, if
// any. m.mu is held.
func (m *MonthlyRollover) dropLocked(mo month) {
	s := m.stores[mo]
	if s == nil {
		return
	}
	if m.cur == s {
		m.cur, m.curMonth = nil, 0
	}
	delete(m.stores, mo)
	delete(m.sealed, mo)
	s.Close()
}

// forgetDroppedLocked closes this rollover's handles of the months that
// another rollover deleted ([MonthlyRollover.DropMonthsBefore]): those
// older than every month listed. Without it a long-running process that
// never drops months itself would keep every deleted month's files,
// connections and memory until Close. m.mu is held.
func (m *MonthlyRollover) forgetDroppedLocked(listed []month) {
	if len(listed) == 0 {
		return
	}
	for mo := range m.stores {
		if mo < listed[0] {
			m.dropLocked(mo)
		}
	}
}

// writeSynced creates an empty file at path and makes it durable.
func writeSynced(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// finals are a sealed month's last event, attempt and reconciliation
// IDs, and the lowest event ID it may hold (see firstRow).
type finals struct{ events, attempts, reconciliations, first int64 }

// firstRow is the row of the counters table below which a month file
// holds no event ID: set when the month starts, to one above the previous
// month's last, and lowered by DropMonthsBefore when it copies older
// events forward. With the last ID it lets EventsSince skip sealed months.
const firstRow = "month_first_event"

// monthStore is a month's Store with, if it is sealed, its final counters.
type monthStore struct {
	*Store
	sealed *finals
}

// skip reports whether no event with since < ID < until can be in the
// month: a sealed month's IDs lie between its first and last.
func (ms monthStore) skip(since, until uint64) bool {
	f := ms.sealed
	return f != nil && (uint64(f.events) <= since || uint64(max(f.first, 1)) >= until)
}

// gone reports whether err, from a read of the month, is to be ignored:
// the month is sealed and its database was deleted (by DropMonthsBefore,
// in this process or another) after the read listed it, so that SQLite
// could not open a new connection to it. The month is skipped, as if the
// read had listed it a moment later.
func (ms monthStore) gone(err error) bool {
	if err == nil || ms.sealed == nil {
		return false
	}
	_, serr := os.Stat(ms.path)
	return errors.Is(serr, fs.ErrNotExist)
}

// sealMonth seals the store (idempotently) and returns its final counter
// values, read in the sealing write transaction: once it commits, every
// write that draws an ID checks the seal in its own transaction
// (checkSealed) and fails, so no ID above them is ever committed here.
func (s *Store) sealMonth(ctx context.Context) (finals, error) {
	var f finals
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := tx.exec(`INSERT INTO counters (name, value) VALUES ('` + sealedRow + `', 1) ON CONFLICT (name) DO NOTHING`); err != nil {
			return err
		}
		return queryRows(tx, `SELECT
				max(coalesce((SELECT value FROM counters WHERE name = 'event_id'), 0), coalesce((SELECT max(id) FROM events), 0)),
				max(coalesce((SELECT value FROM counters WHERE name = 'attempt_id'), 0), coalesce((SELECT max(id) FROM provider_attempts), 0)),
				max(coalesce((SELECT value FROM counters WHERE name = 'reconciliation_id'), 0), coalesce((SELECT max(id) FROM reconciliations), 0)),
				coalesce((SELECT value FROM counters WHERE name = '`+firstRow+`'), 0)`,
			nil, func(st *sqlite3.Stmt) error {
				f = finals{st.ColumnInt64(0), st.ColumnInt64(1), st.ColumnInt64(2), st.ColumnInt64(3)}
				return nil
			})
	})
	return f, err
}

// floorCounters raises the store's event, attempt and reconciliation
// counters to at least f, so that its IDs continue above the previous
// month's, and reports whether the store is sealed.
func (s *Store) floorCounters(ctx context.Context, f finals) (sealed bool, err error) {
	err = s.write(ctx, func(tx *wtx) error {
		for _, c := range []struct {
			name string
			v    int64
		}{{"event_id", f.events}, {"attempt_id", f.attempts}, {"reconciliation_id", f.reconciliations}} {
			if c.v <= 0 {
				continue
			}
			if _, err := tx.exec(`INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)`, c.name, c.v); err != nil {
				return err
			}
		}
		// The first month of a directory starts at ID 1 (f is zero).
		if _, err := tx.exec(`INSERT INTO counters (name, value) VALUES ('`+firstRow+`', ?) ON CONFLICT (name) DO NOTHING`, f.events+1); err != nil {
			return err
		}
		sealed = tx.isSealed()
		return nil
	})
	return sealed, err
}

// isSealed reports whether the month file is sealed; an error reads as
// not sealed (the write that follows fails on its own).
func (t *wtx) isSealed() bool {
	st, err := t.stmt(`SELECT 1 FROM counters WHERE name = '` + sealedRow + `'`)
	if err != nil {
		return false
	}
	defer st.Reset()
	return st.Step()
}

// checkSealed fails a write that draws an event, attempt or
// reconciliation ID, or records a tool call, on a sealed month file (see MonthlyRollover). A store
// outside a rollover is never sealed; the lookup is one cached statement
// on the counters table.
func (t *wtx) checkSealed() error {
	st, err := t.stmt(`SELECT 1 FROM counters WHERE name = '` + sealedRow + `'`)
	if err != nil {
		return err
	}
	defer st.Reset()
	if st.Step() {
		return ErrMonthSealed
	}
	return st.Err()
}

// withCurrent runs fn on the current store and, if that month was sealed
// meanwhile (another process rolled over), once more on the month that
// took over.
func withCurrent[T any](m *MonthlyRollover, fn func(s *Store) (T, error)) (T, error) {
	var zero T
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return zero, ErrClosed
	}
	s, err := m.currentLocked(0)
	mo := m.curMonth
	m.mu.Unlock()
	if err != nil {
		return zero, fmt.Errorf("monthly rollover: %w", err)
	}
	v, err := fn(s)
	if !errors.Is(err, ErrMonthSealed) {
		return v, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return zero, ErrClosed
	}
	s, err = m.currentLocked(mo + 1)
	m.mu.Unlock()
	if err != nil {
		return zero, fmt.Errorf("monthly rollover: %w", err)
	}
	return fn(s)
}

// Append appends an event to the current month (see [Store.Append]) and
// returns its ID, strictly increasing across months. If another process
// sealed the month meanwhile, the event goes to the month that took over:
// it lands in exactly one month.
func (m *MonthlyRollover) Append(ctx context.Context, env abi.EventEnvelope) (uint64, error) {
	return withCurrent(m, func(s *Store) (uint64, error) { return s.Append(ctx, env) })
}

// AppendEvent is [MonthlyRollover.Append] without the ID.
func (m *MonthlyRollover) AppendEvent(ctx context.Context, env abi.EventEnvelope) error {
	_, err := m.Append(ctx, env)
	return err
}

// RecordToolIntent records a tool intent in the current month (see
// [Store.RecordToolIntent]).
func (m *MonthlyRollover) RecordToolIntent(ctx context.Context, in abi.ToolIntent) error {
	_, err := withCurrent(m, func(s *Store) (struct{}, error) { return struct{}{}, s.RecordToolIntent(ctx, in) })
	return err
}

// RecordToolOutcome records a tool outcome in the current month (see
// [Store.RecordToolOutcome]); its intent may be in an older month.
func (m *MonthlyRollover) RecordToolOutcome(ctx context.Context, out abi.ToolOutcome) error {
	_, err := withCurrent(m, func(s *Store) (struct{}, error) { return struct{}{}, s.RecordToolOutcome(ctx, out) })
	return err
}

// RecordAttempt records a provider attempt in the current month (see
// [Store.RecordAttempt]) and returns its ID, strictly increasing across
// months.
func (m *MonthlyRollover) RecordAttempt(ctx context.Context, a abi.ProviderAttempt) (int64, error) {
	return withCurrent(m, func(s *Store) (int64, error) { return s.RecordAttempt(ctx, a) })
}

// Pin pins session sess in the current month (see [Store.Pin]): it is
// exempt from retention in every month, and [MonthlyRollover.DropMonthsBefore]
// copies it forward instead of deleting it.
func (m *MonthlyRollover) Pin(ctx context.Context, sess abi.SessionID) error {
	_, err := withCurrent(m, func(s *Store) (struct{}, error) { return struct{}{}, s.Pin(ctx, sess) })
	return err
}

// Unpin removes the pin of session sess from every month.
func (m *MonthlyRollover) Unpin(ctx context.Context, sess abi.SessionID) error {
	stores, err := m.all()
	if err != nil {
		return fmt.Errorf("unpin: %w", err)
	}
	for _, s := range stores {
		if err := s.Unpin(ctx, sess); err != nil {
			return fmt.Errorf("unpin: %s: %w", s.path, err)
		}
	}
	return nil
}

// Pinned returns the sessions pinned in any month, sorted.
func (m *MonthlyRollover) Pinned(ctx context.Context) ([]abi.SessionID, error) {
	stores, err := m.all()
	if err != nil {
		return nil, fmt.Errorf("pinned: %w", err)
	}
	out, err := pinnedIn(ctx, stores)
	if err != nil {
		return nil, fmt.Errorf("pinned: %w", err)
	}
	return out, nil
}

// pinnedIn returns the sessions pinned in any of stores, sorted.
func pinnedIn(ctx context.Context, stores []monthStore) ([]abi.SessionID, error) {
	var out []abi.SessionID
	for _, s := range stores {
		p, err := s.Pinned(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.path, err)
		}
		out = append(out, p...)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// all returns the store of every month file, oldest first, opening those
// not open yet. Every month but the newest is sealed first (it always is,
// unless a rollover was killed between steps): a reader that has read a
// sealed month has all of it.
func (m *MonthlyRollover) all() ([]monthStore, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	months, err := m.list()
	if err != nil {
		return nil, err
	}
	m.forgetDroppedLocked(months)
	out := make([]monthStore, 0, len(months))
	for i, mo := range months {
		// A sealed month this rollover has open was created completely
		// (a month is sealed only after its creation finished, and its
		// marker was removed before that), so it needs no marker check:
		// reads of a long history cost no system call per sealed month.
		if f, ok := m.sealed[mo]; ok && i < len(months)-1 {
			if s := m.stores[mo]; s != nil {
				out = append(out, monthStore{Store: s, sealed: &f})
				continue
			}
		}
		// A month being created, or whose creation was interrupted,
		// holds no data, and another rollover may delete and create it
		// again: it is neither opened nor kept open. The marker is
		// checked again once the month is open (its store lock held
		// shared, so no one can delete it any more): it may have
		// appeared in between.
		if creating(m.path(mo)) {
			m.dropLocked(mo)
			continue
		}
		s, err := m.openExisting(mo)
		if err != nil {
			if creating(m.path(mo)) {
				continue
			}
			return nil, err
		}
		if s == nil {
			// Dropped since it was listed.
			continue
		}
		if creating(m.path(mo)) {
			m.dropLocked(mo)
			continue
		}
		ms := monthStore{Store: s}
		if i < len(months)-1 {
			f, ok := m.sealed[mo]
			if !ok {
				if f, err = s.sealMonth(context.Background()); err != nil {
					return nil, fmt.Errorf("seal %s: %w", s.path, err)
				}
				m.sealed[mo] = f
			}
			ms.sealed = &f
		}
		out = append(out, ms)
	}
	return out, nil
}

// RotateKEK rewraps the data key of every month file under the KEK of
// newSrc (see keyring.RotateKEKWith), oldest first, and opens later
// months with it. It touches only the DEK headers; each one is replaced
// whole (temporary file, rename), so a month is under either KEK, never
// neither.
//
// It can fail part way, a full disk included ([ErrDiskFull]): the months
// before the failing one are then under the new KEK and the others under
// the old, the error says how many were rotated, and the rollover keeps
// the old source for the months it opens from then on. Until the rotation
// is finished, neither source opens every month: opening or reading a
// month under the source that does not fit fails with keyring.ErrWrongKEK
// naming the month file. Finish it by calling RotateKEK again with the
// same new source (on this rollover, or on one opened with the old
// source): it skips the months already rotated. Other processes sharing
// the directory must switch to the new KEK too; a month they create under
// the old one afterwards is covered by calling RotateKEK again.
func (m *MonthlyRollover) RotateKEK(newSrc keyring.KEKSource) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.cfg.kek == nil {
		return fmt.Errorf("rotate KEK: %w: the rollover is not opened with a KEK source", ErrInvalidArgument)
	}
	next := m.cfg.WithKEKSource(newSrc)
	if err := next.check(); err != nil {
		return fmt.Errorf("rotate KEK: %w", err)
	}
	months, err := m.list()
	if err != nil {
		return fmt.Errorf("rotate KEK: %w", err)
	}
	for i, mo := range months {
		if err := keyring.RotateKEKWith(m.path(mo), m.cfg.kek, newSrc); err != nil {
			if i == 0 {
				return fmt.Errorf("rotate KEK: %s: %w", m.path(mo), err)
			}
			return fmt.Errorf("rotate KEK: %d of %d months now under the new KEK, the rest under the old; "+
				"call RotateKEK again with the same new source to finish: %s: %w", i, len(months), m.path(mo), err)
		}
	}
	m.cfg = next
	return nil
}
