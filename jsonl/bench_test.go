package jsonl_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/jsonl"
)

// BenchmarkExport exports a 1000-event session (with its calls and
// attempts) from an encrypted store; BenchmarkImport imports it into a
// fresh one per iteration, in batches (the store as a BatchDestination)
// and record by record. They report events (and records) per second.
func BenchmarkExport(b *testing.B) {
	file := bigSession(b, "big", 1000)
	s, _ := newStore(b)
	if _, err := jsonl.Import(context.Background(), s, bytes.NewReader(file)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(file)))
	for b.Loop() {
		if _, err := jsonl.Export(context.Background(), s, io.Discard, "big"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkImport(b *testing.B) {
	file := bigSession(b, "big", 1000)
	n := records(file)
	for _, c := range []struct {
		name string
		dst  func(s *host.Store) jsonl.Destination
	}{
		{"batched", func(s *host.Store) jsonl.Destination { return s }},
		{"per-record", func(s *host.Store) jsonl.Destination { return perRecord{s} }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(file)))
			for b.Loop() {
				b.StopTimer()
				s, _ := newStore(b)
				b.StartTimer()
				if _, err := jsonl.Import(context.Background(), c.dst(s), bytes.NewReader(file)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkReader reads the same file without a store: the cost of the
// form itself.
func BenchmarkReader(b *testing.B) {
	file := bigSession(b, "big", 1000)
	b.SetBytes(int64(len(file)))
	for b.Loop() {
		rd := jsonl.NewReader(bytes.NewReader(file))
		for {
			if _, err := rd.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}
