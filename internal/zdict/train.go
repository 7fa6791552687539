package zdict

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/dict"
)

// Training. Small payloads of the same few shapes (JSON documents of one
// line each) compress poorly one at a time: the shared structure is never
// in the window. A dictionary trained from the payloads themselves
// supplies it. On real agent transcripts the size ratio goes from 2.3x to
// 3.4x on the payloads after the dictionary, 3.1x counting those before.
const (
	// DefaultTrainBytes and DefaultTrainSamples bound the sample a Codec
	// collects before it trains its dictionary: whichever is reached
	// first. More data barely improves the dictionary (3.38x at 1 MiB,
	// 3.5x at 4 MiB on transcripts) but delays it, and every payload
	// compressed before the dictionary exists is stored at the plain
	// ratio.
	DefaultTrainBytes   = 1 << 20
	DefaultTrainSamples = 2000

	// sampleMax truncates each sample: only the beginning of a sample
	// matters to the dictionary builder.
	sampleMax = 16 << 10

	// maxDictSize bounds the dictionary content.
	maxDictSize = 112 << 10

	// hashBytes is the builder's minimum match length; 8 gave the best
	// ratio on transcripts (3.40x against 3.31x for the default 6).
	hashBytes = 8

	// minGain is the held-out test a new dictionary must pass: on the
	// samples it was not trained on, dictionary frames must take at most
	// this fraction of the bytes plain zstd frames take.
	minGain = 0.95

	// maxAttempts bounds the training attempts of a Codec that failed
	// (builder error, Persist error) since its last retirement; a
	// dictionary that does not pass the held-out test is not retried.
	maxAttempts = 3
)

var (
	// ErrNoGain means a trained dictionary failed the held-out test.
	ErrNoGain = errors.New("zdict: trained dictionary does not pay")
	// ErrNoID means a dictionary ID cannot be used or allocated.
	ErrNoID = errors.New("zdict: no dictionary ID")
	// ErrExpired means that while a dictionary trained, the payloads
	// behind some of its samples were to be forgotten ([Codec.Expire]).
	ErrExpired = errors.New("zdict: trained dictionary holds content that expired")
)

// Build trains dictionary id (in [MinID, 2^31)) on nine tenths of
// samples and checks it on the rest: there it must take at most 95% of
// the bytes zstd takes without it, or Build returns [ErrNoGain]. The
// builder is experimental code; a panic in it is an error, not a crash.
func Build(id uint32, samples [][]byte) (b []byte, err error) {
	if id < MinID || id > maxUserID {
		return nil, fmt.Errorf("build dictionary: ID %d outside [%d, %d]", id, MinID, maxUserID)
	}
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
		MaxDictSize: maxDictSize,
		HashBytes:   hashBytes,
		ZstdDictID:  id,
		ZstdLevel:   level,
	})
	if err != nil {
		return nil, fmt.Errorf("build dictionary: %w", err)
	}
	enc, err := newDictEncoder(b)
	if err != nil {
		return nil, fmt.Errorf("build dictionary: %w", err)
	}
	defer enc.Close()
	penc, _ := plain()
	var withDict, without int
	for _, s := range test {
		withDict += len(enc.EncodeAll(s, nil))
		without += len(penc.EncodeAll(s, nil))
	}
	if float64(withDict) > minGain*float64(without) {
		return nil, fmt.Errorf("%w: %d bytes with it, %d without, on %d held-out samples", ErrNoGain, withDict, without, len(test))
	}
	return b, nil
}

// Config configures a [Codec].
type Config struct {
	// Persist makes a trained dictionary durable. The Codec encodes with
	// it only after Persist returned nil, so every payload encoded with
	// it can find it. Inside the transaction that stores it, Persist
	// calls [Trained.Expired], refuses the dictionary if
	// [Trained.Oldest] is below the stored cutoff (see the package
	// documentation), and allocates the dictionary's ID ([NextID],
	// [Trained.SetID]). It runs on the training goroutine.
	// Nil keeps dictionaries in memory only, under IDs drawn at random.
	Persist func(ctx context.Context, d *Trained) error

	// TrainBytes and TrainSamples are the sample thresholds (see
	// [DefaultTrainBytes]); zero means the default.
	TrainBytes, TrainSamples int

	// RandID draws the IDs dictionaries are trained under (until Persist
	// allocates theirs); nil draws them uniformly from [MinID, MaxID].
	// Candidates outside [MinID, 2^31) or known to the Codec are drawn
	// again. Tests set it to force two Codecs to draw the same ID.
	RandID func() uint32
}

// Codec is a [Set] that trains its own dictionary. Until it has one it
// samples the payloads it compresses; once it has enough it trains a
// dictionary on a goroutine of its own, persists it ([Config.Persist])
// and then encodes with it. Payloads compressed meanwhile use plain zstd.
//
// Samples are payloads as the Codec received them: the caller compresses
// what it keeps (after redaction, for instance), never more. A
// dictionary is made of substrings of its samples, so the caller expires
// dictionaries trained on payloads it must forget ([Codec.Expire]), which
// starts sampling again.
//
// Its methods are safe for concurrent use.
type Codec struct {
	*Set
	persist func(ctx context.Context, d *Trained) error
	randID  func() uint32

	collecting atomic.Bool // samples wanted

	mu           sync.Mutex
	trainBytes   int
	trainSamples int
	samples      [][]byte
	sampled      int   // bytes in samples
	oldest       int64 // smallest timestamp among samples
	attempts     int   // training attempts since the last retirement
	trainErr     error // why the last attempt failed
	cutoff       int64 // highest cutoff expired
	epoch        int   // expirations so far: samples taken before one and older than cutoff are expired
	wg           sync.WaitGroup
}

// NewCodec returns a Codec with no dictionary, sampling. Add the stored
// dictionaries with [Set.Add] and choose the encoding one with
// [Codec.Use] before compressing.
func NewCodec(cfg Config) *Codec {
	c := &Codec{
		Set:          NewSet(),
		persist:      cfg.Persist,
		randID:       cfg.RandID,
		trainBytes:   cfg.TrainBytes,
		trainSamples: cfg.TrainSamples,
		cutoff:       math.MinInt64,
	}
	if c.trainBytes <= 0 {
		c.trainBytes = DefaultTrainBytes
	}
	if c.trainSamples <= 0 {
		c.trainSamples = DefaultTrainSamples
	}
	c.collecting.Store(true)
	return c
}

// SetTraining changes the sample thresholds (see [Config.TrainBytes]);
// zero keeps one.
func (c *Codec) SetTraining(bytes, samples int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if bytes > 0 {
		c.trainBytes = bytes
	}
	if samples > 0 {
		c.trainSamples = samples
	}
}

// Use is [Set.Use]; the Codec then stops sampling.
func (c *Codec) Use(id uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.Set.Use(id); err != nil {
		return err
	}
	c.stopSampling()
	return nil
}

// Sampling reports whether c collects samples: it has no dictionary and
// is not training one.
func (c *Codec) Sampling() bool { return c.collecting.Load() }

// StopSampling stops collecting samples, and drops those collected, until
// a retirement restarts it ([Codec.Expire], [Codec.Lost]): c then
// compresses without a dictionary.
func (c *Codec) StopSampling() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopSampling()
}

func (c *Codec) stopSampling() {
	c.collecting.Store(false)
	c.samples, c.sampled = nil, 0
}

// restartSampling starts collecting samples afresh. c.mu must be held.
func (c *Codec) restartSampling() {
	c.samples, c.sampled = nil, 0
	c.collecting.Store(true)
}

// Compress returns the bytes to store for payload p, whose content dates
// from ts (any clock the caller uses for [Codec.Expire], such as Unix
// nanoseconds), and their format: as [Set.Encode]. Without a dictionary
// it samples p for training. A [ZstdDict] result must be checked, inside
// the transaction that stores it, against the stored dictionaries (see
// the package documentation).
func (c *Codec) Compress(p []byte, ts int64) (data []byte, f Format) {
	if len(p) < MinSize || len(p) > MaxSize {
		return p, Raw
	}
	if c.cur.Load() == nil {
		c.sample(p, ts)
	}
	return c.Encode(p)
}

// sample keeps the beginning of p for training, and starts training once
// the sample is large enough. Content older than the highest cutoff
// expired ([Codec.Expire]) is not sampled.
func (c *Codec) sample(p []byte, ts int64) {
	if !c.collecting.Load() {
		return
	}
	s := bytes.Clone(p[:min(len(p), sampleMax)])
	c.mu.Lock()
	if !c.collecting.Load() || ts < c.cutoff {
		// Content older than an expiration's cutoff must be forgotten:
		// a dictionary trained on it could not be stored.
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
	id := c.newID(nil)
	c.wg.Add(1)
	c.mu.Unlock()
	go c.train(id, samples, oldest, epoch)
}

// newID returns a dictionary ID that c does not know (live or retired)
// and for which taken, if not nil, is false.
func (c *Codec) newID(taken func(uint32) bool) uint32 {
	known := c.load()
	free := func(id uint32) bool {
		_, used := known[id]
		return id >= MinID && id <= maxUserID && !used && (taken == nil || !taken(id))
	}
	// The two-byte range holds 32768 IDs; past a few hundred draws it is
	// absurdly full (or RandID is stuck): draw from the four-byte range.
	for range 512 {
		var id uint32
		if c.randID != nil {
			id = c.randID()
		} else {
			id = MinID + rand.Uint32N(MaxID-MinID+1)
		}
		if free(id) {
			return id
		}
	}
	for {
		if id := MaxID + 1 + rand.Uint32N(maxUserID-MaxID); free(id) {
			return id
		}
	}
}

// Trained is a dictionary a Codec trained, for [Config.Persist].
type Trained struct {
	c      *Codec
	id     uint32
	b      []byte
	oldest int64
	epoch  int
}

// ID returns the dictionary's ID.
func (t *Trained) ID() uint32 { return t.id }

// Bytes returns the dictionary, in the zstd dictionary format; its header
// holds its ID. The caller must not change it.
func (t *Trained) Bytes() []byte { return t.b }

// Oldest returns the smallest timestamp of the payloads it was trained
// on: it must be expired once content from then is to be forgotten.
func (t *Trained) Oldest() int64 { return t.oldest }

// Expired returns [ErrExpired] if, since the Codec took the samples, it
// expired content with a cutoff after Oldest ([Codec.Expire]): the
// dictionary may hold content that must be forgotten, and must not be
// stored. Persist calls it inside the
// transaction that stores the dictionary, which excludes expirations.
func (t *Trained) Expired() error {
	if t.c.expiredSince(t.epoch, t.oldest) {
		return ErrExpired
	}
	return nil
}

// SetID gives the dictionary ID id instead of the one it was trained
// under: Persist calls it inside the transaction that stores the
// dictionary, with the ID the store allocates there ([NextID]), so that
// two Codecs on one store never store two dictionaries under one ID, and
// an ID is never used again once its dictionary was deleted. Only the ID
// in the dictionary's header changes. An ID outside [MinID, 2^31), or one
// the Codec knows already, is an error.
func (t *Trained) SetID(id uint32) error {
	if id == t.id {
		return nil
	}
	if id < MinID || id > maxUserID {
		return fmt.Errorf("%w: ID %d outside [%d, %d]", ErrNoID, id, MinID, maxUserID)
	}
	if t.c.Known(id) {
		return fmt.Errorf("%w: ID %d names a dictionary this codec has", ErrNoID, id)
	}
	b, err := withID(t.b, id)
	if err != nil {
		return err
	}
	t.id, t.b = id, b
	return nil
}

// NextID returns the dictionary ID allocated after last, the highest ID a
// store ever allocated (0 for none): MinID first, then upward, so that
// IDs stay in the two-byte range for the first 32768 dictionaries of a
// store. Past 2^31-1 it returns [ErrNoID].
func NextID(last uint32) (uint32, error) {
	switch {
	case last < MinID:
		return MinID, nil
	case last >= maxUserID:
		return 0, fmt.Errorf("%w: every ID up to %d is allocated", ErrNoID, last)
	}
	return last + 1, nil
}

// expiredSince reports whether an expiration since epoch had a cutoff
// after oldest.
func (c *Codec) expiredSince(epoch int, oldest int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch != epoch && oldest < c.cutoff
}

// train builds dictionary id from samples, the oldest of which dates from
// oldest, persists it and starts using it. Epoch is c.epoch when sampling
// ended.
func (c *Codec) train(id uint32, samples [][]byte, oldest int64, epoch int) {
	defer c.wg.Done()
	err := c.trainNow(context.Background(), id, samples, oldest, epoch)
	if err == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trainErr = err
	switch {
	case errors.Is(err, ErrExpired):
		c.restartSampling()
	case errors.Is(err, ErrNoGain), c.attempts >= maxAttempts:
	default:
		c.restartSampling() // try again with fresh samples
	}
}

// Train trains a dictionary on samples now, the oldest of which dates from
// oldest, persists it ([Config.Persist]) and encodes with it. It does not
// count as an attempt of the Codec's own training, and does not wait for
// one in progress.
func (c *Codec) Train(ctx context.Context, samples [][]byte, oldest int64) error {
	c.mu.Lock()
	id, epoch := c.newID(nil), c.epoch
	c.mu.Unlock()
	return c.trainNow(ctx, id, samples, oldest, epoch)
}

func (c *Codec) trainNow(ctx context.Context, id uint32, samples [][]byte, oldest int64, epoch int) error {
	b, err := Build(id, samples)
	if err != nil {
		return err
	}
	dc := loadCoder(id, b, true)
	if dc.err != nil {
		return dc.err
	}
	t := &Trained{c: c, id: id, b: b, oldest: oldest, epoch: epoch}
	if c.persist != nil {
		if err := c.persist(ctx, t); err != nil {
			return fmt.Errorf("store dictionary %d: %w", t.id, err)
		}
		if t.id != id {
			if dc = loadCoder(t.id, t.b, true); dc.err != nil {
				return dc.err // stored, but unusable: not expected
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Set.mu.Lock()
	defer c.Set.mu.Unlock()
	m := maps.Clone(c.load())
	if m == nil {
		m = map[uint32]*coder{}
	}
	defer c.Set.store(m)
	if c.epoch != epoch && oldest < c.cutoff {
		// An expiration between the commit and now has deleted the
		// dictionary again (no payload used it): keep a decoder only.
		m[t.id] = &coder{id: t.id, dec: dc.dec, retired: true}
		c.restartSampling()
		return nil
	}
	m[t.id] = dc
	c.cur.Store(dc)
	c.trainErr = nil
	return nil
}

// Wait waits for a training in progress and returns why the last attempt
// failed, if it did.
func (c *Codec) Wait() error {
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.trainErr
}

// Expire retires dictionaries ids, trained on content some of which is
// older than cutoff and must be forgotten, and abandons samples older
// than cutoff: those being collected, and those of a training in
// progress, whose dictionary will not be used ([Trained.Expired]); content
// older than the highest cutoff expired so far is not sampled again. If the
// encoding dictionary is among ids, c samples again. The caller deletes
// the dictionaries and re-encodes the payloads that use them in the same
// transaction, and calls Expire inside it, so that no payload encoded
// with them afterwards is stored.
func (c *Codec) Expire(ids []uint32, cutoff int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cutoff = max(c.cutoff, cutoff)
	c.epoch++
	if len(c.samples) > 0 && c.oldest < cutoff {
		c.restartSampling()
	}
	c.Set.mu.Lock()
	defer c.Set.mu.Unlock()
	for _, id := range ids {
		if c.Set.retire(id) {
			c.attempts = 0
			c.restartSampling()
		}
	}
}

// Lost handles dictionary id found missing from storage by the recheck
// before storing a payload encoded with it: another Codec expired it. c
// retires it (keeping its decoder for older snapshots) and encodes with
// newest, the newest stored dictionary, once the caller has added it
// ([Set.Add]); with newest 0, unknown or unusable, c samples to train
// one.
func (c *Codec) Lost(id, newest uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Set.mu.Lock()
	defer c.Set.mu.Unlock()
	if !c.Set.retire(id) {
		return
	}
	if newest != 0 && newest != id && c.Set.use(newest) == nil {
		return
	}
	c.attempts = 0
	c.restartSampling()
}

// Sampled returns the number of samples collected for the next training.
func (c *Codec) Sampled() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.samples)
}
