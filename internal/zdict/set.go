package zdict

import (
	"fmt"
	"maps"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
)

const (
	// level is the level dictionaries are built for and encode at (see
	// newDictEncoder).
	level = zstd.SpeedFastest

	// maxEncoders bounds the concurrent encoders of a dictionary.
	maxEncoders = 4
)

// Set is a collection of dictionaries that decode [ZstdDict] payloads,
// one of which may encode new ones. Encode and Decode never lock: the
// dictionaries are an immutable map, replaced whole (copy on write) by
// Add, Use and Retire. Its methods are safe for concurrent use. The zero
// Set is empty and ready to use.
type Set struct {
	mu    sync.Mutex                        // serializes changes
	cur   atomic.Pointer[coder]             // encodes new payloads; nil: none
	dicts atomic.Pointer[map[uint32]*coder] // every known dictionary
}

// coder is one dictionary with its decoder and, for the one in use, its
// encoder. It never changes once in a Set's map: retiring or starting to
// encode replaces it. A dictionary that does not load is kept with err
// set, so that payloads needing it report why.
type coder struct {
	id      uint32
	b       []byte
	dec     *zstd.Decoder
	enc     *zstd.Encoder // nil unless used for encoding
	err     error
	retired bool // decodes, never encodes
}

// NewSet returns an empty Set.
func NewSet() *Set { return new(Set) }

func (s *Set) load() map[uint32]*coder {
	if m := s.dicts.Load(); m != nil {
		return *m
	}
	return nil
}

// lookup returns the dictionary with ID id, or nil.
func (s *Set) lookup(id uint32) *coder { return s.load()[id] }

// loadCoder checks dictionary b, stored under ID id, and returns its
// coder; a dictionary that does not load, or whose embedded ID is not id,
// comes back with err set.
func loadCoder(id uint32, b []byte, withEncoder bool) *coder {
	dc := &coder{id: id, b: b}
	got, err := dictID(b)
	if err == nil && got != id {
		err = fmt.Errorf("dictionary says ID %d", got)
	}
	if err == nil {
		dc.dec, err = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(MaxSize),
			zstd.WithDecoderDicts(b),
		)
	}
	if err == nil && withEncoder {
		dc.enc, err = newDictEncoder(b)
	}
	if err != nil {
		dc.dec, dc.enc, dc.b = nil, nil, nil
		dc.err = fmt.Errorf("%w: dictionary %d is unusable: %v", ErrUnusableDict, id, err)
	}
	return dc
}

// newDictEncoder returns an encoder for dictionary b.
func newDictEncoder(b []byte) (*zstd.Encoder, error) {
	return zstd.NewWriter(nil,
		// With a dictionary, every frame starts by copying the
		// dictionary's match tables: 1.25 MB at SpeedDefault, 256 KiB at
		// SpeedFastest. For payloads of a few KiB that copy dominates;
		// SpeedFastest encodes real transcripts at 0.85x the speed of the
		// plain encoder (SpeedDefault at 0.47x) for a 3.39x ratio instead
		// of 3.45x.
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderCRC(true),
		zstd.WithEncoderDict(b),
		// Each concurrent encoder holds its own tables and history
		// (around a megabyte), and every Set has its own encoder. A few
		// suffice: a payload takes tens of microseconds to encode.
		zstd.WithEncoderConcurrency(min(runtime.GOMAXPROCS(0), maxEncoders)),
	)
}

// store replaces the map by m. s.mu must be held.
func (s *Set) store(m map[uint32]*coder) { s.dicts.Store(&m) }

// Add makes dictionary b, stored under ID id, available for decoding. A
// dictionary already in s with that ID stays, unless s retired it: an ID
// retired here and stored again is another dictionary. A dictionary that
// does not load (damaged, or its embedded ID is not id) is kept, so that
// payloads needing it fail with the reason, and Add returns that reason
// ([ErrUnusableDict]). ID 0 names no dictionary and is refused. s keeps
// b; the caller must not change it.
func (s *Set) Add(id uint32, b []byte) error {
	if id == 0 {
		return fmt.Errorf("%w: ID 0", ErrUnusableDict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if dc := s.lookup(id); dc != nil && !dc.retired {
		return dc.err
	}
	dc := loadCoder(id, b, false)
	m := maps.Clone(s.load())
	if m == nil {
		m = map[uint32]*coder{}
	}
	m[id] = dc
	s.store(m)
	return dc.err
}

// Use makes dictionary id, which must be in s, usable and not retired,
// the one that encodes new payloads.
func (s *Set) Use(id uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.use(id)
}

func (s *Set) use(id uint32) error {
	dc := s.lookup(id)
	switch {
	case dc == nil:
		return fmt.Errorf("%w (ID %d)", ErrUnknownDict, id)
	case dc.err != nil:
		return dc.err
	case dc.retired:
		return fmt.Errorf("%w: dictionary %d is retired", ErrUnusableDict, id)
	}
	if dc.enc == nil {
		enc, err := newDictEncoder(dc.b)
		if err != nil {
			return fmt.Errorf("%w: dictionary %d: %v", ErrUnusableDict, id, err)
		}
		c := *dc
		c.enc = enc
		dc = &c
		m := maps.Clone(s.load())
		m[id] = dc
		s.store(m)
	}
	s.cur.Store(dc)
	return nil
}

// Retire stops dictionary id from encoding: it still decodes, for
// payloads read from snapshots older than its deletion, until [Set.Add]
// replaces it. It reports whether id was the encoding dictionary; s then
// encodes without a dictionary. A [Codec] retires through [Codec.Expire]
// and [Codec.Lost], which also restart its sampling.
func (s *Set) Retire(id uint32) (wasCurrent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.retire(id)
}

func (s *Set) retire(id uint32) (wasCurrent bool) {
	if dc := s.lookup(id); dc != nil && !dc.retired {
		m := maps.Clone(s.load())
		// The decoder stays; the encoder goes once the compressions
		// using it are done.
		m[id] = &coder{id: id, dec: dc.dec, err: dc.err, retired: true}
		s.store(m)
	}
	if cur := s.cur.Load(); cur != nil && cur.id == id {
		s.cur.Store(nil)
		return true
	}
	return false
}

// Current returns the ID of the dictionary that encodes new payloads, or
// 0 if there is none.
func (s *Set) Current() uint32 {
	if cur := s.cur.Load(); cur != nil {
		return cur.id
	}
	return 0
}

// Known reports whether s has a dictionary with ID id, usable or not,
// retired or not.
func (s *Set) Known(id uint32) bool { return s.lookup(id) != nil }

// Live reports whether s has dictionary id and has not retired it.
func (s *Set) Live(id uint32) bool {
	dc := s.lookup(id)
	return dc != nil && !dc.retired
}

// Usable reports whether dictionary id can encode: it is in s, loads,
// and is not retired.
func (s *Set) Usable(id uint32) bool {
	dc := s.lookup(id)
	return dc != nil && !dc.retired && dc.err == nil
}

// Retired reports whether s has retired dictionary id.
func (s *Set) Retired(id uint32) bool {
	dc := s.lookup(id)
	return dc != nil && dc.retired
}

// Encode returns the bytes to store for payload p and their format:
// [ZstdDict] with the encoding dictionary when s has one and the frame
// saves at least a tenth, otherwise as [Compress].
func (s *Set) Encode(p []byte) (data []byte, f Format) {
	if len(p) < MinSize || len(p) > MaxSize {
		return p, Raw
	}
	if d := s.cur.Load(); d != nil {
		z := d.enc.EncodeAll(p, make([]byte, 0, len(p)/2))
		if !saves(p, z) {
			return p, Raw
		}
		return z, ZstdDict
	}
	return Compress(p)
}

// Decode returns the payload stored as data in format f. For [Raw] it
// returns data itself. Any failure is an error, with no partial payload:
// a corrupt frame ([ErrCorrupt]), an unknown format ([ErrUnknownFormat]),
// a frame naming a dictionary s does not have ([ErrUnknownDict], with the
// ID) or one that does not load ([ErrUnusableDict]). The payload is
// never larger than [MaxSize]. A nil Set has no dictionary.
func (s *Set) Decode(data []byte, f Format) ([]byte, error) {
	if f != ZstdDict {
		return Decompress(data, f)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty zstd frame", ErrCorrupt)
	}
	var h zstd.Header
	if err := h.Decode(data); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if h.Skippable || h.DictionaryID == 0 {
		return nil, fmt.Errorf("%w: dictionary frame names no dictionary", ErrCorrupt)
	}
	var dc *coder
	if s != nil {
		dc = s.lookup(h.DictionaryID)
	}
	switch {
	case dc == nil:
		return nil, fmt.Errorf("%w (ID %d)", ErrUnknownDict, h.DictionaryID)
	case dc.err != nil:
		return nil, dc.err
	}
	p, err := dc.dec.DecodeAll(data, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: with dictionary %d: %w", ErrCorrupt, dc.id, err)
	}
	return p, nil
}
