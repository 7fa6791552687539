package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/dict"
	"github.com/klauspost/compress/zstd"
	"github.com/ncruces/go-sqlite3"
)

// Dictionary training. A store's payloads are small JSON documents of the
// same few shapes (one transcript line each), which zstd compresses poorly
// one at a time: the shared structure is never in the window. A dictionary
// trained from the store's own payloads supplies it. On the real
// transcripts the size ratio goes from 2.3x to 3.4x on the payloads after
// the dictionary, 3.1x counting those before (BenchmarkCompressDict).
const (
	// dictTrainBytes and dictTrainSamples bound the sample a store
	// collects before it trains its dictionary: whichever is reached
	// first. More data barely improves the dictionary (3.38x at 1 MiB,
	// 3.5x at 4 MiB on the transcripts) but delays it, and every payload
	// appended before the dictionary exists is stored at the plain ratio.
	dictTrainBytes   = 1 << 20
	dictTrainSamples = 2000

	// dictSampleMax truncates each sample: only the beginning of a sample
	// matters to the dictionary builder.
	dictSampleMax = 16 << 10

	// dictMaxSize bounds the dictionary content.
	dictMaxSize = 112 << 10

	// dictHashBytes is the builder's minimum match length; 8 gave the best
	// ratio on the transcripts (3.40x against 3.31x for the default 6).
	dictHashBytes = 8

	// dictMinGain is the held-out test a new dictionary must pass: on the
	// samples it was not trained on, dictionary frames must take at most
	// this fraction of the bytes plain zstd frames take.
	dictMinGain = 0.95

	// dictLevel is the level dictionaries are built for and encode at
	// (see newDictEncoder).
	dictLevel = zstd.SpeedFastest

	// dictEncoders bounds the concurrent encoders of a dictionary.
	dictEncoders = 4

	// dictMaxAttempts bounds training attempts per open store whose
	// training failed (builder error, write error); a dictionary that does
	// not pass the held-out test is not retried until the store reopens.
	dictMaxAttempts = 3
)

// Dictionary IDs: the zstd format reserves IDs below 32768 and from 2^31
// up. IDs below 65536 take two bytes in every frame header instead of
// four, so a store picks its IDs at random in [32768, 65536), distinct
// from the IDs it already has.
const (
	dictMinID = 1 << 15
	dictMaxID = 1<<16 - 1
)

// errUnknownDict is returned when a payload was compressed with a
// dictionary the store does not have (a row copied from another store, a
// deleted dictionary, or corruption).
var errUnknownDict = errors.New("host: payload needs a compression dictionary this store does not have")

var (
	// errDictNoGain means a trained dictionary failed the held-out test.
	errDictNoGain = errors.New("host: trained dictionary does not pay")
	// errDictExpired means retention dropped content older than some of
	// a dictionary's training samples while it trained.
	errDictExpired = errors.New("host: trained dictionary holds content retention dropped")
)

// codec compresses and decompresses one store's payloads. It owns the
// store's dictionaries: every dictionary in the dicts table can decode,
// and the newest usable one encodes new payloads. A store without a
// dictionary collects samples of the payloads it compresses (after
// redaction: what the store keeps, never shared or shipped data) and, once
// it has enough, trains one in the background, persists it and then uses
// it.
//
// A dictionary is made of substrings of its samples, so retention must
// not leave it behind: [Store.retireDicts] re-encodes the rows that use a
// dictionary with samples older than the retention cutoff, deletes it
// and starts sampling again.
//
// Several Stores, in one process or several, may have the file open;
// each has its own codec. The dictionary protocol between them, whose
// only shared state is the dicts table:
//
//   - A dictionary row is committed before any row encoded with it, and
//     deleted (retired) only in a write transaction that also re-encodes
//     every row using it, whoever wrote them: retire first loads the
//     dictionaries of other Stores it does not know.
//   - A writer inserts a row encoded with a dictionary only if, inside the
//     same write transaction (which holds SQLite's write lock), the
//     dictionary's row is still in the table (recheck). A retirement thus
//     either commits before the insert, which then stores the payload
//     without the dictionary and stops using it (lost), or after it, and
//     re-encodes the row. No committed row ever names a deleted
//     dictionary.
//   - A reader that meets a dictionary ID it does not know (trained by
//     another Store after this one opened) loads the missing dictionaries
//     through its own connection, inside the read transaction that read
//     the row (decompressConn): that snapshot holds the row, hence its
//     dictionary. Only then is the payload unreadable (errUnknownDict).
//
// Its methods are safe for concurrent use.
type codec struct {
	// write runs fn in a group commit of the store's writer. Nil keeps
	// dictionaries in memory only (tests, benchmarks).
	write func(ctx context.Context, fn func(tx *wtx) error) error

	// trainBytes and trainSamples are the training thresholds; tests
	// lower them.
	trainBytes, trainSamples int

	cur   atomic.Pointer[dictCoder]             // encodes new payloads; nil: no dictionary yet
	dicts atomic.Pointer[map[uint32]*dictCoder] // every known dictionary; copy on write under mu

	collecting atomic.Bool // samples wanted
	anyRetired atomic.Bool // some dictionary was retired: recheck frames before insert

	mu       sync.Mutex
	samples  [][]byte
	sampled  int   // bytes in samples
	oldest   int64 // smallest event timestamp among samples
	attempts int   // training attempts since the last retirement
	trainErr error // why the last attempt failed
	cutoff   int64 // highest retention cutoff applied
	epoch    int   // retirements so far: samples taken before one and older than cutoff are expired
	wg       sync.WaitGroup
}

// dictCoder is one dictionary with its decoder and, for the dictionary in
// use, its encoder. A dictionary row that cannot be loaded is kept with
// err set, so that payloads needing it report why.
type dictCoder struct {
	id      uint32
	enc     *zstd.Encoder // nil unless created for encoding
	dec     *zstd.Decoder
	err     error
	retired atomic.Bool // deleted by retention: decodes, never encodes
}

// newMemCodec returns a codec with no dictionary that keeps the one it
// trains in memory.
func newMemCodec() *codec {
	c := &codec{trainBytes: dictTrainBytes, trainSamples: dictTrainSamples, cutoff: math.MinInt64}
	c.dicts.Store(&map[uint32]*dictCoder{})
	c.collecting.Store(true)
	return c
}

// newCodec loads the dictionaries stored in the dicts table through c,
// the store's write connection before its writer starts; write is the
// store's writer, for the dictionaries it will train. A dictionary row
// that does not load does not stop the store from opening: the payloads
// that need it fail to read with a clear error, and the newest dictionary
// that loads is used for new payloads.
func newCodec(c *sqlite3.Conn, write func(ctx context.Context, fn func(tx *wtx) error) error) (*codec, error) {
	cd := newMemCodec()
	cd.write = write
	st, _, err := c.Prepare(`SELECT id, dict FROM dicts ORDER BY created, id`)
	if err != nil {
		return nil, fmt.Errorf("load compression dictionaries: %w", err)
	}
	defer st.Close()
	m := map[uint32]*dictCoder{}
	var (
		last      *dictCoder
		lastBytes []byte
	)
	for st.Step() {
		id64 := st.ColumnInt64(0)
		b := st.ColumnBlob(1, nil)
		if id64 < 1 || id64 > 1<<32-1 {
			continue // no frame can name it
		}
		dc := loadDictCoder(uint32(id64), b, false)
		m[dc.id] = dc
		if dc.err == nil {
			last, lastBytes = dc, b
		}
	}
	if err := st.Err(); err != nil {
		return nil, fmt.Errorf("load compression dictionaries: %w", err)
	}
	if last != nil {
		enc, err := newDictEncoder(lastBytes)
		if err != nil { // it loaded for decoding: not expected
			return nil, fmt.Errorf("load compression dictionary %d: %w", last.id, err)
		}
		last.enc = enc
		cd.cur.Store(last)
		cd.collecting.Store(false)
	}
	cd.dicts.Store(&m)
	return cd, nil
}

// reload adds to c the dictionaries of the dicts table it does not know,
// read through conn: in the caller's transaction if one is open, so in
// its snapshot.
func (c *codec) reload(conn *sqlite3.Conn) error {
	_, _, err := c.reloadNewest(conn)
	return err
}

// reloadNewest is reload; it also returns the newest dictionary of the
// table that c can encode with (not retired, loads), with its bytes, or 0.
func (c *codec) reloadNewest(conn *sqlite3.Conn) (newest uint32, newestBytes []byte, err error) {
	st, _, err := conn.Prepare(`SELECT id, dict FROM dicts ORDER BY created, id`)
	if err != nil {
		return 0, nil, fmt.Errorf("reload compression dictionaries: %w", err)
	}
	defer st.Close()
	known := *c.dicts.Load()
	added := map[uint32]*dictCoder{}
	for st.Step() {
		id64 := st.ColumnInt64(0)
		if id64 < 1 || id64 > 1<<32-1 {
			continue // no frame can name it
		}
		id := uint32(id64)
		// A dictionary c retired but the table has is another one
		// with the same ID (trained since by another Store, which
		// did not know the ID was used), or one whose retirement
		// rolled back: the table is right.
		dc, ok := known[id]
		if !ok || dc.retired.Load() {
			dc = loadDictCoder(id, st.ColumnBlob(1, nil), false)
			added[id] = dc
		}
		if dc.err == nil && !dc.retired.Load() {
			newest, newestBytes = id, st.ColumnBlob(1, nil)
		}
	}
	if err := st.Err(); err != nil {
		return 0, nil, fmt.Errorf("reload compression dictionaries: %w", err)
	}
	if len(added) > 0 {
		c.mu.Lock()
		m := maps.Clone(*c.dicts.Load())
		for id, dc := range added {
			if old, ok := m[id]; !ok || old.retired.Load() {
				m[id] = dc
			}
		}
		c.dicts.Store(&m)
		c.mu.Unlock()
	}
	return newest, newestBytes, nil
}

// lost handles dictionary id missing from the dicts table, found by
// recheck inside a write transaction on conn: another Store retired it.
// c stops encoding with it (keeping its decoder for snapshots older than
// the retirement) and encodes with the newest dictionary the table has,
// or, with none, samples to train one.
func (c *codec) lost(conn *sqlite3.Conn, id uint32) {
	newest, b, err := c.reloadNewest(conn)
	c.mu.Lock()
	defer c.mu.Unlock()
	m := maps.Clone(*c.dicts.Load())
	if dc := m[id]; dc != nil && !dc.retired.Load() {
		dc.retired.Store(true)
		dec := &dictCoder{id: id, dec: dc.dec, err: dc.err}
		dec.retired.Store(true)
		m[id] = dec
	}
	c.anyRetired.Store(true)
	var next *dictCoder
	if dc := m[newest]; err == nil && newest != id && dc != nil && dc.err == nil && !dc.retired.Load() {
		if dc.enc != nil {
			next = dc
		} else if enc, err := newDictEncoder(b); err == nil {
			next = &dictCoder{id: newest, dec: dc.dec, enc: enc}
			m[newest] = next
		}
	}
	c.dicts.Store(&m)
	if cur := c.cur.Load(); cur != nil && cur.retired.Load() {
		c.cur.Store(next)
		if next == nil {
			c.attempts = 0
			c.restartSampling()
		}
	}
}

// loadDictCoder checks dictionary b, whose row ID is id, and returns its
// coder; a dictionary that does not load, or whose embedded ID is not id,
// comes back with err set.
func loadDictCoder(id uint32, b []byte, withEncoder bool) *dictCoder {
	dc := &dictCoder{id: id}
	d, err := zstd.InspectDictionary(b)
	if err == nil && d.ID() != id {
		err = fmt.Errorf("dictionary says ID %d", d.ID())
	}
	if err == nil {
		dc.dec, err = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(maxPayloadSize),
			zstd.WithDecoderDicts(b),
		)
	}
	if err == nil && withEncoder {
		dc.enc, err = newDictEncoder(b)
	}
	if err != nil {
		dc.dec, dc.enc = nil, nil
		dc.err = fmt.Errorf("dictionary %d is unusable: %w", id, err)
	}
	return dc
}

// newDictEncoder returns an encoder for dictionary b.
func newDictEncoder(b []byte) (*zstd.Encoder, error) {
	return zstd.NewWriter(nil,
		// With a dictionary, every frame starts by copying the
		// dictionary's match tables: 1.25 MB at SpeedDefault, 256 KiB at
		// SpeedFastest. For payloads of a few KiB that copy dominates;
		// SpeedFastest encodes the transcripts at 0.85x the speed of the
		// plain encoder (SpeedDefault at 0.47x) for 3.39x instead of
		// 3.45x, and keeps appends from 16 callers as fast as without a
		// dictionary (BenchmarkAppendDict).
		zstd.WithEncoderLevel(dictLevel),
		zstd.WithEncoderCRC(true),
		zstd.WithEncoderDict(b),
		// Each concurrent encoder holds its own tables and history
		// (around a megabyte), and every store has its own encoder. A
		// few suffice: a payload takes tens of microseconds to encode, a
		// durable commit milliseconds.
		zstd.WithEncoderConcurrency(min(runtime.GOMAXPROCS(0), dictEncoders)),
	)
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
	if len(p) < compressMinSize || len(p) > maxPayloadSize {
		return p, formatRaw
	}
	if d := c.cur.Load(); d != nil {
		z := d.enc.EncodeAll(p, make([]byte, 0, len(p)/2))
		if !compressMinSaving(p, z) {
			return p, formatRaw
		}
		return z, formatZstdDict
	}
	c.sample(p, ts)
	return compressPayload(p)
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
	var h zstd.Header
	if h.Decode(data) != nil {
		return compressPayload(p)
	}
	dc := (*c.dicts.Load())[h.DictionaryID]
	if dc == nil || dc.retired.Load() {
		return compressPayload(p)
	}
	if tx == nil {
		return data, format
	}
	// The transaction holds the write lock: if the row is there now, no
	// retirement can delete it before this row commits, and the next one
	// re-encodes this row.
	exists := false
	err := queryRows(tx, `SELECT 1 FROM dicts WHERE id = ?`, []any{int64(h.DictionaryID)}, func(*sqlite3.Stmt) error {
		exists = true
		return nil
	})
	if err == nil && exists {
		return data, format
	}
	if err == nil {
		// Another Store retired it: stop encoding with it and adopt
		// what the table has now.
		c.lost(tx.Conn(), h.DictionaryID)
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
	if err != nil && c != nil && conn != nil && (errors.Is(err, errUnknownDict) || c.retiredFrame(data)) {
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
	var h zstd.Header
	if h.Decode(data) != nil {
		return false
	}
	dc := (*c.dicts.Load())[h.DictionaryID]
	return dc != nil && dc.retired.Load()
}

// decompress returns the payload stored as data in the given format. For
// formatRaw it returns data itself. Any failure is an error, with no
// partial payload: a corrupt frame, an unknown format, a frame needing a
// dictionary the store does not have.
func (c *codec) decompress(data []byte, format byte) ([]byte, error) {
	if format != formatZstdDict {
		return decompressPayload(data, format)
	}
	if len(data) == 0 {
		return nil, errors.New("host: decompress payload: empty zstd frame")
	}
	var h zstd.Header
	if err := h.Decode(data); err != nil {
		return nil, fmt.Errorf("host: decompress payload: %w", err)
	}
	if h.Skippable || h.DictionaryID == 0 {
		return nil, errors.New("host: decompress payload: dictionary frame names no dictionary")
	}
	var dc *dictCoder
	if c != nil {
		dc = (*c.dicts.Load())[h.DictionaryID]
	}
	switch {
	case dc == nil:
		return nil, fmt.Errorf("%w (ID %d)", errUnknownDict, h.DictionaryID)
	case dc.err != nil:
		return nil, fmt.Errorf("host: decompress payload: %w", dc.err)
	}
	p, err := dc.dec.DecodeAll(data, nil)
	if err != nil {
		return nil, fmt.Errorf("host: decompress payload with dictionary %d: %w", dc.id, err)
	}
	return p, nil
}

// sample keeps the beginning of p for training, and starts training once
// the sample is large enough.
func (c *codec) sample(p []byte, ts int64) {
	if !c.collecting.Load() {
		return
	}
	s := bytes.Clone(p[:min(len(p), dictSampleMax)])
	c.mu.Lock()
	if !c.collecting.Load() {
		c.mu.Unlock()
		return
	}
	if len(c.samples) == 0 || ts < c.oldest {
		c.oldest = ts
	}
	c.samples = append(c.samples, s)
	c.sampled += len(s)
	if c.sampled < c.trainBytes && len(c.samples) < c.trainSamples {
		c.mu.Unlock()
		return
	}
	samples, oldest, epoch := c.samples, c.oldest, c.epoch
	c.samples, c.sampled = nil, 0
	c.collecting.Store(false)
	c.attempts++
	id := c.newID()
	c.wg.Add(1)
	c.mu.Unlock()
	go c.train(id, samples, oldest, epoch)
}

// newID returns an unused dictionary ID. c.mu must be held.
func (c *codec) newID() uint32 {
	known := *c.dicts.Load()
	for {
		id := uint32(dictMinID + rand.IntN(dictMaxID-dictMinID+1))
		if _, used := known[id]; !used {
			return id
		}
		if len(known) >= (dictMaxID-dictMinID+1)/2 { // absurd, but never loop forever
			id = uint32(1<<16 + rand.IntN(1<<31-1<<16))
			if _, used := known[id]; !used {
				return id
			}
		}
	}
}

// train builds dictionary id from samples, the oldest of which belongs
// to an event with timestamp oldest, persists it and starts using it. It
// runs on its own goroutine: appends meanwhile compress without a
// dictionary. Epoch is c.epoch when sampling ended: a retirement since
// then, with a cutoff after oldest, may have dropped samples' events.
func (c *codec) train(id uint32, samples [][]byte, oldest int64, epoch int) {
	defer c.wg.Done()
	err := c.trainNow(id, samples, oldest, epoch)
	if err == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trainErr = err
	switch {
	case errors.Is(err, errDictExpired):
		c.restartSampling()
	case errors.Is(err, ErrClosed), errors.Is(err, errDictNoGain), c.attempts >= dictMaxAttempts:
	default:
		c.restartSampling() // try again with fresh samples
	}
}

// restartSampling starts collecting samples afresh. c.mu must be held.
func (c *codec) restartSampling() {
	c.samples, c.sampled = nil, 0
	c.collecting.Store(true)
}

func (c *codec) trainNow(id uint32, samples [][]byte, oldest int64, epoch int) error {
	b, err := buildDict(id, samples)
	if err != nil {
		return err
	}
	dc := loadDictCoder(id, b, true)
	if dc.err != nil {
		return dc.err
	}
	expired := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.epoch != epoch && oldest < c.cutoff
	}
	if c.write != nil {
		// The dictionary is durable before any payload can use it.
		err := c.write(context.Background(), func(tx *wtx) error {
			if expired() {
				return errDictExpired
			}
			_, err := tx.exec(`INSERT INTO dicts (id, created, oldest, dict) VALUES (?, ?, ?, ?)`,
				int64(id), time.Now().UnixNano(), oldest, b)
			return err
		})
		if err != nil {
			return fmt.Errorf("store dictionary %d: %w", id, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m := maps.Clone(*c.dicts.Load())
	defer c.dicts.Store(&m)
	if c.epoch != epoch && oldest < c.cutoff {
		// A retirement between the commit and now has deleted the
		// dictionary again (no row used it): keep a decoder only.
		dec := &dictCoder{id: id, dec: dc.dec}
		dec.retired.Store(true)
		m[id] = dec
		c.restartSampling()
		return nil
	}
	m[id] = dc
	c.cur.Store(dc)
	return nil
}

// wait waits for a training in progress and returns why the last attempt
// failed, if it did.
func (c *codec) wait() error {
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.trainErr
}

// buildDict trains dictionary id on nine tenths of samples and checks it
// on the rest: it must beat plain zstd there by dictMinGain. The builder
// is experimental code; a panic in it is an error, not a crash.
func buildDict(id uint32, samples [][]byte) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("build dictionary: panic: %v", r)
		}
	}()
	var train, test [][]byte
	for i, s := range samples {
		if i%10 == 9 {
			test = append(test, s)
		} else {
			train = append(train, s)
		}
	}
	if len(train) == 0 || len(test) == 0 {
		return nil, fmt.Errorf("build dictionary: %d samples are too few", len(samples))
	}
	b, err = dict.BuildZstdDict(train, dict.Options{
		MaxDictSize: dictMaxSize,
		HashBytes:   dictHashBytes,
		ZstdDictID:  id,
		ZstdLevel:   dictLevel,
	})
	if err != nil {
		return nil, fmt.Errorf("build dictionary: %w", err)
	}
	enc, err := newDictEncoder(b)
	if err != nil {
		return nil, fmt.Errorf("build dictionary: %w", err)
	}
	plain, _ := zstdCodec()
	var withDict, without int
	for _, s := range test {
		withDict += len(enc.EncodeAll(s, nil))
		without += len(plain.EncodeAll(s, nil))
	}
	if float64(withDict) > dictMinGain*float64(without) {
		return nil, fmt.Errorf("%w: %d bytes with it, %d without, on %d held-out samples", errDictNoGain, withDict, without, len(test))
	}
	return b, nil
}

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
// dropping. It is conservative: pinned and exempt sessions also count as
// dropped. Its cost is decoding and encoding every row that used the
// dictionary, in the writer, about once per retention period.
func (s *Store) retireDicts(tx *wtx, cutoff int64) error {
	return s.codec.retire(tx, cutoff)
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
	c.mu.Lock()
	c.cutoff = max(c.cutoff, cutoff)
	c.epoch++
	if len(c.samples) > 0 && c.oldest < cutoff {
		c.restartSampling()
	}
	retiring := map[uint32]bool{}
	m := maps.Clone(*c.dicts.Load())
	for _, id := range ids {
		retiring[id] = true
		if dc := m[id]; dc != nil {
			dc.retired.Store(true)
			// Keep the decoder for readers of older snapshots; drop the
			// encoder once the compressions using it are done.
			dec := &dictCoder{id: id, dec: dc.dec, err: dc.err}
			dec.retired.Store(true)
			m[id] = dec
		}
	}
	c.dicts.Store(&m)
	if cur := c.cur.Load(); cur != nil && cur.retired.Load() {
		c.cur.Store(nil)
		c.attempts = 0
		c.restartSampling()
	}
	if len(ids) > 0 {
		c.anyRetired.Store(true)
	}
	c.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}

	// Re-encode the rows that use them.
	type key struct {
		session string
		id      int64
	}
	var rows []key
	if err := queryRows(tx, `SELECT session, id, substr(payload, 1, 32) FROM events WHERE format = ? AND payload IS NOT NULL`, []any{int(formatZstdDict)}, func(st *sqlite3.Stmt) error {
		var h zstd.Header
		if h.Decode(st.ColumnRawBlob(2)) == nil && retiring[h.DictionaryID] {
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

// queryRows runs a cached statement of the writer and calls fn for each
// row.
func queryRows(tx *wtx, query string, args []any, fn func(st *sqlite3.Stmt) error) error {
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
