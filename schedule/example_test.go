package schedule_test

import (
	"context"
	"log"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/schedule"
)

// usageAPI stands in for a provider's billing client.
type usageAPI struct{}

func (usageAPI) Name() string { return "openrouter" }

func (usageAPI) FetchUsageUSD(ctx context.Context, start, end time.Time) (float64, error) {
	return 1.25, nil // in practice: ask the provider
}

// A harness reconciles yesterday's costs once a day, whichever of its
// processes gets there first, within an hour after midnight UTC.
func ExampleDaily() {
	s, err := host.Open(host.DefaultPath())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()

	job := func(ctx context.Context, p schedule.Period) error {
		// The day that just ended: [p.Start - 24h, p.Start).
		r, err := host.Reconcile(ctx, s, usageAPI{}, p.Start.Add(-schedule.Day), p.Start, time.Now())
		if err != nil {
			return err
		}
		_, err = s.SaveReconciliation(ctx, r)
		return err
	}
	err = schedule.Daily(ctx, job, schedule.Options{
		Jitter:   time.Hour,
		LockPath: filepath.Join(filepath.Dir(host.DefaultPath()), "reconcile.lock"),
		OnError:  func(err error) { log.Printf("reconciliation: %v", err) },
	})
	log.Print(err) // the context's error, once SIGTERM arrives
}
