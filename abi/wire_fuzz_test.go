package abi_test

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/gofastr/store/abi"
)

// fuzzTypes are the wire types FuzzUnmarshal decodes, chosen by the first
// byte of its input.
var fuzzTypes = []func() wireValue{
	func() wireValue { return new(abi.EventEnvelope) },
	func() wireValue { return new(abi.PastSession) },
	func() wireValue { return new(abi.ToolIntent) },
	func() wireValue { return new(abi.ToolOutcome) },
	func() wireValue { return new(abi.AttemptPrice) },
	func() wireValue { return new(abi.ProviderAttempt) },
	func() wireValue { return new(abi.EventsRequest) },
	func() wireValue { return new(abi.EventBatch) },
	func() wireValue { return new(abi.SessionsRequest) },
	func() wireValue { return new(abi.SessionList) },
	func() wireValue { return new(abi.SessionRequest) },
	func() wireValue { return new(abi.IntentList) },
	func() wireValue { return new(abi.TurnRequest) },
	func() wireValue { return new(abi.AttemptList) },
	func() wireValue { return new(abi.AppendResult) },
	func() wireValue { return new(abi.ModelStep) },
	func() wireValue { return new(abi.ToolCall) },
}

func TestFuzzTypesCoverWireCases(t *testing.T) {
	have := map[reflect.Type]bool{}
	for _, f := range fuzzTypes {
		have[reflect.TypeOf(f())] = true
	}
	for name, vs := range wireCases() {
		if !have[reflect.TypeOf(vs[0])] {
			t.Errorf("FuzzUnmarshal does not decode %s", name)
		}
	}
	if len(have) != len(wireCases()) {
		t.Errorf("FuzzUnmarshal decodes %d types, wireCases has %d", len(have), len(wireCases()))
	}
}

// FuzzUnmarshal decodes its input, less the first byte, as the wire type
// the first byte selects. Decoding must not panic and must fail only with
// ErrMalformed; what decodes must encode back to the same bytes (the
// encoding is canonical), and those must decode to an equal value.
func FuzzUnmarshal(f *testing.F) {
	for _, vs := range wireCases() {
		for _, v := range vs {
			enc, err := v.MarshalBinary()
			if err != nil || len(enc) > 4096 {
				continue
			}
			for i, nf := range fuzzTypes {
				if reflect.TypeOf(nf()) == reflect.TypeOf(v) {
					f.Add(append([]byte{byte(i)}, enc...))
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		newValue := fuzzTypes[int(data[0])%len(fuzzTypes)]
		in := data[1:]
		v := newValue()
		if err := v.UnmarshalBinary(in); err != nil {
			if !errors.Is(err, abi.ErrMalformed) {
				t.Fatalf("%T: error %v does not wrap ErrMalformed", v, err)
			}
			if !reflect.DeepEqual(v, newValue()) {
				t.Fatalf("%T: failed decoding changed the destination: %+v", v, v)
			}
			return
		}
		out, err := v.MarshalBinary()
		if err != nil {
			t.Fatalf("%T: decoded %x but cannot encode it: %v", v, in, err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("%T: decoded %x, re-encoded as %x", v, in, out)
		}
		w := newValue()
		if err := w.UnmarshalBinary(out); err != nil {
			t.Fatalf("%T: re-encoding %x does not decode: %v", v, out, err)
		}
		if !reflect.DeepEqual(withoutNaN(v), withoutNaN(w)) {
			t.Fatalf("%T: %x decodes to %+v, its re-encoding to %+v", v, in, v, w)
		}
	})
}

// withoutNaN replaces NaN estimated costs, which reflect.DeepEqual never
// finds equal, by a fixed value, in place, and returns v.
func withoutNaN(v wireValue) wireValue {
	fix := func(as []abi.ProviderAttempt) {
		for i := range as {
			if math.IsNaN(as[i].EstimatedUSD) {
				as[i].EstimatedUSD = -1
			}
		}
	}
	switch x := v.(type) {
	case *abi.ProviderAttempt:
		if math.IsNaN(x.EstimatedUSD) {
			x.EstimatedUSD = -1
		}
	case *abi.AttemptList:
		fix(x.Attempts)
	case *abi.ModelStep:
		fix(x.Attempts)
	}
	return v
}
