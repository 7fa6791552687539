package zdict

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
)

// memStore is what a caller keeps durably: dictionaries by ID, as a table
// with the ID as its primary key (an insert under a used ID fails), and
// the last ID allocated.
type memStore struct {
	mu    sync.Mutex
	dicts map[uint32][]byte
	last  uint32
}

var errDuplicate = errors.New("UNIQUE constraint failed: dicts.id")

// persist stores d the way a database transaction does: expiry check,
// ID allocation, insert that never overwrites.
func (m *memStore) persist(_ context.Context, d *Trained) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := d.Expired(); err != nil {
		return err
	}
	id, err := NextID(m.last)
	if err != nil {
		return err
	}
	if err := d.SetID(id); err != nil {
		return err
	}
	m.last = id
	if _, ok := m.dicts[d.ID()]; ok {
		return errDuplicate
	}
	if m.dicts == nil {
		m.dicts = map[uint32][]byte{}
	}
	m.dicts[d.ID()] = bytes.Clone(d.Bytes())
	return nil
}

// TestTrainPersistsThenUses checks the order: the dictionary is in the
// store before the Codec encodes with it, under the ID the frames name.
func TestTrainPersistsThenUses(t *testing.T) {
	var m memStore
	var c *Codec
	c = NewCodec(Config{TrainBytes: testTrainBytes, Persist: func(ctx context.Context, d *Trained) error {
		if c.Current() != 0 {
			t.Error("the Codec encodes with a dictionary before it is persisted")
		}
		return m.persist(ctx, d)
	}})
	lines := synthLines(50, 600)
	for _, l := range lines[:300] {
		c.Compress(l, 1)
	}
	if err := c.Wait(); err != nil || c.Current() == 0 {
		t.Fatalf("no dictionary: %v", err)
	}
	if c.Sampling() {
		t.Error("sampling with a dictionary")
	}
	id := c.Current()
	if _, ok := m.dicts[id]; !ok || len(m.dicts) != 1 {
		t.Fatalf("dictionary %d not persisted (%d stored)", id, len(m.dicts))
	}
	// A fresh Set with the stored dictionary reads what c wrote.
	s := NewSet()
	if err := s.Add(id, m.dicts[id]); err != nil {
		t.Fatal(err)
	}
	for _, l := range lines[300:] {
		data, f := c.Compress(l, 2)
		if f != ZstdDict && len(l) >= MinSize {
			t.Fatalf("format %d with a dictionary", f)
		}
		if got, err := s.Decode(data, f); err != nil || !bytes.Equal(got, l) {
			t.Fatalf("decode with the stored dictionary: %v", err)
		}
	}
}

// TestPersistFailureRetries: a Persist error leaves the Codec without
// dictionary, sampling again, up to maxAttempts.
func TestPersistFailureRetries(t *testing.T) {
	calls := 0
	c := NewCodec(Config{TrainBytes: testTrainBytes, Persist: func(context.Context, *Trained) error {
		calls++
		return errors.New("disk full")
	}})
	for _, l := range synthLines(51, 2000) {
		c.Compress(l, 0)
		if !c.Sampling() {
			c.Wait()
		}
	}
	if err := c.Wait(); err == nil || c.Current() != 0 {
		t.Fatalf("Wait: %v, current %d; want the Persist error and no dictionary", err, c.Current())
	}
	if calls != maxAttempts {
		t.Errorf("%d attempts, want %d", calls, maxAttempts)
	}
	if c.Sampling() {
		t.Error("still sampling after maxAttempts failures")
	}
}

// TestTrainedExpired: an expiration between the end of sampling and the
// persisting transaction, with a cutoff after the oldest sample, makes
// the dictionary ErrExpired: not stored, not used, sampling again.
func TestTrainedExpired(t *testing.T) {
	var m memStore
	var c *Codec
	c = NewCodec(Config{Persist: func(ctx context.Context, d *Trained) error {
		c.Expire(nil, 1000) // retention commits first
		return m.persist(ctx, d)
	}})
	c.StopSampling()
	samples := synthLines(23, 200)
	if err := c.Train(context.Background(), samples, 999); !errors.Is(err, ErrExpired) {
		t.Fatalf("Train: %v, want ErrExpired", err)
	}
	if len(m.dicts) != 0 || c.Current() != 0 {
		t.Fatal("an expired dictionary was stored or is in use")
	}
	if err := c.Train(context.Background(), samples, 1000); err != nil {
		t.Fatalf("Train with samples no older than the cutoff: %v", err)
	}
	if c.Current() == 0 || len(m.dicts) != 1 {
		t.Error("the dictionary is not in use or not stored")
	}
}

// TestExpireBetweenPersistAndUse: an expiration after the dictionary was
// stored but before the Codec used it (the caller's expiration deleted
// it again, no payload used it): decoder only, sampling again.
func TestExpireBetweenPersistAndUse(t *testing.T) {
	var m memStore
	var c *Codec
	var id uint32
	c = NewCodec(Config{Persist: func(ctx context.Context, d *Trained) error {
		err := m.persist(ctx, d)
		id = d.ID()
		c.Expire([]uint32{d.ID()}, 1000) // not known to c yet
		return err
	}})
	c.StopSampling()
	if err := c.Train(context.Background(), synthLines(23, 200), 999); err != nil {
		t.Fatal(err)
	}
	if c.Current() != 0 || !c.Sampling() {
		t.Error("an expired dictionary is in use, or sampling did not restart")
	}
	if !c.Retired(id) {
		t.Error("the expired dictionary is not kept for decoding only")
	}
}

// TestExpire retires the encoding dictionary: it still decodes, c
// encodes without it and samples again, but not content older than the
// highest cutoff; samples older than the cutoff are dropped, younger ones
// kept.
func TestExpire(t *testing.T) {
	c := trainedCodec(t, 52)
	id := c.Current()
	in := synthLines(53, 1)[0]
	data, _ := c.Compress(in, 0)
	c.Expire([]uint32{id}, 10)
	if c.Current() != 0 || !c.Sampling() || !c.Retired(id) || c.Live(id) {
		t.Fatalf("after Expire: current %d, sampling %v, retired %v", c.Current(), c.Sampling(), c.Retired(id))
	}
	if got, err := c.Decode(data, ZstdDict); err != nil || !bytes.Equal(got, in) {
		t.Fatalf("a retired dictionary's payload: %v", err)
	}
	if _, f := c.Compress(in, 5); f != Zstd {
		t.Errorf("format %d after Expire, want Zstd", f)
	}
	if n := c.Sampled(); n != 0 {
		t.Fatalf("%d samples of content older than the cutoff, want 0", n)
	}
	c.Compress(in, 12)
	if n := c.Sampled(); n != 1 {
		t.Fatalf("%d samples, want 1", n)
	}
	c.Expire(nil, 13)
	if n := c.Sampled(); n != 0 {
		t.Errorf("%d samples older than the cutoff kept", n)
	}
	c.Compress(in, 20)
	c.Expire(nil, 15)
	if n := c.Sampled(); n != 1 {
		t.Errorf("%d samples after an expiration older than all of them, want 1", n)
	}
	// A retired ID added again is another dictionary: it replaces the
	// retired one.
	b, err := Build(id, synthLines(54, 300))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Add(id, b); err != nil || !c.Live(id) {
		t.Fatalf("Add of a retired ID: %v, live %v", err, c.Live(id))
	}
}

// TestLost: the encoding dictionary disappeared from storage (another
// Codec expired it): c retires it and encodes with the newest stored
// one, or samples without one.
func TestLost(t *testing.T) {
	c := trainedCodec(t, 55)
	a := c.Current()
	in := synthLines(56, 1)[0]
	dataA, _ := c.Compress(in, 0)
	bID := a ^ 1
	b, err := Build(bID, synthLines(57, 300))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Add(bID, b); err != nil {
		t.Fatal(err)
	}
	c.Lost(a, bID)
	if c.Current() != bID || !c.Retired(a) || c.Sampling() {
		t.Fatalf("after Lost(%d, %d): current %d, retired %v, sampling %v", a, bID, c.Current(), c.Retired(a), c.Sampling())
	}
	if got, err := c.Decode(dataA, ZstdDict); err != nil || !bytes.Equal(got, in) {
		t.Fatalf("the lost dictionary's payload: %v", err)
	}
	// Lost of a dictionary that is not the encoding one changes nothing
	// else.
	c.Lost(a, 0)
	if c.Current() != bID {
		t.Fatalf("current %d, want %d", c.Current(), bID)
	}
	c.Lost(bID, 0)
	if c.Current() != 0 || !c.Sampling() {
		t.Errorf("after losing every dictionary: current %d, sampling %v", c.Current(), c.Sampling())
	}
}

// TestIDCollision forces two Codecs sharing one store to draw the same
// ID: the store allocates each dictionary's ID when it stores it, so the
// second neither fails nor overwrites the first one, and each Codec's
// payloads decode with the stored dictionaries.
func TestIDCollision(t *testing.T) {
	var m memStore
	newCodec := func() *Codec {
		return NewCodec(Config{TrainBytes: testTrainBytes, Persist: m.persist, RandID: func() uint32 { return 40000 }})
	}
	a, b := newCodec(), newCodec()
	lines := synthLines(58, 700)
	for _, l := range lines[:300] {
		a.Compress(l, 0)
	}
	if err := a.Wait(); err != nil || a.Current() != MinID {
		t.Fatalf("first Codec: dictionary %d, %v; want %d", a.Current(), err, MinID)
	}
	stored := bytes.Clone(m.dicts[MinID])
	n := 300
	for ; b.Sampling() && n < 600; n++ {
		b.Compress(lines[n], 0)
	}
	if err := b.Wait(); err != nil {
		t.Fatalf("second Codec: %v", err)
	}
	if got := b.Current(); got != MinID+1 {
		t.Fatalf("second Codec uses dictionary %d after one training, want %d", got, MinID+1)
	}
	if !bytes.Equal(m.dicts[MinID], stored) || len(m.dicts) != 2 {
		t.Fatalf("the first dictionary was overwritten, or %d stored", len(m.dicts))
	}
	for id, d := range m.dicts {
		if got, err := dictID(d); err != nil || got != id {
			t.Fatalf("dictionary stored under %d says ID %d (%v)", id, got, err)
		}
	}
	// A reader that loads the store decodes both Codecs' payloads.
	r := NewSet()
	for id, d := range m.dicts {
		if err := r.Add(id, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*Codec{a, b} {
		for _, l := range lines[600:] {
			data, f := c.Compress(l, 0)
			if f != ZstdDict {
				if len(l) >= MinSize {
					t.Fatalf("format %d", f)
				}
				continue
			}
			if got, ok := FrameDict(data); !ok || got != c.Current() {
				t.Fatalf("frame names %d, want %d", got, c.Current())
			}
			if got, err := r.Decode(data, f); err != nil || !bytes.Equal(got, l) {
				t.Fatalf("decode: %v", err)
			}
		}
	}
}

// TestSetIDAndNextID covers ID allocation: upward from MinID, bounded,
// and SetID refuses IDs outside the range or known to the Codec.
func TestSetIDAndNextID(t *testing.T) {
	for _, tc := range []struct {
		last, want uint32
		err        bool
	}{{0, MinID, false}, {5, MinID, false}, {MinID, MinID + 1, false}, {MaxID, MaxID + 1, false}, {maxUserID - 1, maxUserID, false}, {maxUserID, 0, true}, {1<<32 - 1, 0, true}} {
		got, err := NextID(tc.last)
		if got != tc.want || (err != nil) != tc.err || (err != nil && !errors.Is(err, ErrNoID)) {
			t.Errorf("NextID(%d) = %d, %v; want %d, error %v", tc.last, got, err, tc.want, tc.err)
		}
	}
	c := trainedCodec(t, 62)
	known := c.Current()
	var got *Trained
	c2 := NewCodec(Config{Persist: func(_ context.Context, d *Trained) error {
		got = d
		return errors.New("stop")
	}})
	if err := c2.Add(known, c.cur.Load().b); err != nil {
		t.Fatal(err)
	}
	c2.Train(context.Background(), synthLines(63, 200), 0)
	if got == nil {
		t.Fatal("Persist not called")
	}
	for _, id := range []uint32{0, MinID - 1, 1 << 31, known} {
		if err := got.SetID(id); !errors.Is(err, ErrNoID) {
			t.Errorf("SetID(%d): %v, want ErrNoID", id, err)
		}
	}
	if err := got.SetID(MaxID + 7); err != nil || got.ID() != MaxID+7 {
		t.Fatalf("SetID: %v", err)
	}
	if id, err := dictID(got.Bytes()); err != nil || id != MaxID+7 {
		t.Errorf("the dictionary says ID %d (%v)", id, err)
	}
}

// TestCodecConcurrent compresses from many goroutines while the Codec
// trains, and decodes everything (run with -race).
func TestCodecConcurrent(t *testing.T) {
	var m memStore
	c := NewCodec(Config{TrainBytes: 32 << 10, Persist: m.persist})
	lines := synthLines(59, 800)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < len(lines); i += 8 {
				data, f := c.Compress(lines[i], int64(i))
				got, err := c.Decode(data, f)
				if err != nil || !bytes.Equal(got, lines[i]) {
					t.Errorf("line %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
}
