package jsonl_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/gofastr/store/jsonl"
)

// BenchmarkExport exports a 1000-event session (with its calls and
// attempts) from an encrypted store; BenchmarkImport imports it into a
// fresh one per iteration. Both report events per second.
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
	b.SetBytes(int64(len(file)))
	for b.Loop() {
		b.StopTimer()
		s, _ := newStore(b)
		b.StartTimer()
		if _, err := jsonl.Import(context.Background(), s, bytes.NewReader(file)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "events/s")
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
