package reliability_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/faultvfs"
	"github.com/gofastr/store/keyring"
)

// TestFailedCreateReopens: the first open of a new encrypted store or cost
// ledger fails at every call in turn, the disk failing from that call on
// (EIO); once the disk is back, the path opens, as a new database. A
// failed creation once left its rollback journal beside the empty
// database, which kept the new DEK header, and every later open failed
// with ErrDatabaseLost.
func TestFailedCreateReopens(t *testing.T) {
	kek := make([]byte, 32)
	rand.Read(kek)
	cfg := host.NewConfig().WithKEKSource(keyring.RawKEK(kek))
	kinds := []struct {
		name string
		open func(path string) (interface{ Close() error }, error)
	}{
		{"store", func(path string) (interface{ Close() error }, error) { return host.OpenWithConfig(path, cfg) }},
		{"ledger", func(path string) (interface{ Close() error }, error) { return host.OpenCostLedgerWithConfig(path, cfg) }},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			base := t.TempDir()
			failed := 0
			step := int64(1)
			if testing.Short() {
				step = 4 // -short: every 4th call
			}
			for n := int64(1); ; n += step {
				dir := filepath.Join(base, fmt.Sprintf("n%03d", n))
				path := filepath.Join(dir, "db")
				faultVFS.Arm(faultvfs.Fault{Ops: faultvfs.OpAll, N: n, Persist: true, Err: syscall.EIO,
					Files: func(name string) bool { return strings.HasPrefix(name, dir+string(filepath.Separator)) }})
				db, err := k.open(path)
				injected := faultVFS.Injected()
				faultVFS.Disarm()
				if err == nil {
					if cerr := db.Close(); cerr != nil && injected == 0 {
						t.Fatal(cerr)
					}
				}
				if injected == 0 {
					if err != nil {
						t.Fatalf("N=%d: open failed with no fault injected: %v", n, err)
					}
					break // every call of the open has failed once
				}
				if err != nil {
					failed++
				}
				db, err = k.open(path)
				if err != nil {
					listDir(t, dir)
					t.Fatalf("N=%d: the open failed (%d faults), then, with the disk back, fails again: %v (ErrDatabaseLost: %v)",
						n, injected, err, errors.Is(err, host.ErrDatabaseLost))
				}
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if failed == 0 {
				t.Fatal("no open failed: the faults missed the opens")
			}
			t.Logf("%d opens failed, each reopened", failed)
		})
	}
}

// listDir logs the files of dir and their sizes.
func listDir(t *testing.T, dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		fi, _ := e.Info()
		t.Logf("  %s: %d bytes", e.Name(), fi.Size())
	}
}
