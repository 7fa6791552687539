package sqlcipher_test

import (
	"context"
	"testing"

	"github.com/gofastr/store/bench/peers"
	"github.com/gofastr/store/bench/peers/sqlcipher"
)

func TestCheck(t *testing.T) {
	if err := peers.Check(context.Background(), sqlcipher.Opener, t.TempDir()); err != nil {
		t.Fatal(err)
	}
}

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	cfg := peers.Tiny
	cfg.Dir = t.TempDir()
	l, err := peers.NewLocal(ctx, sqlcipher.Opener, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, w := range peers.Workloads {
		r, err := l.Run(ctx, w, 1)
		if err != nil {
			t.Fatalf("%s: %v", w, err)
		}
		if r.Ops <= 0 {
			t.Errorf("%s: %d ops", w, r.Ops)
		}
	}
}
