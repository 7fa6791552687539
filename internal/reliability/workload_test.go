package reliability_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/gofastr/store/internal/reliability"
	"github.com/gofastr/store/internal/testkit/storefiles"
)

// newWorkload returns a workload on a fresh directory with new KEKs and marker.
func newWorkload(t testing.TB, encrypted bool) reliability.Workload {
	w := reliability.Workload{Dir: t.TempDir(), Encrypted: encrypted, Marker: storefiles.NewMarker()}
	if encrypted {
		w.KEK, w.NewKEK = make([]byte, 32), make([]byte, 32)
		rand.Read(w.KEK)
		rand.Read(w.NewKEK)
	}
	return w
}

// TestWorkload runs the whole workload without faults, encrypted and
// plaintext: every operation is acknowledged and Check finds everything.
func TestWorkload(t *testing.T) {
	for _, encrypted := range []bool{true, false} {
		name := "plaintext"
		if encrypted {
			name = "encrypted"
		}
		t.Run(name, func(t *testing.T) {
			w := newWorkload(t, encrypted)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var o reliability.Oracle
			start := time.Now()
			if err := w.Run(ctx, &o); err != nil {
				t.Fatalf("run without faults: %v", err)
			}
			ran := time.Since(start)
			res, err := reliability.Check(ctx, w, &o)
			if err != nil {
				t.Fatalf("check: %v\n%s", err, res.String())
			}
			t.Logf("run %v, check %v: %s", ran.Round(time.Millisecond), (time.Since(start) - ran).Round(time.Millisecond), res.String())
			if !res.OK() {
				t.Fatalf("check failed: %s", res.String())
			}
			tried, acked := o.Counts()
			if tried == 0 || acked != tried {
				t.Fatalf("without faults every write is acknowledged: %d of %d", acked, tried)
			}
			if res.Acked != acked || res.Verified < 3 {
				t.Fatalf("check counted %d acked writes (want %d) and verified %d files (want at least 3)", res.Acked, acked, res.Verified)
			}
		})
	}
}
