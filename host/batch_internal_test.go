package host

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/internal/sqldb"
)

// TestBatchKeysSchema5Upgrades builds stores at schema version 5 (plaintext
// and encrypted) with the first five migrations, through package sqldb as
// that version of this package did, with events and an attempt in them;
// opening one migrates it to version 6: the batch_keys table is there and
// empty, the old rows read back unchanged, WriteBatches writes with event
// and attempt IDs above the old ones, and skips its keys on a second call
// and after a reopen.
func TestBatchKeysSchema5Upgrades(t *testing.T) {
	if SchemaVersion < batchKeysSchema {
		t.Fatalf("SchemaVersion %d is below the batch keys' %d", SchemaVersion, batchKeysSchema)
	}
	for _, enc := range []bool{false, true} {
		t.Run(fmt.Sprint("encrypted=", enc), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sessions.db")
			var key []byte
			if enc {
				key = bytes.Repeat([]byte{0x3c}, 32)
			}
			v5 := &sqldb.Schema{AppID: applicationID, Migrations: migrations[:5], Counters: []*sqldb.Counter{eventIDs, dictIDs, attemptIDs, reconciliationIDs}}
			db, err := sqldb.Open(path, v5, sqldb.Options{Key: key})
			if err != nil {
				t.Fatal(err)
			}
			const n = 10
			ts := time.Date(2026, 5, 2, 3, 4, 5, 0, time.UTC)
			err = db.Write(context.Background(), func(tx *sqldb.Tx) error {
				for i := range n {
					id, err := tx.Next(eventIDs)
					if err != nil {
						return err
					}
					p := fmt.Sprintf(`{"i":%d}`, i)
					if _, err := tx.Exec(`INSERT INTO events (session, id, turn, kind, ts, format, size, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
						"old", id, i, abi.KindAssistantMessage, ts.UnixNano(), int(formatRaw), len(p), []byte(p)); err != nil {
						return err
					}
				}
				id, err := tx.Next(attemptIDs)
				if err != nil {
					return err
				}
				_, err = tx.Exec(`INSERT INTO provider_attempts (id, session, turn, provider, model, request_id, started_at, ended_at, reason,
						input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, estimated_nusd)
					VALUES (?, 'old', 0, 'anthropic', 'm', '', ?, ?, ?, 1, 2, 3, 4, 5, 6)`,
					int64(id), ts.UnixNano(), ts.UnixNano(), abi.AttemptComplete)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if v := rawVersion(t, path, key); v != 5 {
				t.Fatalf("user_version = %d before the upgrade, want 5", v)
			}

			open := func() *Store {
				t.Helper()
				var s *Store
				var err error
				if enc {
					s, err = OpenEncrypted(path, EncryptionAtRest, key)
				} else {
					s, err = Open(path)
				}
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			s := open()
			if v := queryStoreInt(t, s, `PRAGMA user_version`); v != SchemaVersion {
				t.Fatalf("user_version = %d after open, want %d", v, SchemaVersion)
			}
			if k := queryStoreInt(t, s, `SELECT count(*) FROM batch_keys`); k != 0 {
				t.Fatalf("%d batch keys after the upgrade, want 0", k)
			}
			ctx := context.Background()
			old, err := s.EventsSince(ctx, "old", 0, 0)
			if err != nil || len(old) != n {
				t.Fatalf("old events: %d, %v; want %d", len(old), err, n)
			}
			for i, e := range old {
				if e.ID != uint64(i+1) || string(e.Payload) != fmt.Sprintf(`{"i":%d}`, i) {
					t.Fatalf("old event %d read back as %+v", i, e)
				}
			}
			b := abi.Batch{
				Key:    "new-1",
				Events: []abi.EventEnvelope{{Session: "new", Kind: abi.KindUserMessage, TS: ts, Payload: json.RawMessage(`"hello"`)}},
				Attempts: []abi.ProviderAttempt{{Session: "new", Provider: "anthropic", Model: "m", StartedAt: ts, EndedAt: ts,
					TerminatedReason: abi.AttemptComplete, EstimatedUSD: 1e-9}},
			}
			if w, err := s.WriteBatches(ctx, b); err != nil || w != 1 {
				t.Fatalf("WriteBatches = %d, %v; want 1", w, err)
			}
			if evs, err := s.EventsSince(ctx, "new", 0, 0); err != nil || len(evs) != 1 || evs[0].ID != n+1 {
				t.Fatalf("new events: %+v, %v; want one with ID %d", evs, err, n+1)
			}
			if as, err := s.AttemptsForTurn(ctx, "new", 0); err != nil || len(as) != 1 || as[0].ID != 2 {
				t.Fatalf("new attempts: %+v, %v; want one with ID 2", as, err)
			}
			if w, err := s.WriteBatches(ctx, b); err != nil || w != 0 {
				t.Fatalf("WriteBatches again = %d, %v; want 0", w, err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open()
			defer s.Close()
			if w, err := s.WriteBatches(ctx, b); err != nil || w != 0 {
				t.Fatalf("WriteBatches after reopening = %d, %v; want 0", w, err)
			}
			if k := queryStoreInt(t, s, `SELECT count(*) FROM batch_keys`); k != 1 {
				t.Fatalf("%d batch keys, want 1", k)
			}
		})
	}
}

// rawVersion reads the schema version of the store at path without
// migrating it.
func rawVersion(t *testing.T, path string, key []byte) int64 {
	t.Helper()
	db, err := sqldb.Open(path, &sqldb.Schema{AppID: applicationID, Migrations: migrations[:5],
		Counters: []*sqldb.Counter{eventIDs, dictIDs, attemptIDs, reconciliationIDs}}, sqldb.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int64
	err = db.Read(context.Background(), func(q *sqldb.ReadTx) error {
		var err error
		v, err = sqldb.QueryInt(q.Conn(), `PRAGMA user_version`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
