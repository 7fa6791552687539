// Package mattn is the mattn/go-sqlite3 peer (cgo: SQLite compiled from C
// into the binary), plaintext, through database/sql.
package mattn

import (
	"fmt"
	"net/url"

	_ "github.com/mattn/go-sqlite3" // registers "sqlite3"

	"github.com/gofastr/store/bench/peers"
)

// Opener is mattn/go-sqlite3 with WAL, synchronous=FULL and the peers'
// busy timeout on every connection.
var Opener = peers.SQLOpener("mattn", "github.com/mattn/go-sqlite3 v1.14.53 (cgo, SQLite 3.54.1 compiled in), plaintext, database/sql", false, "sqlite3",
	func(path string) string {
		return fmt.Sprintf("file:%s?_busy_timeout=%d&_journal_mode=WAL&_synchronous=FULL&_txlock=immediate", url.PathEscape(path), peers.BusyTimeoutMS)
	})
