package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
)

// BenchmarkWriteBatches writes keyed batches of one event each into an
// encrypted store, per calls of 1, 100 and 1000 batches, and reports
// events per second: the cost of a transaction against that of a record.
func BenchmarkWriteBatches(b *testing.B) {
	for _, per := range []int{1, 100, 1000} {
		b.Run(fmt.Sprint("per-call=", per), func(b *testing.B) {
			s, _ := openEncStore(b)
			ctx := context.Background()
			next := 0
			batches := make([]abi.Batch, per)
			for b.Loop() {
				for i := range batches {
					batches[i] = abi.Batch{Key: fmt.Sprint("bench/", next), Events: []abi.EventEnvelope{{
						Session: abi.SessionID(fmt.Sprint("s", next%64)), Turn: next, Kind: abi.KindAssistantMessage,
						TS: batchT0.Add(time.Duration(next) * time.Millisecond), Payload: json.RawMessage(fmt.Sprintf(`{"text":"step %d of the plan"}`, next)),
					}}}
					next++
				}
				if n, err := s.WriteBatches(ctx, batches...); err != nil || n != per {
					b.Fatalf("WriteBatches = %d, %v", n, err)
				}
			}
			b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
