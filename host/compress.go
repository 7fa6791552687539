package host

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Payload storage formats: the value of an event row's format column.
// Formats are never renumbered; a new format gets a new number so that old
// rows keep reading.
const (
	// formatRaw stores the payload bytes as given.
	formatRaw byte = 0
	// formatZstd stores one zstd frame (no dictionary, with checksum)
	// whose content is the payload.
	formatZstd byte = 1
	// formatZstdDict stores one zstd frame (with checksum) compressed
	// with one of the store's dictionaries (the dicts table); the frame
	// header names the dictionary's ID. Only a store's codec reads it.
	formatZstdDict byte = 2
)

const (
	// compressMinSize is the smallest payload worth compressing. A zstd
	// frame costs about 13 bytes (header, block header, checksum), so
	// below this size the saving rarely reaches compressMinSaving and the
	// CPU is spent for nothing.
	compressMinSize = 512

	// maxPayloadSize bounds the decoded size of a compressed payload; it
	// protects readers from decompression bombs in a corrupt or hostile
	// file. Larger payloads are stored raw, so every payload this package
	// compressed can be decompressed.
	maxPayloadSize = 64 << 20
)

// compressMinSaving reports whether storing c instead of p pays: the
// frame must be at least 10% smaller, since every read of a compressed
// payload pays for decompression.
func compressMinSaving(p, c []byte) bool {
	return len(c) <= len(p)-len(p)/10
}

// errUnknownFormat is returned by decompressPayload for a format byte this
// version does not know (a row written by a newer store, or corruption).
var errUnknownFormat = errors.New("host: unknown payload format")

// zstdCodec returns the shared encoder and decoder, created on first use.
// EncodeAll and DecodeAll are safe for concurrent use; each call borrows
// one of GOMAXPROCS internal coders.
var zstdCodec = sync.OnceValues(func() (*zstd.Encoder, *zstd.Decoder) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderCRC(true),
	)
	if err != nil {
		panic("host: zstd encoder: " + err.Error()) // static options
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(maxPayloadSize),
	)
	if err != nil {
		panic("host: zstd decoder: " + err.Error()) // static options
	}
	return enc, dec
})

// compressPayload returns the bytes to store for payload p and their
// format. It compresses p with zstd when p is at least compressMinSize
// bytes, at most maxPayloadSize bytes, and the frame saves at least 10%;
// otherwise it returns p itself (not a copy) with formatRaw.
func compressPayload(p []byte) (data []byte, format byte) {
	if len(p) < compressMinSize || len(p) > maxPayloadSize {
		return p, formatRaw
	}
	enc, _ := zstdCodec()
	c := enc.EncodeAll(p, make([]byte, 0, len(p)/2))
	if !compressMinSaving(p, c) {
		return p, formatRaw
	}
	return c, formatZstd
}

// decompressPayload returns the payload stored as data in the given
// format. For formatRaw it returns data itself (not a copy). A corrupt
// frame, a frame that decodes to more than maxPayloadSize bytes, or an
// unknown format is an error; no partial payload is returned.
func decompressPayload(data []byte, format byte) ([]byte, error) {
	switch format {
	case formatRaw:
		return data, nil
	case formatZstd:
		if len(data) == 0 {
			return nil, errors.New("host: decompress payload: empty zstd frame")
		}
		_, dec := zstdCodec()
		p, err := dec.DecodeAll(data, nil)
		if err != nil {
			return nil, fmt.Errorf("host: decompress payload: %w", err)
		}
		return p, nil
	default:
		return nil, fmt.Errorf("%w %d", errUnknownFormat, format)
	}
}
