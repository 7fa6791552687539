package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/zdict"
)

// Payload storage formats: the value of an event row's format column (see
// zdict.Format). Formats are never renumbered.
const (
	formatRaw      = byte(zdict.Raw)
	formatZstd     = byte(zdict.Zstd)
	formatZstdDict = byte(zdict.ZstdDict)
)

// maxPayloadSize bounds the decoded size of a compressed payload; larger
// payloads are stored raw.
const maxPayloadSize = zdict.MaxSize

// compressPayload returns the bytes to store for payload p and their
// format, without dictionary (zdict.Compress).
func compressPayload(p []byte) ([]byte, byte) {
	data, f := zdict.Compress(p)
	return data, byte(f)
}

// decompressPayload returns the payload stored as data in the given
// format, which must not need a dictionary (zdict.Decompress).
func decompressPayload(data []byte, format byte) ([]byte, error) {
	return zdict.Decompress(data, zdict.Format(format))
}

// codec compresses and decompresses one store's payloads with a
// zdict.Codec, whose dictionaries are the rows of the dicts table: every
// one of them decodes, and the newest usable one encodes new payloads. A
// store without a dictionary samples the payloads it compresses (after
// redaction: what the store keeps) and, once it has enough, trains one in
// the background, inserts it (persist) and then uses it.
//
// A dictionary is made of substrings of its samples, so retention must
// not leave it behind: [Store.retireDicts] re-encodes the rows that use a
// dictionary with samples older than the retention cutoff, deletes it
// and starts sampling again.
//
// Several Stores, in one process or several, may have the file open;
// each has its own codec. The dictionary protocol between them, whose
// only shared state is the dicts table and the retention cutoff (the
// "retention_cutoff" row of the counters table):
//
//   - A dictionary row is committed before any row encoded with it
//     (persist runs before the codec encodes with it).
//   - A new dictionary's ID is allocated inside the write transaction
//     that inserts it, above the "dict_id" counter and every ID in the
//     table, and the counter is raised in the same transaction
//     (allocDictID): two Stores never insert two dictionaries under one
//     ID, and the ID of a retired dictionary never comes back. A Store
//     that still holds a retired dictionary (it has not yet noticed the
//     retirement) can therefore never mistake a newer dictionary for it,
//     neither in recheck (which checks the ID only) nor when reading. The
//     INSERT is plain, never OR REPLACE: a row is never overwritten.
//   - A dictionary row is deleted (retired) only in a write transaction
//     that also re-encodes every row using it, whoever wrote them: retire
//     first loads the dictionaries of other Stores it does not know.
//   - Retention (ApplyRetention, DropMetadata) raises the stored
//     retention cutoff to its own, in Unix nanoseconds, inside the write
//     transaction that drops content (recordCutoff): the row holds the
//     highest cutoff ever applied to the file and never goes down. A
//     dictionary is inserted only if, inside the write transaction that
//     inserts it, its oldest sample is no older than the stored cutoff
//     (persist). Another Store may still hold samples of payloads that
//     retention dropped, taken before it ran; the dictionary it trains
//     from them is refused like an expired training (zdict.ErrExpired):
//     the Store learns the cutoff (zdict.Codec.Expire), drops the
//     dictionary and samples again, from content no older than the
//     cutoff. A Store also learns the cutoff when it opens. Retention
//     committing after the insert instead retires the dictionary (above).
//     A clock far ahead of the others' thus stops dictionaries from
//     being trained on their content until their clocks catch up.
//   - A writer inserts a row encoded with a dictionary only if, inside the
//     same write transaction (which holds SQLite's write lock), the
//     dictionary's row is still in the table (recheck). A retirement thus
//     either commits before the insert, which then stores the payload
//     without the dictionary and stops using it (zdict.Codec.Lost), or
//     after it, and re-encodes the row. No committed row ever names a
//     deleted dictionary.
//   - A reader that meets a dictionary ID it does not know (trained by
//     another Store after this one opened), or one it retired (whose ID
//     may since name another dictionary), loads the missing dictionaries
//     through its own connection, inside the read transaction that read
//     the row (decompressConn): that snapshot holds the row, hence its
//     dictionary. Only then is the payload unreadable
//     (zdict.ErrUnknownDict).
//
// Its methods are safe for concurrent use. A nil codec compresses without
// dictionary.
type codec struct {
	z *zdict.Codec

	// write runs fn in a group commit of the store's writer. Nil keeps
	// dictionaries in memory only (tests, benchmarks).
	write func(ctx context.Context, fn func(tx *wtx) error) error
}

// newMemCodec returns a codec with no dictionary that keeps the one it
// trains in memory.
func newMemCodec() *codec { return newDBCodec(nil, zdict.Config{}) }

// newDBCodec returns a codec with no dictionary that persists the ones it
// trains through write; cfg.Persist is set.
func newDBCodec(write func(ctx context.Context, fn func(tx *wtx) error) error, cfg zdict.Config) *codec {
	c := &codec{write: write}
	if write != nil {
		cfg.Persist = c.persist
	}
	c.z = zdict.NewCodec(cfg)
	return c
}

// newCodec loads the dictionaries stored in the dicts table through c,
// the store's write connection before its writer starts; write is the
// store's writer, for the dictionaries it will train. A dictionary row
// that does not load does not stop the store from opening: the payloads
// that need it fail to read with a clear error, and the newest dictionary
// that loads is used for new payloads.
func newCodec(c *sqlite3.Conn, write func(ctx context.Context, fn func(tx *wtx) error) error) (*codec, error) {
	cd := newDBCodec(write, zdict.Config{})
	cutoff, ok, err := loadCutoff(c)
	if err != nil {
		return nil, fmt.Errorf("load compression dictionaries: %w", err)
	}
	if ok {
		cd.z.Expire(nil, cutoff) // sample nothing older
	}
	newest, err := cd.reloadNewest(c)
	if err != nil {
		return nil, fmt.Errorf("load compression dictionaries: %w", err)
	}
	if newest != 0 {
		if err := cd.z.Use(newest); err != nil { // it loaded for decoding: not expected
			return nil, fmt.Errorf("load compression dictionary %d: %w", newest, err)
		}
	}
	return cd, nil
}

// reload adds to c the dictionaries of the dicts table it does not know,
// read through conn: in the caller's transaction if one is open, so in
// its snapshot.
func (c *codec) reload(conn *sqlite3.Conn) error {
	_, err := c.reloadNewest(conn)
	return err
}

// reloadNewest is reload; it also returns the newest dictionary of the
// table that c can encode with (loads, not retired), or 0.
//
// A dictionary c retired but the table has is another one with the same
// ID (trained since by another Store, which did not know the ID was
// used), or one whose retirement rolled back: the table is right, and
// zdict.Set.Add replaces the retired one.
func (c *codec) reloadNewest(conn *sqlite3.Conn) (newest uint32, err error) {
	st, _, err := conn.Prepare(`SELECT id, dict FROM dicts ORDER BY created, id`)
	if err != nil {
		return 0, fmt.Errorf("reload compression dictionaries: %w", err)
	}
	defer st.Close()
	for st.Step() {
		id64 := st.ColumnInt64(0)
		if id64 < 1 || id64 > 1<<32-1 {
			continue // no frame can name it
		}
		id := uint32(id64)
		if !c.z.Live(id) {
			c.z.Add(id, st.ColumnBlob(1, nil)) // an unusable one is kept with its error
		}
		if c.z.Usable(id) {
			newest = id
		}
	}
	if err := st.Err(); err != nil {
		return 0, fmt.Errorf("reload compression dictionaries: %w", err)
	}
	return newest, nil
}

// persist inserts dictionary d through the store's writer, in a
// transaction that first checks that no retirement expired it, in this
// Store or in another one (the stored retention cutoff, see the protocol
// above), and allocates its ID. A dictionary with samples older than the
// stored cutoff is refused with an error wrapping zdict.ErrExpired, after
// the codec learns the cutoff: it drops the dictionary and samples again.
func (c *codec) persist(ctx context.Context, d *zdict.Trained) error {
	return c.write(ctx, func(tx *wtx) error {
		if err := d.Expired(); err != nil {
			return err
		}
		cutoff, ok, err := loadCutoff(tx.Conn())
		if err != nil {
			return err
		}
		if ok && d.Oldest() < cutoff {
			c.z.Expire(nil, cutoff)
			return fmt.Errorf("%w: samples from %d, before the retention cutoff %d", zdict.ErrExpired, d.Oldest(), cutoff)
		}
		id, err := allocDictID(tx)
		if err != nil {
			return err
		}
		if err := d.SetID(id); err != nil {
			return err
		}
		_, err = tx.exec(`INSERT INTO dicts (id, created, oldest, dict) VALUES (?, ?, ?, ?)`,
			int64(d.ID()), time.Now().UnixNano(), d.Oldest(), d.Bytes())
		return err
	})
}

// cutoffName is the row of the counters table that holds the highest
// retention cutoff ever applied to the store, in Unix nanoseconds (see the
// dictionary protocol above). It is not a counter of package sqldb: only
// recordCutoff writes it, and only upward.
const cutoffName = "retention_cutoff"

// recordCutoff raises the stored retention cutoff to cutoff inside
// retention's write transaction tx, and returns the stored value: the
// highest cutoff ever applied, cutoff or above.
func recordCutoff(tx *wtx, cutoff int64) (int64, error) {
	if _, err := tx.exec(`INSERT INTO counters (name, value) VALUES (?1, ?2)
		ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)`, cutoffName, cutoff); err != nil {
		return 0, fmt.Errorf("record retention cutoff: %w", err)
	}
	stored, ok, err := loadCutoff(tx.Conn())
	if err != nil {
		return 0, err
	}
	if !ok { // not expected: the row was just written
		return 0, fmt.Errorf("record retention cutoff: row %q missing after insert", cutoffName)
	}
	return stored, nil
}

// loadCutoff returns the stored retention cutoff, read through conn (in
// its open transaction, if any), and whether there is one: a store that
// never ran retention has none.
func loadCutoff(conn *sqlite3.Conn) (cutoff int64, ok bool, err error) {
	st, _, err := conn.Prepare(`SELECT value FROM counters WHERE name = ?`)
	if err != nil {
		return 0, false, fmt.Errorf("read retention cutoff: %w", err)
	}
	defer st.Close()
	if err := st.BindText(1, cutoffName); err != nil {
		return 0, false, fmt.Errorf("read retention cutoff: %w", err)
	}
	if st.Step() {
		cutoff, ok = st.ColumnInt64(0), true
	}
	if err := st.Err(); err != nil {
		return 0, false, fmt.Errorf("read retention cutoff: %w", err)
	}
	return cutoff, ok, nil
}

// allocDictID allocates a dictionary ID inside write transaction tx from
// the "dict_id" counter (see dictIDs), which only grows, so an ID is never
// allocated twice, even after its dictionary was retired.
func allocDictID(tx *wtx) (uint32, error) {
	v, err := tx.sqldb().Next(dictIDs)
	if err != nil {
		return 0, fmt.Errorf("allocate dictionary ID: %w", err)
	}
	// v is above zdict.MinID-1 (the counter's floor); NextID of the value
	// before it is v itself, or ErrNoID past the last usable ID.
	id, err := zdict.NextID(uint32(min(v, 1<<32-1) - 1))
	if err != nil {
		return 0, fmt.Errorf("allocate dictionary ID: %w", err)
	}
	if uint64(id) != v {
		return 0, fmt.Errorf("allocate dictionary ID: counter value %d is not a dictionary ID", v)
	}
	return id, nil
}

// compress returns the bytes to store for payload p, of an event with
// timestamp ts (Unix nanoseconds), and their format: like compressPayload,
// but with the store's dictionary once it has one. Until then it samples
// p for training. The result must go through recheck in the write
// transaction that stores it.
func (c *codec) compress(p []byte, ts int64) (data []byte, format byte) {
	if c == nil {
		return compressPayload(p)
	}
	data, f := c.z.Compress(p, ts)
	return data, byte(f)
}

// recheck returns what to store for payload p, which compress encoded as
// data in format, from inside the write transaction tx that stores it: if
// retention retired the dictionary in the meantime, in this Store or in
// another one on the file, p is encoded again without it (see the
// dictionary protocol above). tx may be nil for a codec without a
// database (tests), where only this codec's retirements count.
func (c *codec) recheck(tx *wtx, p, data []byte, format byte) ([]byte, byte) {
	if c == nil || format != formatZstdDict {
		return data, format
	}
	id, ok := zdict.FrameDict(data)
	if !ok || !c.z.Live(id) {
		return compressPayload(p)
	}
	if tx == nil {
		return data, format
	}
	// The transaction holds the write lock: if the row is there now, no
	// retirement can delete it before this row commits, and the next one
	// re-encodes this row.
	exists := false
	err := queryRows(tx, `SELECT 1 FROM dicts WHERE id = ?`, []any{int64(id)}, func(*sqlite3.Stmt) error {
		exists = true
		return nil
	})
	if err == nil && exists {
		return data, format
	}
	if err == nil {
		// Another Store retired it: stop encoding with it and adopt
		// what the table has now.
		newest, rerr := c.reloadNewest(tx.Conn())
		if rerr != nil {
			newest = 0
		}
		c.z.Lost(id, newest)
	}
	return compressPayload(p)
}

// decompressConn is decompress for a row read through conn, inside the
// read or write transaction that read it: a frame naming a dictionary c
// does not know, or one it retired (whose ID may have been reused since),
// makes c load the dictionaries it is missing from the dicts table,
// through conn, and try once more. The transaction's snapshot holds
// the row, so it holds the dictionary that encoded it unless that
// dictionary was retired (the protocol above), which re-encoded the row in
// the same transaction.
func (c *codec) decompressConn(conn *sqlite3.Conn, data []byte, format byte) ([]byte, error) {
	p, err := c.decompress(data, format)
	if err != nil && c != nil && conn != nil && (errors.Is(err, zdict.ErrUnknownDict) || c.retiredFrame(data)) {
		if rerr := c.reload(conn); rerr != nil {
			return nil, fmt.Errorf("%w (reload: %v)", err, rerr)
		}
		p, err = c.decompress(data, format)
	}
	return p, err
}

// retiredFrame reports whether the dictionary frame data names a
// dictionary c has retired.
func (c *codec) retiredFrame(data []byte) bool {
	id, ok := zdict.FrameDict(data)
	return ok && c.z.Retired(id)
}

// decompress returns the payload stored as data in the given format. For
// formatRaw it returns data itself. Any failure is an error, with no
// partial payload: a corrupt frame, an unknown format, a frame needing a
// dictionary the store does not have.
func (c *codec) decompress(data []byte, format byte) ([]byte, error) {
	var set *zdict.Set
	if c != nil {
		set = c.z.Set
	}
	return set.Decode(data, zdict.Format(format))
}

// wait waits for a training in progress and returns why the last attempt
// failed, if it did.
func (c *codec) wait() error { return c.z.Wait() }

// retireDicts deletes, inside a retention transaction tx, the
// dictionaries trained on payloads of events older than cutoff (Unix
// nanoseconds): retention may have dropped those payloads, and a
// dictionary holds substrings of its samples. The rows compressed with a
// retired dictionary are re-encoded without it (decoded with it, stored
// in formatZstd or formatRaw) in the same transaction, and the store
// samples payloads to train a new one. With secure_delete and the purge
// that follows retention, nothing of the dictionary stays in the files.
//
// ApplyRetention and DropMetadata call it with their cutoff after
// dropping. It first records the cutoff (recordCutoff), so that no Store
// inserts a dictionary trained on older content afterwards, then retires
// with the stored cutoff, which is the highest one applied. It is
// conservative: pinned and exempt sessions also count as dropped. Its
// cost is decoding and encoding every row that used the dictionary, in
// the writer, about once per retention period.
func (s *Store) retireDicts(tx *wtx, cutoff int64) error {
	stored, err := recordCutoff(tx, cutoff)
	if err != nil {
		return fmt.Errorf("retire dictionaries: %w", err)
	}
	return s.codec.retire(tx, stored)
}

func (c *codec) retire(tx *wtx, cutoff int64) error {
	if c == nil {
		return nil
	}
	// Rows of other Stores may use dictionaries they trained after this
	// one loaded its own: load them, to re-encode those rows too.
	if err := c.reload(tx.Conn()); err != nil {
		return fmt.Errorf("retire dictionaries: %w", err)
	}
	var ids []uint32
	if err := queryRows(tx, `SELECT id FROM dicts WHERE oldest < ?`, []any{cutoff}, func(st *sqlite3.Stmt) error {
		ids = append(ids, uint32(st.ColumnInt64(0)))
		return nil
	}); err != nil {
		return fmt.Errorf("retire dictionaries: %w", err)
	}

	// From here on, no payload is encoded with these dictionaries, and
	// training on samples older than cutoff is abandoned.
	c.z.Expire(ids, cutoff)
	if len(ids) == 0 {
		return nil
	}
	retiring := make(map[uint32]bool, len(ids))
	for _, id := range ids {
		retiring[id] = true
	}

	// Re-encode the rows that use them.
	type key struct {
		session string
		id      int64
	}
	var rows []key
	if err := queryRows(tx, `SELECT session, id, substr(payload, 1, 32) FROM events WHERE format = ? AND payload IS NOT NULL`, []any{int(formatZstdDict)}, func(st *sqlite3.Stmt) error {
		if id, ok := zdict.FrameDict(st.ColumnRawBlob(2)); ok && retiring[id] {
			rows = append(rows, key{st.ColumnText(0), st.ColumnInt64(1)})
		}
		return nil
	}); err != nil {
		return fmt.Errorf("retire dictionaries: %w", err)
	}
	for _, k := range rows {
		id := k.id
		var p []byte
		var bad error
		err := queryRows(tx, `SELECT payload FROM events WHERE session = ? AND id = ?`, []any{k.session, id}, func(st *sqlite3.Stmt) error {
			p, bad = c.decompress(st.ColumnRawBlob(0), formatZstdDict)
			return nil
		})
		if err != nil {
			return fmt.Errorf("retire dictionaries: event %d: %w", id, err)
		}
		if bad != nil {
			// A corrupt row does not block retention; it stays as
			// unreadable as it was.
			continue
		}
		data, format := compressPayload(p)
		if _, err := tx.exec(`UPDATE events SET format = ?, payload = ? WHERE session = ? AND id = ?`, int(format), data, k.session, id); err != nil {
			return fmt.Errorf("retire dictionaries: event %d: %w", id, err)
		}
	}
	if _, err := tx.exec(`DELETE FROM dicts WHERE oldest < ?`, cutoff); err != nil {
		return fmt.Errorf("retire dictionaries: %w", err)
	}
	return nil
}

// queryRows runs a cached statement of the writer or of a reader (*wtx,
// *rtx) and calls fn for each row.
func queryRows(tx interface {
	stmt(string) (*sqlite3.Stmt, error)
}, query string, args []any, fn func(st *sqlite3.Stmt) error) error {
	st, err := tx.stmt(query)
	if err != nil {
		return err
	}
	defer st.Reset()
	if err := bindAll(st, args...); err != nil {
		return err
	}
	for st.Step() {
		if err := fn(st); err != nil {
			return err
		}
	}
	return st.Err()
}
