// Package zdict compresses small payloads with zstd, alone or with
// dictionaries trained from the payloads themselves. It knows nothing of
// where payloads and dictionaries are stored: a caller keeps each payload
// with its [Format], keeps dictionaries durably, and tells a [Set] or a
// [Codec] which dictionaries exist.
//
// # Formats
//
// [Compress] and [Decompress] need no dictionary: a payload of at least
// [MinSize] bytes and at most [MaxSize] bytes is stored as one zstd frame
// ([Zstd]) when that saves at least a tenth, and as given ([Raw])
// otherwise. A [Set] adds [ZstdDict]: one zstd frame compressed with one
// of the set's dictionaries, whose ID the frame header names. Decoding
// never returns more than [MaxSize] bytes, and never a partial payload: a
// corrupt, truncated or hostile frame is an error ([ErrCorrupt]).
//
// # Dictionaries
//
// A dictionary has an ID in [[MinID], 2^31): IDs below 32768 and from 2^31
// up are reserved by the zstd format, and IDs below 65536 take two bytes
// in every frame header instead of four. A store allocates IDs upward
// from MinID ([NextID]) and never uses one twice; a Codec without a store
// draws them at random below 65536. A
// [Set] holds the dictionaries that can decode (copy on write: readers
// never lock) and the one that encodes new payloads. A dictionary is
// made of substrings of its samples, so the caller retires it when the
// payloads it was trained on must be forgotten ([Set.Retire],
// [Codec.Expire]); a retired dictionary still decodes, for readers that
// still see rows encoded with it, but never encodes.
//
// A [Codec] is a Set that trains its own dictionary: while it has none it
// samples the payloads it compresses and, once it has enough, builds a
// dictionary in the background ([Build]), checks it on held-out samples,
// hands it to [Config.Persist] to make it durable, and only then encodes
// with it.
//
// # Sharing dictionaries between processes
//
// When several Codecs (in one process or several) store payloads in one
// place, their only shared state must be the durable list of
// dictionaries, and they follow this protocol, which the caller
// implements around its storage:
//
//   - A dictionary is durable before any payload encoded with it
//     ([Config.Persist] runs before the Codec encodes with it).
//   - Its ID is allocated inside the transaction that stores it, above
//     every ID the store ever allocated ([NextID], [Trained.SetID]): two
//     Codecs never store two dictionaries under one ID, and an ID whose
//     dictionary was deleted never comes back, so a Codec that still
//     holds a deleted dictionary cannot mistake another one for it.
//   - A dictionary is deleted only in a transaction that also re-encodes
//     every payload that uses it, whoever wrote them ([Codec.Expire],
//     [FrameDict], [Set.Decode], [Compress]).
//   - The transaction that forgets content also stores its cutoff, as the
//     highest cutoff ever applied; a dictionary is stored only if, inside
//     the transaction that stores it, its samples are no older than that
//     cutoff ([Trained.Oldest]). Otherwise [Config.Persist] returns an
//     error wrapping [ErrExpired] after telling the Codec the cutoff
//     ([Codec.Expire] with no IDs): the Codec drops the dictionary and
//     samples again, from content no older than the cutoff. A Codec that
//     sampled content another Codec's expiration made it forget thus
//     never stores a dictionary made of it.
//   - A payload encoded with a dictionary is stored only if, inside the
//     transaction that stores it and under the lock that deletion needs,
//     the dictionary is still stored; otherwise it is stored without it
//     ([Compress]) and the Codec is told ([Codec.Lost]).
//   - A reader that meets an ID its Set does not know ([ErrUnknownDict])
//     or has retired ([Set.Retired]) loads the stored dictionaries inside
//     the snapshot that holds the payload, and decodes again.
package zdict

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Format says how a payload is stored. Formats are never renumbered; a new
// format gets a new number so that stored payloads keep reading.
type Format byte

const (
	// Raw is the payload bytes as given.
	Raw Format = 0
	// Zstd is one zstd frame, with checksum and without dictionary, whose
	// content is the payload.
	Zstd Format = 1
	// ZstdDict is one zstd frame, with checksum, compressed with a
	// dictionary whose ID the frame header names. Only a [Set] that has
	// the dictionary decodes it.
	ZstdDict Format = 2
)

const (
	// MinSize is the smallest payload worth compressing. A zstd frame
	// costs about 13 bytes (header, block header, checksum), so below
	// this size the saving rarely reaches a tenth and the CPU is spent for
	// nothing.
	MinSize = 512

	// MaxSize bounds the decoded size of a frame: it protects readers from
	// decompression bombs in a corrupt or hostile file. Larger payloads
	// are stored raw, so every payload this package compressed
	// decompresses.
	MaxSize = 64 << 20
)

var (
	// ErrUnknownFormat is returned for a format this version does not
	// know (written by a newer version, or corruption), and for
	// [ZstdDict] without a [Set].
	ErrUnknownFormat = errors.New("zdict: unknown payload format")
	// ErrUnknownDict is returned for a payload compressed with a
	// dictionary the Set does not have (a payload copied from elsewhere,
	// a deleted dictionary, one added since the Set loaded its own, or
	// corruption).
	ErrUnknownDict = errors.New("zdict: payload needs a compression dictionary this store does not have")
	// ErrCorrupt is returned for a frame that does not decode: damaged,
	// truncated, larger than MaxSize once decoded, or not a frame of its
	// format.
	ErrCorrupt = errors.New("zdict: corrupt compressed payload")
	// ErrUnusableDict is returned for a dictionary that does not load
	// (damaged, or its embedded ID is not the one it is stored under),
	// and for payloads that need it.
	ErrUnusableDict = errors.New("zdict: unusable dictionary")
)

// saves reports whether storing c instead of p pays: the frame must be at
// least 10% smaller, since every read of a compressed payload pays for
// decompression.
func saves(p, c []byte) bool {
	return len(c) <= len(p)-len(p)/10
}

// plain returns the shared encoder and decoder without dictionary,
// created on first use. EncodeAll and DecodeAll are safe for concurrent
// use; each call borrows one of GOMAXPROCS internal coders.
var plain = sync.OnceValues(func() (*zstd.Encoder, *zstd.Decoder) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderCRC(true),
	)
	if err != nil {
		panic("zdict: zstd encoder: " + err.Error()) // static options
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(MaxSize),
	)
	if err != nil {
		panic("zdict: zstd decoder: " + err.Error()) // static options
	}
	return enc, dec
})

// Compress returns the bytes to store for payload p and their format,
// without dictionary. It compresses p when p is at least [MinSize] bytes,
// at most [MaxSize] bytes, and the frame saves at least 10%; otherwise it
// returns p itself (not a copy) with [Raw].
func Compress(p []byte) (data []byte, f Format) {
	if len(p) < MinSize || len(p) > MaxSize {
		return p, Raw
	}
	enc, _ := plain()
	c := enc.EncodeAll(p, make([]byte, 0, len(p)/2))
	if !saves(p, c) {
		return p, Raw
	}
	return c, Zstd
}

// Decompress returns the payload stored as data in format f, which must
// not be [ZstdDict] (see [Set.Decode]). For [Raw] it returns data itself
// (not a copy). A frame that does not decode, or decodes to more than
// [MaxSize] bytes, is [ErrCorrupt]; an unknown format is
// [ErrUnknownFormat]. No partial payload is returned.
func Decompress(data []byte, f Format) ([]byte, error) {
	switch f {
	case Raw:
		return data, nil
	case Zstd:
		if len(data) == 0 {
			return nil, fmt.Errorf("%w: empty zstd frame", ErrCorrupt)
		}
		_, dec := plain()
		p, err := dec.DecodeAll(data, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return p, nil
	default:
		return nil, fmt.Errorf("%w %d", ErrUnknownFormat, f)
	}
}

// FrameDict returns the dictionary ID that the header of frame data
// names, and false if data does not start with a frame header that names
// one.
func FrameDict(data []byte) (id uint32, ok bool) {
	var h zstd.Header
	if h.Decode(data) != nil || h.Skippable || h.DictionaryID == 0 {
		return 0, false
	}
	return h.DictionaryID, true
}

// Dictionary IDs. The zstd format reserves IDs below 32768 and from 2^31
// up. IDs below 65536 take two bytes in every frame header instead of
// four: a store allocates IDs upward from MinID ([NextID]), and a Codec
// without a store draws them from [MinID, MaxID].
const (
	MinID = 1 << 15
	MaxID = 1<<16 - 1
	// maxUserID is the largest ID the format leaves to users.
	maxUserID = 1<<31 - 1
)

// dictHeaderSize is the size of a dictionary's magic number and ID.
const dictHeaderSize = 8

// dictMagic starts every zstd dictionary (little endian).
const dictMagic = 0xEC30A437

// dictID returns the ID embedded in dictionary b.
func dictID(b []byte) (uint32, error) {
	d, err := zstd.InspectDictionary(b)
	if err != nil {
		return 0, err
	}
	return d.ID(), nil
}

// withID returns a copy of dictionary b that says ID id: the ID is only
// a field of the dictionary's header, nothing else depends on it.
func withID(b []byte, id uint32) ([]byte, error) {
	if len(b) < dictHeaderSize || binary.LittleEndian.Uint32(b) != dictMagic {
		return nil, fmt.Errorf("%w: not a zstd dictionary", ErrUnusableDict)
	}
	c := make([]byte, len(b))
	copy(c, b)
	binary.LittleEndian.PutUint32(c[4:], id)
	return c, nil
}
