package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/keyring"
)

// encLoopArgs are the arguments of the encrypt-open-loop child.
type encLoopArgs struct {
	Path, Session, Marker string
}

// encrypt-open-loop opens the plaintext store, appends one event with
// the marker, prints "acked <turn>" once the append returned nil, and
// closes, again and again, until an Open fails with ErrEncryptedStore; it
// then prints "encrypted" and exits.
var _ = proc.Role("encrypt-open-loop", func() int {
	proc.ExitWithParent(5 * time.Minute)
	var a encLoopArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	for turn := 0; ; turn++ {
		s, err := host.Open(a.Path)
		switch {
		case errors.Is(err, host.ErrEncryptedStore):
			fmt.Println("encrypted")
			return 0
		case err != nil:
			proc.Fail("open: %v", err)
		}
		_, err = s.Append(context.Background(), abi.EventEnvelope{Session: abi.SessionID(a.Session), Turn: turn, Kind: abi.KindUserMessage,
			Payload: json.RawMessage(fmt.Sprintf(`{"text":%q}`, a.Marker))})
		if err != nil {
			proc.Fail("append %d: %v", turn, err)
		}
		fmt.Println("acked", turn)
		if err := s.Close(); err != nil {
			proc.Fail("close: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // a window for Encrypt's exclusive lock
	}
})

// TestEncryptRacesOpenProcesses converts a store while two other
// processes open it plaintext, append and close in a loop. Every append a
// child saw acknowledged must be in the encrypted store, each child must
// end on ErrEncryptedStore (never on a Store over the replaced file, whose
// writes would be lost or land in the new file in plaintext), and no file
// may hold the plaintext marker afterwards.
func TestEncryptRacesOpenProcesses(t *testing.T) {
	proc.Skip(t)
	for round := range proc.Rounds(t, 3, 1) {
		path := filepath.Join(t.TempDir(), "s.db")
		s, err := host.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		marker := storefiles.NewMarker()
		var (
			mu     sync.Mutex
			acked  = map[string][]int{}
			first  = make(chan struct{}, 2)
			procs  []*proc.Proc
			ended  = map[string]bool{}
			gotAll sync.WaitGroup
		)
		for i := range 2 {
			sess := "loop" + strconv.Itoa(i)
			p := proc.Start(t, proc.Spec{Role: "encrypt-open-loop", Args: encLoopArgs{Path: path, Session: sess, Marker: string(marker)},
				Env: childEnv(childCacheDir(t))})
			procs = append(procs, p)
			gotAll.Add(1)
			go func() {
				defer gotAll.Done()
				n := 0
				p.Lines(func(l string) {
					mu.Lock()
					defer mu.Unlock()
					if turn, ok := strings.CutPrefix(l, "acked "); ok {
						v, _ := strconv.Atoi(turn)
						acked[sess] = append(acked[sess], v)
						if n++; n == 3 {
							first <- struct{}{}
						}
					}
					if l == "encrypted" {
						ended[sess] = true
					}
				})
			}()
		}
		for range 2 {
			select {
			case <-first:
			case <-time.After(time.Minute):
				t.Fatal("the children did not start appending within a minute")
			}
		}
		var encErr error
		for try := 0; try < 60; try++ {
			if encErr = host.Encrypt(path, keyring.RawKEK(encKEK)); !errors.Is(encErr, keyring.ErrInUse) {
				break
			}
		}
		if encErr != nil {
			t.Fatalf("round %d: Encrypt: %v", round, encErr)
		}
		gotAll.Wait() // the children's output ends when they exit
		for _, p := range procs {
			if err := p.Wait(); err != nil {
				t.Fatalf("round %d: child: %v", round, err)
			}
		}
		s = encOpenKEK(t, path)
		for sess, turns := range acked {
			if !ended[sess] {
				t.Errorf("round %d: %s did not end on ErrEncryptedStore", round, sess)
			}
			got := map[int]bool{}
			for _, e := range allEvents(t, s, abi.SessionID(sess)) {
				got[e.Turn] = true
			}
			for _, turn := range turns {
				if !got[turn] {
					t.Errorf("round %d: %s: acknowledged append of turn %d is missing from the encrypted store", round, sess, turn)
				}
			}
			t.Logf("round %d: %s: %d appends acknowledged, all present", round, sess, len(turns))
		}
		s.Close()
		if hits, _ := storefiles.Scan(t, marker, filepath.Dir(path)); len(hits) > 0 {
			t.Fatalf("round %d: plaintext marker in the store's files after Encrypt: %v", round, hits)
		}
	}
}
