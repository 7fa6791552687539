package abi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// decodeBatchSlow decodes an EventBatch with the field-by-field decoder
// only, as the package did before eventsFast: the reference the batch
// decoder must agree with, on values and on errors.
func decodeBatchSlow(data []byte) (EventBatch, error) {
	d := decoder{buf: data}
	var v EventBatch
	if n := d.count("EventBatch.Events", minEventSize); n > 0 {
		v.Events = make([]EventEnvelope, n)
		for i := range v.Events {
			d.event(&v.Events[i])
		}
	}
	v.Next = d.uvarint("EventBatch.Next")
	v.More = d.bool("EventBatch.More")
	if err := d.finish(); err != nil {
		return EventBatch{}, err
	}
	return v, nil
}

func TestUvarint8(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(buf []byte) {
		t.Helper()
		x := binary.LittleEndian.Uint64(buf)
		v, n, bad := uvarint8(x)
		want, wn := binary.Uvarint(buf)
		// uvarint8 takes minimal varints of at most 8 bytes, and leaves
		// the rest to the slow path.
		ok := wn > 0 && wn <= 8 && (wn == 1 || buf[wn-1] != 0)
		if !ok {
			if bad == 0 {
				t.Fatalf("% x: accepted (%d, %d), want rejected", buf, v, n)
			}
			return
		}
		if bad != 0 || v != want || n != wn {
			t.Fatalf("% x: got (%d, %d, bad %d), want (%d, %d)", buf, v, n, bad, want, wn)
		}
	}
	for _, v := range []uint64{0, 1, 0x7f, 0x80, 0x3fff, 0x4000, 1<<56 - 1, 1 << 56, 1<<63 + 5, math.MaxUint64} {
		buf := binary.AppendUvarint(nil, v)
		buf = append(buf, 0xff, 0x80, 0, 0x80, 0xff, 0x80, 0xff, 0x80, 0x80, 1)
		check(buf[:max(8, len(buf))])
	}
	for range 200_000 {
		var buf [10]byte
		for i := range buf {
			buf[i] = byte(r.Uint32())
			if r.IntN(3) == 0 {
				buf[i] &= 0x7f
			}
			if r.IntN(8) == 0 {
				buf[i] = 0
			}
			if r.IntN(8) == 0 {
				buf[i] = 0x80
			}
		}
		check(buf[:])
	}
}

// fastBatch returns a batch of n events of the shapes the fast path takes
// and, when odd is true, some it leaves to the field-by-field decoder.
func fastBatch(r *rand.Rand, n int, odd bool) EventBatch {
	kinds := []string{KindUserMessage, KindAssistantMessage, KindToolCall, KindToolResult, "harness.custom", ""}
	sessions := []SessionID{"s", "9f3c2a71-4b8e-4c1d-a6f0-2e5d7b9c1a34", ""}
	b := EventBatch{Next: r.Uint64N(1 << 40), More: r.IntN(2) == 0}
	ts := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	id := r.Uint64N(1000)
	for i := range n {
		id += 1 + r.Uint64N(1<<uint(r.IntN(20)))
		ts = ts.Add(time.Duration(r.Int64N(5e9)))
		e := EventEnvelope{ID: id, Session: sessions[r.IntN(len(sessions))], Turn: i / 3 * (1 + r.IntN(3000)),
			Kind: kinds[r.IntN(len(kinds))], TS: ts, Payload: json.RawMessage(`{"n":` + strconv.Itoa(i) + `}`)}
		if r.IntN(4) == 0 {
			e.Payload = bytes.Repeat([]byte("x"), r.IntN(300))
		}
		if odd {
			switch r.IntN(10) {
			case 0:
				e.ID = 1<<56 + r.Uint64N(1<<60) // a 9-byte varint
			case 1:
				e.TS = time.Time{}
			case 2:
				e.Payload = nil
			case 3:
				e.Turn = -e.Turn - 1
			case 4:
				e.TS = time.Unix(-62135596800, 1).UTC() // the first nanosecond after the zero time
			case 5:
				e.TS = time.Unix(1<<40, 999_999_999).UTC()
			}
		}
		b.Events = append(b.Events, e)
	}
	return b
}

func TestEventsFastMatchesSlow(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for iter := range 3000 {
		in := fastBatch(r, r.IntN(12), iter%2 == 1)
		enc, err := in.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		inputs := [][]byte{enc}
		for range 8 { // corrupted copies
			c := bytes.Clone(enc)
			switch k := r.IntN(4); {
			case k == 0 && len(c) > 0:
				c = c[:r.IntN(len(c))]
			case len(c) > 0:
				for range 1 + r.IntN(3) {
					c[r.IntN(len(c))] = byte(r.Uint32())
				}
			default:
				c = append(c, byte(r.Uint32()))
			}
			inputs = append(inputs, c)
		}
		for _, data := range inputs {
			want, wantErr := decodeBatchSlow(data)
			var got EventBatch
			gotErr := got.UnmarshalBinary(bytes.Clone(data))
			if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
				t.Fatalf("input % x: error %v, want %v", data, gotErr, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("input % x:\ngot  %+v\nwant %+v", data, got, want)
			}
		}
	}
}

// TestEventsFastTakesBatches checks that a batch of ordinary events goes
// through the fast path, all but the events within 8 bytes of the end of
// the input: without it, the test above would pass with the fast path
// never taken.
func TestEventsFastTakesBatches(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	in := fastBatch(r, 200, false)
	enc, err := in.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	d := decoder{buf: enc, owned: true}
	n := d.count("EventBatch.Events", minEventSize)
	vs := make([]EventEnvelope, n)
	if got := d.eventsFast(vs); got < n-1 {
		t.Fatalf("fast path decoded %d of %d events", got, n)
	}
}

// TestEventsFastStringsOwnCopy checks the strings the fast path slices
// from its private copy of the input: writing over the input afterwards,
// or appending to a payload, must not change them.
func TestEventsFastStringsOwnCopy(t *testing.T) {
	in := EventBatch{Events: []EventEnvelope{
		{ID: 1, Session: "sess-a", Turn: 1, Kind: KindToolCall, TS: time.Unix(1700000000, 5).UTC(), Payload: json.RawMessage(`{}`)},
		{ID: 2, Session: "sess-b", Turn: 2, Kind: "custom-kind", TS: time.Unix(1700000001, 6).UTC(), Payload: json.RawMessage(`[]`)},
		{ID: 3, Session: "sess-c", Turn: 3, Kind: KindSystem, TS: time.Unix(1700000002, 7).UTC(), Payload: json.RawMessage(`1`)},
	}, Next: 3}
	enc, err := in.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var out EventBatch
	if err := out.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	for i := range enc {
		enc[i] = 'Z'
	}
	out.Events[0].Payload = append(out.Events[0].Payload, "ZZZZZZZZZZZZZZZZ"...)
	out.Events[1].Payload = append(out.Events[1].Payload, "ZZZZZZZZZZZZZZZZ"...)
	out.Events[0].Payload, out.Events[1].Payload = in.Events[0].Payload, in.Events[1].Payload
	if !reflect.DeepEqual(out, in) {
		t.Errorf("decoded batch changed:\ngot  %+v\nwant %+v", out, in)
	}
}

// FuzzEventBatchFastSlow checks that the batch decoder and the
// field-by-field one agree on any input: same events, same error.
func FuzzEventBatchFastSlow(f *testing.F) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 16 {
		b := fastBatch(r, i, i%2 == 1)
		enc, err := b.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantErr := decodeBatchSlow(data)
		var got EventBatch
		gotErr := got.UnmarshalBinary(data)
		if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("error %v, want %v", gotErr, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got  %+v\nwant %+v", got, want)
		}
	})
}
