package peers

import (
	"context"
	"encoding/json"
	"path/filepath"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

// benchKEK is the key-encryption key of the encrypted store (a benchmark
// key, not a secret).
var benchKEK = []byte("gofastr-peers-bench-kek-32-bytes")

// StoreEncrypted is this store, encrypted (host.OpenWithKEK: AES-256-GCM
// pages, the data key wrapped in <db>.dek), through its public API.
var StoreEncrypted = Opener{Name: "store-enc", Encrypted: true,
	What: "this store, encrypted (host.OpenWithKEK; AES-256-GCM pages in wazero; WAL, synchronous=FULL, group commit)",
	Open: func(dir string) (Peer, error) {
		s, err := host.OpenWithKEK(filepath.Join(dir, "store.db"), benchKEK)
		if err != nil {
			return nil, err
		}
		return storePeer{s}, nil
	}}

// StorePlain is this store without encryption (host.Open).
var StorePlain = Opener{Name: "store-plain",
	What: "this store, plaintext (host.Open; WAL, synchronous=FULL, group commit)",
	Open: func(dir string) (Peer, error) {
		s, err := host.Open(filepath.Join(dir, "store.db"))
		if err != nil {
			return nil, err
		}
		return storePeer{s}, nil
	}}

type storePeer struct{ s *host.Store }

func envelope(e Event) abi.EventEnvelope {
	return abi.EventEnvelope{Session: abi.SessionID(e.Session), Turn: e.Turn, Kind: e.Kind,
		TS: unixTime(e.TS), Payload: json.RawMessage(e.Payload)}
}

func event(v abi.EventEnvelope) Event {
	return Event{ID: v.ID, Session: string(v.Session), Turn: v.Turn, Kind: v.Kind, TS: v.TS.UnixNano(), Payload: v.Payload}
}

func (p storePeer) Append(ctx context.Context, e Event) error {
	_, err := p.s.Append(ctx, envelope(e))
	return err
}

func (p storePeer) Load(ctx context.Context, evs []Event) error {
	for len(evs) > 0 {
		n := min(len(evs), 1000)
		b := abi.Batch{Events: make([]abi.EventEnvelope, n)}
		for i, e := range evs[:n] {
			b.Events[i] = envelope(e)
		}
		if _, err := p.s.WriteBatches(ctx, b); err != nil {
			return err
		}
		evs = evs[n:]
	}
	return nil
}

func (p storePeer) ReadSession(ctx context.Context, sess string, after uint64, limit int, dst []Event) ([]Event, error) {
	evs, err := p.s.EventsSince(ctx, abi.SessionID(sess), after, limit)
	for _, v := range evs {
		dst = append(dst, event(v))
	}
	return dst, err
}

// ReadPoint reads one event through the public API: the first event of the
// session after id-1 (an index seek, as the peers' primary-key lookup).
func (p storePeer) ReadPoint(ctx context.Context, sess string, id uint64) (Event, error) {
	evs, err := p.s.EventsSince(ctx, abi.SessionID(sess), id-1, 1)
	if err != nil {
		return Event{}, err
	}
	if len(evs) == 0 || evs[0].ID != id {
		return Event{}, ErrNotFound
	}
	return event(evs[0]), nil
}

func (p storePeer) Close() error { return p.s.Close() }
