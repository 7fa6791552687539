// Package sqlcipher is the SQLCipher peer: github.com/mutecomm/go-sqlcipher
// (cgo; SQLCipher 4 on SQLite 3.33.0, with libtomcrypt's AES-256-CBC and
// HMAC-SHA512 per page), through database/sql. It registers the driver name
// "sqlite3" and SQLite's C symbols, as mattn/go-sqlite3 does, so the two
// cannot be linked into one binary: the benchmark runs it in a child
// process (cmd/sqlcipherpeer).
package sqlcipher

import (
	"fmt"
	"net/url"

	_ "github.com/mutecomm/go-sqlcipher/v4" // registers "sqlite3"

	"github.com/gofastr/store/bench/peers"
)

// hexKey is the peer's raw 32-byte key (a benchmark key): a raw key skips
// SQLCipher's PBKDF2 at every open.
const hexKey = "2dd29ca851e7b56e4697b0e1f08507293d761a05ce4d1b628663f411a8086d99"

// Opener is SQLCipher with WAL, synchronous=FULL and the peers' busy
// timeout on every connection.
var Opener = peers.SQLOpener("sqlcipher", "github.com/mutecomm/go-sqlcipher/v4 v4.4.2 (cgo; SQLCipher 4 on SQLite 3.33.0: AES-256-CBC + HMAC-SHA512 per page, libtomcrypt), database/sql", true, "sqlite3",
	func(path string) string {
		return fmt.Sprintf("file:%s?_pragma_key=x'%s'&_pragma_cipher_page_size=4096&_busy_timeout=%d&_journal_mode=WAL&_synchronous=FULL&_txlock=immediate",
			url.PathEscape(path), hexKey, peers.BusyTimeoutMS)
	})
